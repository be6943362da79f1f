"""Linear probes per layer: MFCC (TIMIT), word identity (Speech Commands), phonemes and
sentence type (TIMIT). Uses data and models."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    **dict.fromkeys(("TASKS", "ProbeSettings"), "braintune.probing.settings"),
    **dict.fromkeys(("ItemSet", "LayerFeatures", "extract", "mfcc_frames"), "braintune.probing.features"),
    **dict.fromkeys(("ProbeResult", "Split", "classifier_probe", "multilabel_probe", "ridge_probe"),
                    "braintune.probing.probes"),
    **dict.fromkeys(("carve_validation_speakers", "run_probes", "speech_commands_probe_data", "timit_probe_data",
                     "write_table"), "braintune.probing.run"),
})

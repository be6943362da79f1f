"""Linear probes per layer: MFCC (TIMIT), word identity (Speech Commands), phonemes and
sentence type (TIMIT), one module per task in braintune.probing.tasks. Uses data and models."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    **dict.fromkeys(("TASKS", "ProbeSettings"), "braintune.probing.settings"),
    **dict.fromkeys(("REGISTRY", "Task", "TaskRows", "register"), "braintune.probing.tasks"),
    **dict.fromkeys(("CORPORA", "Corpus", "Split", "carve_validation_speakers", "speech_commands_corpus",
                     "timit_corpus"), "braintune.probing.corpora"),
    **dict.fromkeys(("ItemSet", "LayerFeatures", "extract"), "braintune.probing.features"),
    "mfcc_frames": "braintune.probing.tasks.mfcc",
    **dict.fromkeys(("PROBES", "ProbeResult", "classifier_probe", "multilabel_probe", "ridge_probe"),
                    "braintune.probing.probes"),
    "run_probes": "braintune.probing.run",
})

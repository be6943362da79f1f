"""Linear probes per layer: MFCC (TIMIT), word identity (Speech Commands), phonemes and
sentence type (TIMIT). Uses data and models."""

from braintune.probing.features import ItemSet, LayerFeatures, extract, mfcc_frames
from braintune.probing.probes import ProbeResult, Split, classifier_probe, multilabel_probe, ridge_probe
from braintune.probing.run import (
    TASKS,
    carve_validation_speakers,
    run_probes,
    speech_commands_probe_data,
    timit_probe_data,
    write_table,
)

__all__ = [
    "ItemSet", "LayerFeatures", "ProbeResult", "Split", "TASKS", "carve_validation_speakers", "classifier_probe",
    "extract", "mfcc_frames", "multilabel_probe", "ridge_probe", "run_probes", "speech_commands_probe_data",
    "timit_probe_data", "write_table",
]

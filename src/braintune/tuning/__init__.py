"""Brain-tuning: fine-tune a speech encoder so its mean-pooled last layer predicts one
participant's fMRI responses (Moussa, Klakow & Toneva, ICLR 2025)."""

import importlib

from braintune.tuning.settings import TuneSettings

# torch-heavy parts load on first use, so that `braintune --help` stays quick
_LAZY = {
    "BrainTuner": "braintune.tuning.model",
    "Pairs": "braintune.tuning.pairs", "audio_window": "braintune.tuning.pairs", "story_pairs": "braintune.tuning.pairs",
    "select_voxels": "braintune.tuning.train", "tune": "braintune.tuning.train",
}

__all__ = ["BrainTuner", "Pairs", "TuneSettings", "audio_window", "select_voxels", "story_pairs", "tune"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

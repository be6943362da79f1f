"""Brain-tuning: fine-tune a speech encoder so its mean-pooled last layer predicts one
participant's fMRI responses (Moussa, Klakow & Toneva, ICLR 2025)."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "TuneSettings": "braintune.tuning.settings",
    "BrainTuner": "braintune.tuning.model",
    "Pairs": "braintune.tuning.pairs", "audio_window": "braintune.tuning.pairs", "story_pairs": "braintune.tuning.pairs",
    "select_voxels": "braintune.tuning.train", "tune": "braintune.tuning.train",
})

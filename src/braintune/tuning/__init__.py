"""Brain-tuning: fine-tune a speech encoder so its mean-pooled last layer predicts one
participant's fMRI responses (Moussa, Klakow & Toneva, ICLR 2025)."""

from braintune.tuning.model import BrainTuner
from braintune.tuning.pairs import Pairs, audio_window, story_pairs
from braintune.tuning.settings import TuneSettings
from braintune.tuning.train import select_voxels, tune

__all__ = ["BrainTuner", "Pairs", "TuneSettings", "audio_window", "select_voxels", "story_pairs", "tune"]

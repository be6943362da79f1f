"""What the GPU benchmark times (Measure) and the study its projection assumes (StudySizes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from braintune.data.fmri.ds003020 import response_row_times
from braintune.errors import ConfigError

UNTIMED_TRIGGERS = 1_000 - len(response_row_times(1_000))  # respdict.json counts minus response rows, per story


def _story_seconds(rows: int) -> float:
    """Seconds of sound the scan of one ds003020 story with `rows` response rows covers: to the end
    of the last TR the dataset's companion code simulates (those trimmed off the end included)."""
    every_tr = response_row_times(rows + UNTIMED_TRIGGERS, trim_start=0, trim_end=0)
    return float(every_tr[-1] + (every_tr[1] - every_tr[0]) / 2)


def stories_sound_seconds(rows: int, stories: int) -> float:
    """Seconds of audio of `stories` ds003020 stories with `rows` response rows together (what
    alignment extracts features of), by the dataset's row timing (response_row_times): a fixed
    length per story plus one TR per row."""
    per_row = _story_seconds(1) - _story_seconds(0)
    return stories * _story_seconds(0) + rows * per_row


def _check_positive(settings) -> None:
    for f in dataclasses.fields(settings):
        if not getattr(settings, f.name) > 0:
            raise ConfigError(f"{f.name}: must be > 0, got {getattr(settings, f.name)!r}")


@dataclass(frozen=True)
class Measure:
    """What is timed. Defaults are the real scale (an estimated 4-7 min on an H100; not yet run on a
    GPU); --tiny starts from Measure.tiny()."""

    story_seconds: float = field(default=stories_sound_seconds(360, 1), metadata={
        "help": "seconds of the synthetic story the fast schemes run on (default: a training story's, 360 rows)"})
    reference_seconds: float = field(default=60.0, metadata={
        "help": "seconds from the story's start the default scheme (the paper's reference) runs on"})
    tune_steps: int = field(default=3, metadata={
        "help": "timed optimiser steps per tuning variant (after one warm-up)"})
    tune_voxels: int = field(default=30_000, metadata={
        "help": "outputs of the tuning head (the paper's tuning voxels, ceiling > 0.4: 18.5k-50.7k)"})
    ridge_voxels: int = field(default=100_000, metadata={
        "help": "voxels of the timed ridge; fewer than the study's are scaled linearly (an upper bound)"})
    ridge_rows: int = field(default=9_000, metadata={"help": "training rows of the timed ridge"})
    ridge_features: int = field(default=3_072, metadata={"help": "features of the timed ridge (768 x 4 delays)"})
    ridge_test_rows: int = field(default=291, metadata={"help": "test rows of the timed ridge"})
    probe_clips: int = field(default=2_048, metadata={"help": "1 s clips timed through the probing extraction"})
    probe_utterances: int = field(default=256, metadata={
        "help": "2-4.5 s utterances timed through the probing extraction"})
    probe_fit_fraction: float = field(default=0.25, metadata={
        "help": "share of each probe's real rows (at least 200) the probe fits are timed on, scaled linearly"})

    def __post_init__(self):
        _check_positive(self)
        if self.probe_fit_fraction > 1:
            raise ConfigError(f"probe_fit_fraction: at most 1, got {self.probe_fit_fraction}")

    @classmethod
    def tiny(cls) -> Measure:
        return cls(story_seconds=4.0, reference_seconds=3.0, tune_steps=1, tune_voxels=50, ridge_voxels=500,
                   ridge_rows=300, ridge_features=256, ridge_test_rows=40, probe_clips=16, probe_utterances=4,
                   probe_fit_fraction=0.01)


@dataclass(frozen=True)
class StudySizes:
    """The sizes of the LeBel et al. (2024) study assumed by the projection (not read from data).

    A story's audio follows from its response rows by the dataset's row timing
    (stories_sound_seconds). One tuning window per training row per epoch, one per validation
    row per validation (each epoch and before the first).
    """

    train_stories: int = field(default=25, metadata={"help": "stories that train (the paper's split)"})
    train_rows: int = field(default=9_000, metadata={"help": "response rows of the training stories together"})
    test_rows: int = field(default=291, metadata={"help": "rows of the test story (wheretheressmoke)"})
    validation_rows: int = field(default=291, metadata={"help": "rows of the tuning validation story (stagefright)"})
    voxels: int = field(default=100_000, metadata={"help": "voxels per participant (81k-109k in ds003020)"})
    timit_train: int = field(default=4_620, metadata={"help": "TIMIT TRAIN utterances"})
    timit_test: int = field(default=1_680, metadata={"help": "TIMIT TEST utterances"})
    timit_seconds: float = field(default=3.1, metadata={"help": "mean TIMIT utterance length, seconds"})
    commands_train: int = field(default=84_843, metadata={"help": "Speech Commands v0.02 training clips"})
    commands_validation: int = field(default=9_981, metadata={"help": "Speech Commands validation clips"})
    commands_test: int = field(default=11_005, metadata={"help": "Speech Commands test clips"})
    words: int = field(default=35, metadata={"help": "Speech Commands words (classes)"})

    def __post_init__(self):
        _check_positive(self)

    def story_audio_seconds(self) -> float:
        """Audio of the training stories and the test story, which alignment extracts features of."""
        return stories_sound_seconds(self.train_rows, self.train_stories) + stories_sound_seconds(self.test_rows, 1)

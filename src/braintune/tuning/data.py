"""Data step of brain-tuning: the target voxels and the (audio window, fMRI row) pairs.

Target voxels: those whose noise ceiling, estimated from the test story's repeats,
exceeds the threshold (the public code keeps ceilings > 0.4). Every response row of a story gives one pair: the `window` samples of audio ending at the
row's time (Dataset.row_times) and the row's response over the target voxels, z-scored
per story. Base models normalise their CNN's first layer over the whole input (group norm
over time), so every window has exactly the same length and nothing is padded in a batch.
Where a window reaches before the sound onset or past the end of the audio it is filled
with zeros: the participant heard no story there (the scanner runs 10 s before the sound
starts and after it ends). With the default 10 s window no row needs this (the first row
sits 11 s after sound onset); shorter stories or longer windows do.

The control (TuneSettings.shuffle_pairs; Moussa et al., ICLR 2025) trains on the same
windows and the same responses with the pairing broken: the training targets are put in
the order of one seeded permutation over all training pairs, across stories, so a window
is paired with a response to any moment of any training story. Across stories rather than
within each: a permutation within a story would keep which story's responses go with
which story's audio, brain information the control must not get (the authors' public code
also pairs a story's audio with another story's responses by default). The validation
pairs keep the true pairing, so the validation loss shows whether a run learns the brain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from braintune.arrays import zscore
from braintune.data.audio import SAMPLE_RATE
from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.encoding import noise_ceiling
from braintune.errors import ConfigError, DataError
from braintune.tuning.settings import TuneSettings
from braintune.tuning.targets import BlockTargets


@dataclass
class Pairs:
    """The pairs of a list of stories.

    audio: story -> (samples,) float32 at 16 kHz.
    story: (pairs,) index into `stories`; end: (pairs,) int64 sample where the window ends.
    targets: (pairs, voxels) float32, z-scored per story and voxel; or, for pairs pooled from
    several participants, BlockTargets (braintune.tuning.targets: each pair has its own
    participant's voxels only).
    """

    stories: list[str]
    audio: dict[str, np.ndarray]
    story: np.ndarray
    end: np.ndarray
    targets: np.ndarray | BlockTargets
    window: int

    def __len__(self) -> int:
        return len(self.end)

    def waveforms(self, indices) -> np.ndarray:
        """Audio windows of the given pairs. -> (len(indices), window) float32"""
        return np.stack([audio_window(self.audio[self.stories[self.story[i]]], self.end[i], self.window) for i in indices])


def audio_window(audio: np.ndarray, end: int, length: int) -> np.ndarray:
    """audio[end - length : end], zeros where that reaches outside the audio. -> (length,) float32"""
    out = np.zeros(length, dtype=np.float32)
    start = end - length
    lo, hi = max(start, 0), min(end, len(audio))
    if hi > lo:
        out[lo - start : hi - start] = audio[lo:hi]
    return out


def story_pairs(dataset: FMRIDataset, participant: str, stories: list[str], voxels: np.ndarray,
                window_seconds: float, project=None) -> Pairs:
    """Pairs of every response row of `stories` for one participant, targets over `voxels` (with
    `project`, (rows, all voxels) -> (rows, targets) such as a common space's vertices: the
    projected responses' columns `voxels`)."""
    window = int(round(window_seconds * SAMPLE_RATE))
    audio, story_index, ends, targets = {}, [], [], []
    for i, story in enumerate(stories):
        wave = dataset.load_audio(story, SAMPLE_RATE)
        if window > len(wave):
            raise ConfigError(
                f"{dataset.audio_path(story)}: tuning window of {window_seconds:g} s is longer than "
                f"the story ({len(wave) / SAMPLE_RATE:.1f} s); use a shorter window_seconds"
            )
        responses = (dataset.load_responses(participant, story, voxels) if project is None
                     else project(dataset.load_responses(participant, story))[:, voxels])
        times = dataset.row_times(story)
        if len(times) != len(responses):  # pragma: no cover - the reader checks this
            raise DataError(f"{dataset.root}: {participant}/{story}: {len(responses)} response rows, {len(times)} row times")
        audio[story] = wave
        story_index.append(np.full(len(times), i, dtype=np.int64))
        ends.append(np.round(times * SAMPLE_RATE).astype(np.int64))
        targets.append(zscore(responses))
    return Pairs(
        stories=list(stories),
        audio=audio,
        story=np.concatenate(story_index),
        end=np.concatenate(ends),
        targets=np.concatenate(targets),
        window=window,
    )


SHUFFLE_STREAM = 2**31 - 1  # the control's random stream, apart from the data order's [seed, epoch] (loop.py)


def shuffled_pairing(pairs: Pairs, seed: int) -> Pairs:
    """The control's pairs: the same windows, with targets[order] for one permutation `order` of all pairs drawn from default_rng([seed, SHUFFLE_STREAM]) (across
    stories; the same seed gives the same pairing). The windows keep their order, so a CNN
    cache still fits."""
    order = np.random.default_rng([seed, SHUFFLE_STREAM]).permutation(len(pairs))
    return dataclasses.replace(pairs, targets=pairs.targets[order])


def select_voxels(dataset: FMRIDataset, subject: str, test_story: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxels whose noise ceiling (from the test story's repeats) exceeds `threshold`.

    -> (indices (voxels,) int64, their ceilings (voxels,) float32)
    """
    ceiling = noise_ceiling(dataset.load_repeats(subject, test_story))
    indices = np.flatnonzero(ceiling > threshold).astype(np.int64)
    if len(indices) == 0:
        raise DataError(
            f"{dataset.root}: {subject} has no voxel with a noise ceiling above {threshold:g} "
            f"(highest: {ceiling.max():.3f}, from the repeats of {test_story!r}); lower ceiling_threshold"
        )
    return indices, ceiling[indices]


@dataclass
class TuneData:
    """What one run trains and validates on.

    voxels: (targets,) int64 the voxel (or vertex) index of each target; ceilings: (targets,)
    float32 their noise ceilings; train: pairs of the training stories; validation: of the
    validation stories. owners: (targets,) the participant of each target where targets of
    several participants are pooled (a multi-participant variant), else None.
    """

    voxels: np.ndarray
    ceilings: np.ndarray
    train: Pairs
    validation: Pairs
    owners: np.ndarray | None = None


def load_data(dataset: FMRIDataset, subject: str, split: StorySplit, settings: TuneSettings) -> TuneData:
    """The data step: target voxels (ceiling from split.test), training and validation pairs
    (the training pairing shuffled where settings.shuffle_pairs; validation always true)."""
    voxels, ceilings = select_voxels(dataset, subject, split.test, settings.ceiling_threshold)
    train = story_pairs(dataset, subject, split.train, voxels, settings.window_seconds)
    return TuneData(
        voxels=voxels,
        ceilings=ceilings,
        train=shuffled_pairing(train, settings.seed) if settings.shuffle_pairs else train,
        validation=story_pairs(dataset, subject, [split.validation], voxels, settings.window_seconds),
    )

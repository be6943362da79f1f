"""What every fMRI dataset gives the stages: the interface of braintune.data.fmri.

A dataset is a folder in one on-disk layout (`data.layout` of a study; ds003020 by default)
read by one class implementing `FMRIDataset`. Stages know only this interface: participants
and stories, the time of every response row, the audio and word timings of each story, the
responses (rows, voxels) and the test story's repeats, the ROI files, the files whose content
keys a cell, the dataset's named story lists, and its part of `braintune check`.
Arrays: responses (rows, voxels) float32; repeats (repeats, rows, voxels) float32; times in
seconds after the story's sound onset.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.errors import DataError


@dataclass(frozen=True)
class CortexFiles:
    """Where a participant's cortex is described, in pycortex's database format (braintune.data.pycortex):
    its subject folder, the name of the transform to its functional volume, and its FreeSurfer folder
    (surf/?h.sphere.reg, the registration to fsaverage), None if the dataset has none."""

    subject: Path
    transform: str
    freesurfer: Path | None


class FMRIDataset(abc.ABC):
    """One dataset folder. Subclasses set LAYOUT (the `data.layout` name) and implement the
    abstract methods; the others have defaults that say the dataset lacks what they read."""

    LAYOUT: str = ""
    # Named lists of training stories (split.stories: NAME), e.g. ds003020's "paper".
    STORY_LISTS: dict[str, tuple[str, ...]] = {}

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder does not exist")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    # ---- listings ---------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def participants(self) -> list[str]:
        """Participants with responses, sorted."""

    @property
    @abc.abstractmethod
    def stories(self) -> list[str]:
        """Every story of the dataset, sorted."""

    @abc.abstractmethod
    def stories_of(self, participant: str) -> list[str]:
        """Stories with responses of this participant, sorted."""

    # ---- stimuli ----------------------------------------------------------------------
    @abc.abstractmethod
    def row_times(self, story: str) -> np.ndarray:
        """Times of the story's response rows, s after sound onset. -> (rows,) float64"""

    @abc.abstractmethod
    def load_audio(self, story: str, sample_rate: int = 16000) -> np.ndarray:
        """The story's audio, mono, at sample_rate. -> (samples,) float32"""

    @abc.abstractmethod
    def audio_path(self, story: str) -> Path:
        """The file holding the story's audio (named in messages)."""

    def audio_seconds(self, story: str) -> float:
        """Length of the story's audio in seconds (the data doctor; a layout may read a file header)."""
        return len(self.load_audio(story)) / 16000

    def words_path(self, story: str) -> Path | None:
        """The file holding the story's word timings (named in messages), if the layout has one."""
        return None

    def load_words(self, story: str) -> list[tuple[str, float, float]]:
        """(word, start s, end s) of the story's words."""
        raise DataError(f"{self.root}: the {self.LAYOUT} layout has no word timings (story {story!r})")

    # ---- responses --------------------------------------------------------------------
    @abc.abstractmethod
    def response_path(self, participant: str, story: str, must_exist: bool = True) -> Path:
        """The file holding a participant's responses to a story (a DataError if missing and must_exist)."""

    @abc.abstractmethod
    def load_responses(self, participant: str, story: str, voxels: Sequence[int] | None = None) -> np.ndarray:
        """Responses to one story (the test story: the mean of its repeats). -> (rows, voxels) float32"""

    def load_repeats(self, participant: str, story: str, voxels: Sequence[int] | None = None) -> np.ndarray:
        """The story's individual repeats (at least 2). -> (repeats, rows, voxels) float32"""
        raise DataError(f"{self.response_path(participant, story, must_exist=False)}: the {self.LAYOUT} layout holds "
                        "no repeats of a story; the noise ceiling needs them")

    @abc.abstractmethod
    def n_voxels(self, participant: str) -> int:
        """Voxels (columns) of the participant's responses."""

    def response_shape(self, participant: str, story: str) -> tuple[int, int]:
        """(rows, voxels) of a response file, checked as far as reading it requires (the data doctor;
        a layout may answer from file headers)."""
        return self.load_responses(participant, story).shape

    def bad_voxels(self, participant: str, story: str, repeats: bool) -> tuple[np.ndarray, np.ndarray]:
        """Voxels holding NaN/inf, and voxels constant over the rows (of the responses, or of any
        repeat when `repeats`), as stored. -> 2 x (voxels,) bool"""
        arrays = [self.load_responses(participant, story)]
        arrays += list(self.load_repeats(participant, story)) if repeats else []
        bad = np.zeros(arrays[0].shape[1], bool)
        constant = np.zeros_like(bad)
        for x in arrays:
            bad |= ~np.isfinite(x).all(axis=0)
            if x.shape[0] > 1:
                constant |= x.max(axis=0) == x.min(axis=0)
        return bad, constant & ~bad

    # ---- regions ----------------------------------------------------------------------
    def roi_path(self, participant: str) -> Path:
        """The participant's ROI file (area -> voxel indices, braintune.data.rois)."""
        raise DataError(f"{self.root}: the {self.LAYOUT} layout has no ROI files")

    def load_rois(self, participant: str) -> dict[str, np.ndarray]:
        """Area -> sorted unique voxel indices (int64), read from roi_path (braintune.data.rois)."""
        from braintune.data.rois import read_roi_file

        return read_roi_file(self.roi_path(participant), self.n_voxels(participant))

    def functional_roi_path(self, participant: str) -> Path | None:
        """The participant's file of the dataset's own functional ROIs (e.g. AC, Broca), if the layout has one."""
        return None

    def load_functional_rois(self, participant: str) -> dict[str, np.ndarray]:
        """Functional ROI -> voxel indices ({} where the dataset has none written)."""
        from braintune.data.rois import read_roi_file

        path = self.functional_roi_path(participant)
        return read_roi_file(path, self.n_voxels(participant), normalise=False) if path and path.is_file() else {}

    def cortex(self, participant: str) -> CortexFiles:
        """The participant's cortex files (surfaces, ROI shapes, transform; `braintune rois`, flat maps)."""
        raise DataError(f"{self.root}: the {self.LAYOUT} layout has no pycortex subjects")

    # ---- cache keys -------------------------------------------------------------------
    @abc.abstractmethod
    def key_files(self, participant: str, stories: Sequence[str], rois: bool = False) -> list[Path]:
        """The files whose content decides a result computed from these stories of this participant
        (with its ROI file if `rois`): what a cell's cache key fingerprints."""

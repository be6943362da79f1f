"""Reader of the LeBel et al. 2024 fMRI story-listening corpus (OpenNeuro ds003020) layout.

```
root/stimuli/<story>.wav
root/derivative/respdict.json                        story -> number of TRs acquired
root/derivative/TextGrids/<story>.TextGrid           tiers "word" and "phone"
root/derivative/preprocessed_data/<UTSxx>/<story>.hf5   "data": (respdict - 20, voxels)
        test story: "data" = mean over repeats, "repeats" = (R, rows, voxels)
root/derivative/rois/<UTSxx>.json                    Glasser area -> voxel indices (see rois.py)
root/simulation_truth/                               ground truth of simulated data; ignored here
```
The same reader serves the real corpus and the simulated participants of ``simulate.py``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.data.audio import read_audio
from braintune.data.rois import normalise_area_name
from braintune.data.textgrid import read_words
from braintune.errors import DataError

log = logging.getLogger(__name__)

TR = 2.0
SOUND_ONSET = 10.0
TRIM_START = 10
TRIM_END = 5
MISSING_END = 5


def response_row_times(
    n_triggers: int,
    tr: float = TR,
    sound_onset: float = SOUND_ONSET,
    trim_start: int = TRIM_START,
    trim_end: int = TRIM_END,
    missing_end: int = MISSING_END,
) -> np.ndarray:
    """Times (s after sound onset) of the rows of a story's response file. -> (rows,) float64

    n_triggers is the story's value in respdict.json. The dataset's companion code
    simulates ``n_triggers - missing_end`` triggers, one every ``tr`` seconds, the sound
    starting ``sound_onset`` s after the first; TR k is time-stamped at its middle,
    ``k*tr + tr/2 - sound_onset`` s after sound onset; features are computed for every
    simulated TR and trimmed ``[trim_start:-trim_end]``. So, with the defaults
    (tr 2, onset 10, trims 10 and 5, 5 missing):

        rows = n_triggers - missing_end - trim_start - trim_end = n_triggers - 20
        row j = TR k = j + trim_start  ->  2*(j + 10) + 1 - 10 = 2*j + 11 s after sound onset.
    """
    n_simulated = n_triggers - missing_end
    k = np.arange(trim_start, n_simulated - trim_end)
    if k.size == 0:
        raise ValueError(f"{n_triggers} triggers leave no response rows (need more than {missing_end + trim_start + trim_end})")
    return k * float(tr) + float(tr) / 2.0 - float(sound_onset)


@dataclass(frozen=True)
class StorySplit:
    """Stories that train, validate (brain-tuning) and test (alignment) for one participant."""

    train: list[str]
    validation: str | None
    test: str


class Dataset:
    """One ds003020-layout folder (real or simulated).

    test_story: the story heard several times (its file holds the repeats).
    validation_story: held out from training (brain-tuning validates on it); None for none.
    roi_dir: folder of the per-participant ROI files; default root/derivative/rois.
    """

    def __init__(
        self,
        root: str | Path,
        test_story: str = "wheretheressmoke",
        validation_story: str | None = "stagefright",
        roi_dir: str | Path | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder does not exist")
        self.test_story = test_story
        self.validation_story = validation_story
        self.derivative = self.root / "derivative"
        self.roi_dir = Path(roi_dir) if roi_dir is not None else self.derivative / "rois"
        self._respdict: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    # ---- listings -------------------------------------------------------------------
    @property
    def respdict(self) -> dict[str, int]:
        """story -> number of TRs acquired (derivative/respdict.json)."""
        if self._respdict is None:
            path = self.derivative / "respdict.json"
            if not path.is_file():
                raise DataError(f"{path}: missing (story -> number of TRs); is {self.root} a ds003020 folder?")
            try:
                raw = json.loads(path.read_text())
                self._respdict = {str(k): int(v) for k, v in raw.items()}
            except (ValueError, TypeError, AttributeError) as exc:
                raise DataError(f"{path}: not a JSON object of story -> number of TRs ({exc})") from exc
        return self._respdict

    @property
    def stories(self) -> list[str]:
        """All stories of respdict.json, sorted."""
        return sorted(self.respdict)

    @property
    def participants(self) -> list[str]:
        """Participants with a response folder (derivative/preprocessed_data/<UTSxx>), sorted."""
        folder = self.derivative / "preprocessed_data"
        if not folder.is_dir():
            raise DataError(f"{folder}: missing (one folder of responses per participant)")
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def stories_of(self, participant: str) -> list[str]:
        """Stories with a response file for this participant, sorted."""
        folder = self._participant_dir(participant)
        return sorted(p.stem for p in folder.glob("*.hf5"))

    def split(self, participant: str) -> StorySplit:
        """Train = the participant's stories minus the test and validation stories."""
        stories = self.stories_of(participant)
        if self.test_story not in stories:
            raise DataError(f"{self._participant_dir(participant) / (self.test_story + '.hf5')}: test story has no response file")
        if self.validation_story is not None and self.validation_story not in stories:
            raise DataError(
                f"{self._participant_dir(participant) / (self.validation_story + '.hf5')}: validation story has no response file"
            )
        train = [s for s in stories if s not in (self.test_story, self.validation_story)]
        return StorySplit(train=train, validation=self.validation_story, test=self.test_story)

    # ---- stimuli --------------------------------------------------------------------
    def row_times(self, story: str) -> np.ndarray:
        """Times of the story's response rows, s after sound onset. -> (rows,) float64"""
        try:
            return response_row_times(self._n_triggers(story))
        except ValueError as exc:
            raise DataError(f"{self.derivative / 'respdict.json'}: story {story!r}: {exc}") from exc

    def load_audio(self, story: str, sample_rate: int = 16000) -> np.ndarray:
        """The story's audio, mono (channels averaged), resampled to sample_rate. -> (samples,) float32"""
        self._n_triggers(story)
        path = self.root / "stimuli" / f"{story}.wav"
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} is listed in respdict.json but has no audio")
        return read_audio(path, sample_rate)

    def load_words(self, story: str) -> list[tuple[str, float, float]]:
        """(word, start s, end s) from the story's TextGrid; silences and noise marks skipped."""
        path = self.derivative / "TextGrids" / f"{story}.TextGrid"
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} has no TextGrid")
        return read_words(path)

    # ---- responses ------------------------------------------------------------------
    def load_responses(self, participant: str, story: str, voxels=None) -> np.ndarray:
        """BOLD responses of one story. -> (rows, voxels) float32, rows = respdict[story] - 20

        voxels: indices to read (any order, repeats allowed), default all; only those
        columns are read from disk, returned in the caller's order.
        For the test story this is the mean over repeats (key "data"; a 3-D "data" is
        averaged over its first axis). NaN and inf values are replaced by 0, with a
        logged warning giving the file and their count.
        """
        path = self._response_path(participant, story)
        with self._open(path) as f:
            data = self._dataset(f, path, "data")
            if data.ndim == 3:
                out = self._read_columns(data, path, voxels, repeats=True).mean(axis=0)
            else:
                out = self._read_columns(data, path, voxels, repeats=False)
        self._check_rows(path, story, out.shape[0])
        return self._finite(out, path)

    def load_repeats(self, participant: str, story: str | None = None, voxels=None) -> np.ndarray:
        """Individual repeats of a story (default: the test story). -> (repeats, rows, voxels) float32

        Read from key "repeats", or from "data" when that is 3-D. NaN/inf -> 0 with a warning.
        """
        story = self.test_story if story is None else story
        path = self._response_path(participant, story)
        with self._open(path) as f:
            if "repeats" in f:
                ds = self._dataset(f, path, "repeats")
            elif "data" in f and f["data"].ndim == 3:
                ds = f["data"]
            else:
                raise DataError(
                    f"{path}: no 'repeats' (repeats, rows, voxels) array; the noise ceiling needs the "
                    f"individual repeats of story {story!r}"
                )
            if ds.ndim != 3:
                raise DataError(f"{path}: 'repeats' has shape {ds.shape}, expected (repeats, rows, voxels)")
            out = self._read_columns(ds, path, voxels, repeats=True)
        self._check_rows(path, story, out.shape[1])
        return self._finite(out, path)

    def n_voxels(self, participant: str) -> int:
        """Number of voxels (columns) of the participant's response files."""
        stories = self.stories_of(participant)
        if not stories:
            raise DataError(f"{self._participant_dir(participant)}: no response files (*.hf5)")
        path = self._response_path(participant, stories[0])
        with self._open(path) as f:
            return int(self._dataset(f, path, "data").shape[-1])

    # ---- regions --------------------------------------------------------------------
    def load_rois(self, participant: str) -> dict[str, np.ndarray]:
        """Glasser area -> sorted unique voxel indices (int64), hemispheres united (rois.py)."""
        path = self.roi_dir / f"{participant}.json"
        if not path.is_file():
            raise DataError(f"{path}: missing ROI file (Glasser area -> voxel indices; see braintune.data.rois)")
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object")
            areas: dict[str, list[np.ndarray]] = {}
            for name, idx in raw.items():
                arr = np.asarray(idx)
                if arr.size and not np.issubdtype(arr.dtype, np.integer):
                    raise ValueError(f"area {name!r}: indices are not integers")
                areas.setdefault(normalise_area_name(name), []).append(arr.astype(np.int64).ravel())
        except ValueError as exc:
            raise DataError(f"{path}: not a JSON object of area -> voxel indices ({exc})") from exc
        n = self.n_voxels(participant)
        rois = {}
        for name, parts in areas.items():
            idx = np.unique(np.concatenate(parts))
            if idx.size and (idx[0] < 0 or idx[-1] >= n):
                bad = idx[(idx < 0) | (idx >= n)]
                raise DataError(f"{path}: area {name!r} has voxel indices out of range 0..{n - 1} (e.g. {bad[0]})")
            rois[name] = idx
        return rois

    # ---- helpers --------------------------------------------------------------------
    def _n_triggers(self, story: str) -> int:
        if story not in self.respdict:
            raise DataError(f"{self.derivative / 'respdict.json'}: story {story!r} is not listed")
        return self.respdict[story]

    def _participant_dir(self, participant: str) -> Path:
        folder = self.derivative / "preprocessed_data" / participant
        if not folder.is_dir():
            raise DataError(f"{folder}: no responses for participant {participant!r}")
        return folder

    def _response_path(self, participant: str, story: str) -> Path:
        path = self._participant_dir(participant) / f"{story}.hf5"
        self._n_triggers(story)
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} has no responses for participant {participant!r}")
        return path

    @staticmethod
    def _open(path: Path):
        import h5py

        try:
            return h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc

    @staticmethod
    def _dataset(f, path: Path, key: str):
        if key not in f:
            raise DataError(f"{path}: no {key!r} array (keys: {sorted(f.keys())})")
        ds = f[key]
        if not hasattr(ds, "dtype") or not np.issubdtype(ds.dtype, np.number):
            raise DataError(f"{path}: {key!r} is not a numeric array")
        if ds.ndim not in (2, 3):
            raise DataError(f"{path}: {key!r} has shape {ds.shape}, expected (rows, voxels)")
        return ds

    @staticmethod
    def _read_columns(ds, path: Path, voxels, repeats: bool) -> np.ndarray:
        """Read all columns, or only `voxels` (via a sorted unique h5py selection)."""
        if voxels is None:
            return np.asarray(ds[...], dtype=np.float32)
        voxels = np.asarray(voxels)
        if voxels.ndim != 1 or (voxels.size and not np.issubdtype(voxels.dtype, np.integer)):
            raise DataError(f"{path}: voxel selection must be a 1-D array of integer indices")
        n = ds.shape[-1]
        if voxels.size and (voxels.min() < 0 or voxels.max() >= n):
            raise DataError(f"{path}: voxel indices out of range 0..{n - 1}")
        unique, inverse = np.unique(voxels, return_inverse=True)
        if unique.size == 0:
            shape = ds.shape[:-1] + (0,)
            return np.zeros(shape, np.float32)
        cols = np.asarray(ds[..., unique] if repeats else ds[:, unique], dtype=np.float32)
        return cols[..., inverse]

    def _check_rows(self, path: Path, story: str, rows: int) -> None:
        expected = len(self.row_times(story))
        if rows != expected:
            raise DataError(
                f"{path}: {rows} rows, expected {expected} (respdict.json lists {self.respdict[story]} TRs; files hold TRs - 20)"
            )

    @staticmethod
    def _finite(arr: np.ndarray, path: Path) -> np.ndarray:
        bad = ~np.isfinite(arr)
        if bad.any():
            log.warning("%s: %d NaN/inf values replaced by 0", path, int(bad.sum()))
            arr[bad] = 0.0
        return arr

"""Reader of the LeBel et al. 2024 fMRI story-listening corpus (OpenNeuro ds003020) layout.

```
root/stimuli/<story>.wav
root/derivative/respdict.json                        story -> number of TRs acquired
root/derivative/TextGrids/<story>.TextGrid           tiers "word" and "phone"
root/derivative/preprocessed_data/<UTSxx>/<story>.hf5   "data": (respdict - 20, voxels)
        test story: "data" = mean over repeats, "individual_repeats" = (repeats, rows, voxels)
root/derivative/rois/<UTSxx>.json                    area -> voxel indices (braintune.data.rois; `braintune rois`)
root/simulation_truth/                               ground truth of simulated data; ignored here
```
The same reader serves the real corpus and the simulated participants of
``braintune.synthetic.fmri``. The test story's key ``individual_repeats`` is the one the
public files hold and the authors' code reads (bridge-ai-neuro/brain-tuning,
``src/eval_utils.py::load_fmri_story``); no other key is read. Only braintune.data.fmri
imports this module: stages reach it through the FMRIDataset interface (`open_dataset`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from braintune.data.audio import read_audio, read_rate, warn_if_silent
from braintune.data.fmri.interface import CortexFiles, FMRIDataset
from braintune.data.fmri.split import StoryList
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


REPEATS_KEY = "individual_repeats"
# The stories of ds003020's sessions 1-5, which every participant was scanned on: five or six
# per session, and "wheretheressmoke" (the test story) in each (HuthLab/deep-fMRI-dataset,
# em_data/sess_to_story.json). The paper's training stories are these minus test and validation.
PAPER_SESSION_STORIES = (
    "alternateithicatom", "souls", "avatar", "legacy", "odetostepfather",
    "undertheinfluence", "howtodraw", "myfirstdaywiththeyankees", "naked", "life",
    "stagefright", "tildeath", "fromboyhoodtofatherhood", "sloth", "exorcism",
    "haveyoumethimyet", "adollshouse", "inamoment", "theclosetthatateeverything", "adventuresinsayingyes", "buck",
    "swimmingwithastronauts", "thatthingonmyarm", "eyespy", "itsabox", "hangtime",
    "wheretheressmoke",
)


class DS003020(FMRIDataset):
    """One ds003020-layout folder (real or simulated).

    roi_dir: folder of the per-participant ROI files; default root/derivative/rois.
    """

    LAYOUT = "ds003020"
    STORY_LISTS = {"paper": StoryList(PAPER_SESSION_STORIES, "the paper's", "ds003020 sessions 1-5")}

    def __init__(self, root: str | Path, roi_dir: str | Path | None = None):
        super().__init__(root)
        self.derivative = self.root / "derivative"
        self.roi_dir = Path(roi_dir) if roi_dir is not None else self.derivative / "rois"
        self._respdict: dict[str, int] | None = None

    # ---- paths ----------------------------------------------------------------------
    @property
    def respdict_path(self) -> Path:
        return self.derivative / "respdict.json"

    def audio_path(self, story: str) -> Path:
        return self.root / "stimuli" / f"{story}.wav"

    def words_path(self, story: str) -> Path:
        return self.derivative / "TextGrids" / f"{story}.TextGrid"

    def roi_path(self, participant: str) -> Path:
        """HCP-MMP1 (Glasser) area -> voxel indices (written by `braintune rois`)."""
        return self.roi_dir / f"{participant}.json"

    def functional_roi_path(self, participant: str) -> Path:
        """The overlays.svg ROIs (AC, Broca, sPMv ...) -> voxel indices (written by `braintune rois`)."""
        return self.roi_dir / f"{participant}.overlays.json"

    def cortex(self, participant: str) -> CortexFiles:
        """derivative/pycortex-db/<UTSxx> with transform <UTSxx>_auto, derivative/freesurfer_subjdir/<UTSxx>."""
        return CortexFiles(self.derivative / "pycortex-db" / participant, f"{participant}_auto",
                           self.derivative / "freesurfer_subjdir" / participant)

    def key_files(self, participant: str, stories: Sequence[str], rois: bool = False) -> list[Path]:
        """respdict.json, the participant's response files and the stories' audio (and its ROI file)."""
        files = [self.respdict_path, *(self.response_path(participant, s) for s in stories),
                 *(self.audio_path(s) for s in stories)]
        return files + [self.roi_path(participant), self.functional_roi_path(participant)] if rois else files

    # ---- listings -------------------------------------------------------------------
    @property
    def respdict(self) -> dict[str, int]:
        """story -> number of TRs acquired (derivative/respdict.json)."""
        if self._respdict is None:
            path = self.respdict_path
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

    # ---- stimuli --------------------------------------------------------------------
    def row_times(self, story: str) -> np.ndarray:
        """Times of the story's response rows, s after sound onset. -> (rows,) float64"""
        try:
            return response_row_times(self._n_triggers(story))
        except ValueError as exc:
            raise DataError(f"{self.derivative / 'respdict.json'}: story {story!r}: {exc}") from exc

    def load_audio(self, story: str, sample_rate: int = 16000) -> np.ndarray:
        """The story's audio, mono (channels averaged), resampled to sample_rate. -> (samples,) float32

        Audio that ends before the story's last response row (the scan outlasting the
        sound file: a truncated download) is a DataError.
        """
        self._n_triggers(story)  # a story respdict.json does not list: its rows' times are unknown
        path = self.audio_path(story)
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} is listed in respdict.json but has no audio")
        audio = read_audio(path, sample_rate)
        self._check_length(story, len(audio) / sample_rate)
        warn_if_silent(audio, path)
        return audio

    def audio_seconds(self, story: str) -> float:
        """Seconds of the story's audio, from the file's header; a DataError if it ends before the last row."""
        path = self.audio_path(story)
        if not path.is_file():
            raise DataError(f"{path}: missing: story {story!r} has responses but no audio")
        rate, frames = read_rate(path)
        return self._check_length(story, frames / rate)

    def _check_length(self, story: str, seconds: float) -> float:
        """`seconds` of the story's audio, if they reach its last response row (else a truncated download)."""
        last_row = float(self.row_times(story)[-1])
        if seconds < last_row:
            raise DataError(
                f"{self.audio_path(story)}: {seconds:.1f} s of audio, but respdict.json's {self.respdict[story]} TRs "
                f"put the last response row at {last_row:.1f} s after sound onset; is the file truncated?")
        return seconds

    def load_words(self, story: str) -> list[tuple[str, float, float]]:
        """(word, start s, end s) from the story's TextGrid; silences and noise marks skipped."""
        path = self.words_path(story)
        if not path.is_file():
            raise DataError(f"{path}: missing: no word timings for story {story!r}")
        return read_words(path)

    # ---- responses ------------------------------------------------------------------
    def load_responses(self, participant: str, story: str, voxels=None) -> np.ndarray:
        """BOLD responses of one story (key "data"). -> (rows, voxels) float32, rows = respdict[story] - 20

        voxels: indices to read (any order, repeats allowed), default all; only those
        columns are read from disk, returned in the caller's order. For the test story
        this is the mean over its repeats. NaN and inf values are replaced by 0, with a
        logged warning giving the file and their count.
        """
        path = self.response_path(participant, story)
        with self._open(path) as f:
            data = self._dataset(f, path, "data", ndim=2)
            out = self._read_columns(data, path, voxels)
        self._check_rows(path, story, out.shape[0])
        return self._finite(out, path)

    def load_repeats(self, participant: str, story: str, voxels=None) -> np.ndarray:
        """Individual repeats of a story (key "individual_repeats"). -> (repeats, rows, voxels) float32

        They must hold at least 2 repeats with the rows and voxels of the file's "data".
        NaN/inf -> 0 with a warning.
        """
        path = self.response_path(participant, story)
        with self._open(path) as f:
            if REPEATS_KEY not in f:
                raise DataError(
                    f"{path}: no {REPEATS_KEY!r} array (keys: {sorted(f.keys())}); the noise ceiling needs the "
                    f"individual repeats of story {story!r}, shape (repeats, rows, voxels)"
                )
            ds = self._dataset(f, path, REPEATS_KEY, ndim=3)
            data_shape = self._dataset(f, path, "data", ndim=2).shape
            if tuple(ds.shape[1:]) != tuple(data_shape):
                raise DataError(
                    f"{path}: {REPEATS_KEY!r} has shape {ds.shape} but 'data' has {data_shape}: each repeat "
                    "must have the rows and voxels of 'data'"
                )
            if ds.shape[0] < 2:
                raise DataError(f"{path}: {ds.shape[0]} repeat(s) in {REPEATS_KEY!r}; the noise ceiling needs at least 2")
            out = self._read_columns(ds, path, voxels)
        self._check_rows(path, story, out.shape[1])
        return self._finite(out, path)

    def n_voxels(self, participant: str) -> int:
        """Number of voxels (columns) of the participant's response files (of stories respdict.json lists)."""
        stories = [s for s in self.stories_of(participant) if s in self.respdict]
        if not stories:
            raise DataError(f"{self._participant_dir(participant)}: no response files (*.hf5)")
        path = self.response_path(participant, stories[0])
        with self._open(path) as f:
            return int(self._dataset(f, path, "data", ndim=2).shape[-1])

    # ---- regions --------------------------------------------------------------------
    def response_shape(self, participant: str, story: str) -> tuple[int, int]:
        """(rows, voxels) of a response file, its "data" checked by the reader (key, shape, rows)
        without reading the array: the reader is asked for no voxels."""
        rows = self.load_responses(participant, story, voxels=[]).shape[0]
        path = self.response_path(participant, story)
        with self._open(path) as f:
            return rows, int(f["data"].shape[1])

    def bad_voxels(self, participant: str, story: str, repeats: bool) -> tuple[np.ndarray, np.ndarray]:
        """Voxels holding NaN/inf, and voxels constant over the rows (of "data" or of any one repeat),
        read one (rows, voxels) block at a time. -> 2 x (voxels,) bool"""
        path = self.response_path(participant, story)
        with self._open(path) as f:
            bad = np.zeros(f["data"].shape[1], bool)
            constant = np.zeros_like(bad)
            for key in ["data", REPEATS_KEY] if repeats else ["data"]:
                array = f[key]
                for x in (array[...],) if array.ndim == 2 else (array[r] for r in range(len(array))):
                    bad |= ~np.isfinite(x).all(axis=0)
                    if x.shape[0] > 1:
                        constant |= x.max(axis=0) == x.min(axis=0)
        return bad, constant & ~bad

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

    def response_path(self, participant: str, story: str, must_exist: bool = True) -> Path:
        """derivative/preprocessed_data/<participant>/<story>.hf5 (a DataError if missing and must_exist)."""
        path = self.derivative / "preprocessed_data" / participant / f"{story}.hf5"
        if not must_exist:
            return path
        self._participant_dir(participant)
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
    def _dataset(f, path: Path, key: str, ndim: int):
        if key not in f:
            raise DataError(f"{path}: no {key!r} array (keys: {sorted(f.keys())})")
        ds = f[key]
        if not hasattr(ds, "dtype") or not np.issubdtype(ds.dtype, np.number):
            raise DataError(f"{path}: {key!r} is not a numeric array")
        if ds.ndim != ndim:
            expected = "(rows, voxels)" if ndim == 2 else "(repeats, rows, voxels)"
            raise DataError(f"{path}: {key!r} has shape {ds.shape}, expected {expected}")
        return ds

    @staticmethod
    def _read_columns(ds, path: Path, voxels) -> np.ndarray:
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
        cols = np.asarray(ds[..., unique], dtype=np.float32)
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

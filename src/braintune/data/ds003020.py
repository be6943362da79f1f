"""Reader of the LeBel et al. 2024 fMRI story-listening corpus (OpenNeuro ds003020) layout.

```
root/stimuli/<story>.wav
root/derivative/respdict.json                        story -> number of TRs acquired
root/derivative/TextGrids/<story>.TextGrid           tiers "word" and "phone"
root/derivative/preprocessed_data/<UTSxx>/<story>.hf5   "data": (respdict - 20, voxels)
        test story: "data" = mean over repeats, "individual_repeats" = (repeats, rows, voxels)
root/derivative/rois/<UTSxx>.json                    Glasser area -> voxel indices (see rois.py)
root/simulation_truth/                               ground truth of simulated data; ignored here
```
The same reader serves the real corpus and the simulated participants of
``braintune.synthetic.fmri``. The test story's key ``individual_repeats`` is the one the
public files hold and the authors' code reads (bridge-ai-neuro/brain-tuning,
``src/eval_utils.py::load_fmri_story``); no other key is read.

Which stories train, validate and test is decided in one place, ``resolve_split``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from braintune.data.audio import read_audio
from braintune.data.rois import normalise_area_name
from braintune.data.textgrid import read_words
from braintune.errors import ConfigError, DataError

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
SPLIT_CHOICES = ("shared", "all", "paper")
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


@dataclass(frozen=True)
class SplitSettings:
    """Which stories train, validate and test (one owner for every stage that reads stories).

    test_story: heard several times; its repeats give the noise ceiling, and alignment is
        scored on it. validation_story: held out from training; brain-tuning validates on it.
    stories: "paper" trains every participant on the fixed list of the paper, the stories
        of ds003020's sessions 1-5 (PAPER_SESSION_STORIES, 27) minus test and validation
        (25), whoever else is in the study; a participant lacking one trains on the rest
        and a warning names the missing file. "shared" trains on the stories every
        participant of the group heard (so the group decides), "all" on every story each
        participant heard. Test and validation stories are never trained on.
    train_stories: explicit training stories instead: one list for every participant, or a
        mapping participant -> list (what a run writes into its resolved config).
    """

    test_story: str = field(default="wheretheressmoke", metadata={"help": "story whose repeats test alignment and give the noise ceiling"})
    validation_story: str = field(default="stagefright", metadata={"help": "story held out to validate brain-tuning"})
    stories: str = field(default="shared", metadata={
        "help": "training stories: 'shared' (heard by every participant of the group), 'all' (each participant's "
                "own) or 'paper' (ds003020's sessions 1-5, whoever else is in the study)",
        "choices": SPLIT_CHOICES})
    train_stories: list[str] | dict[str, list[str]] | None = field(default=None, metadata={
        "help": "explicit training stories (instead of `stories`)"})

    def __post_init__(self):
        if self.stories not in SPLIT_CHOICES:
            raise ConfigError(f"stories: {' or '.join(map(repr, SPLIT_CHOICES))}, got {self.stories!r}")
        if self.test_story == self.validation_story:
            raise ConfigError(f"test_story and validation_story are both {self.test_story!r}")
        lists = (self.train_stories.values() if isinstance(self.train_stories, dict)
                 else [] if self.train_stories is None else [self.train_stories])
        for stories in lists:
            if isinstance(stories, str) or not all(isinstance(s, str) for s in stories):
                raise ConfigError(f"train_stories: lists of story names, got {self.train_stories!r}")
            held = sorted({self.test_story, self.validation_story} & set(stories))
            if held:
                raise ConfigError(f"train_stories: {held} are held out (test or validation story) and cannot train")
            if not stories:
                raise ConfigError("train_stories: name at least one story")

    def resolved(self, splits: dict[str, "StorySplit"]) -> "SplitSettings":
        """These settings with the training stories of `splits` written out (one list if all agree)."""
        lists = {p: list(s.train) for p, s in splits.items()}
        distinct = {tuple(v) for v in lists.values()}
        return replace(self, train_stories=list(distinct.pop()) if len(distinct) == 1 else lists)


@dataclass(frozen=True)
class StorySplit:
    """Stories that train (brain-tuning and the alignment ridge), validate (brain-tuning) and
    test (alignment) for one participant."""

    train: list[str]
    validation: str
    test: str

    def to_dict(self) -> dict:
        return {"train": list(self.train), "validation": self.validation, "test": self.test}


def resolve_split(dataset: "Dataset", participants: Sequence[str], settings: SplitSettings = SplitSettings()) -> dict[str, StorySplit]:
    """The story split of each participant: the one function every stage and command calls.

    participants: the group whose common stories define "shared" (a study's participants).
    settings.stories picks the training stories (SplitSettings).
    A participant lacking a story the split needs is a DataError naming the missing file.
    """
    participants = list(participants)
    if not participants:
        raise ConfigError("the story split needs at least one participant")
    heard = {p: set(dataset.stories_of(p)) for p in participants}
    splits = {}
    for p in participants:
        held = {settings.test_story, settings.validation_story}
        if isinstance(settings.train_stories, dict):
            if p not in settings.train_stories:
                raise ConfigError(f"train_stories: no list for participant {p}")
            train = list(settings.train_stories[p])
        elif settings.train_stories is not None:
            train = list(settings.train_stories)
        elif settings.stories == "shared":
            common = set.intersection(*heard.values())
            train = sorted(common - held)
        elif settings.stories == "paper":
            train = _paper_stories(dataset, p, heard[p], held)
        else:
            train = sorted(heard[p] - held)
        needed = [settings.test_story, settings.validation_story, *train]
        missing = [s for s in needed if s not in heard[p]]
        if missing:
            path = dataset.response_path(p, missing[0], must_exist=False)
            what = ("test story" if missing[0] == settings.test_story else
                    "validation story" if missing[0] == settings.validation_story else "training story")
            more = f" (and {len(missing) - 1} more: {missing[1:4]})" if len(missing) > 1 else ""
            raise DataError(f"{path}: missing; the split's {what} {missing[0]!r} has no response file for {p}{more}")
        if not train:
            raise DataError(f"{dataset.root}: no training stories for {p} besides "
                            f"{settings.test_story!r} and {settings.validation_story!r}")
        splits[p] = StorySplit(train=train, validation=settings.validation_story, test=settings.test_story)
    return splits


def _paper_stories(dataset: "Dataset", participant: str, heard: set[str], held: set[str]) -> list[str]:
    """The paper's training stories (PAPER_SESSION_STORIES minus the `held` test and validation
    stories) that `participant` heard; those it lacks are named in a warning (ds003020's UTS04
    lacks "life")."""
    paper = sorted(set(PAPER_SESSION_STORIES) - held)
    train = [s for s in paper if s in heard]
    missing = [s for s in paper if s not in heard]
    if not train:
        raise DataError(f"{dataset.response_path(participant, paper[0], must_exist=False).parent}: none of the paper's "
                        f"{len(paper)} training stories (ds003020 sessions 1-5, e.g. {paper[0]!r}); split.stories "
                        "'paper' needs ds003020's story names ('shared' or 'all' use the stories found)")
    if missing:
        log.warning("%s: missing; %s trains on %d of the paper's %d stories, without %s",
                    dataset.response_path(participant, missing[0], must_exist=False), participant, len(train),
                    len(paper), ", ".join(missing))
    return train


class Dataset:
    """One ds003020-layout folder (real or simulated).

    roi_dir: folder of the per-participant ROI files; default root/derivative/rois.
    """

    def __init__(self, root: str | Path, roi_dir: str | Path | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder does not exist")
        self.derivative = self.root / "derivative"
        self.roi_dir = Path(roi_dir) if roi_dir is not None else self.derivative / "rois"
        self._respdict: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    # ---- paths ----------------------------------------------------------------------
    @property
    def respdict_path(self) -> Path:
        return self.derivative / "respdict.json"

    def audio_path(self, story: str) -> Path:
        return self.root / "stimuli" / f"{story}.wav"

    def textgrid_path(self, story: str) -> Path:
        return self.derivative / "TextGrids" / f"{story}.TextGrid"

    def roi_path(self, participant: str) -> Path:
        return self.roi_dir / f"{participant}.json"

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
        last_row = float(self.row_times(story)[-1])
        path = self.audio_path(story)
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} is listed in respdict.json but has no audio")
        audio = read_audio(path, sample_rate)
        if len(audio) < last_row * sample_rate:
            raise DataError(
                f"{path}: {len(audio) / sample_rate:.1f} s of audio, but respdict.json's {self.respdict[story]} TRs put "
                f"the last response row at {last_row:.1f} s after sound onset; is the file truncated?"
            )
        return audio

    def load_words(self, story: str) -> list[tuple[str, float, float]]:
        """(word, start s, end s) from the story's TextGrid; silences and noise marks skipped."""
        path = self.textgrid_path(story)
        if not path.is_file():
            raise DataError(f"{path}: story {story!r} has no TextGrid")
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
    def load_rois(self, participant: str) -> dict[str, np.ndarray]:
        """Glasser area -> sorted unique voxel indices (int64), hemispheres united (rois.py)."""
        path = self.roi_path(participant)
        if not path.is_file():
            raise DataError(f"{path}: missing ROI file (Glasser area -> voxel indices; see braintune.data.rois)")
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object")
            areas: dict[str, list[np.ndarray]] = {}
            for name, idx in raw.items():
                # JSON true/false are Python bools (an int subclass): not voxel indices
                bad = [idx] if not isinstance(idx, list) else [i for i in idx if type(i) is not int]
                if bad:
                    raise ValueError(f"area {name!r}: voxel indices must be a list of integers, found "
                                     f"{json.dumps(bad[0])[:40]}")
                if any(abs(i) >= 2**63 for i in idx):
                    raise ValueError(f"area {name!r}: voxel index {max(idx, key=abs)} is out of range")
                areas.setdefault(normalise_area_name(name), []).append(np.array(idx, dtype=np.int64))
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

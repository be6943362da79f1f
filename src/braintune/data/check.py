"""The data doctor: check the folders a study reads, with the readers and no model.

``check_data`` (the ``braintune check`` command) reads everything: every participant's
response files (rows, voxels, the test story's repeats, NaN and constant voxels), the
stories' audio and TextGrids, the ROI files, the story split, and the TIMIT and Speech
Commands corpora. ``require_study_data`` (``braintune run``, before its first cell) runs
the cheap part of the same checks on the files a study will read -- file headers and
array shapes from HDF5 metadata, no full reads of the response arrays -- and raises a
DataError naming the first problem.

Every problem is one line naming the file: an *error* (a stage would fail on it or
compute something wrong) or a *warning* (it can be used, but looks wrong: voxels with
NaN, a missing TextGrid ...). The readers of braintune.data decide what is wrong: their
DataErrors become errors, the warnings they log become warnings.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from braintune.data import speech_commands, timit
from braintune.data.audio import SAMPLE_RATE, read_audio, read_rate
from braintune.data.ds003020 import Dataset, SplitSettings, StorySplit, resolve_split
from braintune.data.rois import GLASSER_AREAS, group_rois
from braintune.data.textgrid import read_words
from braintune.errors import ConfigError, DataError
from braintune.progress import tqdm

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
TEXTGRID_SLACK = 1.0  # s a TextGrid's last word may end after its audio before that is a warning


@dataclass(frozen=True)
class CheckSettings:
    """What `braintune check` reads."""

    participants: list[str] | None = field(default=None, metadata={
        "help": "participants to check; none: every folder of derivative/preprocessed_data"})
    quick: bool = field(default=False, metadata={
        "help": "headers and array shapes only, as `braintune run` checks before its first cell "
                "(no NaN/constant voxel counts, no decoding)"})


@dataclass(frozen=True)
class Problem:
    """One problem: `message` is one line naming the file and what is wrong with it."""

    level: str  # ERROR or WARNING
    file: str  # the file checked
    message: str
    participant: str | None = None

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass
class Findings:
    """What a check found: its problems, one row per participant, a summary per corpus."""

    problems: list[Problem] = field(default_factory=list)
    participants: list[dict] = field(default_factory=list)
    corpora: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    _seen: set[Problem] = field(default_factory=set, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    def add(self, level: str, file, problem: str, participant: str | None = None) -> None:
        """Record `problem` about `file` (the line reads "<file>: <problem>")."""
        self._record(Problem(level, str(file), f"{file}: {problem}", participant))

    def attempt(self, file, read: Callable, *args, participant: str | None = None, level: str = ERROR):
        """read(*args); None once its DataError (or OSError) is recorded at `level`.

        Warnings the readers log meanwhile are recorded as warnings about `file`.
        """
        collect = _Collect()
        logger = logging.getLogger("braintune.data")
        logger.addHandler(collect)
        propagate, logger.propagate = logger.propagate, False
        try:
            return read(*args)
        except DataError as exc:
            self._record(Problem(level, str(file), str(exc), participant))
        except (OSError, UnicodeDecodeError) as exc:
            self.add(level, file, f"cannot read ({exc})", participant)
        finally:
            logger.removeHandler(collect)
            logger.propagate = propagate
            for record in collect.records:
                self._record(Problem(WARNING, str(file), record.getMessage(), participant))
        return None

    def _record(self, problem: Problem) -> None:
        if problem not in self._seen:  # two checks of one file may meet the same fault
            self._seen.add(problem)
            self.problems.append(problem)

    def raise_errors(self) -> None:
        """DataError naming the first error and counting the others, if there are any."""
        errors = self.errors
        if errors:
            more = f" (and {len(errors) - 1} more error{'s' * (len(errors) > 2)}; `braintune check` lists them)"
            raise DataError(errors[0].message + (more if len(errors) > 1 else ""))

    def to_dict(self) -> dict:
        return {"ok": not self.errors, "errors": len(self.errors), "warnings": len(self.warnings),
                "seconds": round(self.seconds, 2), "participants": self.participants, "corpora": self.corpora,
                "problems": [asdict(p) for p in self.problems]}


class _Collect(logging.Handler):
    """Keeps the warnings logged while a reader runs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ---- entry points ------------------------------------------------------------------------


def check_data(fmri: str | Path | None = None, timit_root: str | Path | None = None,
               speech_commands_root: str | Path | None = None, settings: CheckSettings = CheckSettings(),
               split: SplitSettings = SplitSettings(), progress: bool = True) -> Findings:
    """Check a ds003020 folder and the probe corpora, each if given (`braintune check`).

    fmri: every participant of `settings` and every story each of them heard; the split of
    `split` is resolved over those participants (a participant lacking its test or
    validation story is an error). Without settings.quick the response arrays are read
    whole and the audio decoded.
    """
    if fmri is None and timit_root is None and speech_commands_root is None:
        raise ConfigError("name a folder to check: a ds003020 folder, a TIMIT root or a Speech Commands root")
    started = time.perf_counter()
    found = Findings()
    full = not settings.quick
    if fmri is not None:
        _check_folder(found, fmri, settings.participants, split, full, progress)
    if timit_root is not None:
        _check_timit(found, Path(timit_root), "test", full, progress)
    if speech_commands_root is not None:
        _check_speech_commands(found, Path(speech_commands_root), full, progress)
    found.seconds = time.perf_counter() - started
    return found


def require_study_data(dataset: Dataset | None, splits: dict[str, StorySplit], rois: bool,
                       timit_root: str | Path | None = None, timit_test_set: str = "test",
                       speech_commands_root: str | Path | None = None, progress: bool = True) -> Findings:
    """The quick checks of the files a run will read, before it loads any model.

    splits: each participant's resolved split (its stories are checked: responses, audio,
    the test story's repeats); rois: check the ROI files (alignment reads them); the
    corpora if given (probing reads them). Warnings are logged; errors raise one DataError
    naming the first and counting the rest.
    """
    started = time.perf_counter()
    found = Findings()
    if dataset is not None and splits:
        stories = {p: [*s.train, s.validation, s.test] for p, s in splits.items()}
        _check_fmri(found, dataset, stories, next(iter(splits.values())).test, full=False, rois=rois,
                    textgrids=False, progress=progress)
    if timit_root is not None:
        _check_timit(found, Path(timit_root), timit_test_set, False, progress)
    if speech_commands_root is not None:
        _check_speech_commands(found, Path(speech_commands_root), False, progress)
    found.seconds = time.perf_counter() - started
    for problem in found.warnings:
        log.warning("%s", problem.message)
    found.raise_errors()
    log.info("data checked in %.1f s: no errors, %d warnings", found.seconds, len(found.warnings))
    return found


# ---- ds003020 ----------------------------------------------------------------------------


def _check_folder(found: Findings, root, participants: list[str] | None, split: SplitSettings, full: bool,
                  progress: bool) -> None:
    """A whole ds003020 folder: every story of every participant (of `participants`, default all)."""
    dataset = found.attempt(root, Dataset, root)
    if dataset is None or found.attempt(dataset.respdict_path, lambda: dataset.respdict) is None:
        return
    participants = participants or found.attempt(root, lambda: dataset.participants)
    if participants == []:
        found.add(ERROR, dataset.derivative / "preprocessed_data", "no participant folders (<UTSxx>/<story>.hf5)")
    heard = _heard(found, dataset, participants or [])
    if heard:
        found.attempt(dataset.root, resolve_split, dataset, list(heard), split)
        _check_fmri(found, dataset, heard, split.test_story, full=full, rois=True, textgrids=True, progress=progress)


def _heard(found: Findings, dataset: Dataset, participants: list[str]) -> dict[str, list[str]]:
    """participant -> the stories of its response files, for the participants whose folder lists."""
    heard = {}
    for p in participants:
        stories = found.attempt(dataset.derivative / "preprocessed_data" / p, dataset.stories_of, p, participant=p)
        if stories == []:
            found.add(ERROR, dataset.derivative / "preprocessed_data" / p, "no response files (*.hf5)", p)
        elif stories:
            heard[p] = stories
    return heard


def _check_fmri(found: Findings, dataset: Dataset, stories: dict[str, list[str]], test_story: str, full: bool,
                rois: bool, textgrids: bool, progress: bool) -> None:
    """Check `stories` (participant -> stories) of `dataset`: responses, ROI files, then the stimuli."""
    respdict = found.attempt(dataset.respdict_path, lambda: dataset.respdict)
    if respdict is None:
        return
    _missing_shared_stories(found, dataset, list(stories))
    needed = sorted({s for names in stories.values() for s in names} & set(respdict))
    with tqdm(total=sum(map(len, stories.values())) + len(needed), desc="checking ds003020", unit="file",
              disable=not progress) as bar:
        for p, names in stories.items():
            found.participants.append(_check_participant(found, dataset, p, names, test_story, full, rois, bar))
        audio_ok = textgrids_ok = 0
        for story in needed:
            seconds = _check_audio(found, dataset, story, full)
            audio_ok += seconds is not None
            if textgrids:
                textgrids_ok += _check_textgrid(found, dataset, story, seconds)
            bar.update()
    for row in found.participants:
        row["errors"] = sum(1 for q in found.errors if q.participant == row["participant"])
        row["warnings"] = sum(1 for q in found.warnings if q.participant == row["participant"])
    found.corpora["ds003020"] = {
        "root": str(dataset.root), "participants": len(stories), "stories": len(needed), "test_story": test_story,
        "audio_ok": audio_ok, **({"textgrids_ok": textgrids_ok} if textgrids else {})}


def _missing_shared_stories(found: Findings, dataset: Dataset, participants: list[str]) -> None:
    """Warn of a story that every participant but one heard: the 'shared' split leaves it out."""
    if len(participants) < 2:
        return
    heard = {p: set(dataset.stories_of(p)) for p in participants}
    for p in participants:
        for story in sorted(set.intersection(*(heard[q] for q in participants if q != p)) - heard[p]):
            found.add(WARNING, dataset.response_path(p, story, must_exist=False),
                      f"missing, though every other participant heard {story!r}; the 'shared' split leaves it out", p)


def _check_participant(found: Findings, dataset: Dataset, p: str, stories: list[str], test_story: str, full: bool,
                       rois: bool, bar) -> dict:
    """Check one participant's response files (and ROI file); -> its row of the table."""
    shapes: dict[str, tuple[int, int]] = {}
    repeats = None
    nan_voxels: set[int] = set()
    constant_voxels: set[int] = set()
    failed = set()
    for story in stories:
        bar.update()
        path = dataset.response_path(p, story, must_exist=False)
        if story not in dataset.respdict:
            found.add(ERROR, path, f"story {story!r} is not listed in respdict.json: its number of TRs is unknown", p)
            failed.add(story)
            continue
        errors_before = len(found.errors)
        shape = found.attempt(path, _response_shape, dataset, p, story, participant=p)
        if shape is None:
            failed.add(story)
            continue
        shapes[story] = shape
        keys = ["data"]
        if story == test_story:
            repeats = found.attempt(path, lambda s=story: dataset.load_repeats(p, s, voxels=[]).shape[0], participant=p)
            keys += ["individual_repeats"] if repeats else []
        if full and len(found.errors) == errors_before:
            stats = found.attempt(path, _voxel_stats, path, keys, participant=p)
            if stats is not None:
                _warn_voxels(found, path, p, *stats)
                nan_voxels.update(np.flatnonzero(stats[0]).tolist())
                constant_voxels.update(np.flatnonzero(stats[1]).tolist())
        if len(found.errors) > errors_before:
            failed.add(story)
    voxels = Counter(n for _, n in shapes.values()).most_common(1)[0][0] if shapes else None
    for story, (_, n) in shapes.items():
        if n != voxels:
            found.add(ERROR, dataset.response_path(p, story), f"{n} voxels, but {p}'s other response files have "
                      f"{voxels} ({sum(v == voxels for _, v in shapes.values())} of {len(shapes)} files)", p)
            failed.add(story)
    areas = _check_rois(found, dataset, p, voxels) if rois and voxels is not None else None
    return {"participant": p, "stories": len(stories), "ok": len(stories) - len(failed),
            "rows": sum(r for s, (r, _) in shapes.items() if s not in failed), "voxels": voxels,
            "repeats": repeats, "nan_voxels": len(nan_voxels) if full else None,
            "constant_voxels": len(constant_voxels) if full else None, "roi_areas": areas}


def _response_shape(dataset: Dataset, p: str, story: str) -> tuple[int, int]:
    """(rows, voxels) of a response file, its "data" checked by the reader (key, shape, rows)
    without reading the array: the reader is asked for no voxels."""
    import h5py

    rows = dataset.load_responses(p, story, voxels=[]).shape[0]
    with h5py.File(dataset.response_path(p, story), "r") as f:
        return rows, int(f["data"].shape[1])


def _voxel_stats(path: Path, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Voxels holding NaN/inf, and voxels constant over the rows (of "data" or of any one repeat),
    over the arrays `keys` of a response file, read one (rows, voxels) block at a time. -> 2 x (voxels,) bool"""
    import h5py

    with h5py.File(path, "r") as f:
        bad = np.zeros(f["data"].shape[1], bool)
        constant = np.zeros_like(bad)
        for key in keys:
            array = f[key]
            for x in (array[...],) if array.ndim == 2 else (array[r] for r in range(len(array))):
                bad |= ~np.isfinite(x).all(axis=0)
                if x.shape[0] > 1:
                    constant |= x.max(axis=0) == x.min(axis=0)
    return bad, constant & ~bad


def _warn_voxels(found: Findings, path: Path, p: str, bad: np.ndarray, constant: np.ndarray) -> None:
    if bad.any():
        found.add(WARNING, path, f"{int(bad.sum())} voxel(s) hold NaN/inf values (e.g. voxel "
                  f"{int(np.flatnonzero(bad)[0])}); the reader replaces them by 0", p)
    if constant.any():
        found.add(WARNING, path, f"{int(constant.sum())} voxel(s) are constant over the story (e.g. voxel "
                  f"{int(np.flatnonzero(constant)[0])}): nothing to predict there", p)


def _check_rois(found: Findings, dataset: Dataset, p: str, voxels: int) -> int | None:
    """ROI file: JSON, integer indices in range (the reader), Glasser names and groups (group_rois);
    -> the number of Glasser areas in it."""
    path = dataset.roi_path(p)
    areas = found.attempt(path, dataset.load_rois, p, participant=p)
    if areas is None or found.attempt(path, group_rois, areas, voxels, path, participant=p) is None:
        return None
    return len(set(areas) & set(GLASSER_AREAS))


def _check_audio(found: Findings, dataset: Dataset, story: str, full: bool) -> float | None:
    """Seconds of the story's audio if it reads (fully decoded if `full`) and lasts to the last response row."""
    path = dataset.audio_path(story)
    if not path.is_file():
        found.add(ERROR, path, f"missing: story {story!r} has responses but no audio")
        return None
    header = found.attempt(path, read_rate, path)
    if header is None:
        return None
    if full and found.attempt(path, read_audio, path, None) is None:
        return None
    rate, frames = header
    seconds = frames / rate
    last_row = found.attempt(dataset.respdict_path, lambda: float(dataset.row_times(story)[-1]))
    if last_row is not None and seconds < last_row:
        found.add(ERROR, path, f"{seconds:.1f} s of audio, but respdict.json's {dataset.respdict[story]} TRs put the "
                  f"last response row at {last_row:.1f} s after sound onset; is the file truncated?")
        return None
    return seconds


def _check_textgrid(found: Findings, dataset: Dataset, story: str, seconds: float | None) -> bool:
    """Whether the story's TextGrid reads and its word tier fits its audio (no stage needs it: missing is a warning)."""
    path = dataset.textgrid_path(story)
    if not path.is_file():
        found.add(WARNING, path, f"missing: no word timings for story {story!r} (no braintune stage reads them)")
        return False
    words = found.attempt(path, read_words, path)
    if words is None:
        return False
    if not words:
        found.add(WARNING, path, "its word tier holds no words")
        return False
    last = max(end for _, _, end in words)
    if seconds is not None and last > seconds + TEXTGRID_SLACK:
        found.add(WARNING, path, f"its last word ends at {last:.1f} s, after the end of the audio ({seconds:.1f} s); "
                  "is it the TextGrid of another recording?")
        return False
    return True


# ---- TIMIT -------------------------------------------------------------------------------


def _check_timit(found: Findings, root: Path, test_set: str, full: bool, progress: bool) -> None:
    """Layout, then per utterance the .WAV (16 kHz, whole) and the .PHN (parses, known phones, within
    the audio); if `full` also the .WRD and .TXT (the probes do not read them: missing is a warning)
    and the decoded audio."""
    splits, unlabelled = {}, set()
    for split in ("train", test_set):
        listing = found.attempt(root, timit.find_utterances, root, split)
        if listing is None:
            continue
        utterances, missing_phn = listing
        for wav in missing_phn:  # the reader refuses the split (list_utterances): each one is an error
            found._record(Problem(ERROR, str(wav), timit.missing_phn_message([wav])))
        unlabelled.update(missing_phn)
        for utt in tqdm(utterances, desc=f"checking TIMIT {split}", unit="utterance", disable=not progress):
            _check_utterance(found, utt, full)
        splits[split] = {"utterances": len(utterances), "speakers": len({u.speaker for u in utterances}),
                          "core_test_speakers": len({u.speaker for u in utterances} & timit.CORE_TEST_SET)}
    folders = [f for f in root.iterdir() if f.is_dir() and f.name.upper() in ("TRAIN", "TEST")] if root.is_dir() else []
    for folder in folders:  # other files the reader leaves out (a .PHN without .WAV, speakers it skips): say so
        for path in sorted(folder.rglob("*")):
            partner = {".WAV": "PHN", ".PHN": "WAV"}.get(path.suffix.upper())
            if "." in path.stem or partner is None or path in unlabelled:  # SA1.WAV.wav: a converted copy
                continue
            if not any(path.with_suffix(s).is_file() for s in ("." + partner, "." + partner.lower())):
                found.add(WARNING, path, f"no .{partner} beside it: the utterance is left out")
    found.corpora["timit"] = {"root": str(root), "splits": splits}


def _check_utterance(found: Findings, utt: timit.Utterance, full: bool) -> None:
    wav = utt.path("WAV")
    if found.attempt(wav, timit.num_samples, utt) is None:  # the audio first: labels are measured against it
        return
    found.attempt(utt.path("PHN"), timit.read_phones, utt)
    if not full:
        return
    for kind, read in (("WRD", timit.read_words), ("TXT", timit.read_text)):
        path = found.attempt(utt.stem, utt.path, kind, level=WARNING)
        if path is not None:
            found.attempt(path, read, utt)
    found.attempt(wav, timit.read_audio, utt)


# ---- Speech Commands ---------------------------------------------------------------------


def _check_speech_commands(found: Findings, root: Path, full: bool, progress: bool) -> None:
    """Layout and list files (the reader), then every clip: 16 kHz, at most 1 s, not empty (decoded if `full`)."""
    clips = found.attempt(root, speech_commands.list_clips, root)
    if clips is None:
        return
    for clip in tqdm(clips, desc="checking Speech Commands", unit="clip", disable=not progress):
        if full:
            found.attempt(clip.path, speech_commands.read_clip, clip)
            continue
        header = found.attempt(clip.path, read_rate, clip.path)
        if header is None:
            continue
        rate, frames = header
        if rate != SAMPLE_RATE:
            found.add(ERROR, clip.path, f"sample rate {rate} Hz, expected {SAMPLE_RATE}")
        elif not 0 < frames <= speech_commands.CLIP_SAMPLES:
            found.add(ERROR, clip.path, f"{frames} samples; a clip holds 1 to {speech_commands.CLIP_SAMPLES}")
    words = Counter(c.word for c in clips)
    splits = Counter(c.split for c in clips)
    missing = [w for w in speech_commands.WORDS if w not in words]
    extra = sorted(set(words) - set(speech_commands.WORDS))
    if missing:
        found.add(WARNING, root, f"no clips of {len(missing)} of the 35 words: {', '.join(missing[:5])}"
                  + (" ..." if len(missing) > 5 else ""))
    if extra:
        found.add(WARNING, root, f"folders that are not among the 35 words (probed as words too): {', '.join(extra[:5])}")
    unnamed = [c.relpath for c in clips if "_nohash_" not in c.relpath]
    if unnamed:
        found.add(WARNING, root, f"{len(unnamed)} clip name(s) lack '_nohash_' (speaker unknown), e.g. {unnamed[0]}")
    for split, listing in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        if not splits[split]:
            found.add(ERROR, root / listing, f"lists no clips: the {split} split is empty")
    if not splits["train"]:
        found.add(ERROR, root, "no training clips (every clip is listed as validation or test)")
    found.corpora["speech_commands"] = {"root": str(root), "clips": len(clips), "words": len(words),
                                        **{split: splits[split] for split in speech_commands.SPLITS}}


# ---- output ------------------------------------------------------------------------------

_COLUMNS = {"participant": "participant", "stories": "stories", "ok": "ok", "rows": "rows", "voxels": "voxels",
            "repeats": "repeats", "nan_voxels": "NaN voxels", "constant_voxels": "constant voxels",
            "roi_areas": "ROI areas", "errors": "errors", "warnings": "warnings"}


def format_findings(found: Findings) -> str:
    """The report `braintune check` prints: a table per participant, each corpus, every problem, a summary."""
    lines = []
    fmri = found.corpora.get("ds003020")
    if fmri:
        lines.append(f"ds003020 {fmri['root']}: {fmri['participants']} participant(s), {fmri['stories']} stories, "
                     f"test story {fmri['test_story']}")
        rows = [list(_COLUMNS.values())] + [["-" if r.get(k) is None else str(r[k]) for k in _COLUMNS]
                                           for r in found.participants]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                  for row in rows]
        textgrids = f", TextGrids {fmri['textgrids_ok']} ok" if "textgrids_ok" in fmri else ""
        lines.append(f"  stimuli: audio {fmri['audio_ok']} of {fmri['stories']} ok{textgrids}")
    t = found.corpora.get("timit")
    if t:
        parts = [f"{split} {s['utterances']} utterances of {s['speakers']} speakers"
                 + (f" ({s['core_test_speakers']} of the 24 core-test speakers)" if split != "train" else "")
                 for split, s in t["splits"].items()]
        lines.append(f"TIMIT {t['root']}: {', '.join(parts) or 'not readable'}")
    sc = found.corpora.get("speech_commands")
    if sc:
        lines.append(f"Speech Commands {sc['root']}: {sc['clips']} clips of {sc['words']} words "
                     f"(train {sc['train']}, validation {sc['validation']}, test {sc['test']})")
    problems = found.errors + found.warnings
    if problems:
        lines += [""] + [str(p) for p in problems]
    verdict = "the data is usable" if not found.errors else "fix the errors above"
    lines += ["", f"{len(found.errors)} error(s), {len(found.warnings)} warning(s) in {found.seconds:.1f} s: {verdict}"]
    return "\n".join(lines)


def findings_json(found: Findings) -> str:
    """The findings as JSON text (`braintune check --json FILE`)."""
    return json.dumps(found.to_dict(), indent=1)

"""The fMRI part of the data doctor, through the FMRIDataset interface: every participant's
responses (rows, voxels, the test story's repeats, NaN and constant voxels), the ROI files, the
split, the stories' audio and word timings. A layout answers the cheap questions its own way
(FMRIDataset.response_shape, bad_voxels, audio_seconds: ds003020 reads HDF5 and WAV headers)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from braintune.data.findings import ERROR, WARNING, Findings
from braintune.data.fmri.interface import FMRIDataset
from braintune.data.fmri.split import SplitSettings, resolve_split
from braintune.data.rois import GLASSER_AREAS, group_rois
from braintune.progress import tqdm

TEXTGRID_SLACK = 1.0  # s a story's last word may end after its audio before that is a warning
COLUMNS = {"participant": "participant", "stories": "stories", "ok": "ok", "rows": "rows", "voxels": "voxels",
           "repeats": "repeats", "nan_voxels": "NaN voxels", "constant_voxels": "constant voxels",
           "roi_areas": "ROI areas", "cortex": "cortex files", "errors": "errors", "warnings": "warnings"}


def check_folder(found: Findings, open_dataset, root, participants: list[str] | None, split: SplitSettings,
                 full: bool, progress: bool, atlas=None) -> None:
    """A whole dataset folder: every story of every participant (of `participants`, default all),
    and, if `full`, each participant's cortex files (with the HCP-MMP1 `atlas` if given).
    open_dataset: root -> FMRIDataset (its DataError is recorded)."""
    dataset = found.attempt(root, open_dataset, root)
    if dataset is None or found.attempt(root, lambda: dataset.stories) is None:
        return
    participants = participants or found.attempt(root, lambda: dataset.participants)
    if participants == []:
        found.add(ERROR, root, "no participants with responses")
    heard = _heard(found, dataset, participants or [])
    if heard:
        found.attempt(dataset.root, resolve_split, dataset, list(heard), split)
        check_stories(found, dataset, heard, split.test_story, full=full, rois=True, words=True, progress=progress)
        if full:
            for row in found.participants:
                if row["voxels"] is not None:
                    row["cortex"] = check_cortex(found, dataset, row["participant"], row["voxels"], atlas)


def _heard(found: Findings, dataset: FMRIDataset, participants: list[str]) -> dict[str, list[str]]:
    """participant -> the stories of its response files, for the participants whose folder lists."""
    heard = {}
    for p in participants:
        folder = dataset.response_path(p, "*", must_exist=False).parent
        stories = found.attempt(folder, dataset.stories_of, p, participant=p)
        if stories == []:
            found.add(ERROR, folder, "no response files", p)
        elif stories:
            heard[p] = stories
    return heard


def check_stories(found: Findings, dataset: FMRIDataset, stories: dict[str, list[str]], test_story: str, full: bool,
                  rois: bool, words: bool, progress: bool) -> None:
    """Check `stories` (participant -> stories) of `dataset`: responses, ROI files, then the stimuli."""
    listed = found.attempt(dataset.root, lambda: dataset.stories)
    if listed is None:
        return
    _missing_shared_stories(found, dataset, list(stories))
    needed = sorted({s for names in stories.values() for s in names} & set(listed))
    with tqdm(total=sum(map(len, stories.values())) + len(needed), desc=f"checking {dataset.LAYOUT}", unit="file",
              disable=not progress) as bar:
        for p, names in stories.items():
            found.participants.append(_check_participant(found, dataset, p, names, set(listed), test_story, full,
                                                         rois, bar))
        audio_ok = words_ok = 0
        for story in needed:
            seconds = _check_audio(found, dataset, story, full)
            audio_ok += seconds is not None
            if words:
                words_ok += _check_words(found, dataset, story, seconds)
            bar.update()
    for row in found.participants:
        row["errors"] = sum(1 for q in found.errors if q.participant == row["participant"])
        row["warnings"] = sum(1 for q in found.warnings if q.participant == row["participant"])
    found.corpora["fmri"] = {
        "layout": dataset.LAYOUT, "root": str(dataset.root), "participants": len(stories), "stories": len(needed),
        "test_story": test_story, "audio_ok": audio_ok, **({"textgrids_ok": words_ok} if words else {})}


def summary_lines(info: dict, participants: list[dict]) -> list[str]:
    """The fMRI lines of `braintune check`: the folder, a table per participant, the stimuli."""
    lines = [f"{info['layout']} {info['root']}: {info['participants']} participant(s), {info['stories']} stories, "
             f"test story {info['test_story']}"]
    rows = [list(COLUMNS.values())] + [["-" if r.get(k) is None else str(r[k]) for k in COLUMNS] for r in participants]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
              for row in rows]
    words = f", word timings {info['textgrids_ok']} ok" if "textgrids_ok" in info else ""
    lines.append(f"  stimuli: audio {info['audio_ok']} of {info['stories']} ok{words}")
    return lines


def _missing_shared_stories(found: Findings, dataset: FMRIDataset, participants: list[str]) -> None:
    """Warn of a story that every participant but one heard: the 'shared' split leaves it out."""
    if len(participants) < 2:
        return
    heard = {p: set(dataset.stories_of(p)) for p in participants}
    for p in participants:
        for story in sorted(set.intersection(*(heard[q] for q in participants if q != p)) - heard[p]):
            found.add(WARNING, dataset.response_path(p, story, must_exist=False),
                      f"missing, though every other participant heard {story!r}; the 'shared' split leaves it out", p)


def _check_participant(found: Findings, dataset: FMRIDataset, p: str, stories: list[str], listed: set[str],
                       test_story: str, full: bool, rois: bool, bar) -> dict:
    """Check one participant's response files (and ROI file); -> its row of the table."""
    shapes: dict[str, tuple[int, int]] = {}
    repeats = None
    nan_voxels: set[int] = set()
    constant_voxels: set[int] = set()
    failed = set()
    for story in stories:
        bar.update()
        path = dataset.response_path(p, story, must_exist=False)
        if story not in listed:
            found.add(ERROR, path, f"story {story!r} is not listed among the dataset's stories: its row times are "
                      "unknown", p)
            failed.add(story)
            continue
        errors_before = len(found.errors)
        shape = found.attempt(path, dataset.response_shape, p, story, participant=p)
        if shape is None:
            failed.add(story)
            continue
        shapes[story] = shape
        if story == test_story:
            repeats = found.attempt(path, lambda s=story: dataset.load_repeats(p, s, voxels=[]).shape[0], participant=p)
        if full and len(found.errors) == errors_before:
            stats = found.attempt(path, dataset.bad_voxels, p, story, bool(story == test_story and repeats),
                                  participant=p)
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


def check_cortex(found: Findings, dataset: FMRIDataset, p: str, voxels: int, atlas=None) -> str | None:
    """The participant's pycortex subject, as `braintune rois` reads it: surfaces whose vertex counts
    agree (pia, wm, flat, sphere.reg), an svg with its ROI layer, a thick mask with one voxel per
    response column, an atlas annotation on the sphere's mesh; an overlays ROI reaching no voxel is
    a warning. -> "ok", or None when the layout has no cortex files or they failed."""
    from braintune.data.pycortex import build_subject_rois
    from braintune.errors import DataError

    try:
        files = dataset.cortex(p)
    except DataError:
        return None
    if not files.subject.is_dir():
        found.add(WARNING, files.subject, "missing: no pycortex subject, so `braintune rois` cannot build the ROI "
                  "files from the dataset and no flat maps are drawn", p)
        return None
    rois = found.attempt(files.subject, build_subject_rois, files.subject, files.transform, atlas,
                         files.freesurfer if atlas is not None else None, participant=p)
    if rois is None:
        return None
    thick = int(rois.thick.sum())
    if thick != voxels:
        found.add(ERROR, rois.transform.mask_path("thick"), f"the thick mask of {files.transform} holds {thick} "
                  f"voxels, but {p}'s responses have {voxels} columns: the columns are the mask's voxels", p)
        return None
    for name, columns in rois.columns.items():
        if name not in rois.glasser and not len(columns):
            found.add(WARNING, files.subject / "overlays.svg", f"ROI {name!r} reaches no voxel of {files.transform}", p)
    return "ok"


def _warn_voxels(found: Findings, path, p: str, bad: np.ndarray, constant: np.ndarray) -> None:
    if bad.any():
        found.add(WARNING, path, f"{int(bad.sum())} voxel(s) hold NaN/inf values (e.g. voxel "
                  f"{int(np.flatnonzero(bad)[0])}); the reader replaces them by 0", p)
    if constant.any():
        found.add(WARNING, path, f"{int(constant.sum())} voxel(s) are constant over the story (e.g. voxel "
                  f"{int(np.flatnonzero(constant)[0])}): nothing to predict there", p)


def _check_rois(found: Findings, dataset: FMRIDataset, p: str, voxels: int) -> int | None:
    """ROI file: JSON, integer indices in range (the reader), Glasser names and groups (group_rois);
    -> the number of Glasser areas in it."""
    path = found.attempt(dataset.root, dataset.roi_path, p, participant=p)
    if path is None:
        return None
    areas = found.attempt(path, dataset.load_rois, p, participant=p)
    if areas is None or found.attempt(path, group_rois, areas, voxels, path, participant=p) is None:
        return None
    return len(set(areas) & set(GLASSER_AREAS))


def _check_audio(found: Findings, dataset: FMRIDataset, story: str, full: bool) -> float | None:
    """Seconds of the story's audio if it reads (fully decoded if `full`: a silent story is a warning)
    and lasts to the last response row."""
    path = dataset.audio_path(story)
    seconds = found.attempt(path, dataset.audio_seconds, story)
    if seconds is None:
        return None
    if full and found.attempt(path, dataset.load_audio, story) is None:
        return None
    last_row = found.attempt(dataset.root, lambda: float(dataset.row_times(story)[-1]))
    if last_row is not None and seconds < last_row:
        found.add(ERROR, path, f"{seconds:.1f} s of audio, but the story's last response row is at {last_row:.1f} s "
                  "after sound onset; is the file truncated?")
        return None
    return seconds


def _check_words(found: Findings, dataset: FMRIDataset, story: str, seconds: float | None) -> bool:
    """Whether the story's word timings read and fit its audio (no stage needs them: missing is a warning)."""
    path = dataset.words_path(story)
    if path is None or not path.is_file():
        found.add(WARNING, path or dataset.root,
                  f"missing: no word timings for story {story!r} (no braintune stage reads them)")
        return False
    words = found.attempt(path, dataset.load_words, story)
    if words is None:
        return False
    if not words:
        found.add(WARNING, path, f"story {story!r}: its word timings hold no words")
        return False
    last = max(end for _, _, end in words)
    if seconds is not None and last > seconds + TEXTGRID_SLACK:
        found.add(WARNING, path, f"its last word ends at {last:.1f} s, after the end of the audio ({seconds:.1f} s); "
                  "is it the TextGrid of another recording?")
        return False
    return True

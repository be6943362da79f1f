"""`braintune check` (the data doctor) and the run's data check: clean on good folders, one
line naming the file for each broken copy of the simulated data and the stand-in corpora."""

from __future__ import annotations

import json
import re
import shutil

import h5py
import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import write_commands_layout, write_fake_outputs, write_real_layout, write_timit_layout

from braintune.cli import main
from braintune.data import timit
from braintune.data.check import CheckSettings, check_data, require_study_data
from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.data.fmri import resolve_split
from braintune.errors import DataError
from braintune.study import runner
from braintune.synthetic.corpora import write_sphere

RESPONSES = "derivative/preprocessed_data"


def _copy(src, dst):
    return shutil.copytree(src, dst)


def _edit_hf5(path, edit):
    """Rewrite a response file with edit(arrays) applied to its dict of arrays."""
    with h5py.File(path, "r") as f:
        arrays = {key: f[key][...] for key in f}
    edit(arrays)
    path.unlink()
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key] = value


def _edit_json(path, edit):
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _cut(path, keep_bytes):
    path.write_bytes(path.read_bytes()[:keep_bytes])


def test_clean_on_the_simulated_data(sim_dataset, standin_timit, standin_commands, tmp_path, capsys):
    """Exit 0, no problem, and the table's numbers are those of the files."""
    out = tmp_path / "findings.json"
    assert main(["check", str(sim_dataset), "--timit", str(standin_timit), "--speech-commands", str(standin_commands),
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in text and "error:" not in text and "warning:" not in text
    found = json.loads(out.read_text())
    assert found["ok"] and found["problems"] == []
    ds = Dataset(sim_dataset)
    for row in found["participants"]:
        p = row["participant"]
        with h5py.File(ds.response_path(p, "wheretheressmoke"), "r") as f:
            repeats, _, voxels = f["individual_repeats"].shape
        assert row == {"participant": p, "stories": 6, "ok": 6,
                       "rows": sum(ds.respdict[s] - 20 for s in ds.stories_of(p)), "voxels": voxels,
                       "repeats": repeats, "nan_voxels": 0, "constant_voxels": 0,
                       "roi_areas": len(ds.load_rois(p)), "cortex": "ok", "errors": 0, "warnings": 0}
        assert f"  {p}  " in text and f" {voxels} " in text
    assert [r["participant"] for r in found["participants"]] == ["UTS01", "UTS02"]
    assert found["corpora"]["timit"]["splits"] == {
        "train": {"utterances": 8 * 7, "speakers": 8, "core_test_speakers": 0},
        "test": {"utterances": 4 * 7, "speakers": 4, "core_test_speakers": 4}}
    assert {k: found["corpora"]["speech_commands"][k] for k in ("clips", "words", "train", "validation", "test")} == \
        {"clips": 210, "words": 35, "train": 140, "validation": 35, "test": 35}
    assert found["corpora"]["fmri"]["audio_ok"] == found["corpora"]["fmri"]["textgrids_ok"] == 6


def test_clean_on_a_folder_written_by_hand_in_the_real_layout(real_layout):
    """No errors; the missing TextGrids and the ROI groups without voxels are warnings naming their files."""
    found = check_data(real_layout, progress=False)
    assert found.errors == []
    assert [row["stories"] for row in found.participants] == [5, 5]
    assert [(row["rows"], row["voxels"], row["repeats"], row["roi_areas"]) for row in found.participants] == \
        [(50, 12, 3, 2)] * 2
    missing = sorted(p.file for p in found.warnings if "no word timings" in p.message)
    assert missing == sorted(str(real_layout / "derivative" / "TextGrids" / f"{s}.TextGrid")
                             for s in ("storya", "storyb", "storyc", "stagefright", "wheretheressmoke"))
    assert any(p.message.startswith(str(real_layout / "derivative" / "rois" / "UTS01.json") + ": ROI group ifg_mfg")
               for p in found.warnings)
    require_study_data(Dataset(real_layout), resolve_split(Dataset(real_layout), ["UTS01", "UTS02"]), rois=True,
                       progress=False)


def _repeats(edit):
    return lambda root: _edit_hf5(root / RESPONSES / "UTS01" / "wheretheressmoke.hf5", edit)


FMRI_BREAKAGES = {
    # name: (break the copy, the file named, the problem, whether `braintune run` reads that file)
    "missing test-story responses": (lambda root: (root / RESPONSES / "UTS02" / "wheretheressmoke.hf5").unlink(),
                                     "UTS02/wheretheressmoke.hf5", "missing; the split's test story", True),
    "wrong row count": (lambda root: _edit_hf5(root / RESPONSES / "UTS01" / "simstory01.hf5",
                                               lambda a: a.update(data=a["data"][:-1])),
                        "UTS01/simstory01.hf5", r"\d+ rows, expected \d+", True),
    "no individual_repeats": (_repeats(lambda a: a.pop("individual_repeats")), "UTS01/wheretheressmoke.hf5",
                              "no 'individual_repeats' array", True),
    "repeats with fewer voxels": (_repeats(lambda a: a.update(individual_repeats=a["individual_repeats"][:, :, :-1])),
                                  "UTS01/wheretheressmoke.hf5", r"'individual_repeats' has shape .* but 'data' has",
                                  True),
    "repeats with fewer rows": (_repeats(lambda a: a.update(individual_repeats=a["individual_repeats"][:, 1:])),
                                "UTS01/wheretheressmoke.hf5", r"'individual_repeats' has shape .* but 'data' has", True),
    "a single repeat": (_repeats(lambda a: a.update(individual_repeats=a["individual_repeats"][:1])),
                        "UTS01/wheretheressmoke.hf5", r"1 repeat\(s\)", True),
    "truncated audio": (lambda root: _cut(root / "stimuli" / "simstory03.wav", 44 + 2 * 16000 * 10),
                        "stimuli/simstory03.wav", r"10\.0 s of audio, but respdict.json's \d+ TRs", True),
    "missing audio": (lambda root: (root / "stimuli" / "simstory02.wav").unlink(),
                      "stimuli/simstory02.wav", "missing: story 'simstory02' has responses but no audio", True),
    "truncated hf5": (lambda root: _cut(root / RESPONSES / "UTS01" / "simstory02.hf5", 3000),
                      "UTS01/simstory02.hf5", "not a readable HDF5 file", True),
    "voxel count differs between stories": (
        lambda root: _edit_hf5(root / RESPONSES / "UTS02" / "simstory04.hf5", lambda a: a.update(data=a["data"][:, :-1])),
        "UTS02/simstory04.hf5", r"\d+ voxels, but UTS02's other response files have \d+ \(5 of 6 files\)", True),
    "ROI index out of range": (lambda root: _edit_json(root / "derivative" / "rois" / "UTS01.json",
                                                       lambda r: {**r, "A1": r["A1"] + [10 ** 6]}),
                               "rois/UTS01.json", "area 'A1' has voxel indices out of range", True),
    "ROI file without Glasser names": (lambda root: _edit_json(root / "derivative" / "rois" / "UTS01.json",
                                                               lambda r: {"Broca": r["A1"]}),
                                       "rois/UTS01.json", r"no HCP-MMP1 \(Glasser\) area names", True),
    "missing ROI file": (lambda root: (root / "derivative" / "rois" / "UTS02.json").unlink(),
                         "rois/UTS02.json", "missing ROI file", True),
    "missing respdict.json": (lambda root: (root / "derivative" / "respdict.json").unlink(),
                              "derivative/respdict.json", "missing", True),
    "response file of an unlisted story": (
        lambda root: shutil.copy(root / RESPONSES / "UTS01" / "simstory01.hf5", root / RESPONSES / "UTS01" / "extra.hf5"),
        "UTS01/extra.hf5", "story 'extra' is not listed among the dataset's stories", False),
    "binary TextGrid": (lambda root: (root / "derivative" / "TextGrids" / "simstory01.TextGrid").write_bytes(
        b"ooBinaryFile\x08TextGrid\x00\x00\x00\x00"), "TextGrids/simstory01.TextGrid", "binary Praat TextGrid", False),
    "TextGrid in another format": (lambda root: (root / "derivative" / "TextGrids" / "simstory04.TextGrid").write_text(
        "word,start,end\nthe,0.1,0.3\n"), "TextGrids/simstory04.TextGrid", "not a readable Praat TextGrid", False),
}


@pytest.mark.parametrize("name", FMRI_BREAKAGES)
def test_each_broken_ds003020_copy_is_flagged_naming_the_file(name, sim_dataset, tmp_path):
    """Every error is about the broken file (names it or its story); `braintune run`'s quick check stops
    on it too (if a run reads it)."""
    breakage, file, problem, read_by_run = FMRI_BREAKAGES[name]
    root = _copy(sim_dataset, tmp_path / "ds")
    breakage(root)
    found = check_data(root, progress=False)
    story = file.split("/")[-1].split(".")[0]
    assert found.errors and all(file in e.message or f"story {story!r}" in e.message for e in found.errors), \
        [str(e) for e in found.errors]
    assert any(re.search(re.escape(file) + ": .*" + problem, e.message) for e in found.errors), \
        [str(e) for e in found.errors]
    if read_by_run:
        with pytest.raises(DataError, match=re.escape(file) + ": .*" + problem):
            dataset = Dataset(root)
            require_study_data(dataset, resolve_split(dataset, ["UTS01", "UTS02"]), rois=True, progress=False)


def test_nan_and_constant_voxels_are_counted_as_warnings(sim_dataset, tmp_path):
    root = _copy(sim_dataset, tmp_path / "ds")

    def spoil(a):
        a["data"][:, 3] = np.nan
        a["data"][2, 4] = np.inf
        a["data"][:, 7] = 1.5

    _edit_hf5(root / RESPONSES / "UTS01" / "simstory01.hf5", spoil)
    _edit_hf5(root / RESPONSES / "UTS02" / "wheretheressmoke.hf5",
              lambda a: a["individual_repeats"].__setitem__((1, slice(None), 9), np.nan))
    found = check_data(root, progress=False)
    assert found.errors == []
    assert [str(w) for w in found.warnings] == [
        f"warning: {root / RESPONSES / 'UTS01' / 'simstory01.hf5'}: 2 voxel(s) hold NaN/inf values (e.g. voxel 3); "
        "the reader replaces them by 0",
        f"warning: {root / RESPONSES / 'UTS01' / 'simstory01.hf5'}: 1 voxel(s) are constant over the story "
        "(e.g. voxel 7): nothing to predict there",
        f"warning: {root / RESPONSES / 'UTS02' / 'wheretheressmoke.hf5'}: 1 voxel(s) hold NaN/inf values (e.g. voxel 9); "
        "the reader replaces them by 0",
    ]
    rows = {r["participant"]: r for r in found.participants}
    assert (rows["UTS01"]["nan_voxels"], rows["UTS01"]["constant_voxels"], rows["UTS01"]["warnings"]) == (2, 1, 2)
    assert (rows["UTS02"]["nan_voxels"], rows["UTS02"]["constant_voxels"], rows["UTS02"]["warnings"]) == (1, 0, 1)
    assert check_data(root, settings=CheckSettings(quick=True), progress=False).problems == []  # headers only


def test_a_story_one_participant_lacks_is_a_warning(sim_dataset, tmp_path):
    """The 'shared' split silently drops a story one participant lacks (a partial download): say so."""
    root = _copy(sim_dataset, tmp_path / "ds")
    (root / RESPONSES / "UTS02" / "simstory02.hf5").unlink()
    found = check_data(root, progress=False)
    assert found.errors == []
    assert [str(w) for w in found.warnings] == [
        f"warning: {root / RESPONSES / 'UTS02' / 'simstory02.hf5'}: missing, though every other participant heard "
        "'simstory02'; the 'shared' split leaves it out"]
    assert [r["stories"] for r in found.participants] == [6, 5]


def _first_utterance(root):
    return timit.list_utterances(root, "train")[0]


def _resample_wav(root):
    utt = _first_utterance(root)
    write_sphere(utt.path("WAV"), timit.read_audio(utt)[::2], sample_rate=8000)


TIMIT_BREAKAGES = {
    "labels past the audio": (lambda root: _first_utterance(root).path("PHN").open("a").write("99000 99500 h#\n"),
                              ".PHN", "past the end of the audio"),
    "unknown phone": (lambda root: _first_utterance(root).path("PHN").open("a").write("0 10 xx\n"),
                      ".PHN", "unknown phone label"),
    "WAV at 8 kHz": (_resample_wav, ".WAV", "sample rate 8000 Hz, expected 16000"),
    "truncated WAV": (lambda root: _cut(_first_utterance(root).path("WAV"), 1024 + 2 * 4000),
                      ".WAV", "truncated: its header declares \\d+ samples, the file holds 4000"),
    "no TRAIN folder": (lambda root: (root / "TRAIN").rename(root / "TRAIN.old"), "", "no TRAIN folder"),
    "WAV without its PHN": (lambda root: _first_utterance(root).path("PHN").unlink(),
                            ".PHN", "missing beside SA1.WAV; TIMIT has a .PHN for every .WAV"),
}


@pytest.mark.parametrize("name", TIMIT_BREAKAGES)
def test_each_broken_timit_copy_is_flagged_naming_the_file(name, standin_timit, tmp_path):
    """The .WAV is checked before its labels: a resampled or truncated .WAV is not reported as a .PHN
    problem (issue 13)."""
    breakage, suffix, problem = TIMIT_BREAKAGES[name]
    root = _copy(standin_timit, tmp_path / "timit")
    file = str(_first_utterance(root).stem) + suffix if suffix else str(root)
    breakage(root)
    for found in (check_data(corpora={"timit": root}, progress=False),
                  check_data(corpora={"timit": root}, settings=CheckSettings(quick=True), progress=False)):
        assert len(found.errors) == 1 and re.match(re.escape(file) + ": .*" + problem, found.errors[0].message), \
            [str(e) for e in found.errors]
    with pytest.raises(DataError, match=re.escape(file) + ": .*" + problem):
        require_study_data(None, {}, rois=False, corpora={"timit": root}, progress=False)


def test_every_wav_without_its_phn_is_an_error_as_the_reader_says(tmp_path):
    """Guards against the check calling "left out" what the reader refuses: each .WAV without its
    .PHN is one error, in the reader's words, and the other utterances are still checked."""
    root = write_timit_layout(tmp_path / "timit")
    train, test = root / "TRAIN" / "DR1" / "FAKS0", root / "TEST" / "DR1" / "MDAB0"
    (train / "SA1.PHN").unlink()
    (test / "SA1.PHN").unlink()
    found = check_data(corpora={"timit": root}, progress=False)
    assert [str(p) for p in found.problems] == [
        f"error: {train / 'SA1.PHN'}: missing beside SA1.WAV; TIMIT has a .PHN for every .WAV: is the copy complete?",
        f"error: {test / 'SA1.PHN'}: missing beside SA1.WAV; TIMIT has a .PHN for every .WAV: is the copy complete?",
        f"error: {root}: TIMIT test split: every utterance is of sentence type SX; the sentence-type probe needs at "
        "least two of SA, SI, SX"]
    assert found.corpora["timit"]["splits"]["train"]["utterances"] == 3
    with pytest.raises(DataError, match=re.escape(f"{train / 'SA1.PHN'}: missing beside SA1.WAV; ") + r".*\(and 2 more"):
        require_study_data(None, {}, rois=False, corpora={"timit": root}, progress=False)


def _rewrite_clip(root, seconds, rate):
    path = root / "yes" / sorted(p.name for p in (root / "yes").iterdir())[0]
    sf.write(path, np.zeros(int(seconds * rate), np.float32), rate, subtype="PCM_16")
    return path


COMMANDS_BREAKAGES = {
    "list names a missing clip": (lambda root: (root / "validation_list.txt").open("a").write("yes/deadbeef_nohash_0.wav\n"),
                                  "validation_list.txt", "lists yes/deadbeef_nohash_0.wav, which is not in"),
    "missing list": (lambda root: (root / "testing_list.txt").unlink(), "testing_list.txt", "missing"),
    "clip at 8 kHz": (lambda root: _rewrite_clip(root, 1.0, 8000), "yes/", "sample rate 8000 Hz, expected 16000"),
    "clip longer than 1 s": (lambda root: _rewrite_clip(root, 1.5, 16000), "yes/", "24000 samples"),
}


@pytest.mark.parametrize("name", COMMANDS_BREAKAGES)
def test_each_broken_speech_commands_copy_is_flagged_naming_the_file(name, standin_commands, tmp_path):
    breakage, file, problem = COMMANDS_BREAKAGES[name]
    root = _copy(standin_commands, tmp_path / "sc")
    breakage(root)
    pattern = re.escape(str(root / file)) + r"[^:]*: " + problem
    for found in (check_data(corpora={"speech_commands": root}, progress=False),
                  check_data(corpora={"speech_commands": root}, settings=CheckSettings(quick=True), progress=False)):
        assert len(found.errors) == 1 and re.match(pattern, found.errors[0].message), [str(e) for e in found.errors]
    with pytest.raises(DataError, match=pattern):
        require_study_data(None, {}, rois=False, corpora={"speech_commands": root}, progress=False)


def test_check_exits_1_and_prints_one_line_per_problem(sim_dataset, tmp_path, capsys):
    root = _copy(sim_dataset, tmp_path / "ds")
    FMRI_BREAKAGES["no individual_repeats"][0](root)
    FMRI_BREAKAGES["truncated audio"][0](root)
    assert main(["check", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [
        f"error: {root / RESPONSES / 'UTS01' / 'wheretheressmoke.hf5'}: no 'individual_repeats' array (keys: ['data']); "
        "the noise ceiling needs the individual repeats of story 'wheretheressmoke', shape (repeats, rows, voxels)",
        next(line for line in errors if line.startswith(f"error: {root / 'stimuli' / 'simstory03.wav'}: 10.0 s of audio")),
    ]
    assert lines[-1].startswith("2 error(s), 0 warning(s) in ") and lines[-1].endswith(": fix the errors above")
    assert re.match(r"  UTS01\s+6\s+5\s.*\s-\s.*\s1\s+0$", next(line for line in lines if line.startswith("  UTS01")))
    assert "  stimuli: audio 5 of 6 ok, word timings 6 ok" in lines


@pytest.fixture
def broken_study(sim_dataset, standin_timit, standin_commands, tmp_path, monkeypatch):
    """A study config on copies of the simulated data; the runners record calls instead of running."""
    ran = []

    def record(cell, cfg, run_dir, folder):
        ran.append(cell)
        write_fake_outputs(cell, folder)

    monkeypatch.setattr(runner, "RUNNERS", {s: record for s in runner.RUNNERS})
    copies = {"fmri": _copy(sim_dataset, tmp_path / "ds"), "timit": _copy(standin_timit, tmp_path / "timit"),
              "speech_commands": _copy(standin_commands, tmp_path / "sc")}
    config = {"name": "broken", "out": str(tmp_path / "run"), "models": ["tiny:wav2vec2"],
              "participants": ["UTS01", "UTS02"], "data": {k: str(v) for k, v in copies.items()}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, copies, ran


@pytest.mark.parametrize("corpus, breakage, file", [
    ("fmri", FMRI_BREAKAGES["truncated audio"][0], "stimuli/simstory03.wav"),
    ("fmri", FMRI_BREAKAGES["ROI index out of range"][0], "rois/UTS01.json"),
    ("timit", TIMIT_BREAKAGES["truncated WAV"][0], ".WAV"),
    ("speech_commands", COMMANDS_BREAKAGES["list names a missing clip"][0], "validation_list.txt"),
])
def test_run_on_broken_data_fails_before_any_cell(broken_study, corpus, breakage, file, capsys):
    """Guards against a broken download failing hours into a study: no cell runs, no cell folder is made."""
    path, copies, ran = broken_study
    breakage(copies[corpus])
    assert main(["run", str(path)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("braintune run:")]
    assert len(err) == 1 and err[0].startswith(f"braintune run: error: {copies[corpus]}") and file in err[0]
    assert ran == [] and not (path.parent / "run" / "cells").exists()


def test_run_checks_only_what_its_stages_read(broken_study):
    """A broken probe corpus does not stop a study that does not probe; the ROI files matter only to alignment."""
    path, copies, ran = broken_study
    (copies["timit"] / "TRAIN").rename(copies["timit"] / "gone")
    (copies["fmri"] / "derivative" / "rois" / "UTS02.json").unlink()
    assert main(["run", str(path), "stages=[tune]"]) == 0
    assert [c.stage for c in ran] == ["tune", "tune"]
    assert main(["run", str(path), "stages=[align_pretrained]"]) == 1
    assert main(["run", str(path), "stages=[probe_pretrained]", "probe.tasks=[words]"]) == 0
    assert main(["run", str(path), "stages=[probe_pretrained]", "probe.tasks=[mfcc]"]) == 1


def test_real_layout_check_reports_a_missing_split_story(tmp_path):
    """resolve_split names the participant lacking the test story; other participants are still checked."""
    root = write_real_layout(tmp_path / "ds", unheard={"UTS02": ["wheretheressmoke"]})
    found = check_data(root, progress=False)
    assert [e.message for e in found.errors] == [
        f"{root / RESPONSES / 'UTS02' / 'wheretheressmoke.hf5'}: missing; the split's test story 'wheretheressmoke' "
        "has no response file for UTS02"]
    assert [r["repeats"] for r in found.participants] == [3, None]


def test_corpora_written_by_hand(tmp_path):
    """Small corpora in the real layouts pass; what the readers skip or lack is a warning naming it."""
    root = write_timit_layout(tmp_path / "timit")
    shutil.copy(root / "TRAIN" / "DR1" / "FAKS0" / "SA1.WAV", root / "TRAIN" / "DR1" / "FAKS0" / "SA1.WAV.wav")
    (root / "TRAIN" / "DR2" / "MABC0" / "SA1.WAV").unlink()
    (root / "TEST" / "DR1" / "MDAB0" / "SA1.WRD").unlink()
    sc = write_commands_layout(tmp_path / "sc")
    found = check_data(corpora={"timit": root, "speech_commands": sc}, progress=False)
    assert found.errors == []
    assert [str(w) for w in found.warnings] == [
        f"warning: {root / 'TEST' / 'DR1' / 'MDAB0' / 'SA1'}.WRD: missing (TIMIT utterance TEST/DR1/MDAB0/SA1)",
        f"warning: {root / 'TRAIN' / 'DR2' / 'MABC0' / 'SA1.PHN'}: no .WAV beside it: the utterance is left out",
        f"warning: {sc}: no clips of 33 of the 35 words: backward, bed, bird, cat, dog ...",
    ]
    assert found.corpora["timit"]["splits"]["train"] == {"utterances": 3, "speakers": 2, "core_test_speakers": 0}
    assert found.corpora["speech_commands"]["clips"] == 6

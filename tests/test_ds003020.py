"""The ds003020 reader on small hand-written folders: time convention, subsets, repeats, bad input."""

import json
import logging
import re

import h5py
import numpy as np
import pytest
import soundfile as sf

from braintune.data.fmri.ds003020 import DS003020 as Dataset, response_row_times
from braintune.data.fmri import SplitSettings, resolve_split
from braintune.data.rois import ROI_GROUPS, group_rois, normalise_area_name
from braintune.data.textgrid import read_textgrid, read_words
from braintune.synthetic.textgrid import write_textgrid
from braintune.errors import ConfigError, DataError

N_TRIGGERS = {"storya": 30, "storyb": 26, "wheretheressmoke": 28, "stagefright": 25}
N_VOX = 7


def _write_hf5(path, **arrays):
    with h5py.File(path, "w") as f:
        for key, arr in arrays.items():
            f[key] = arr


def audio_seconds(n_triggers):
    """Audio long enough for a story's last response row (at 2 n - 31 s) plus 2 s."""
    return 2 * n_triggers - 29


@pytest.fixture
def folder(tmp_path):
    """Four stories, one participant, random responses with the right row counts, written in
    the real layout by hand (the test story: "data" = mean of "individual_repeats")."""
    rng = np.random.default_rng(0)
    der = tmp_path / "derivative"
    (der / "preprocessed_data" / "UTS01").mkdir(parents=True)
    (der / "TextGrids").mkdir()
    (der / "rois").mkdir()
    (tmp_path / "stimuli").mkdir()
    (der / "respdict.json").write_text(json.dumps(N_TRIGGERS))
    for story, n in N_TRIGGERS.items():
        wave = rng.standard_normal(16000 * audio_seconds(n)).astype(np.float32) * 0.1
        sf.write(tmp_path / "stimuli" / f"{story}.wav", wave, 16000)
        rows = n - 20
        if story == "wheretheressmoke":
            reps = rng.standard_normal((3, rows, N_VOX))
            _write_hf5(der / "preprocessed_data" / "UTS01" / f"{story}.hf5", data=reps.mean(0), individual_repeats=reps)
        else:
            _write_hf5(der / "preprocessed_data" / "UTS01" / f"{story}.hf5", data=rng.standard_normal((rows, N_VOX)))
    return tmp_path


def test_row_times_convention():
    t = response_row_times(30)
    assert len(t) == 10  # 30 - 20
    np.testing.assert_allclose(t, 2.0 * np.arange(10) + 11.0)
    # parameters: TR 1.5, onset 4, trims 2/1, none missing -> k = 2..n-2, t = 1.5k + 0.75 - 4
    t = response_row_times(10, tr=1.5, sound_onset=4.0, trim_start=2, trim_end=1, missing_end=0)
    np.testing.assert_allclose(t, 1.5 * np.arange(2, 9) + 0.75 - 4.0)
    with pytest.raises(ValueError):
        response_row_times(20)


def test_listings(folder):
    ds = Dataset(folder)
    assert ds.participants == ["UTS01"]
    assert ds.stories == sorted(N_TRIGGERS)
    assert ds.stories_of("UTS01") == sorted(N_TRIGGERS)
    assert ds.respdict["storya"] == 30
    assert ds.n_voxels("UTS01") == N_VOX
    np.testing.assert_allclose(ds.row_times("storyb"), 2.0 * np.arange(6) + 11.0)


def test_split_is_the_shared_stories_minus_test_and_validation(folder):
    """The paper's split: stories every participant heard; `all`: each one's own; explicit lists."""
    uts02 = folder / "derivative" / "preprocessed_data" / "UTS02"
    uts02.mkdir()
    for story in ("storyb", "stagefright", "wheretheressmoke"):  # UTS02 did not hear storya
        src = folder / "derivative" / "preprocessed_data" / "UTS01" / f"{story}.hf5"
        (uts02 / src.name).write_bytes(src.read_bytes())
    ds = Dataset(folder)
    shared = resolve_split(ds, ["UTS01", "UTS02"])
    assert shared["UTS01"].train == shared["UTS02"].train == ["storyb"]
    assert (shared["UTS01"].validation, shared["UTS01"].test) == ("stagefright", "wheretheressmoke")
    assert resolve_split(ds, ["UTS01"])["UTS01"].train == ["storya", "storyb"]  # a group of one shares all its stories
    own = resolve_split(ds, ["UTS01", "UTS02"], SplitSettings(stories="all"))
    assert own["UTS01"].train == ["storya", "storyb"] and own["UTS02"].train == ["storyb"]
    with pytest.raises(DataError, match=r"UTS02/storya.hf5: missing; the split's training story 'storya'"):
        resolve_split(ds, ["UTS01", "UTS02"], SplitSettings(train_stories=["storya", "storyb"]))
    with pytest.raises(DataError, match=r"UTS01/nosuch.hf5: missing; the split's test story 'nosuch'"):
        resolve_split(ds, ["UTS01"], SplitSettings(test_story="nosuch"))
    per = SplitSettings().resolved(own)
    assert per.train_stories == {"UTS01": ["storya", "storyb"], "UTS02": ["storyb"]}
    assert resolve_split(ds, ["UTS01", "UTS02"], per) == own  # the resolved settings give the same split
    assert SplitSettings().resolved(shared).train_stories == ["storyb"]
    with pytest.raises(ConfigError, match="train_stories: \\['wheretheressmoke'\\] are held out"):
        SplitSettings(train_stories=["storya", "wheretheressmoke"])
    with pytest.raises(ConfigError, match="split.stories: 'some' is not a story list of the ds003020 layout "
                                          "\\(known: 'shared', 'all', 'paper'\\)"):
        resolve_split(ds, ["UTS01"], SplitSettings(stories="some"))


def test_voxel_subset_matches_full_read_in_caller_order(folder):
    ds = Dataset(folder)
    full = ds.load_responses("UTS01", "storya")
    assert full.shape == (10, N_VOX) and full.dtype == np.float32
    sel = [5, 0, 3, 5]
    sub = ds.load_responses("UTS01", "storya", voxels=sel)
    np.testing.assert_array_equal(sub, full[:, sel])
    with pytest.raises(DataError, match="out of range"):
        ds.load_responses("UTS01", "storya", voxels=[N_VOX])


def test_repeats_are_read_from_individual_repeats(folder):
    """The real files' key (bridge-ai-neuro/brain-tuning, eval_utils.load_fmri_story)."""
    ds = Dataset(folder)
    reps = ds.load_repeats("UTS01", "wheretheressmoke")
    assert reps.shape == (3, 8, N_VOX) and reps.dtype == np.float32
    np.testing.assert_allclose(ds.load_responses("UTS01", "wheretheressmoke"), reps.mean(0), atol=1e-6)
    np.testing.assert_array_equal(ds.load_repeats("UTS01", "wheretheressmoke", voxels=[6, 1]), reps[:, :, [6, 1]])
    with pytest.raises(DataError, match=r"storya.hf5: no 'individual_repeats' array \(keys: \['data'\]\)"):
        ds.load_repeats("UTS01", "storya")
    path = folder / "derivative" / "preprocessed_data" / "UTS01" / "wheretheressmoke.hf5"
    _write_hf5(path, data=reps.mean(0), repeats=reps)  # an invented key is not read
    with pytest.raises(DataError, match="no 'individual_repeats' array .keys: \\['data', 'repeats'\\]"):
        ds.load_repeats("UTS01", "wheretheressmoke")
    _write_hf5(path, data=reps.mean(0), individual_repeats=reps[:, :, :-1])
    with pytest.raises(DataError, match=r"'individual_repeats' has shape \(3, 8, 6\) but 'data' has \(8, 7\)"):
        ds.load_repeats("UTS01", "wheretheressmoke")
    _write_hf5(path, data=reps.mean(0), individual_repeats=reps[:1])
    with pytest.raises(DataError, match="1 repeat.s. in 'individual_repeats'; the noise ceiling needs at least 2"):
        ds.load_repeats("UTS01", "wheretheressmoke")


def test_audio(folder):
    ds = Dataset(folder)
    a = ds.load_audio("storya")
    assert a.dtype == np.float32 and a.shape == (16000 * audio_seconds(30),)
    n = 8000 * audio_seconds(26)
    stereo = np.stack([np.ones(n), -np.ones(n) * 0.5], 1).astype(np.float32) * 0.5
    sf.write(folder / "stimuli" / "storyb.wav", stereo, 8000)
    b = ds.load_audio("storyb")
    assert b.shape == (2 * n,)
    assert abs(float(np.median(b)) - 0.125) < 1e-3  # channels averaged: (0.5 - 0.25) / 2
    assert ds.load_audio("storyb", sample_rate=8000).shape == (n,)


def test_audio_shorter_than_the_scan_is_an_error(folder):
    """Guards against features past the end of a truncated wav silently being zeros."""
    sf.write(folder / "stimuli" / "storya.wav", np.zeros(16000 * 10, np.float32), 16000)
    with pytest.raises(DataError, match=r"storya.wav: 10.0 s of audio, but respdict.json's 30 TRs put the last "
                                        r"response row at 29.0 s"):
        Dataset(folder).load_audio("storya")


def test_nan_replaced_with_warning(folder, caplog):
    path = folder / "derivative" / "preprocessed_data" / "UTS01" / "storyb.hf5"
    arr = np.ones((6, N_VOX))
    arr[0, 0], arr[2, 3] = np.nan, np.inf
    _write_hf5(path, data=arr)
    with caplog.at_level(logging.WARNING):
        out = Dataset(folder).load_responses("UTS01", "storyb")
    assert out[0, 0] == 0 and out[2, 3] == 0 and out.sum() == arr.size - 2
    assert "storyb.hf5" in caplog.text and "2 NaN/inf" in caplog.text


@pytest.mark.parametrize(
    "breakage, call, message",
    [
        ("respdict", lambda ds: ds.stories, "respdict.json: missing"),
        ("audio", lambda ds: ds.load_audio("storya"), "storya.wav: story 'storya' is listed"),
        ("empty_audio", lambda ds: ds.load_audio("storya"), "storya.wav: audio is empty"),
        ("bad_audio", lambda ds: ds.load_audio("storya"), "storya.wav: cannot decode"),
        ("responses", lambda ds: ds.load_responses("UTS01", "storya"), "storya.hf5: story 'storya' has no responses"),
        ("nodata", lambda ds: ds.load_responses("UTS01", "storya"), "storya.hf5: no 'data'"),
        ("rows", lambda ds: ds.load_responses("UTS01", "storya"), "storya.hf5: 9 rows, expected 10"),
        ("nothdf", lambda ds: ds.load_responses("UTS01", "storya"), "storya.hf5: not a readable HDF5"),
        ("unlisted", lambda ds: ds.load_audio("nosuch"), "respdict.json: story 'nosuch' is not listed"),
        ("participant", lambda ds: ds.load_responses("UTS09", "storya"), "UTS09: no responses"),
    ],
)
def test_bad_input_names_the_file(folder, breakage, call, message):
    story = folder / "derivative" / "preprocessed_data" / "UTS01" / "storya.hf5"
    wav = folder / "stimuli" / "storya.wav"
    if breakage == "respdict":
        (folder / "derivative" / "respdict.json").unlink()
    elif breakage == "audio":
        wav.unlink()
    elif breakage == "empty_audio":
        sf.write(wav, np.zeros(0, np.float32), 16000)
    elif breakage == "bad_audio":
        wav.write_bytes(b"RIFF not really a wave file")
    elif breakage == "responses":
        story.unlink()
    elif breakage == "nodata":
        _write_hf5(story, other=np.zeros((10, N_VOX)))
    elif breakage == "rows":
        _write_hf5(story, data=np.zeros((9, N_VOX)))
    elif breakage == "nothdf":
        story.write_bytes(b"hello")
    with pytest.raises(DataError, match=message):
        call(Dataset(folder))


def test_rois(folder, caplog):
    roi_file = folder / "derivative" / "rois" / "UTS01.json"
    roi_file.write_text(json.dumps({"L_A1_ROI": [0, 1], "R_A1_ROI": [1, 2], "PGi": [5], "LBelt": [], "Broca": [3]}))
    ds = Dataset(folder)
    rois = ds.load_rois("UTS01")
    assert sorted(rois) == ["A1", "Broca", "LBelt", "PGi"]
    np.testing.assert_array_equal(rois["A1"], [0, 1, 2])
    with caplog.at_level(logging.WARNING):
        groups = group_rois(rois, N_VOX, source=roi_file)
    np.testing.assert_array_equal(groups["primary_auditory"], [0, 1, 2])
    np.testing.assert_array_equal(groups["early_auditory"], [0, 1, 2])
    np.testing.assert_array_equal(groups["late_language"], [5])
    np.testing.assert_array_equal(groups["angular_gyrus"], [5])
    np.testing.assert_array_equal(groups["whole_cortex"], np.arange(N_VOX))
    # a group without voxels is said, not dropped; a name that is no Glasser area is named
    assert groups["ifg_mfg"].size == 0 and groups["lateral_temporal"].size == 0
    assert "ROI group ifg_mfg is empty" in caplog.text and "not HCP-MMP1 (Glasser) areas: Broca" in caplog.text
    with pytest.raises(DataError, match=r"UTS01.json: no HCP-MMP1 \(Glasser\) area names"):
        group_rois({"Broca": [1], "AC": [2]}, N_VOX, source=roi_file)
    with pytest.raises(DataError, match=r"UTS01.json: no HCP-MMP1"):
        group_rois({}, N_VOX, source=roi_file)
    roi_file.write_text(json.dumps({"A1": [0, N_VOX]}))
    with pytest.raises(DataError, match=r"UTS01.json: area 'A1' has voxel indices out of range"):
        ds.load_rois("UTS01")
    roi_file.write_text("[1, 2]")
    with pytest.raises(DataError, match="UTS01.json: not a JSON object"):
        ds.load_rois("UTS01")


def test_roi_names_and_groups():
    assert normalise_area_name("L_A1_ROI") == "A1"
    assert normalise_area_name("R_A1") == "A1"
    assert normalise_area_name("lh.STSdp") == "STSdp"
    assert normalise_area_name("44") == "44"
    assert set(ROI_GROUPS["angular_gyrus"]) <= set(ROI_GROUPS["late_language"])
    assert set(ROI_GROUPS["lateral_temporal"]) <= set(ROI_GROUPS["late_language"])
    assert set(ROI_GROUPS["ifg_mfg"]) <= set(ROI_GROUPS["late_language"])
    assert len(ROI_GROUPS["late_language"]) == 16



@pytest.mark.parametrize("indices", [[True, 3], [False], [1.0, 2], [1.5], ["3"], [[1, 2], [3, 4]], [[1], [2, 3]],
                                     [None], 3, True, None, {"0": 1}, [2**70]])
def test_roi_indices_that_are_not_integers_name_the_file_and_area(folder, indices):
    """Guards against JSON true (a bool, which numpy turns into 1), floats, strings or nested
    lists read as voxel indices: each is a DataError naming the ROI file and the area."""
    roi_file = folder / "derivative" / "rois" / "UTS01.json"
    roi_file.write_text(json.dumps({"PGi": [5], "L_A1_ROI": indices}))
    with pytest.raises(DataError, match=rf"^{re.escape(str(roi_file))}: .*area 'L_A1_ROI': voxel ind"):
        Dataset(folder).load_rois("UTS01")


def test_primary_auditory_is_a_strict_subset_of_early_auditory(folder):
    """Guards against ROI groups that drift from DESIGN.md: primary auditory (A1) lies inside early
    auditory and is smaller, in the definitions and in the voxels a participant's ROI file gives."""
    assert set(ROI_GROUPS["primary_auditory"]) == {"A1"}
    assert set(ROI_GROUPS["early_auditory"]) == {"A1", "LBelt", "PBelt", "MBelt", "RI", "A4"}
    assert set(ROI_GROUPS["primary_auditory"]) < set(ROI_GROUPS["early_auditory"])
    roi_file = folder / "derivative" / "rois" / "UTS01.json"
    roi_file.write_text(json.dumps({"L_A1_ROI": [0], "R_A1_ROI": [1], "L_LBelt_ROI": [1, 2], "R_PBelt": [3],
                                    "MBelt": [4], "RI": [], "A4": [4], "PGi": [6]}))
    ds = Dataset(folder)
    groups = group_rois(ds.load_rois("UTS01"), ds.n_voxels("UTS01"), source=roi_file)
    primary, early = set(groups["primary_auditory"].tolist()), set(groups["early_auditory"].tolist())
    assert primary == {0, 1} and early == {0, 1, 2, 3, 4} and primary < early


def test_textgrid_roundtrip_and_quirks(tmp_path):
    path = tmp_path / "s.TextGrid"
    words = [(0.5, 0.9, "hello"), (0.9, 1.2, "sp"), (1.2, 1.6, 'say "hi"')]
    phones = [(0.5, 0.7, "HH"), (0.7, 0.9, "AH0")]
    write_textgrid(path, {"phone": phones, "word": words}, xmax=2.0)
    tiers = read_textgrid(path)
    assert list(tiers) == ["phone", "word"]
    assert tiers["word"][0] == (0.0, 0.5, "") and tiers["word"][-1] == (1.6, 2.0, "")
    assert read_words(path) == [("hello", 0.5, 0.9), ('say "hi"', 1.2, 1.6)]
    # short format, CRLF, tier named "words", noise marks
    short = (
        'File type = "ooTextFile"\r\nObject class = "TextGrid"\r\n\r\n0\r\n3\r\n<exists>\r\n1\r\n'
        '"IntervalTier"\r\n"words"\r\n0\r\n3\r\n4\r\n0\r\n1\r\n""\r\n1\r\n1.5\r\n"{NS}"\r\n'
        '1.5\r\n2.25\r\n"story"\r\n2.25\r\n3\r\n"sp"\r\n'
    )
    path.write_bytes(short.encode("utf-16"))
    assert read_words(path) == [("story", 1.5, 2.25)]
    path.write_text("not a textgrid")
    with pytest.raises(DataError, match="s.TextGrid: not a readable Praat TextGrid"):
        read_textgrid(path)


CHRONOLOGICAL = '''"Praat chronological TextGrid text file"
0 2.5   ! Time domain.
3   ! Number of tiers.
"IntervalTier" "phone" 0 2.5
"IntervalTier" "word" 0 2.5
"TextTier" "bell" 0 2.5

! a hand-edited file: one item out of time order; a comment holding "quotes" and numbers 1 2 3
1 0 0.5
""
2 0 0.5
""
1 0.5 0.7
"HH"
2 0.5 1.2
"hello"
3 0.6
"ding! 2 3"
1 0.7 1.2
"AH0"
2 1.6 2.5
""
2 1.2 1.6
"say ""hi"""
1 1.2 2.5
""
'''


def test_textgrid_chronological_format(tmp_path):
    """Praat's third text format (TextGrid_readFromChronologicalTextFile): items of all tiers in time order."""
    path = tmp_path / "c.TextGrid"
    path.write_text(CHRONOLOGICAL)
    tiers = read_textgrid(path)
    assert tiers == {
        "phone": [(0.0, 0.5, ""), (0.5, 0.7, "HH"), (0.7, 1.2, "AH0"), (1.2, 2.5, "")],
        "word": [(0.0, 0.5, ""), (0.5, 1.2, "hello"), (1.2, 1.6, 'say "hi"'), (1.6, 2.5, "")],
        "bell": [(0.6, 0.6, "ding! 2 3")],
    }
    assert read_words(path) == [("hello", 0.5, 1.2), ('say "hi"', 1.2, 1.6)]
    path.write_bytes(CHRONOLOGICAL.replace("\n", "\r\n").encode("utf-16"))
    assert read_textgrid(path) == tiers
    path.write_text(CHRONOLOGICAL.replace("3 0.6\n", "4 0.6\n"))
    with pytest.raises(DataError, match=r"c.TextGrid: not a readable Praat TextGrid \(.*tier number 4.0 is not 1..3\)"):
        read_textgrid(path)


def test_textgrid_comments_and_the_short_header(tmp_path):
    """Praat's `!` comments (even holding numbers) carry no data; `ooTextFile short` heads some short files."""
    path = tmp_path / "s.TextGrid"
    path.write_text('File type = "ooTextFile short"\n"TextGrid"\n\n0 ! start 7\n2 ! end\n<exists>\n1\n'
                    '"IntervalTier"\n"word"\n0\n2\n2\n0\n1\n"one"\n1\n2\n"two" ! 3 4 "five"\n')
    assert read_words(path) == [("one", 0.0, 1.0), ("two", 1.0, 2.0)]


def test_textgrid_in_a_format_not_read_is_one_line_naming_it(tmp_path):
    path = tmp_path / "b.TextGrid"
    path.write_bytes(b"ooBinaryFile\x08TextGrid\x00\x00\x00\x00\x00\x00\x00\x00")
    with pytest.raises(DataError, match=r"b.TextGrid: a binary Praat TextGrid; braintune reads the text formats"):
        read_textgrid(path)
    path.write_text("word,start,end\nthe,0.1,0.3\n")
    with pytest.raises(DataError, match=r"b.TextGrid: not a readable Praat TextGrid: braintune reads the long, short "
                                        r"and chronological text formats, and this file starts with 'word,start,end'"):
        read_textgrid(path)

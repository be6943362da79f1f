"""TIMIT reader and the TIMIT-layout stand-in generator."""

import re
import shutil
from collections import Counter, defaultdict

import numpy as np
import pytest
import soundfile as sf
from conftest import TIMIT_SETTINGS

from braintune.data import timit
from braintune.synthetic.speech import Segment
from braintune.synthetic.corpora import SA_TEXTS, espeak_to_timit, simulate_timit, write_sphere
from braintune.errors import DataError


def test_sphere_written_by_hand_reads_back_exactly(tmp_path):
    pcm = np.array([0, 1, -1, 32767, -32768, 1234, -4321] * 100, np.int16)
    path = tmp_path / "SA1.WAV"
    write_sphere(path, pcm / 32767.0, utterance_id="test_sa1")
    raw = path.read_bytes()
    assert raw[:8] == b"NIST_1A\n" and len(raw) == 1024 + 2 * pcm.size
    assert b"sample_count -i 700\n" in raw[:1024] and b"sample_byte_format -s2 01\n" in raw[:1024]
    info = sf.info(str(path))
    assert (info.format, info.samplerate, info.channels, info.frames) == ("NIST", 16000, 1, 700)
    back, _ = sf.read(str(path), dtype="int16")
    np.testing.assert_array_equal(back, pcm)


def _write_utterance(folder, name, n_samples, phn, wrd=None, txt="a test."):
    folder.mkdir(parents=True, exist_ok=True)
    write_sphere(folder / f"{name}.WAV", np.linspace(-0.5, 0.5, n_samples))
    (folder / f"{name}.PHN").write_text(phn)
    (folder / f"{name}.WRD").write_text(wrd or "")
    (folder / f"{name}.TXT").write_text(f"0 {n_samples} {txt}\n")


PHN = "0 100 h#\n100 150 q\n150 300 ax-h\n300 400 bcl\n400 420 b\n420 600 ix\n600 700 zh\n700 900 epi\n900 1000 h#\n"


def test_reader_parses_labels_and_folds_61_to_39(tmp_path):
    spk = tmp_path / "TRAIN" / "DR3" / "FABC0"
    _write_utterance(spk, "SX17", 1000, PHN, "150 420 a\n420 700 beige\n", "A beige.")
    (utt,) = timit.list_utterances(tmp_path, "train")
    assert (utt.id, utt.sentence_type, utt.sex, utt.dialect) == ("TRAIN/DR3/FABC0/SX17", "SX", "F", "DR3")
    raw = timit.read_phones(utt, fold=False)
    assert [(p.start, p.end, p.label) for p in raw][:3] == [(0, 100, "h#"), (100, 150, "q"), (150, 300, "ax-h")]
    folded = [(p.start, p.end, p.label) for p in timit.read_phones(utt)]
    assert folded == [(0, 100, "sil"), (150, 300, "ah"), (300, 400, "sil"), (400, 420, "b"), (420, 600, "ih"),
                      (600, 700, "sh"), (700, 900, "sil"), (900, 1000, "sil")]
    assert [(w.start, w.end, w.label) for w in timit.read_words(utt)] == [(150, 420, "a"), (420, 700, "beige")]
    assert timit.read_text(utt) == "A beige."
    assert timit.read_audio(utt).shape == (1000,) and timit.read_audio(utt).dtype == np.float32
    assert timit.phone_set(timit.read_phones(utt), 410, 450) == {"b", "ih"}


def test_folding_table_has_61_phones_and_39_classes():
    assert len(timit.PHONES_61) == len(set(timit.PHONES_61)) == 61
    assert len(timit.PHONES_39) == 39 and "sil" in timit.PHONES_39
    f = timit.FOLD_61_TO_39
    assert f["q"] is None
    assert {f[c] for c in ("bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "h#", "pau", "epi")} == {"sil"}
    assert [f[p] for p in ("ao", "ax", "ax-h", "axr", "el", "em", "en", "nx", "eng", "hv", "ix", "ux", "zh")] == \
        ["aa", "ah", "ah", "er", "l", "m", "n", "n", "ng", "hh", "ih", "uw", "sh"]
    assert len(timit.CORE_TEST_SET) == 24
    assert all(sum(s[0] == "M" for s in v) == 2 for v in timit.CORE_TEST_SPEAKERS.values())


def test_bad_label_files_are_rejected_naming_the_file(tmp_path):
    spk = tmp_path / "TRAIN" / "DR1" / "MABC0"
    _write_utterance(spk, "SI1", 1000, "0 500 h#\n500 1200 aa\n")
    _write_utterance(spk, "SI2", 1000, "0 500 h#\n500 1000 xx\n")
    _write_utterance(spk, "SI3", 1000, "0 500 h#\n500 oops aa\n")
    u1, u2, u3 = timit.list_utterances(tmp_path)
    with pytest.raises(DataError, match=r"SI1\.PHN.*1200.*past the end of the audio \(1000 samples\)"):
        timit.read_phones(u1)
    with pytest.raises(DataError, match=r"SI2\.PHN.*unknown phone label.*xx"):
        timit.read_phones(u2)
    with pytest.raises(DataError, match=r"SI3\.PHN: line 2"):
        timit.read_phones(u3)
    with pytest.raises(DataError, match="no TEST folder"):
        timit.list_utterances(tmp_path, "test")


def test_a_wav_without_its_phn_is_an_error_naming_the_first_and_the_count(tmp_path):
    """Guards against a damaged copy silently losing utterances: TIMIT has a .PHN for every .WAV,
    so a .WAV without one is a DataError naming the first missing .PHN and how many lack theirs."""
    spk = tmp_path / "TRAIN" / "DR1" / "MABC0"
    for name in ("SA1", "SA2", "SI3", "SX4"):
        _write_utterance(spk, name, 1000, "0 1000 h#\n")
    shutil.copy(spk / "SA1.WAV", spk / "SA1.WAV.wav")  # a converted copy beside the original: not an utterance
    assert [u.sentence for u in timit.list_utterances(tmp_path)] == ["SA1", "SA2", "SI3", "SX4"]
    (spk / "SX4.PHN").unlink()
    with pytest.raises(DataError, match=rf"^{re.escape(str(spk / 'SX4.PHN'))}: missing beside SX4.WAV; TIMIT has"):
        timit.list_utterances(tmp_path)
    (spk / "SA2.PHN").unlink()
    with pytest.raises(DataError, match=rf"^{re.escape(str(spk / 'SA2.PHN'))}: missing beside SA2.WAV "
                                        r"\(2 .WAV files lack their .PHN, this is the first\); TIMIT has a .PHN"):
        timit.list_utterances(tmp_path)


def test_standin_corpus_has_the_timit_structure(standin_timit):
    train = timit.list_utterances(standin_timit, "train")
    test = timit.list_utterances(standin_timit, "test")
    per_speaker = 2 + TIMIT_SETTINGS["sx_per_speaker"] + TIMIT_SETTINGS["si_per_speaker"]
    assert len(train) == TIMIT_SETTINGS["train_speakers"] * per_speaker
    assert len(test) == TIMIT_SETTINGS["test_speakers"] * per_speaker
    assert timit.list_utterances(standin_timit, "core-test") == test  # test speakers carry core-test names
    assert {u.speaker for u in test} <= timit.CORE_TEST_SET
    assert {u.dialect for u in train} == {f"DR{k}" for k in range(1, 9)}
    assert Counter(u.sentence_type for u in train) == {"SA": 16, "SX": 24, "SI": 16}
    readers = defaultdict(set)
    for u in train + test:
        readers[(u.sentence, timit.read_text(u))].add(u.speaker)
    assert {text for (name, text) in readers if name.startswith("SA")} == set(SA_TEXTS)
    assert all(len(s) == 12 for (name, _), s in readers.items() if name.startswith("SA"))
    assert all(len(s) == TIMIT_SETTINGS["sx_readers"] for (name, _), s in readers.items() if name.startswith("SX"))
    assert all(len(s) == 1 for (name, _), s in readers.items() if name.startswith("SI"))
    for u in train[:7]:
        n = timit.num_samples(u)
        phones = timit.read_phones(u, fold=False)
        assert phones[0].start == 0 and phones[-1].end == n  # the labels tile the audio
        assert all(a.end == b.start and a.start < a.end for a, b in zip(phones, phones[1:]))
        assert phones[0].label == phones[-1].label == "h#"
        words = timit.read_words(u)
        assert " ".join(w.label for w in words) == timit.read_text(u).lower().rstrip(".").replace(",", "")
        assert words[0].start == phones[1].start and words[-1].end == phones[-1].start


def test_lower_case_copy_reads_identically(standin_timit, tmp_path):
    copy = tmp_path / "timit"
    for path in sorted(standin_timit.rglob("*")):
        target = copy / path.relative_to(standin_timit).as_posix().lower()
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif "DR1" in path.parts or "DR2" in path.parts:
            shutil.copyfile(path, target)
    upper = [u for u in timit.list_utterances(standin_timit, "train") if u.dialect in ("DR1", "DR2")]
    lower = timit.list_utterances(copy, "train")
    assert [u.id for u in lower] == [u.id for u in upper] and lower[0].stem.name.islower()
    for a, b in zip(upper[:3], lower[:3]):
        np.testing.assert_array_equal(timit.read_audio(a), timit.read_audio(b))
        assert timit.read_phones(a) == timit.read_phones(b) and timit.read_words(a) == timit.read_words(b)


def test_espeak_segments_map_to_a_tiling_of_timit_phones():
    segs = [Segment("d", 200, 500), Segment("'oU", 500, 900), Segment(";", 900, 950), Segment("_:", 1000, 1300),
            Segment("_", 1300, 1400), Segment("l", 1300, 1400), Segment("A@", 1400, 1800), Segment("_:", 1800, 2000)]
    labels = [(lab.start, lab.end, lab.label) for lab in espeak_to_timit(segs, 2100)]
    assert labels == [(0, 200, "h#"), (200, 380, "dcl"), (380, 500, "d"), (500, 1000, "ow"), (1000, 1300, "pau"),
                      (1300, 1400, "l"), (1400, 1600, "aa"), (1600, 1800, "r"), (1800, 2100, "h#")]
    with pytest.raises(ValueError, match="no TIMIT phone"):
        espeak_to_timit([Segment("Q!", 0, 100)], 200)


def test_generator_is_deterministic(tmp_path):
    """Same seed: byte-identical files (each corpus is spoken from a fresh espeak-ng), even
    after other syntheses in this process; another seed: other files."""
    from braintune.synthetic.speech import synthesize

    small = dict(train_speakers=2, test_speakers=1, sx_per_speaker=1, si_per_speaker=1, sx_readers=2, progress=False)
    a = simulate_timit(tmp_path / "a", seed=3, **small)
    synthesize("something else first, to change espeak's state in this process")
    b = simulate_timit(tmp_path / "b", seed=3, **small)
    c = simulate_timit(tmp_path / "c", seed=4, **small)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files_a) == 3 * 4 * 4
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert any((a / rel).read_bytes() != (c / rel).read_bytes() for rel in files_a if (c / rel).exists())


def test_a_bad_wav_is_reported_before_its_labels(tmp_path):
    """Guards against issue 13: a resampled or truncated .WAV was reported as its .PHN running past the audio."""
    spk = tmp_path / "TRAIN" / "DR1" / "MABC0"
    for name in ("SI1", "SI2", "SI3", "SI4"):
        _write_utterance(spk, name, 1000, "0 500 h#\n500 1000 aa\n", "500 1000 a\n")
    u1, u2, u3, u4 = timit.list_utterances(tmp_path)
    write_sphere(spk / "SI1.WAV", np.zeros(500), sample_rate=8000)
    (spk / "SI2.WAV").write_bytes((spk / "SI2.WAV").read_bytes()[:1024 + 2 * 600])
    sf.write(spk / "SI3.WAV", np.zeros(1000, np.float32), 16000, format="WAV", subtype="PCM_16")
    (spk / "SI3.WAV").write_bytes((spk / "SI3.WAV").read_bytes()[:44 + 2 * 700])  # a RIFF copy, cut short
    write_sphere(spk / "SI4.WAV", np.zeros(1000), sample_coding="pcm,embedded-shorten-v2.00")
    for read in (timit.read_phones, timit.read_words, timit.read_audio):
        with pytest.raises(DataError, match=r"SI1\.WAV: sample rate 8000 Hz, expected 16000"):
            read(u1)
        with pytest.raises(DataError, match=r"SI2\.WAV: truncated: its header declares 1000 samples, the file holds 600"):
            read(u2)
        with pytest.raises(DataError, match=r"SI3\.WAV: truncated: its header declares 1000 samples, the file holds 700"):
            read(u3)
        with pytest.raises(DataError, match=r"SI4\.WAV: SPHERE sample_coding 'pcm,embedded-shorten-v2.00' \(compressed\)"):
            read(u4)


def test_a_corpus_one_folder_down_is_pointed_at(tmp_path):
    _write_utterance(tmp_path / "timit" / "TRAIN" / "DR1" / "MABC0", "SA1", 1000, "0 1000 h#\n")
    with pytest.raises(DataError, match=rf"no TRAIN folder; .* \(the corpus seems to be in {tmp_path / 'timit'}\)"):
        timit.list_utterances(tmp_path)

"""Speech Commands v0.02 reader and the Speech-Commands-layout stand-in generator."""

from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from conftest import COMMANDS_SETTINGS

from braintune.data import speech_commands as sc
from braintune.synthetic.corpora import simulate_speech_commands
from braintune.errors import DataError


def test_standin_corpus_has_the_speech_commands_layout(standin_commands):
    clips = sc.list_clips(standin_commands)
    assert len(sc.WORDS) == 35 and sorted({c.word for c in clips}) == sorted(sc.WORDS)
    assert len(clips) == 35 * COMMANDS_SETTINGS["speakers"]
    assert Counter(c.split for c in clips) == {"train": 35 * 4, "validation": 35, "test": 35}
    listed = (standin_commands / "testing_list.txt").read_text().split()
    assert sorted(c.relpath for c in clips if c.split == "test") == sorted(listed)
    speakers = {split: {c.speaker for c in clips if c.split == split} for split in sc.SPLITS}
    assert len(speakers["validation"]) == len(speakers["test"]) == 1 and len(speakers["train"]) == 4
    assert not (speakers["train"] & (speakers["validation"] | speakers["test"]))
    assert all(len(c.speaker) == 8 and c.path.name == f"{c.speaker}_nohash_0.wav" for c in clips)
    assert [c.relpath for c in sc.list_clips(standin_commands, "validation")] == \
        sorted(c.relpath for c in clips if c.split == "validation")


def test_short_clips_are_zero_padded_to_one_second(standin_commands):
    clips = sc.list_clips(standin_commands)
    lengths = {c.relpath: sf.info(str(c.path)).frames for c in clips}
    assert max(lengths.values()) == 16000 and min(lengths.values()) < 16000  # the generator writes both
    short = next(c for c in clips if lengths[c.relpath] < 16000)
    raw, rate = sf.read(str(short.path), dtype="float32")
    audio = sc.read_clip(short)
    assert rate == 16000 and audio.shape == (16000,) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio[: raw.size], raw)
    assert not audio[raw.size:].any() and np.abs(raw).max() > 0.05 and 0 < np.abs(raw[:200]).max() < 0.01


def _corpus(root, lengths, lists=("validation_list.txt", "testing_list.txt")):
    for i, n in enumerate(lengths):
        (root / "yes").mkdir(parents=True, exist_ok=True)
        sf.write(str(root / "yes" / f"0000000{i}_nohash_0.wav"), np.full(n, 0.1, np.float32), 16000, subtype="PCM_16")
    for name in lists:
        (root / name).write_text("yes/00000000_nohash_0.wav\n" if name.startswith("valid") else "")
    return root


def test_background_noise_is_ignored(tmp_path):
    root = _corpus(tmp_path, [16000, 16000])
    (root / "_background_noise_").mkdir()
    sf.write(str(root / "_background_noise_" / "white_noise.wav"), np.zeros(32000, np.float32), 16000)
    clips = sc.list_clips(root)
    assert [(c.relpath, c.split) for c in clips] == [("yes/00000000_nohash_0.wav", "validation"),
                                                     ("yes/00000001_nohash_0.wav", "train")]


def test_bad_inputs_are_rejected_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"testing_list\.txt: missing"):
        sc.list_clips(_corpus(tmp_path / "a", [16000], lists=("validation_list.txt",)))
    root = _corpus(tmp_path / "b", [16000, 16001])
    long_clip = next(c for c in sc.list_clips(root) if c.relpath.startswith("yes/00000001"))
    with pytest.raises(DataError, match=r"00000001_nohash_0\.wav: 16001 samples, longer than 1 s"):
        sc.read_clip(long_clip)
    root = _corpus(tmp_path / "c", [16000])
    (root / "testing_list.txt").write_text("no/ffffffff_nohash_0.wav\n")
    with pytest.raises(DataError, match=r"testing_list\.txt: lists no/ffffffff_nohash_0\.wav, which is not in"):
        sc.list_clips(root)
    root = _corpus(tmp_path / "d", [16000])
    sf.write(str(root / "yes" / "00000000_nohash_0.wav"), np.zeros(8000, np.float32), 8000)
    with pytest.raises(DataError, match="sample rate 8000 Hz"):
        sc.read_clip(root / "yes" / "00000000_nohash_0.wav")


def test_generator_is_deterministic(tmp_path):
    small = dict(speakers=3, words=("yes", "no", "left"), progress=False)
    a = simulate_speech_commands(tmp_path / "a", seed=1, **small)
    b = simulate_speech_commands(tmp_path / "b", seed=1, **small)
    c = simulate_speech_commands(tmp_path / "c", seed=2, **small)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 3 * 3 + 2
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert sorted(p.relative_to(c) for p in c.rglob("*.wav")) != [f for f in files if f.suffix == ".wav"]

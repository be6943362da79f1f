"""Simulated participants: layout read back by the reader, signal at the true ceiling, determinism, CLI."""

import json

import h5py
import numpy as np
import pytest
import soundfile as sf

from braintune.cli import main
from braintune.data.fmri.ds003020 import DS003020 as Dataset, response_row_times
from braintune.data.fmri import resolve_split
from braintune.data.rois import group_rois
from braintune.synthetic.fmri import VOCABULARY, KINDS, acquired_row_times, load_true_features, load_truth, simulate_dataset

TINY = dict(n_participants=1, n_train_stories=1, story_seconds=(30.0, 30.0), n_repeats=2, n_voxels=60)


def test_layout_reads_back(sim_dataset):
    ds = Dataset(sim_dataset)
    assert ds.participants == ["UTS01", "UTS02"]
    assert ds.stories == ["simstory01", "simstory02", "simstory03", "simstory04", "stagefright", "wheretheressmoke"]
    assert ds.n_voxels("UTS01") != ds.n_voxels("UTS02")  # participants differ
    sp = resolve_split(ds, ds.participants)["UTS01"]
    assert sp.train == ["simstory01", "simstory02", "simstory03", "simstory04"]
    for story in ds.stories:
        n = ds.respdict[story]
        audio_s = len(ds.load_audio(story)) / 16000
        assert ds.load_responses("UTS01", story).shape == (n - 20, ds.n_voxels("UTS01"))
        # the simulated triggers cover the audio to within one TR: (n - 5) * 2 - 10 s ~ audio length
        assert audio_s - 2.0 < (n - 5) * 2.0 - 10.0 <= audio_s
        assert ds.row_times(story)[-1] < audio_s
        words = ds.load_words(story)
        assert {w.lower() for w, _s, _e in words} <= set(VOCABULARY)
        assert all(s < e for _w, s, e in words) and words[-1][1] < audio_s
    reps = ds.load_repeats("UTS02", "wheretheressmoke")
    assert reps.shape == (5, 70, ds.n_voxels("UTS02"))
    np.testing.assert_allclose(reps.mean(0), ds.load_responses("UTS02", "wheretheressmoke"), atol=1e-5)
    np.testing.assert_allclose(reps.std(1), 1.0, atol=1e-4)  # each presentation z-scored per voxel


def test_files_have_exactly_the_keys_of_the_real_files(sim_dataset):
    """The public ds003020 test story holds "data" (the mean) and "individual_repeats"; other stories "data"."""
    folder = sim_dataset / "derivative" / "preprocessed_data" / "UTS01"
    for path in folder.glob("*.hf5"):
        with h5py.File(path) as f:
            expected = {"data", "individual_repeats"} if path.stem == "wheretheressmoke" else {"data"}
            assert set(f.keys()) == expected, path.name
            if path.stem == "wheretheressmoke":
                np.testing.assert_allclose(f["data"][...], f["individual_repeats"][...].mean(0), atol=1e-6)


def test_acquisition_by_hand():
    """The simulator's own statement of the acquisition, against numbers derived by hand from the
    dataset's documentation (volume every 2 s, sound 10 s after the first, sampled at mid-volume,
    last 5 volumes absent, 10 + 5 trimmed): respdict 30 -> 25 volumes in the files, volumes
    10..19 kept, volume 10 at 10 * 2 + 1 - 10 = 11 s after sound onset, volume 19 at 29 s."""
    np.testing.assert_array_equal(acquired_row_times(30, 2.0), [11, 13, 15, 17, 19, 21, 23, 25, 27, 29])
    # the reader agrees, each derived from its own statement
    np.testing.assert_array_equal(response_row_times(30), acquired_row_times(30, 2.0))
    np.testing.assert_array_equal(acquired_row_times(25, 1.5), [(v + 0.5) * 1.5 - 10 for v in range(10, 15)])


def test_rois_match_voxel_kinds(sim_dataset):
    ds = Dataset(sim_dataset)
    for p in ds.participants:
        truth = load_truth(sim_dataset, p)
        groups = group_rois(ds.load_rois(p), ds.n_voxels(p))
        assert set(groups) == {"primary_auditory", "early_auditory", "late_language", "angular_gyrus",
                               "lateral_temporal", "ifg_mfg", "whole_cortex"}
        np.testing.assert_array_equal(groups["early_auditory"], np.flatnonzero(truth.kind == KINDS.index("auditory")))
        np.testing.assert_array_equal(groups["late_language"], np.flatnonzero(truth.kind == KINDS.index("language")))


def test_responses_carry_the_signal_at_the_true_ceiling(sim_dataset):
    ds = Dataset(sim_dataset)
    r_all, c_all = [], []
    for p in ds.participants:
        truth = load_truth(sim_dataset, p)
        y = ds.load_responses(p, "wheretheressmoke")
        s = truth.signals["wheretheressmoke"]
        np.testing.assert_allclose(truth.ceiling[truth.kind > 0],
                                   1 / np.sqrt(1 + truth.noise_sd[truth.kind > 0] ** 2 / 5), rtol=1e-5)
        assert np.all(truth.ceiling[truth.kind == 0] == 0)
        sig = np.flatnonzero(truth.kind > 0)
        r_all += [np.corrcoef(y[:, v], s[:, v])[0, 1] for v in sig]
        c_all += list(truth.ceiling[sig])
    r_all, c_all = np.array(r_all), np.array(c_all)
    assert c_all.min() < 0.1 and c_all.max() > 0.85  # ceilings span ~0-0.9
    assert np.corrcoef(r_all, c_all)[0, 1] > 0.9
    assert np.abs(r_all - c_all).mean() < 0.1
    assert abs(np.mean(r_all - c_all)) < 0.03  # no bias


def test_true_features_reproduce_the_signal(sim_dataset):
    truth = load_truth(sim_dataset, "UTS01")
    for story in ("simstory01", "wheretheressmoke"):
        f = load_true_features(sim_dataset, story)
        np.testing.assert_allclose(f["row_times"], response_row_times(json.loads(
            (sim_dataset / "derivative" / "respdict.json").read_text())[story]))
        pred = f["auditory_rows"] @ truth.auditory_weights.T + f["language_rows"] @ truth.language_weights.T
        sd = pred.std(0)
        pred = (pred - pred.mean(0)) / np.where(sd > 0, sd, 1)
        np.testing.assert_allclose(pred, truth.signals[story], atol=1e-3)
        # language voxels follow the words, auditory voxels the sound: the two read-outs differ
        aud, lang = truth.kind == 1, truth.kind == 2
        assert np.abs(truth.language_weights[aud]).sum() == 0 and np.abs(truth.auditory_weights[lang]).sum() == 0
        assert np.all(truth.auditory_weights[aud] >= 0)


def _arrays(root):
    out = {}
    for path in sorted(root.rglob("*")):
        if path.suffix == ".hf5":
            with h5py.File(path, "r") as f:
                out.update({f"{path.name}/{k}": f[k][...] for k in f})
        elif path.suffix == ".wav":
            out[path.name] = sf.read(path, dtype="int16")[0]
        elif path.suffix == ".npz":
            with np.load(path) as z:
                out.update({f"{path.name}/{k}": z[k] for k in z.files})
        elif path.suffix in (".json", ".TextGrid"):
            out[path.name] = path.read_text()
    return out


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = _arrays(simulate_dataset(tmp_path / "a", seed=3, **TINY))
    b = _arrays(simulate_dataset(tmp_path / "b", seed=3, **TINY))
    c = _arrays(simulate_dataset(tmp_path / "c", seed=4, **TINY))
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        if isinstance(a[k], str):
            assert a[k] == b[k], k
        else:
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
    assert a["simstory01.wav"].tobytes() != c["simstory01.wav"].tobytes()
    assert a["UTS01.npz/ceiling"].tobytes() != c["UTS01.npz/ceiling"].tobytes()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--help"])
    assert exc.value.code == 0
    assert "--story-minutes" in capsys.readouterr().out


def test_cli_run(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", str(out), "--participants", "1", "--train-stories", "1", "--story-minutes", "0.5", "0.5",
                 "--repeats", "2", "--voxels", "60", "--seed", "1"]) == 0
    ds = Dataset(out)
    assert ds.participants == ["UTS01"] and ds.stories == ["simstory01", "stagefright", "wheretheressmoke"]
    assert ds.load_repeats("UTS01", "wheretheressmoke").shape[0] == 2
    assert json.loads((out / "simulation_truth" / "settings.json").read_text())["seed"] == 1


def test_bad_settings_are_config_errors(tmp_path):
    from braintune.errors import ConfigError

    with pytest.raises(ConfigError, match="repeats"):
        simulate_dataset(tmp_path, n_repeats=1)
    with pytest.raises(ConfigError, match="ceiling_range"):
        simulate_dataset(tmp_path, ceiling_range=(0.5, 1.2))

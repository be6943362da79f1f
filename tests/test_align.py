"""Alignment on small ds003020-layout datasets with known answers: outputs, resume, protocols, bad input."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

import braintune.alignment.run as align_mod
import braintune.features
from braintune.alignment.run import align_participant, layer_path, load_layer_arrays, load_training_responses
from braintune.alignment.settings import AlignSettings
from braintune.cli import main
from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.data.fmri import StorySplit, resolve_split
from braintune.alignment.run import COLUMNS
from braintune.errors import ConfigError, DataError
from braintune.features import Scheme
from conftest import OTHER_ALIGN_VALUES, TOGETHER

TEST = "wheretheressmoke"
N_FEATURES = 12
N_VOXELS = 90
N_SIGNAL = 60  # voxels 0..59 follow the true features, 60..89 are noise


def write_dataset(root, seed=0, repeats=5, participant="UTS01", rois=None):
    """A small ds003020 layout: 6 training stories, stagefright, and the test story with repeats.

    Voxels = zscore(true features @ W) + noise_sd * N(0, 1). Returns (root, features) where
    features maps story -> (2, rows, N_FEATURES): layer 0 unrelated noise, layer 1 the truth.
    """
    rng = np.random.default_rng(seed)
    stories = {f"story{i}": 60 + 5 * i for i in range(6)} | {"stagefright": 50, TEST: 100}
    W = rng.standard_normal((N_FEATURES, N_VOXELS))
    W[:, N_SIGNAL:] = 0
    noise_sd = np.where(np.arange(N_VOXELS) < N_SIGNAL, rng.uniform(0.3, 1.5, N_VOXELS), 1.0)
    folder = root / "derivative" / "preprocessed_data" / participant
    folder.mkdir(parents=True)
    features = {}
    for story, rows in stories.items():
        truth = rng.standard_normal((rows, N_FEATURES)).astype(np.float32)
        features[story] = np.stack([rng.standard_normal((rows, N_FEATURES)), truth]).astype(np.float32)
        signal = truth @ W
        signal[:, :N_SIGNAL] /= signal[:, :N_SIGNAL].std(0)
        n = max(repeats, 1) if story == TEST else 1
        pres = (signal + noise_sd * rng.standard_normal((n, rows, N_VOXELS))).astype(np.float32)
        with h5py.File(folder / f"{story}.hf5", "w") as f:
            f["data"] = pres.mean(0)
            if story == TEST and repeats:
                f["individual_repeats"] = pres
    (root / "derivative" / "respdict.json").write_text(json.dumps({s: r + 20 for s, r in stories.items()}))
    (root / "derivative" / "rois").mkdir()
    rois = rois or {"A1": list(range(0, 20)), "PGi": list(range(20, 60)), "V1": list(range(60, 90))}
    (root / "derivative" / "rois" / f"{participant}.json").write_text(json.dumps(rois))
    return root, features


@pytest.fixture
def small(tmp_path):
    return write_dataset(tmp_path / "ds")


def split_of(root, participant="UTS01"):
    return resolve_split(Dataset(root), [participant])[participant]


SETTINGS = AlignSettings(alphas=list(np.logspace(1, 4, 10)))


def align(root, features, out, layers=(0, 1), settings=SETTINGS, key="k"):
    """align_participant on every layer of `features` (story -> (n_layers, rows, features))."""
    selected = {s: x[list(layers)] for s, x in features.items()}
    return align_participant(Dataset(root), "UTS01", split_of(root), selected, out, model="m", layers=list(layers),
                             settings=settings, key=key)


def fake_features(monkeypatch, features, calls, settings=None):
    """Replace feature extraction by `features` (story -> (3, rows, features): layers 0..2 of tiny:wav2vec2)."""
    settings = [] if settings is None else settings

    def story_tr_features(model, dataset, stories, cache_dir=None, scheme=None, delays=(1, 2, 3, 4), layers=None,
                          first_rows=None, device=None):
        calls.append(list(stories))
        settings.append(scheme)
        first_rows = first_rows or {}
        return {s: features[s][list(layers), first_rows.get(s, 0):] for s in stories}

    monkeypatch.setattr(braintune.features, "story_tr_features", story_tr_features, raising=False)


def three_layers(features):
    """Layer 0 unrelated, layer 1 the truth, layer 2 unrelated again: the shape of tiny:wav2vec2's states."""
    return {s: np.concatenate([x, x[:1]]) for s, x in features.items()}


def test_alignment_of_true_and_unrelated_features(small, tmp_path):
    root, features = small
    table = align(root, features, tmp_path / "out")
    assert list(table.columns) == COLUMNS
    rows = table.set_index(["layer", "roi"])
    # true features (layer 1) reach the ceiling in the signal ROIs; unrelated features (layer 0) do not
    for roi in ("primary_auditory", "early_auditory", "late_language", "angular_gyrus"):
        assert rows.loc[(1, roi), "alignment"] > 0.85, roi
        assert abs(rows.loc[(0, roi), "alignment"]) < 0.2, roi
    assert rows.loc[(1, "primary_auditory"), "n_voxels"] == 20
    assert rows.loc[(1, "late_language"), "n_voxels"] == 40
    # no area of it in the ROI file: the group is kept, empty, its alignment NaN
    assert rows.loc[(1, "lateral_temporal"), "n_voxels"] == 0 and np.isnan(rows.loc[(1, "lateral_temporal"), "alignment"])
    # noise voxels mostly fall below the ceiling threshold
    assert rows.loc[(1, "whole_cortex"), "n_voxels"] < 80
    arrays = load_layer_arrays(layer_path(tmp_path / "out", "m", "UTS01", 1))
    assert set(arrays) == {"r", "ceiling", "alpha", "cv_score", "p_value"}
    assert all(a.shape == (N_VOXELS,) and a.dtype == np.float32 for a in arrays.values())
    assert arrays["ceiling"][:N_SIGNAL].min() > 0.5


def test_training_responses_are_zscored_per_story(small):
    root, _ = small
    dataset = Dataset(root)
    train = split_of(root).train
    assert TEST not in train and "stagefright" not in train
    Y, rows = load_training_responses(dataset, "UTS01", train)
    assert rows == [60, 65, 70, 75, 80, 85] and Y.shape == (sum(rows), N_VOXELS) and Y.dtype == np.float32
    start = 0
    for n in rows:
        np.testing.assert_allclose(Y[start : start + n].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(Y[start : start + n].std(0), 1, atol=1e-4)
        start += n


def test_garbage_test_story_leaves_alphas_unchanged(tmp_path):
    root, features = write_dataset(tmp_path / "a", seed=3)
    clean = align(root, features, tmp_path / "o1", layers=[1])
    path = root / "derivative" / "preprocessed_data" / "UTS01" / f"{TEST}.hf5"
    with h5py.File(path, "r+") as f:
        garbage = np.random.default_rng(1).standard_normal(f["individual_repeats"].shape).astype(np.float32) * 50
        f["individual_repeats"][...] = garbage
        f["data"][...] = garbage.mean(0)
    dirty = align(root, features, tmp_path / "o2", layers=[1])
    a = load_layer_arrays(layer_path(tmp_path / "o1", "m", "UTS01", 1))
    b = load_layer_arrays(layer_path(tmp_path / "o2", "m", "UTS01", 1))
    np.testing.assert_array_equal(a["alpha"], b["alpha"])
    np.testing.assert_array_equal(a["cv_score"], b["cv_score"])
    assert not np.allclose(a["r"], b["r"])
    assert clean.set_index("roi").loc["late_language", "alignment"] > 0.85
    assert abs(dirty.set_index("roi").loc["late_language", "alignment"]) < 0.3  # garbage is unpredictable


def test_cli_outputs_round_trip_and_resume(small, tmp_path, monkeypatch):
    root, features = small
    features = three_layers(features)
    calls, settings = [], []
    fake_features(monkeypatch, features, calls, settings)
    out = tmp_path / "out"
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--layers", "all",
            "--out", str(out), "--scheme", "fast", "--context", "8", "--chunk", "0.4", "--dtype", "bfloat16", "--n-folds", "3",
            "--alphas", "1", "10", "100", "1000"]
    assert main(argv) == 0
    assert len(calls) == 1 and TEST in calls[0]
    # the extraction options reach the features as one Scheme, like the study's settings
    assert settings == [Scheme("fast", context=8.0, chunk=0.4, dtype="bfloat16")]
    csv = pd.read_csv(out / "alignment.csv")
    parquet = pd.read_parquet(out / "alignment.parquet")
    assert list(csv.columns) == COLUMNS and len(csv) == 3 * 7  # 3 layers x (6 groups + whole cortex)
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    assert set(csv["model"]) == {"tiny-wav2vec2"} and set(csv["participant"]) == {"UTS01"}
    npz = layer_path(out, "tiny-wav2vec2", "UTS01", 1)
    arrays = load_layer_arrays(npz)
    assert set(np.unique(arrays["alpha"])) <= {1, 10, 100, 1000}
    kept = arrays["ceiling"] > 0.05
    expected = (arrays["r"][kept] / arrays["ceiling"][kept]).mean()
    assert csv.query("layer == 1 and roi == 'whole_cortex'")["alignment"].item() == pytest.approx(expected, rel=1e-5)
    assert not list(out.rglob("*.tmp*"))

    # resume: no layer is refit; with every layer on disk no features are extracted
    def no_refit(*args, **kwargs):
        raise AssertionError("a finished layer was recomputed")

    monkeypatch.setattr(align_mod, "fit_encoding_model", no_refit)
    mtime = npz.stat().st_mtime_ns
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "alignment.csv"), csv)
    assert len(calls) == 1 and npz.stat().st_mtime_ns == mtime
    # a new threshold is applied from the stored arrays, without refitting
    assert main(argv + ["--ceiling-threshold", "0.9"]) == 0
    strict = pd.read_csv(out / "alignment.csv")
    assert (strict["n_voxels"] <= csv["n_voxels"]).all() and strict["n_voxels"].sum() < csv["n_voxels"].sum()
    # other alphas or another extraction scheme: the layers are refitted
    monkeypatch.undo()
    fake_features(monkeypatch, features, calls)
    assert main(argv[:-4] + ["1000", "10000"]) == 0
    assert npz.stat().st_mtime_ns != mtime
    assert set(np.unique(load_layer_arrays(npz)["alpha"])) <= {1000, 10000}


def test_a_changed_response_file_is_refitted(small, tmp_path, monkeypatch):
    """Guards against stale voxel arrays: the fit key covers the files a participant's fit reads."""
    root, features = small
    fake_features(monkeypatch, three_layers(features), [])
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--out", str(tmp_path)]
    assert main(argv) == 0
    npz = layer_path(tmp_path, "tiny-wav2vec2", "UTS01", 0)
    before = load_layer_arrays(npz)["r"]
    path = root / "derivative" / "preprocessed_data" / "UTS01" / "story0.hf5"
    with h5py.File(path, "r+") as f:
        f["data"][...] = np.random.default_rng(5).standard_normal(f["data"].shape)
    assert main(argv) == 0
    assert not np.array_equal(load_layer_arrays(npz)["r"], before)


@pytest.mark.parametrize("damage", ["truncated", "emptied", "other voxel count"])
def test_a_damaged_voxel_cache_is_refitted_to_the_same_numbers(small, tmp_path, monkeypatch, damage):
    """Guards against a rerun that dies on (or reuses) a damaged layer npz: it is refitted."""
    root, features = small
    fake_features(monkeypatch, three_layers(features), [])
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--out", str(tmp_path)]
    assert main(argv) == 0
    table = pd.read_csv(tmp_path / "alignment.csv")
    npz = layer_path(tmp_path, "tiny-wav2vec2", "UTS01", 1)
    whole = npz.read_bytes()
    if damage == "other voxel count":  # the right key, but not this participant's voxels
        with np.load(npz) as z:
            arrays = {k: z[k][:-1] if k != "fit_key" else z[k] for k in z.files}
        np.savez(npz, **arrays)
    else:
        npz.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"")
    assert main(argv) == 0
    assert npz.read_bytes() == whole
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "alignment.csv"), table)


def test_too_few_training_stories_for_the_folds_is_one_line_before_any_extraction(small, tmp_path, monkeypatch, capsys):
    """Guards against n_folds silently reduced to the number of stories (the recorded setting
    then lies) and against one training story ending in a ValueError traceback."""
    root, features = small
    calls = []
    fake_features(monkeypatch, three_layers(features), calls)
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--layers", "1"]
    for extra, has in ((["--n-folds", "7"], "6 (story0, story1, story2, story3, ...)"),
                       (["--train-stories", "story3"], "1 (story3)")):
        assert main([*argv, "--out", str(tmp_path / "o"), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "n_folds: " in err and f"UTS01 has {has}" in err, err
    assert calls == [] and not (tmp_path / "o" / "voxels").exists()
    with pytest.raises(ConfigError, match="5 leave-stories-out folds need at least 5 training stories"):
        two = StorySplit(train=["story0", "story1"], validation="stagefright", test=TEST)
        align_mod.align_model(Dataset(root), "tiny:wav2vec2", "UTS01", two, tmp_path, tag="m", cache_dir=tmp_path)
    # as many folds as stories, or the authors' row-chunk folds on one story, run
    assert main([*argv, "--out", str(tmp_path / "six"), "--n-folds", "6"]) == 0
    assert main([*argv, "--out", str(tmp_path / "one"), "--train-stories", "story3", "--protocol", "authors"]) == 0


def test_every_result_changing_align_setting_changes_the_fit_key(small):
    """Guards against stale voxel arrays: a setting that changes the fit (delays included) must
    change the key they are stored under; speed, memory and the threshold (applied afterwards) do not."""
    import dataclasses

    assert set(OTHER_ALIGN_VALUES) == {f.name for f in dataclasses.fields(AlignSettings)}
    root, _ = small
    dataset, split = Dataset(root), split_of(root)

    def key(**changes):
        return align_mod.fit_key(dataset, "UTS01", split, "tiny:wav2vec2", Scheme(), AlignSettings(**changes))

    neutral = {*AlignSettings.RESULT_NEUTRAL, *AlignSettings.FIT_NEUTRAL}
    changed = {name for name, value in OTHER_ALIGN_VALUES.items()
               if key(**{name: value, **{n: OTHER_ALIGN_VALUES[n] for n in [TOGETHER.get(name)] if n}}) != key()}
    assert changed == set(OTHER_ALIGN_VALUES) - neutral == {"protocol", "alphas", "n_folds", "delays", "permutations",
                                                            "permutation_block"}
    assert key(delays=[4, 3, 2, 1]) != key() and key(delays=[0, 1, 2, 3, 4]) != key()
    # the authors' protocol has no story folds: n_folds does not reach its fit
    assert key(protocol="authors", n_folds=3) == key(protocol="authors")
    # the authors' ROI values (atlas, affines) are made from the stored arrays: no refit
    assert key(protocol="authors", atlas="/a", affines="/b") == key(protocol="authors")


def test_participant_without_repeats_is_a_clear_error(tmp_path, monkeypatch, capsys):
    root, features = write_dataset(tmp_path / "ds", repeats=0)
    with pytest.raises(DataError, match="no 'individual_repeats' array.*noise ceiling"):
        align(root, features, tmp_path / "out")
    fake_features(monkeypatch, three_layers(features), [])
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{TEST}.hf5" in err and "individual_repeats" in err


def test_feature_rows_must_match_response_rows(small, tmp_path):
    root, features = small
    features = dict(features, story2=features["story2"][:, :-3])
    with pytest.raises(DataError, match=r"story 'story2': features have 67 rows but UTS01's responses have 70"):
        align(root, features, tmp_path / "out")
    features = dict(features, story2=features["story1"][:, :0], **{TEST: features[TEST][:, :90]})
    with pytest.raises(DataError, match=rf"story '{TEST}': features have 90 rows but UTS01's responses have 100"):
        align(root, features, tmp_path / "out")


def test_roi_file_with_voxels_out_of_range(tmp_path):
    root, features = write_dataset(tmp_path / "ds", rois={"A1": [0, 1, 95], "PGi": [2]})
    with pytest.raises(DataError, match=r"UTS01\.json: area 'A1' has voxel indices out of range 0\.\.89"):
        align(root, features, tmp_path / "out")


def test_roi_file_without_glasser_areas_is_an_error(tmp_path):
    """Guards against a table holding only the whole cortex after an ROI file with no known area."""
    root, features = write_dataset(tmp_path / "ds", rois={"Broca": [0, 1], "AC": [2]})
    with pytest.raises(DataError, match=r"UTS01\.json: no HCP-MMP1 \(Glasser\) area names"):
        align(root, features, tmp_path / "out")


def test_bad_settings_and_layers(small, tmp_path, monkeypatch, capsys):
    root, features = small
    with pytest.raises(ConfigError, match=r"alphas: positive numbers"):
        AlignSettings(alphas=[0, 1])
    with pytest.raises(ConfigError, match="protocol: one of"):
        AlignSettings(protocol="mine")
    fake_features(monkeypatch, three_layers(features), [])
    argv = ["align", "--data", str(root), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "--out", str(tmp_path)]
    assert main(argv + ["--layers", "5"]) == 1
    assert "layers [5] out of range: the model has layers 0..2" in capsys.readouterr().err
    assert main(argv + ["--layers", "0", "2"]) == 0  # a list of indices is valid
    assert set(pd.read_csv(tmp_path / "alignment.csv")["layer"]) == {0, 2}


def test_authors_protocol_leaves_out_the_first_40_test_rows(small, tmp_path, monkeypatch):
    """The authors' protocol scores rows 40.. of the test story against the plain mean of the
    repeats with their ceiling formula, alphas chosen on bootstrap chunks by variance explained."""
    from braintune.encoding import noise_ceiling_authors, pearson_r, ridge_predict

    root, features = small
    calls = []
    fake_features(monkeypatch, three_layers(features), calls)
    settings = AlignSettings(protocol="authors", alphas=list(np.logspace(0, 4, 9)))
    table = align_mod.align_model(Dataset(root), "tiny:wav2vec2", "UTS01", split_of(root), tmp_path, tag="m",
                                  cache_dir=tmp_path / "cache", settings=settings, layers=[1])
    arrays = load_layer_arrays(layer_path(tmp_path, "m", "UTS01", 1))
    repeats = Dataset(root).load_repeats("UTS01", TEST)[:, 40:]
    np.testing.assert_allclose(arrays["ceiling"], noise_ceiling_authors(repeats).astype(np.float32))
    # the prediction of the kept rows, refitted by hand with the chosen alphas
    X = {s: braintune.features.story_tr_features(None, None, [s], delays=(1, 2, 3, 4), layers=[1], first_rows={TEST: 40})[s][0]
         for s in [*split_of(root).train, TEST]}
    Y, _ = load_training_responses(Dataset(root), "UTS01", split_of(root).train)
    X_train = np.concatenate([X[s] for s in split_of(root).train])
    prediction = ridge_predict(X_train, Y, X[TEST], arrays["alpha"])
    np.testing.assert_allclose(arrays["r"], pearson_r(prediction, repeats.mean(0)), atol=1e-5)
    assert len(X[TEST]) == 60 and table.set_index("roi").loc["late_language", "alignment"] > 0.8


def test_simulated_participants_against_their_ground_truth(sim_dataset, tmp_path):
    """The shared simulated corpus (70-row test story, 5 repeats; ~70 training rows).

    Ceiling estimates follow the true ceilings (pooled over participants; the short test
    story limits the precision: corr ~0.75 here, 0.98 in test_encoding's longer simulation);
    a layer holding the true stimulus features (16 mel bands, 8 language dimensions) aligns far
    better than one of random features. With ~70 training rows for 24 features the fit itself
    is noisy (early auditory ~0.3-0.4 here), so the check is relative.
    """
    from braintune.synthetic.fmri import load_true_features, load_truth
    from braintune.encoding import noise_ceiling

    dataset = Dataset(sim_dataset)
    estimates, truths = [], []
    rng = np.random.default_rng(0)
    for participant in dataset.participants:
        truth = load_truth(sim_dataset, participant)
        estimates.append(noise_ceiling(dataset.load_repeats(participant, TEST)))
        truths.append(truth.ceiling)
        signal = truth.kind > 0
        assert abs(np.mean(estimates[-1][signal] - truth.ceiling[signal])) < 0.05

        split = resolve_split(dataset, dataset.participants)[participant]
        features = {}
        for story in split.train + [split.test]:
            true = load_true_features(sim_dataset, story)
            true = np.concatenate([true["auditory_rows"], true["language_rows"]], axis=1)
            features[story] = np.stack([rng.standard_normal(true.shape), true]).astype(np.float32)
        table = align_participant(
            dataset, participant, split, features, tmp_path / "out", model="truth", layers=[0, 1],
            settings=AlignSettings(alphas=list(np.logspace(-1, 4, 11)), n_folds=4),
        ).set_index(["layer", "roi"])
        for roi in ("early_auditory", "late_language", "whole_cortex"):
            assert table.loc[(1, roi), "alignment"] > table.loc[(0, roi), "alignment"] + 0.2, (participant, roi)
    assert np.corrcoef(np.concatenate(estimates), np.concatenate(truths))[0, 1] > 0.7


@pytest.mark.slow
def test_cli_end_to_end_with_a_tiny_model(sim_dataset, tmp_path):
    """Real features of a 2-layer model (~75 s at 1 thread), then a resumed run that reuses everything."""
    out = tmp_path / "out"
    argv = ["align", "--data", str(sim_dataset), "--model", "tiny:wav2vec2", "--subjects", "UTS01", "UTS02",
            "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "alignment.csv")
    assert sorted(set(table["layer"])) == [0, 1, 2] and set(table["participant"]) == {"UTS01", "UTS02"}
    assert table["alignment"].abs().max() < 1.5
    assert len(list((out / "voxels" / "tiny-wav2vec2").rglob("layer_*.npz"))) == 6
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "alignment.csv"), table)


def test_noise_ceiling_recovers_the_simulated_truth_with_a_real_length_test_story(tmp_path):
    """A simulated participant whose test story is as long as ds003020's (wheretheressmoke: ~10 min, 10 repeats):
    the estimated ceilings correlate with the true ones at > 0.9 across the voxels that carry
    a signal. Pure-noise voxels get small positive estimates (Schoppe's estimator clips
    SP <= 0 to a ceiling of 0 but not small positive SP), which lowers the correlation
    over all voxels a little."""
    from braintune.data.fmri.ds003020 import DS003020 as Dataset
    from braintune.synthetic.fmri import load_truth, simulate_dataset
    from braintune.encoding import noise_ceiling

    root = simulate_dataset(tmp_path / "sim", n_participants=1, n_train_stories=1, story_seconds=(30, 30),
                            test_story_seconds=580, n_repeats=10, n_voxels=300, seed=5)
    estimate = noise_ceiling(Dataset(root).load_repeats("UTS01", TEST))
    truth = load_truth(root, "UTS01")
    signal = truth.kind > 0
    assert np.corrcoef(estimate[signal], truth.ceiling[signal])[0, 1] > 0.9
    assert np.corrcoef(estimate, truth.ceiling)[0, 1] > 0.85
    assert abs(np.mean(estimate[signal] - truth.ceiling[signal])) < 0.05
    assert np.mean(estimate[~signal]) < 0.15


def test_voxel_arrays_of_a_model_named_by_its_absolute_path_stay_in_the_run(tmp_path):
    """Guards against voxel arrays written into the model's own folder: a model named by an
    absolute path (a study's `models: [/data/my-model]`) once made Path(out) / model drop out."""
    model = tmp_path / "checkpoints" / "my-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    path = layer_path(tmp_path / "run", str(model), "UTS01", 3)
    assert path == tmp_path / "run" / "voxels" / "my-model" / "UTS01" / "layer_03.npz"
    assert layer_path(tmp_path, "facebook/wav2vec2-base", "UTS01", 0) == tmp_path / "voxels" / "facebook--wav2vec2-base" / "UTS01" / "layer_00.npz"

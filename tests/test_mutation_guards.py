"""Tests written for mutants that survived the numeric core's own tests (docs/mutation.md).

Each test pins a behaviour a surviving mutant changed, with an expectation computed by hand
(exact in binary floating point where the comparison is exact) or taken from an independent
implementation; its docstring names the bug it guards against.
"""

import importlib
import math
import re
import warnings

import numpy as np
import pytest

from braintune.data.fmri.ds003020 import DS003020 as Dataset, response_row_times
from braintune.encoding import (
    WHOLE_CORTEX,
    chunk_folds,
    fit_encoding_model,
    noise_ceiling,
    noise_ceiling_authors,
    normalised_alignment,
    pearson_r,
    ridge_predict,
    roi_table,
    select_alphas,
    story_folds,
    zscored_repeats_mean,
)
from braintune.encoding import ridge
from braintune.errors import ConfigError, DataError
from braintune.features.resample import lanczos_kernel, lanczos_matrix, lanczos_resample, make_delayed
from braintune.probing import Split, classifier_probe, multilabel_probe, probes
from braintune.report.tables import primary_metric, read_alignment, summarise_alignment
from braintune.tuning.data import audio_window, select_voxels, story_pairs
from conftest import write_real_layout


def _quiet(function, *args):
    """function(*args) with every warning raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args)


# ---- noise ceiling (encoding/ceiling.py) ------------------------------------------------


def test_ceilings_of_two_rows_by_hand():
    """Guards against the ceiling refusing the smallest valid input (2 rows per repeat, e.g. a
    `< 2` check turned into `<= 2`). r1 = [0, 1], r2 = [0, 2]: z-scored both are [-1, 1], so
    ybar = [-1, 1], var = 1, SP = (2 - 1) / 1 = 1, CCmax = 1. Authors (as stored, ddof = 1):
    ybar = [0, 1.5], var = 1.125, SP = 1.25, CCmax = 1 / sqrt(1 + (0.8 - 1) / 2) = 1 / sqrt(0.9)."""
    repeats = np.array([[0.0, 1.0], [0.0, 2.0]])[:, :, None]
    assert noise_ceiling(repeats)[0] == 1.0
    assert noise_ceiling_authors(repeats)[0] == pytest.approx(1 / np.sqrt(0.9), rel=1e-12)


def test_authors_ceiling_with_three_repeats_by_hand():
    """Guards against a wrong (N - 1) in the authors' SP (a product instead of a quotient is
    invisible with 2 repeats). Three repeats [1, -1]: ybar = [1, -1], var (ddof 1) = 2,
    SP = (3 * 2 - 1) / 2 = 2.5, CCmax = 1 / sqrt(1 + (0.4 - 1) / 3) = 1 / sqrt(0.8)."""
    repeats = np.array([[1.0, -1.0]] * 3)[:, :, None]
    assert noise_ceiling_authors(repeats)[0] == pytest.approx(1 / np.sqrt(0.8), rel=1e-12)


def test_ceiling_where_the_signal_power_is_exactly_zero_is_zero_without_warnings():
    """Guards against dividing by SP = 0 (`SP >= 0` instead of `SP > 0`: 1/0 warns) and against
    the authors' version warning on the cases its nan_to_num absorbs. All values exact:
    braintune: r1 = [1, 1, -1, -1], r2 = [1, -1, 1, -1] are z-scored already, ybar =
    [1, 0, 0, -1], var = 1/2 = 1/N, so SP = 0 and CCmax = 0.
    Authors: ybar = [.5, -.5] gives var (ddof 1) = 1/2, SP = 0, CCmax = 1/sqrt(inf) = 0;
    ybar = [.25, -.25]: SP = -3/4, 1 + (-4/3 - 1)/2 < 0, sqrt -> NaN -> 0;
    ybar = [0, 0]: SP = -1, 1 + (-1 - 1)/2 = 0, 1/0 -> the largest float."""
    assert _quiet(noise_ceiling, np.array([[1.0, 1, -1, -1], [1, -1, 1, -1]])[:, :, None])[0] == 0.0
    authors = {0.5: 0.0, 0.25: 0.0, 0.0: np.finfo(np.float64).max}
    for half, expected in authors.items():
        repeats = np.array([[half, -half], [half, -half]])[:, :, None]
        assert _quiet(noise_ceiling_authors, repeats)[0] == expected, half


def test_repeats_errors_state_the_offending_count():
    """Guards against messages that report another axis's length than the one that is short
    (e.g. the rows for the number of repeats)."""
    with pytest.raises(ValueError, match="at least 2 repeats, got 1$"):
        noise_ceiling(np.zeros((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2 rows per repeat, got 1$"):
        noise_ceiling(np.zeros((3, 1, 4), np.float32))


def test_repeats_mean_is_float32():
    """Guards against returning the float64 working array instead of the documented float32
    (rows, voxels) (twice the memory for every ceiling of a real participant)."""
    repeats = np.arange(24, dtype=np.float64).reshape(2, 3, 4) ** 2
    assert zscored_repeats_mean(repeats).dtype == np.float32


def test_repeats_mean_sums_float64_z_scores():
    """Guards against z-scoring each repeat in float32 before the sum (zscore's default dtype):
    where two repeats nearly cancel (r2 = -r1 + 1e-6 on one row) the float32 rounding of each
    z-score (~6e-8) is as large as their mean (~6e-8) and the mean is off by 4% to 100%.
    Oracle: (x - mean) / std of each repeat in float64, written out here."""
    r1 = np.array([0.0, 1.0, 3.0])
    r2 = -r1 + np.array([0.0, 0.0, 1e-6])
    expected = sum((r - r.mean()) / r.std() for r in (r1, r2)) / 2
    np.testing.assert_allclose(zscored_repeats_mean(np.stack([r1, r2])[:, :, None])[:, 0], expected, rtol=1e-5)


# ---- ridge and its cross-validation (encoding/ridge.py) -----------------------------------


def _ridge_by_solve(X, Y, X_test, alpha):
    """X_test (X^T X + alpha I)^-1 X^T Y by a direct solve in float64 (one alpha for all voxels)."""
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    return X_test @ np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ Y)


def _ridge_data(seed=0, rows=40, features=4, voxels=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    Y = X @ rng.standard_normal((features, voxels)) + rng.standard_normal((rows, voxels))
    return X, Y, rng.standard_normal((7, features))


def test_story_folds_accept_two_folds():
    """Guards against refusing n_folds = 2 (an off-by-one in the check) and against a message
    that does not say what is wrong. Three stories of 10 rows in 2 folds: stories {0, 1}, {2}."""
    folds = story_folds([10, 10, 10], 2)
    assert [val.tolist() for _, val in folds] == [list(range(20)), list(range(20, 30))]
    with pytest.raises(ValueError, match="^n_folds must be at least 2, got 1$"):
        story_folds([10, 10, 10], 1)


def test_pearson_r_of_large_float32_columns():
    """Guards against finishing r in float32: the product of the two sums of squares (4e40
    here) overflows float32 and r becomes 0 instead of 1."""
    column = np.array([[1e10], [2e10], [3e10]], np.float32)
    assert pearson_r(column, column)[0] == pytest.approx(1.0, rel=1e-6)


def test_ridge_with_one_alpha_for_all_voxels_and_eigenvalues_below_one():
    """Guards against a scalar alpha not being spread over the voxels, and against eigenvalues
    of X^T X being clipped at 1 instead of 0 (invisible when they are all large): features
    scaled by 0.01 (eigenvalues ~5e-3) with alpha 1e-3, against a direct solve."""
    X, Y, X_test = _ridge_data()
    X, X_test = 0.01 * X, 0.01 * X_test
    np.testing.assert_allclose(ridge_predict(X, Y, X_test, 1e-3), _ridge_by_solve(X, Y, X_test, 1e-3), rtol=1e-9)


def test_one_voxel_per_batch_and_a_single_alpha():
    """Guards against refusing voxel_batch = 1 or a grid of one alpha (off-by-one checks)."""
    X, Y, X_test = _ridge_data()
    folds = story_folds([10, 10, 20], 3)
    alpha, cv_score, _ = select_alphas(X, Y, folds, [10.0], voxel_batch=1)
    assert alpha.tolist() == [10.0] * 3
    np.testing.assert_allclose(cv_score, select_alphas(X, Y, folds, [10.0])[1], rtol=1e-12)
    np.testing.assert_allclose(ridge_predict(X, Y, X_test, 10.0, voxel_batch=1), _ridge_by_solve(X, Y, X_test, 10.0),
                               rtol=1e-9)


def test_ridge_errors_state_the_problem_exactly():
    """Guards against bad alphas (empty, 2-D, infinite, NaN), a fold whose rows overlap (its
    union still covers every row), a zero voxel batch, an unknown metric or backend slipping
    through or failing with a message that does not say what is wrong."""
    X, Y, _ = _ridge_data()
    folds = story_folds([10, 10, 20], 3)
    for alphas in ([], [[1.0, 2.0]], [np.inf], [np.nan]):
        with pytest.raises(ValueError, match="^alphas must be a non-empty list of positive numbers"):
            select_alphas(X, Y, folds, alphas)
    with pytest.raises(ValueError, match="^each fold must split all rows into training and validation rows$"):
        select_alphas(X, Y, [(np.arange(40), np.arange(5))], [1.0])
    with pytest.raises(ValueError, match="^voxel_batch must be positive, got 0$"):
        ridge_predict(X, Y, X, 1.0, voxel_batch=0)
    with pytest.raises(ValueError, match=re.escape("metric must be one of ('correlation', 'variance_explained'), got 'r2'")):
        select_alphas(X, Y, folds, [1.0], metric="r2")
    with pytest.raises(ValueError, match="^unknown backend 'jax'; choose one of numpy, torch, torch_cuda, torch_mps, cupy$"):
        ridge_predict(X, Y, X, 1.0, backend="jax")


def test_encoding_model_passes_metric_batch_and_backend_on(monkeypatch):
    """Guards against fit_encoding_model dropping its metric, voxel_batch or backend on the way
    to the alpha choice or the refit (the defaults used silently: another alpha, all voxels at
    once on the GPU, or the GPU idle), and against cv_score lost or not float32."""
    X, Y, X_test = _ridge_data(voxels=5)
    folds = story_folds([10, 10, 20], 3)
    alphas = [0.1, 10.0, 1e3]
    backends, batches = [], []
    monkeypatch.setattr(ridge, "_backend", lambda name: backends.append(name) or importlib.import_module(
        f"himalaya.backend.{name}"))
    real_batches = ridge._batches
    monkeypatch.setattr(ridge, "_batches", lambda n, size: batches.append(size) or real_batches(n, size))
    result = fit_encoding_model(X, Y, folds, X_test, X_test @ np.ones((4, 5)), alphas, metric="variance_explained",
                                voxel_batch=2, backend="torch")
    assert backends == ["torch", "torch"] and set(batches) == {2}
    expected = select_alphas(X, Y, folds, alphas, metric="variance_explained")[1].astype(np.float32)
    assert result.cv_score.dtype == np.float32
    np.testing.assert_allclose(result.cv_score, expected, rtol=1e-6)


def test_float32_features_stay_float32_on_numpy_and_torch():
    """Guards against float64 creeping into the float32 path (eigenvectors, shrinkage factors,
    test features or the output in float64: twice the memory, and on torch a matmul of mixed
    dtypes that fails). One alpha, so both backends fit the same model."""
    X, Y, X_test = (a.astype(np.float32) for a in _ridge_data(voxels=5))
    folds = story_folds([10, 10, 20], 3)
    expected = _ridge_by_solve(X, Y, X_test, 10.0)
    for backend in ("numpy", "torch"):
        result = fit_encoding_model(X, Y, folds, X_test, X_test @ np.ones((4, 5), np.float32), [10.0], backend=backend)
        assert result.prediction.dtype == np.float32, backend
        np.testing.assert_allclose(result.prediction, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_gram_matrix_is_float64_for_float32_features():
    """Guards against forming X^T X in float32: 4097^2 = 16785409 needs 25 bits (float32: 16785408)."""
    gram = ridge._gram(np.array([[4097.0]], np.float32))
    assert gram.dtype == np.float64 and float(gram[0, 0]) == 16785409.0


def test_integer_alphas_are_chosen_as_float64():
    """Guards against alphas kept in the caller's dtype: an integer grid (10, 1000 as written in
    a config) would come back as int64 alphas, not the float64 ones select_alphas documents."""
    X, Y, _ = _ridge_data()
    alpha, _, _ = select_alphas(X, Y, story_folds([10, 10, 20], 3), [10, 1000])
    assert alpha.dtype == np.float64 and set(alpha.tolist()) <= {10.0, 1000.0}


def test_eigenvalues_below_zero_are_clipped_to_zero():
    """Guards against keeping the small negative eigenvalues rounding gives a Gram matrix of
    collinear features: with a small alpha, 1 / (lam + alpha) turns negative or infinite.
    A diagonal matrix has its diagonal as eigenvalues exactly: (-1e-3, 2) -> (0, 2)."""
    eigvals, eigvecs = ridge._eigh(np.diag([-1e-3, 2.0]))
    assert eigvals.tolist() == [0.0, 2.0] and np.abs(eigvecs).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_chunk_folds_default_seed_is_zero():
    """Guards against the default seed changing: every stored bootstrap-fold result (alphas,
    cv scores) made with the defaults would no longer be reproducible."""
    assert [val.tolist() for _, val in chunk_folds(200)] == [val.tolist() for _, val in chunk_folds(200, seed=0)]


def test_pearson_r_of_constant_columns_is_zero_not_uninitialised():
    """Guards against leaving r uninitialised where a column is constant (np.divide with `where`
    but no zero-filled `out`: numpy warns, and 1000 columns come from reused heap memory,
    which holds leftovers, not zeros)."""
    a = np.tile(np.arange(3.0)[:, None], (1, 1000)) + np.arange(1000)
    constant = np.full_like(a, 5.0)
    for _ in range(3):
        assert not _quiet(pearson_r, a, constant).any() and not _quiet(pearson_r, constant, a).any()


# ---- ROI summaries (encoding/summary.py) --------------------------------------------------


def test_normalised_alignment_keeps_only_ceilings_above_the_threshold():
    """Guards against keeping a ceiling equal to the threshold (`>=` for `>`), comparing in the
    ceiling's float32 (float32(0.05) = 0.0500000007 exceeds 0.05 but not float32(0.05)),
    refusing the threshold 0, and returning float64 instead of the documented float32."""
    out = normalised_alignment(np.array([0.1, 0.25]), np.array([0.05, 0.5]), 0.05)
    assert out.dtype == np.float32
    assert np.isnan(out[0]) and out[1] == 0.5
    assert np.isfinite(normalised_alignment(np.array([0.025]), np.array([0.05], np.float32), 0.05)).all()
    assert np.isnan(normalised_alignment(np.array([0.1, 0.25]), np.array([0.0, 0.5]), 0.0)).tolist() == [True, False]


def test_normalised_alignment_errors_name_the_problem():
    """Guards against shape and threshold errors that do not say what is wrong."""
    with pytest.raises(ValueError, match=r"r has shape \(3,\) but the ceiling has shape \(2,\)"):
        normalised_alignment(np.zeros(3), np.ones(2), 0.05)
    with pytest.raises(ValueError, match="threshold must be >= 0, got -0.1"):
        normalised_alignment(np.zeros(2), np.ones(2), -0.1)


def test_roi_table_of_an_empty_roi_and_a_one_voxel_roi_without_warnings():
    """Guards against an ROI given as an empty list (float indices: IndexError), a one-voxel ROI
    losing its mean, and numpy warnings (std with ddof 1 of one value, mean of nothing).
    r / CCmax = [0.5, 0.5, NaN]: ROI "one" = voxel 1 -> mean 0.5, sem NaN, 1 voxel."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = roi_table(np.array([0.2, 0.4, 0.3]), np.array([0.4, 0.8, 0.01]), {"empty": [], "one": [1]},
                          participant="p", model="m", layer=0, threshold=0.05).set_index("roi")
    assert table.loc["empty", "n_voxels"] == 0 and np.isnan(table.loc["empty", ["alignment", "alignment_sem"]]).all()
    assert table.loc["one", "n_voxels"] == 1 and table.loc["one", "alignment"] == 0.5
    assert np.isnan(table.loc["one", "alignment_sem"])
    assert table.loc[WHOLE_CORTEX, "n_voxels"] == 2 and table.loc[WHOLE_CORTEX, "alignment"] == 0.5


def test_roi_index_errors_name_the_roi_and_the_first_index_past_the_end():
    """Guards against accepting the index n_voxels (off by one: an IndexError later, naming no
    ROI) and against a non-integer ROI message that does not name the ROI."""
    with pytest.raises(ValueError, match=r"ROI 'edge' names voxel indices 0\.\.3 outside 0\.\.2 \(3 voxels\)"):
        roi_table(np.zeros(3), np.ones(3), {"edge": np.array([0, 3])}, participant="p", model="m", layer=0,
                  threshold=0.05)
    with pytest.raises(ValueError, match=r"ROI 'half' holds non-integer voxel indices \(float64\)"):
        roi_table(np.zeros(3), np.ones(3), {"half": np.array([0.5])}, participant="p", model="m", layer=0,
                  threshold=0.05)


# ---- Lanczos and delays (features/resample.py) -------------------------------------------

# The 2-lobe kernel by hand: w(t) = 2 sin(pi t) sin(pi t / 2) / (pi^2 t^2); w(0.5) = 4 sqrt(2) / pi^2,
# w(1.5) = -sqrt(2) / (2.25 pi^2), w(2.5) = 0 (beyond 2 lobes; the 3-lobe kernel is not 0 there).
TWO_LOBES = {0.0: 1.0, 0.5: 4 * math.sqrt(2) / math.pi**2, 1.5: -math.sqrt(2) / (2.25 * math.pi**2), 2.5: 0.0}


def test_lanczos_kernel_is_float64_for_float32_times_and_quiet_at_zero():
    """Guards against computing the weights in the times' float32 (errors ~1e-7 instead of
    ~1e-16) and against the 0/0 at t = 0 warning. Oracle: the formula with math.sin."""
    t = np.array([0.0, 0.1, 1.3, 2.9], np.float32)
    expected = [1.0] + [3 * math.sin(math.pi * v) * math.sin(math.pi * v / 3) / (math.pi * v) ** 2
                        for v in t[1:].astype(float)]
    np.testing.assert_allclose(_quiet(lanczos_kernel, t), expected, rtol=1e-12, atol=0)


def test_matrix_and_resampling_pass_the_number_of_lobes_on():
    """Guards against `lobes` being dropped on the way to the kernel (the default 3 used instead),
    and against float64 weights or features making a float64 result (documented float32)."""
    assert lanczos_kernel(np.array(list(TWO_LOBES)), lobes=2) == pytest.approx(list(TWO_LOBES.values()), abs=1e-15)
    in_times = np.array([-2.5, -1.5, -0.5, 0.0])  # 0 - in_times = the t of TWO_LOBES, reversed
    expected = [list(TWO_LOBES.values())[::-1]]
    np.testing.assert_allclose(lanczos_matrix(np.array([0.0]), in_times, 1.0, lobes=2), expected, atol=1e-15)
    out = lanczos_resample(np.eye(4), in_times, np.array([0.0]), tr=1.0, lobes=2)  # float64 features
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_delays_of_zero_and_negative_rows_by_hand():
    """Guards against delay 0 giving zeros instead of the features, negative delays (row r gets
    x[r - d], d < 0: later rows) being dropped or shifted the wrong way, and float64 input giving
    float64 copies (twice the memory of the documented float32 features)."""
    x = np.arange(1, 9, dtype=np.float64).reshape(4, 2)
    d = make_delayed(x, (0, -1, -3))
    assert d.dtype == np.float32 and d.shape == (4, 6)
    np.testing.assert_array_equal(d[:, :2], x)
    np.testing.assert_array_equal(d[:, 2:4], [[3, 4], [5, 6], [7, 8], [0, 0]])
    np.testing.assert_array_equal(d[:, 4:], [[7, 8], [0, 0], [0, 0], [0, 0]])


# ---- row times (data/ds003020.py) ---------------------------------------------------------


def test_too_few_triggers_state_how_many_are_needed():
    """Guards against a wrong count in the message (missing + both trims: 5 + 10 + 5 = 20 by
    default; 3 + 2 + 1 = 6 with those settings)."""
    with pytest.raises(ValueError, match=r"^20 triggers leave no response rows \(need more than 20\)$"):
        response_row_times(20)
    with pytest.raises(ValueError, match=r"^6 triggers leave no response rows \(need more than 6\)$"):
        response_row_times(6, trim_start=2, trim_end=1, missing_end=3)


# ---- tuning pairs and targets (tuning/data.py) --------------------------------------------


def test_tuning_window_as_long_as_the_story_and_one_longer(tmp_path):
    """Guards against refusing a window exactly as long as the story's audio (40 s here), a
    message naming another file or a wrong duration for a longer one, and float64 windows
    (the documented float32 model input)."""
    root = write_real_layout(tmp_path / "ds", participants=("UTS01",))
    dataset = Dataset(root)
    pairs = story_pairs(dataset, "UTS01", ["storya"], np.arange(12), 40.0)
    assert pairs.window == 40 * 16000 and len(pairs) == 10
    assert pairs.waveforms([0, 9]).dtype == np.float32
    assert audio_window(np.arange(1, 11, dtype=np.float32), 12, 4).dtype == np.float32
    message = f"{root / 'stimuli' / 'storya.wav'}: tuning window of 40.5 s is longer than the story (40.0 s); "
    with pytest.raises(ConfigError, match=re.escape(message + "use a shorter window_seconds")):
        story_pairs(dataset, "UTS01", ["storya"], np.arange(12), 40.5)


def test_target_voxels_exceed_the_threshold_strictly(tmp_path):
    """Guards against keeping voxels whose ceiling equals the threshold (`>=` for `>`): with
    threshold 0 the voxels without signal (ceiling exactly 0, SP <= 0) must not be targets."""
    dataset = Dataset(write_real_layout(tmp_path / "ds", participants=("UTS01",)))
    ceiling = noise_ceiling(dataset.load_repeats("UTS01", "wheretheressmoke"))
    assert (ceiling == 0).any() and (ceiling > 0).any()
    indices, ceilings = select_voxels(dataset, "UTS01", "wheretheressmoke", 0.0)
    assert indices.tolist() == np.flatnonzero(ceiling > 0).tolist() and (ceilings > 0).all()


# ---- probes and their selection (probing/probes.py) --------------------------------------


def test_binary_f1_by_hand():
    """Guards against wrong per-label F1 (2 TP / (positives + predicted positives) of that label,
    0 for a label with neither): totals over all labels in a denominator, another factor, or 1
    (or None) for a label with nothing to find. Columns: TP 1 of 2 + 1 -> 2/3; TP 1 of 1 + 1
    -> 1; nothing -> 0."""
    truth = np.array([[1, 1, 0], [1, 0, 0]], bool)
    pred = np.array([[1, 1, 0], [0, 0, 0]], bool)
    f1 = probes._binary_f1(truth, pred)
    assert f1.dtype == np.float64 and f1.tolist() == [2 / 3, 1.0, 0.0]


def test_multilabel_probe_undecided_labels_and_nothing_to_find():
    """Guards against predicting a label when its model is undecided (score exactly 0: sklearn
    predicts the negative class), against F1 other than 0 (or a warning) for labels neither
    present nor predicted in the test rows, and against a one-row fit set failing. Features
    constant (z-scored to 0) and label 0 balanced: the fit stays at w = 0, b = 0 (zero
    gradient), so every score is 0 and nothing is predicted; label 1 never occurs."""
    x = np.ones((10, 3))
    labels = np.zeros((10, 2), np.int8)
    labels[[0, 2, 4, 6, 7], 0] = 1
    present = Split(np.arange(4), np.arange(4, 6), np.arange(6, 8))  # test rows hold label 0
    assert _quiet(multilabel_probe, x, labels, present).scores == {"macro_f1": 0.0, "micro_f1": 0.0}
    absent = Split(np.arange(4), np.arange(4, 6), np.arange(8, 10))  # test rows hold no label
    assert _quiet(multilabel_probe, x, labels, absent).scores == {"macro_f1": 0.0, "micro_f1": 0.0}
    one_row = multilabel_probe(x, labels, Split(np.array([0]), np.array([1]), np.array([2])))
    assert one_row.scores == {"macro_f1": 0.0, "micro_f1": 0.0}


def _separable(rows=60):
    x = np.random.default_rng(0).standard_normal((rows, 3))
    return x, (x[:, 0] > 0).astype(np.int8), Split(np.arange(40), np.arange(40, 50), np.arange(50, rows))


def test_probe_features_are_standardised_in_float64_with_the_fit_rows_statistics():
    """Guards against z-scoring the evaluated rows in zscore's default float32 (the probes
    document float64; float32 adds errors of ~1e-8 to every feature). Column [1, 2, 3, 4], fit
    rows 0..2: mean 2, sd sqrt(2/3); row 3 -> 2 / sqrt(2/3) = sqrt(6), row 0 -> -sqrt(3/2)."""
    features = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    fit, other = probes._standardise(features, np.arange(3), np.array([3, 0]))
    assert fit.dtype == other.dtype == np.float64
    np.testing.assert_allclose(other[:, 0], [math.sqrt(6), -math.sqrt(1.5)], rtol=1e-14)
    np.testing.assert_allclose(fit[:, 0], [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rtol=1e-14)


def test_classifier_fits_long_enough_and_silences_only_convergence_warnings(monkeypatch):
    """Guards against the word and sentence-type probes stopping at sklearn's default 100
    iterations (unconverged fits on 768-dim features, unnoticed: their ConvergenceWarning is
    silenced) and against silencing other warnings too, or raising on a ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    iterations = []

    class Reporting(probes.LogisticRegression):
        def fit(self, x, y):
            iterations.append(self.max_iter)
            warnings.warn("did not converge", ConvergenceWarning)
            warnings.warn("a setting will change", FutureWarning)
            return super().fit(x, y)

    monkeypatch.setattr(probes, "LogisticRegression", Reporting)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classifier_probe(*_separable(), cs=(1.0,))
    categories = {w.category for w in caught}
    assert FutureWarning in categories and ConvergenceWarning not in categories
    assert min(iterations) >= 500


def test_multilabel_fit_uses_limited_memory_bfgs(monkeypatch):
    """Guards against solving the joint logistic fit with a dense quasi-Newton method (BFGS keeps
    a square matrix of (dims + 1) x labels parameters: 7 GB for 768-dim features and 39 phones)
    and against options the solver does not know (scipy warns and ignores them)."""
    import scipy.optimize

    methods = []
    real = scipy.optimize.minimize
    monkeypatch.setattr(scipy.optimize, "minimize", lambda *a, **k: methods.append(k.get("method")) or real(*a, **k))
    x, labels, split = _separable()
    _quiet(multilabel_probe, x, labels[:, None], split, (1.0,))
    assert methods and all(str(m).upper() == "L-BFGS-B" for m in methods)


# ---- summary tables (report/tables.py) --------------------------------------------------

HEADER = "model,variant,participant,layer,roi,alignment\n"


def _alignment_csv(tmp_path, rows: str):
    path = tmp_path / "alignment.csv"
    path.write_text(HEADER + rows)
    return path


def test_csv_table_keeps_text_labels_and_integer_layers(tmp_path):
    """Guards against a participant "01" read as the number 1, an empty participant (a pretrained
    model's probe) not read as "", layers left as float or text (layer 10 sorted before 2),
    and the summary gaining a column (the old index) besides the documented ones."""
    table = read_alignment(_alignment_csv(tmp_path, "m,tuned,01,10,a,0.5\nm,tuned,,2,a,0.25\n"))
    assert table["participant"].tolist() == ["01", ""]
    assert table["layer"].dtype.kind == "i" and table["layer"].tolist() == [10, 2]
    summary = summarise_alignment(table)
    assert list(summary.columns) == ["model", "roi", "variant", "layer", "mean", "se", "n_participants"]
    assert summary["layer"].tolist() == [2, 10] and summary["mean"].tolist() == [0.25, 0.5]


@pytest.mark.parametrize("layer", ["1.5", ""])
def test_layer_that_is_not_a_whole_number_is_a_data_error(tmp_path, layer):
    """Guards against a fractional layer silently truncated or a missing one failing in pandas'
    integer cast (a traceback) instead of one DataError; either alone must be caught."""
    path = _alignment_csv(tmp_path, f"m,tuned,UTS01,{layer},a,0.5\n")
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: column 'layer' must hold whole numbers$"):
        read_alignment(path)


def test_table_errors_state_the_problem_exactly(tmp_path):
    """Guards against DataError messages that drop or garble what is wrong: the unreadable
    file, the missing columns, the unknown variants, and the duplicated rows (counted both,
    keys listed, one example; duplicates are decided on the keys alone, not on every column)."""
    bad = tmp_path / "alignment.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=f"^{re.escape(str(bad))}: cannot read table \\("):
        read_alignment(bad)
    path = tmp_path / "narrow.csv"
    path.write_text("model,variant,participant,alignment\nm,tuned,UTS01,0.5\n")
    with pytest.raises(DataError, match=re.escape(
            f"{path}: missing required column(s) layer, roi (has: model, variant, participant, alignment)")):
        read_alignment(path)
    path = _alignment_csv(tmp_path, "m,finetuned,UTS01,1,a,0.5\nm,base,UTS01,1,a,0.5\n")
    with pytest.raises(DataError, match=re.escape("unknown variant(s) 'base', 'finetuned'; expected pretrained, tuned, control")):
        read_alignment(path)
    path = _alignment_csv(tmp_path, "m,tuned,UTS01,1,a,0.5\nm,tuned,UTS02,1,a,0.5\nm,tuned,UTS01,1,a,0.25\n")
    with pytest.raises(DataError, match=re.escape(
            f"{path}: 2 rows repeat the same model, variant, participant, n_train_stories, layer, roi, e.g. "
            "{'model': 'm', 'variant': 'tuned', 'participant': 'UTS01', 'n_train_stories': 0, 'layer': 1, 'roi': 'a'}")):
        read_alignment(path)


def test_figure2_metric_is_macro_f1_even_when_another_sorts_first():
    """Guards against losing the macro-F1 default for tasks other than mfcc (hidden when
    macro_f1 is also the alphabetically first metric)."""
    assert primary_metric("words", {"accuracy", "macro_f1"}) == "macro_f1"


# ---- tuning loss and validation (tuning/loop.py) ----------------------------------------
# A linear "network" on given features, so every loss, gradient and score has a closed form.

PAIRS_X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 0.25]])  # (pairs, features)
PAIRS_Y = np.array([[1.0, 0.0, 0.5], [0.0, -1.0, 2.0], [0.25, 1.0, 0.0], [3.0, 0.5, -1.0], [0.1, 0.3, 0.7]],
                   np.float32)  # (pairs, voxels), float32 as story_pairs makes them
W0 = np.array([[0.5, -1.0], [0.0, 0.0625], [1.0, 1.0]])  # (voxels, features)
W_CONSTANT = W0 * [[1.0], [1.0], [0.0]]  # voxel 2 predicted constant (0)


def _linear_net(w=W0):
    import torch

    net = torch.nn.Linear(2, 3, bias=False, dtype=torch.float64)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(w))
    return net


class _Recorded:
    """Features of the pairs (float64, the model's dtype) that remember which pairs were asked for."""

    def __init__(self):
        import torch

        self.x, self.asked = torch.from_numpy(PAIRS_X), []

    def __call__(self, idx):
        self.asked.append(np.asarray(idx).tolist())
        return self.x[idx]


class _Steps:
    def __init__(self):
        self.count = 0

    def step(self):
        self.count += 1


def _epoch(settings, lr, process=None, epoch=3):
    """(mean loss, weights after, pairs asked per micro-batch, scheduler steps) of one train_epoch."""
    import torch

    from braintune.tuning.distributed import Process
    from braintune.tuning.loop import train_epoch

    net, features, scheduler = _linear_net(), _Recorded(), _Steps()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = train_epoch(net, optimizer, scheduler, features, PAIRS_Y, settings, process or Process(), epoch)
    return loss, net.weight.detach().numpy(), features.asked, scheduler.count


def _per_pair_mse(w):
    """(pairs,) mean over voxels of the squared error of the linear model w, in float64 from the float32 targets."""
    return ((PAIRS_X @ w.T - PAIRS_Y.astype(np.float64)) ** 2).mean(axis=1)


def test_train_epoch_order_batches_and_mean_loss_by_hand():
    """Guards against another pair order than the documented default_rng([seed, epoch])
    permutation, batches or micro-batches that skip, repeat or overlap pairs (5 pairs, batches
    of 2, micro-batches of 1: 3 optimiser steps), and a returned loss other than the mean
    per-pair MSE over the epoch (a sum, the last micro-batch only, a float32 total, targets not
    cast to the float64 model's dtype). lr = 0 keeps the weights, so the loss is that of W0."""
    from braintune.tuning.settings import TuneSettings

    loss, w, asked, steps = _epoch(TuneSettings(batch_size=2, micro_batch_size=1, seed=7), lr=0.0)
    order = np.random.default_rng([7, 3]).permutation(5).tolist()
    assert asked == [[i] for i in order] and steps == 3
    assert loss == pytest.approx(_per_pair_mse(W0).mean(), rel=1e-14) and (w == W0).all()


def test_train_epoch_step_is_the_batch_mean_gradient_by_hand():
    """Guards against a step that is not the gradient of the batch's mean per-pair MSE: the loss
    scaled by the batch length instead of divided, the squared error's sign or power changed,
    the mean over voxels taken over the pairs too, micro-batches (3 + 2 of one batch of 5)
    dropped or counted twice. Closed form for one SGD step from W0:
    grad = (1 / B) sum_i (2 / V) (W0 x_i - y_i) x_i^T, W1 = W0 - lr grad."""
    from braintune.tuning.settings import TuneSettings

    loss, w, asked, steps = _epoch(TuneSettings(batch_size=8, micro_batch_size=3), lr=0.5)
    residual = PAIRS_X @ W0.T - PAIRS_Y.astype(np.float64)  # (pairs, voxels)
    grad = (2 / 3) * residual.T @ PAIRS_X / 5
    assert sorted(sum(asked, [])) == list(range(5)) and [len(a) for a in asked] == [3, 2] and steps == 1
    np.testing.assert_allclose(w, W0 - 0.5 * grad, rtol=1e-13, atol=1e-15)
    assert loss == pytest.approx(_per_pair_mse(W0).mean(), rel=1e-14)


class _TwoProcesses:
    """Rank `rank` of 2 (a Process in what train_epoch and validate use) whose other process's
    sums are given by hand: sum_ and sum_gradients add `other` (recorded from a run as the
    other rank), in order, and record this rank's own."""

    def __init__(self, rank, other=None):
        import torch

        self.rank, self.world_size, self.device, self.is_main = rank, 2, torch.device("cpu"), rank == 0
        self.other, self.own = other, []

    def sum_(self, tensor):
        self.own.append(tensor.clone())
        if self.other is not None:
            tensor += self.other.pop(0)
        return tensor

    def sum_gradients(self, process, parameters):
        assert process is self
        for p in parameters:
            self.sum_(p.grad)


def test_train_epoch_on_two_processes_equals_one_process(monkeypatch):
    """Guards against processes that do not split each batch between them (rank r: elements
    r, r + N, ...), a loss not summed over processes, or gradients not summed before the step:
    rank 0 of 2, given rank 1's sums, ends with the one-process weights and loss."""
    from braintune.tuning import distributed
    from braintune.tuning.settings import TuneSettings

    settings = TuneSettings(batch_size=8, micro_batch_size=2)
    expected_loss, expected_w, _, _ = _epoch(settings, lr=0.5)
    sums = []
    for rank in (1, 0):
        two = _TwoProcesses(rank, other=sums[0] if sums else None)
        monkeypatch.setattr(distributed, "sum_gradients", two.sum_gradients)
        loss, w, asked, _ = _epoch(settings, lr=0.5, process=two)
        order = np.random.default_rng([0, 3]).permutation(5)
        assert sum(asked, []) == order[rank::2].tolist()
        sums.append(two.own)
    np.testing.assert_allclose(w, expected_w, rtol=1e-13, atol=1e-15)
    assert loss == pytest.approx(expected_loss, rel=1e-14)


def test_train_epoch_progress_bar_only_on_the_main_process(monkeypatch):
    """Guards against a progress bar on every process (N bars fighting over one terminal) or
    none on the main one, a bar left behind after every epoch, and a bar without its label."""
    from braintune.tuning import loop
    from braintune.tuning.settings import TuneSettings

    bars = []
    monkeypatch.setattr(loop, "tqdm", lambda steps, **kw: bars.append(kw) or steps)
    for rank in (0, 1):
        process = _TwoProcesses(rank)
        monkeypatch.setattr(loop.distributed, "sum_gradients", process.sum_gradients)
        _epoch(TuneSettings(batch_size=8, micro_batch_size=8), lr=0.0, process=process)
    assert bars == [{"desc": "epoch 3", "unit": "step", "disable": disabled, "leave": False} for disabled in (False, True)]


def _validate(process=None, micro_batch_size=2):
    from braintune.tuning.distributed import Process
    from braintune.tuning.loop import validate
    from braintune.tuning.settings import TuneSettings

    return validate(_linear_net(W_CONSTANT), _Recorded(), PAIRS_Y, TuneSettings(micro_batch_size=micro_batch_size),
                    process or Process())


def _validation_by_hand(w):
    """(MSE over pairs and voxels, mean over voxels of Pearson r; 0 for a constant column), float64."""
    prediction, y = PAIRS_X @ w.T, PAIRS_Y.astype(np.float64)
    r = [0.0 if np.ptp(p) == 0 or np.ptp(t) == 0 else np.corrcoef(p, t)[0, 1] for p, t in zip(prediction.T, y.T)]
    return ((prediction - y) ** 2).mean(), float(np.mean(r))


def test_validate_scores_by_hand():
    """Guards against wrong sums behind the validation MSE and r (a sum overwritten by each
    micro-batch, a wrong power or sign, float32 sums or targets), r taken as 0 or unscaled where
    the variances are small but positive (a threshold of 1, a floor of 1 under the square root),
    and a constant prediction giving anything but r = 0. Oracle: numpy's MSE and corrcoef.
    Voxel 2's weights are zero (constant prediction); voxel 1's variances are below 1."""
    mse, r = _validate()
    expected_mse, expected_r = _validation_by_hand(W_CONSTANT)
    assert mse == pytest.approx(expected_mse, rel=1e-13) and r == pytest.approx(expected_r, rel=1e-13)


def test_validate_on_two_processes_equals_one_process():
    """Guards against processes that do not share the validation pairs (rank r: pairs r, r + N,
    ...: overlapping, missing or all pairs) or whose sums are not added: rank 0 of 2, given
    rank 1's sums, gives the one-process MSE and r."""
    one = _validate(micro_batch_size=1)
    other = _TwoProcesses(1)
    _validate(other, micro_batch_size=1)
    two = _validate(_TwoProcesses(0, other=other.own), micro_batch_size=1)
    assert two == pytest.approx(one, rel=1e-13)


def test_validate_r_of_a_constant_prediction_is_zero_despite_rounding():
    """Guards against r taken where var = 0 (`var >= 0`): a constant prediction's sums leave a
    rounding residue in cov (4.4e-16 here) while var is exactly 0 (n * sum p^2 = sp^2 for two
    equal p, scaled by powers of 2), and cov / sqrt(1e-300) is 4e134 instead of r = 0.
    Pairs x = [1, 0], [1, 1], w = [1.8, 0]: p = 1.8 for both; y = float32 0.8 and 0.2."""
    import torch

    from braintune.tuning.distributed import Process
    from braintune.tuning.loop import validate
    from braintune.tuning.settings import TuneSettings

    net = torch.nn.Linear(2, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.8, 0.0]], dtype=torch.float64))
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    y = np.array([[0.8], [0.2]], np.float32)
    mse, r = validate(net, lambda idx: x[idx], y, TuneSettings(micro_batch_size=2), Process())
    assert r == 0.0 and mse == pytest.approx(((1.8 - y.astype(np.float64)) ** 2).mean(), rel=1e-14)

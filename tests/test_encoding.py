"""Encoding maths on simulated voxels with known answers: ceilings, ridge, ROI summaries."""

import numpy as np
import pytest

from braintune.encoding import (
    WHOLE_CORTEX,
    chunk_folds,
    fit_encoding_model,
    noise_ceiling,
    noise_ceiling_authors,
    normalised_alignment,
    zscored_repeats_mean,
    pearson_r,
    ridge_predict,
    roi_table,
    select_alphas,
    story_folds,
)


def simulate(seed=0, n_stories=8, rows=120, test_rows=150, n_features=16, n_signal=40, n_noise=20, repeats=10):
    """Voxels = X @ W + noise at a known level per voxel; the test story heard `repeats` times.

    Returns a dict with train X/Y (stacked), story rows, test X, test repeats and the true
    ceiling CCmax = 1/sqrt(1 + noise_var / (signal_var * R)) of every voxel.
    """
    rng = np.random.default_rng(seed)
    n_vox = n_signal + n_noise
    W = rng.standard_normal((n_features, n_vox)) / np.sqrt(n_features)
    W[:, n_signal:] = 0.0
    noise_sd = np.where(np.arange(n_vox) < n_signal, rng.uniform(0.5, 3.0, n_vox), 1.0)
    story_rows = [rows + 7 * i for i in range(n_stories)]
    X_train = rng.standard_normal((sum(story_rows), n_features)).astype(np.float32)
    Y_train = X_train @ W + noise_sd * rng.standard_normal((len(X_train), n_vox))
    X_test = rng.standard_normal((test_rows, n_features)).astype(np.float32)
    signal = X_test @ W
    reps = signal[None] + noise_sd * rng.standard_normal((repeats, test_rows, n_vox))
    signal_var = (W**2).sum(0)  # X has unit variance per feature
    with np.errstate(divide="ignore"):
        truth = 1.0 / np.sqrt(1.0 + noise_sd**2 / (signal_var * repeats))
    return dict(
        X_train=X_train,
        Y_train=Y_train.astype(np.float32),
        story_rows=story_rows,
        X_test=X_test,
        repeats=reps.astype(np.float32),
        true_ceiling=truth,
        n_signal=n_signal,
    )


ALPHAS = np.logspace(1, 4, 10)


def closed_form(X, Y, alpha):
    """(X^T X + alpha I)^-1 X^T Y by a direct solve, one alpha per column."""
    XtX, XtY = X.T @ X, X.T @ Y
    eye = np.eye(X.shape[1])
    return np.stack([np.linalg.solve(XtX + a * eye, XtY[:, j]) for j, a in enumerate(alpha)], axis=1)


# ---- noise ceiling -----------------------------------------------------------------


def test_noise_ceiling_recovers_the_true_ceiling():
    sim = simulate(seed=1, n_signal=200, n_noise=0, test_rows=300)
    est = noise_ceiling(sim["repeats"])
    truth = sim["true_ceiling"]
    assert est.shape == truth.shape and est.dtype == np.float32
    assert np.corrcoef(est, truth)[0, 1] > 0.9
    assert np.abs(est - truth).mean() < 0.03


def test_noise_ceiling_is_zero_without_signal_and_for_constant_voxels():
    rng = np.random.default_rng(2)
    reps = rng.standard_normal((5, 200, 300)).astype(np.float32)
    reps[:, :, 0] = 3.0  # constant voxel
    est = noise_ceiling(reps)
    assert est[0] == 0.0
    assert np.mean(est == 0.0) > 0.4  # SP <= 0 about half the time for pure noise
    assert np.median(est) < 0.2


def test_noise_ceiling_needs_two_repeats():
    with pytest.raises(ValueError, match="at least 2 repeats"):
        noise_ceiling(np.zeros((1, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(repeats, rows, voxels\)"):
        noise_ceiling(np.zeros((10, 3), np.float32))


def test_both_ceilings_on_a_hand_checked_example():
    """Pins both protocols' formulas (guards against a ddof or TP slip in either).

    Two repeats of four rows: r1 = [0, 1, 2, 5], r2 = [1, 0, 4, 3].
    Authors (as stored, TP = 1, ddof = 1): ybar = [.5, .5, 3, 4], sum of squared deviations
    9.5, var = 9.5 / 3, SP = 2 * 9.5 / 3 - 1 = 16 / 3, CCmax = 1 / sqrt(1 + (3/16 - 1) / 2).
    braintune (z-scored repeats, ddof = 0): SP equals the repeats' correlation
    c = 7 / (4 sqrt(3.5 * 2.5)), CCmax = 1 / sqrt(1 + (1/c - 1) / 2).
    """
    repeats = np.array([[0.0, 1, 2, 5], [1, 0, 4, 3]])[:, :, None]
    authors = 1 / np.sqrt(1 + (3 / 16 - 1) / 2)
    c = 7 / (4 * np.sqrt(3.5 * 2.5))
    ours = 1 / np.sqrt(1 + (1 / c - 1) / 2)
    assert noise_ceiling_authors(repeats)[0] == pytest.approx(authors, rel=1e-12)
    assert noise_ceiling(repeats)[0] == pytest.approx(ours, rel=1e-6)
    # the authors' nan_to_num: SP = -2/3 gives the square root of a negative number -> 0; a
    # repeat mean without variance (SP = -1) a zero denominator -> the largest float
    opposed = np.array([[1.0, -1, 1, -1], [-1, 1, 0, 0]])[:, :, None]
    assert noise_ceiling_authors(opposed)[0] == 0.0 and noise_ceiling(opposed)[0] == 0.0
    cancelling = np.array([[1.0, -1, 1, -1], [-1, 1, -1, 1]])[:, :, None]
    assert noise_ceiling_authors(cancelling)[0] == np.finfo(np.float64).max and noise_ceiling(cancelling)[0] == 0.0


def test_consistent_ceiling_is_the_closed_form_of_the_repeats_mean_correlation():
    """With z-scored repeats and population variances, N var(ybar) - 1 = (N - 1) * mean pairwise
    correlation of the repeats, so SP is exactly that mean correlation. Guards against a ddof
    slip in the z-scoring or in var(ybar): either scales SP by T / (T - 1)."""
    rng = np.random.default_rng(21)
    n, rows = 6, 50
    repeats = rng.standard_normal((1, rows, 30)) + rng.uniform(0.5, 3, 30) * rng.standard_normal((n, rows, 30))
    corr = np.mean([[np.corrcoef(repeats[i, :, v], repeats[j, :, v])[0, 1] for i in range(n) for j in range(n) if i < j]
                    for v in range(30)], axis=1)
    expected = np.where(corr > 0, 1 / np.sqrt(1 + (1 / np.where(corr > 0, corr, 1) - 1) / n), 0)
    np.testing.assert_allclose(noise_ceiling(repeats), expected, rtol=1e-6, atol=1e-7)


def test_ceiling_matches_a_monte_carlo_ceiling():
    """The ceiling is the correlation a perfect model (the noise-free signal) reaches with the
    repeat mean. On 2,000 rows the estimator's own bias is below 0.001, so its mean over 800
    voxels per noise level must land within 0.003 of the Monte-Carlo value: tighter than a wrong
    denominator (N - 1 for N: ~0.02) or TP (~0.015)."""
    rng = np.random.default_rng(22)
    rows, n, voxels = 2000, 10, 800
    for sigma in (1.0, 3.0, 6.0):
        signal = rng.standard_normal((rows, voxels))
        repeats = signal[None] + sigma * rng.standard_normal((n, rows, voxels))
        monte_carlo = pearson_r(signal, zscored_repeats_mean(repeats).astype(np.float64)).mean()
        assert abs(noise_ceiling(repeats).astype(np.float64).mean() - monte_carlo) < 0.003, sigma


# ---- folds and ridge ---------------------------------------------------------------


def test_chunk_folds_hold_out_whole_chunks_as_huth_lab_bootstraps():
    folds = chunk_folds(100, n_boots=3, chunk_len=20, held_fraction=0.25, seed=0)
    assert len(folds) == 3
    for train, val in folds:
        assert len(val) == 20 and val[0] % 20 == 0 and np.array_equal(val, np.arange(val[0], val[0] + 20))
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    assert [v[0] for _, v in folds] == [v[0] for _, v in chunk_folds(100, seed=0)]  # seeded
    # 45 rows: two whole chunks; the last 5 rows are never held out
    assert all(v.max() < 40 for _, v in chunk_folds(45, n_boots=5, seed=1))
    with pytest.raises(ValueError, match="bootstrap folds need at least 2"):
        chunk_folds(30)


def test_variance_explained_selection_equals_huth_lab_formula_by_hand():
    """metric="variance_explained" scores sign(R2) sqrt|R2| with R2 = 1 - var(y - p) / ((1 + var(y)) / 2)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((40, 4))
    Y = X @ rng.standard_normal((4, 3)) + 2 * rng.standard_normal((40, 3))
    folds = chunk_folds(40, n_boots=2, chunk_len=10, held_fraction=0.25, seed=3)
    alphas = np.array([0.1, 10.0, 1e3])
    expected = np.zeros((3, 3))
    for train, val in folds:
        for i, a in enumerate(alphas):
            pred = X[val] @ closed_form(X[train], Y[train], np.full(3, a))
            rsq = 1 - (Y[val] - pred).var(0) / ((1 + Y[val].var(0)) / 2)
            expected[i] += np.sign(rsq) * np.sqrt(np.abs(rsq))
    expected /= len(folds)
    best, cv_score, scores = select_alphas(X, Y, folds, alphas, metric="variance_explained")
    np.testing.assert_allclose(scores, expected, atol=1e-10)
    np.testing.assert_array_equal(best, alphas[expected.argmax(0)])


def test_story_folds_leave_whole_stories_out():
    rows = [5, 6, 7, 8, 9]
    folds = story_folds(rows, n_folds=3)
    bounds = np.cumsum([0] + rows)
    stories = [set(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]
    seen = []
    for train, val in folds:
        assert set(train).isdisjoint(val) and len(train) + len(val) == sum(rows)
        held = [i for i, s in enumerate(stories) if s <= set(val)]
        assert set().union(*(stories[i] for i in held)) == set(val)  # val = whole stories only
        seen += held
    assert sorted(seen) == list(range(5))
    assert len(story_folds(rows, n_folds=10)) == 5  # at most leave-one-story-out
    X, Y = np.zeros((sum(rows), 2)), np.zeros((sum(rows), 1))
    with pytest.raises(ValueError, match="split all rows"):
        select_alphas(X, Y, [(folds[0][0][:-1], folds[0][1])], ALPHAS)
    with pytest.raises(ValueError, match="at least 2 training stories"):
        story_folds([10], 5)


def test_ridge_equals_closed_form_solution():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 8))
    Y = rng.standard_normal((50, 6))
    X_test = rng.standard_normal((9, 8))
    alpha = np.array([0.1, 1.0, 10.0, 100.0, 1e3, 1e4])
    expected = X_test @ closed_form(X, Y, alpha)
    np.testing.assert_allclose(ridge_predict(X, Y, X_test, alpha, voxel_batch=4), expected, rtol=1e-9, atol=1e-12)


def test_alpha_selection_equals_closed_form_cross_validation():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 5))
    Y = X @ rng.standard_normal((5, 7)) + 3 * rng.standard_normal((60, 7))
    folds = story_folds([15, 15, 10, 20], n_folds=4)
    alphas = np.logspace(-1, 4, 6)
    expected = np.zeros((len(alphas), 7))
    for train, val in folds:
        for i, a in enumerate(alphas):
            pred = X[val] @ closed_form(X[train], Y[train], np.full(7, a))
            expected[i] += [np.corrcoef(pred[:, j], Y[val, j])[0, 1] for j in range(7)]
    expected /= len(folds)
    best, cv_score, scores = select_alphas(X, Y, folds, alphas, voxel_batch=3)
    np.testing.assert_allclose(scores, expected, atol=1e-10)
    np.testing.assert_array_equal(best, alphas[expected.argmax(0)])
    np.testing.assert_allclose(cv_score, expected.max(0), atol=1e-10)


def test_alpha_selection_and_refit_match_himalaya():
    from himalaya.ridge import solve_ridge_cv_svd
    from himalaya.scoring import correlation_score
    from sklearn.model_selection import PredefinedSplit

    sim = simulate(seed=5)
    X, Y, rows = sim["X_train"].astype(np.float64), sim["Y_train"].astype(np.float64), sim["story_rows"]
    folds = story_folds(rows, n_folds=4)
    test_fold = np.zeros(len(X), dtype=int)
    for i, (_, val) in enumerate(folds):
        test_fold[val] = i
    alphas = np.logspace(0, 4, 9)
    best_h, coefs_h, _ = solve_ridge_cv_svd(
        X, Y, alphas=alphas, cv=PredefinedSplit(test_fold), score_func=correlation_score, warn=False
    )
    best, _, _ = select_alphas(X, Y, folds, alphas)
    np.testing.assert_allclose(best, best_h, rtol=1e-9)
    pred = ridge_predict(X, Y, sim["X_test"].astype(np.float64), best)
    np.testing.assert_allclose(pred, sim["X_test"] @ coefs_h, rtol=1e-6, atol=1e-8)


def test_encoding_model_on_true_features_reaches_the_ceiling():
    sim = simulate(seed=6)
    from braintune.encoding import zscored_repeats_mean

    ceiling = noise_ceiling(sim["repeats"])
    result = fit_encoding_model(
        sim["X_train"], sim["Y_train"], story_folds(sim["story_rows"], 5), sim["X_test"], zscored_repeats_mean(sim["repeats"]),
        ALPHAS,
    )
    k = sim["n_signal"]
    ratio = result.r[:k] / ceiling[:k]
    assert ratio.mean() > 0.93 and ratio.min() > 0.75
    assert np.abs(result.r[k:]).mean() < 0.12  # noise voxels: chance-level r
    assert result.prediction.shape == (len(sim["X_test"]), k + 20)
    assert result.r.dtype == result.alpha.dtype == np.float32


def test_test_story_responses_never_reach_alpha_choice_or_prediction():
    sim = simulate(seed=7)
    args = (sim["X_train"], sim["Y_train"], story_folds(sim["story_rows"], 5), sim["X_test"])
    clean = fit_encoding_model(*args, sim["repeats"].mean(0), ALPHAS)
    garbage = np.random.default_rng(99).standard_normal(sim["repeats"].shape[1:]).astype(np.float32) * 1e3
    dirty = fit_encoding_model(*args, garbage, ALPHAS)
    np.testing.assert_array_equal(dirty.alpha, clean.alpha)
    np.testing.assert_array_equal(dirty.prediction, clean.prediction)
    np.testing.assert_array_equal(dirty.cv_score, clean.cv_score)
    assert not np.allclose(dirty.r, clean.r)


def test_torch_backend_matches_numpy():
    sim = simulate(seed=8)
    X, Y, X_test = (sim[k].astype(np.float64) for k in ("X_train", "Y_train", "X_test"))  # float64: no near-ties
    args = (X, Y, story_folds(sim["story_rows"], 5), X_test, sim["repeats"].mean(0), ALPHAS)
    a = fit_encoding_model(*args, voxel_batch=16)
    b = fit_encoding_model(*args, voxel_batch=16, backend="torch")
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_allclose(b.prediction, a.prediction, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        fit_encoding_model(*args, backend="tensorflow")


def test_bad_shapes_and_alphas_are_rejected():
    X = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="features have 10 rows but responses have 9"):
        ridge_predict(X, np.zeros((9, 2), np.float32), X, 1.0)
    with pytest.raises(ValueError, match="positive"):
        ridge_predict(X, np.zeros((10, 2), np.float32), X, [0.0, 1.0])
    with pytest.raises(ValueError, match="3 values for 2 voxels"):
        ridge_predict(X, np.zeros((10, 2), np.float32), X, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="each fold must split all rows"):
        fit_encoding_model(X, np.zeros((10, 2), np.float32), story_folds([4, 5], 5), X, np.zeros((10, 2), np.float32), ALPHAS)


def test_pearson_r_is_zero_for_constant_columns():
    a = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    np.testing.assert_allclose(pearson_r(a, a), [1.0, 0.0])


# ---- ROI summaries -----------------------------------------------------------------


def test_roi_table_known_numbers():
    r = np.array([0.2, 0.4, 0.3, 0.5, 0.1])
    ceiling = np.array([0.5, 0.8, 0.01, 1.0, 0.2])  # voxel 2 below threshold
    np.testing.assert_allclose(normalised_alignment(r, ceiling, 0.05), [0.4, 0.5, np.nan, 0.5, 0.5], rtol=1e-6)
    table = roi_table(r, ceiling, {"a": np.array([0, 1, 2]), "b": np.array([2])}, participant="UTS01", model="m", layer=3,
                      threshold=0.05)
    rows = table.set_index("roi")
    assert list(rows.index) == [WHOLE_CORTEX, "a", "b"]
    assert rows.loc["a", "n_voxels"] == 2 and rows.loc["a", "alignment"] == pytest.approx(0.45)
    assert rows.loc["a", "alignment_sem"] == pytest.approx(np.std([0.4, 0.5], ddof=1) / np.sqrt(2))
    assert rows.loc[WHOLE_CORTEX, "n_voxels"] == 4
    assert rows.loc[WHOLE_CORTEX, "alignment"] == pytest.approx(0.475)
    assert rows.loc["b", "n_voxels"] == 0 and np.isnan(rows.loc["b", "alignment"])
    assert (table["layer"] == 3).all() and (table["participant"] == "UTS01").all()


def test_roi_indices_out_of_range_are_named():
    with pytest.raises(ValueError, match=r"ROI 'late_language' names voxel indices 2\.\.7 outside 0\.\.4"):
        roi_table(np.zeros(5), np.ones(5), {"late_language": np.array([2, 7])}, participant="p", model="m", layer=0,
                  threshold=0.05)

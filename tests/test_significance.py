"""Per-voxel significance: block permutations, the p-value against a direct loop, BH through
statsmodels, ROI counts, and planted-signal / no-signal simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from statsmodels.stats.multitest import multipletests

from braintune.encoding import (
    SIGNIFICANCE_COLUMNS,
    block_permutations,
    fdr_bh,
    permutation_p_values,
    roi_significance,
    voxel_significance,
)
from braintune.errors import ConfigError, DataError


def ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float) -> np.ndarray:
    """(rows, voxels) unit-variance AR(1) series along the rows: fMRI-like autocorrelation."""
    return scipy.signal.lfilter([math.sqrt(1 - rho**2)], [1, -rho], rng.standard_normal(shape), axis=0)


# ---- block permutations and the p-value ------------------------------------------------------
def test_block_permutations_move_whole_blocks_and_keep_the_partial_tail():
    rows = block_permutations(23, 200, block=5, seed=0)  # 4 full blocks of 5, then rows 20-22
    assert rows.shape == (200, 23)
    for draw in rows:
        assert sorted(draw) == list(range(23))
        blocks = draw[:20].reshape(4, 5)
        assert (blocks[:, 0] % 5 == 0).all() and (np.diff(blocks, axis=1) == 1).all()  # rows stay together, in order
        assert list(draw[20:]) == [20, 21, 22]
    assert len({tuple(d[::5]) for d in rows}) == 24  # every order of the 4 blocks is drawn
    assert np.array_equal(rows, block_permutations(23, 200, block=5, seed=np.random.default_rng(0)))


def test_p_values_equal_a_direct_loop_over_the_same_draws():
    """p = (1 + #{null r >= observed r}) / (1 + n), null r = corr(prediction[draw rows], response)
    with one row order per draw for every voxel, counted here voxel by voxel with np.corrcoef."""
    rng = np.random.default_rng(1)
    response = rng.standard_normal((23, 6))
    prediction = rng.standard_normal((23, 6))
    prediction[:, 0] = response[:, 0] + 0.3 * rng.standard_normal(23)  # a predicted voxel: only ties reach it
    prediction[:, 5] = 2.0  # constant: r = 0 in every draw, so p = 1
    n = 300  # more than one batch of draws (256)
    r, p = permutation_p_values(prediction, response, n_permutations=n, block=5, seed=7)
    draws = block_permutations(23, n, block=5, seed=7)
    identity = np.all(draws == np.arange(23), axis=1)  # drawn ~n/24 times: null r == observed r, counted
    assert identity.sum() >= 1
    for v in range(5):
        observed = np.corrcoef(prediction[:, v], response[:, v])[0, 1]
        null = np.array([np.corrcoef(prediction[rows, v], response[:, v])[0, 1] for rows in draws])
        assert np.all(np.abs(null[~identity] - observed) > 1e-9)  # no other near-tie: the count is exact
        assert r[v] == pytest.approx(observed, abs=1e-12)
        assert p[v] == (1 + np.sum(null >= observed)) / (1 + n)
    assert p[0] == (1 + identity.sum()) / (1 + n) and r[5] == 0 and p[5] == 1.0
    # batching voxels one at a time changes nothing
    r1, p1 = permutation_p_values(prediction, response, n_permutations=n, block=5, seed=7, memory_mib=1e-6)
    assert np.array_equal(p1, p) and r1 == pytest.approx(r, abs=1e-12)


def test_bad_settings_and_arrays_are_one_line_errors():
    x = np.zeros((30, 4))
    with pytest.raises(ConfigError, match="block: 30 test rows make 1 full block"):
        permutation_p_values(x, x, block=16)
    with pytest.raises(ConfigError, match="n_permutations"):
        permutation_p_values(x, x, n_permutations=0)
    with pytest.raises(DataError, match="must both be"):
        permutation_p_values(x, x[:, :3])
    with pytest.raises(ConfigError, match="q: "):
        fdr_bh(np.array([0.1]), q=1.5)
    with pytest.raises(DataError, match="boolean mask"):
        voxel_significance(x, x, tested=np.ones(3, dtype=bool))


# ---- Benjamini-Hochberg and ROI counts -------------------------------------------------------
def test_fdr_bh_is_statsmodels_over_the_tested_voxels():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.2])
    significant, q_values = fdr_bh(p, q=0.1)
    # by hand, m = 5 finite p: sorted 0.005, 0.01, 0.03, 0.04, 0.2 -> p * m / rank, then the
    # running minimum from the top: 0.025, 0.025, 0.05, 0.05, 0.2
    assert q_values[[0, 1, 2, 3, 5]] == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2], rel=1e-12)
    assert math.isnan(q_values[4])
    assert list(significant) == [True, True, True, True, False, False]
    reject, corrected = multipletests(p[[0, 1, 2, 3, 5]], alpha=0.1, method="fdr_bh")[:2]
    assert np.array_equal(significant[[0, 1, 2, 3, 5]], reject) and np.array_equal(q_values[[0, 1, 2, 3, 5]], corrected)


def test_roi_counts_are_exact():
    significant = np.zeros(12, dtype=bool)
    significant[[0, 1, 2, 5, 9]] = True
    tested = np.ones(12, dtype=bool)
    tested[[2, 7]] = False  # e.g. below the ceiling threshold: neither counted nor in the denominator
    rois = {"a": np.array([0, 1, 2, 3]), "b": np.array([5, 6, 7]), "empty": np.array([], dtype=int), "c": np.array([7])}
    table = roi_significance(significant, rois, tested=tested)
    assert list(table.columns) == ["roi", *SIGNIFICANCE_COLUMNS] == ["roi", "n_significant", "fraction_significant"]
    assert list(table["roi"]) == ["whole_cortex", "a", "b", "empty", "c"]
    assert list(table["n_significant"]) == [4, 2, 1, 0, 0]
    assert table["fraction_significant"].iloc[:3].tolist() == [4 / 10, 2 / 3, 1 / 2]
    assert table["fraction_significant"].iloc[3:].isna().all()
    with pytest.raises(ValueError, match="ROI 'bad'"):
        roi_significance(significant, {"bad": np.array([12])})


# ---- simulations -----------------------------------------------------------------------------
ROWS, PER_AREA, Q = 300, 200, 0.05
AREAS = {"planted": np.arange(PER_AREA), "other": np.arange(PER_AREA, 2 * PER_AREA),
         "another": np.arange(2 * PER_AREA, 3 * PER_AREA)}


def planted(seed: int, rho: float = 0.3):
    """A test response whose "planted" area carries a signal; the tuned prediction carries it
    (plus noise) there and noise elsewhere; the pretrained prediction is noise everywhere.
    Every series is AR(1) with coefficient rho. -> response, tuned, pretrained (rows, voxels)."""
    rng = np.random.default_rng(seed)
    n = PER_AREA * len(AREAS)
    signal = ar1(rng, (ROWS, PER_AREA), rho)
    response = ar1(rng, (ROWS, n), rho)
    response[:, AREAS["planted"]] += signal
    tuned = ar1(rng, (ROWS, n), rho)
    tuned[:, AREAS["planted"]] = 0.5 * signal + ar1(rng, (ROWS, PER_AREA), rho)
    return response, tuned, ar1(rng, (ROWS, n), rho)


def test_planted_signal_is_found_in_its_area_only_and_false_discoveries_stay_below_q():
    false_shares = []
    for seed in range(6):
        response, tuned, pretrained = planted(seed)
        tuned_sig = voxel_significance(tuned, response, q=Q, n_permutations=1000, seed=seed)
        counts = roi_significance(tuned_sig.significant, AREAS).set_index("roi")["n_significant"]
        assert counts["planted"] >= 0.9 * PER_AREA  # the signal is found
        assert counts["other"] + counts["another"] <= 0.05 * 2 * PER_AREA  # (almost) nothing elsewhere
        assert counts["whole_cortex"] == tuned_sig.significant.sum()
        pretrained_sig = voxel_significance(pretrained, response, q=Q, n_permutations=1000, seed=seed)
        assert pretrained_sig.significant.sum() <= 0.01 * len(pretrained_sig.significant)
        false_shares.append((counts["other"] + counts["another"]) / counts["whole_cortex"])
    # BH bounds the expected share of false discoveries by q (here by q x 400 null / 600 voxels)
    assert np.mean(false_shares) <= Q


def test_without_signal_few_voxels_are_significant_and_blocks_respect_autocorrelation():
    """Prediction and response independent. White noise: the test is exact, so the share of
    p <= alpha stays within binomial error of alpha, and BH finds (almost) nothing. AR(1) series
    (coefficient 0.6): 10-row blocks stay near alpha (the autocorrelation across block edges is
    lost), while permuting single rows ignores the autocorrelation and the share grows far beyond."""
    alpha, rows, n_voxels, seeds = 0.05, 200, 250, range(4)
    shares = {(rho, block): [] for rho in (0.0, 0.6) for block in (1, 10)}
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        for rho in (0.0, 0.6):
            response, prediction = ar1(rng, (rows, n_voxels), rho), ar1(rng, (rows, n_voxels), rho)
            for block in (1, 10):
                result = voxel_significance(prediction, response, q=Q, n_permutations=400, block=block, seed=seed,
                                            memory_mib=16)
                shares[rho, block].append(np.mean(result.p_value <= alpha))
                if block == 10:
                    assert result.significant.mean() <= Q
    share = {key: np.mean(values) for key, values in shares.items()}
    assert share[0.0, 10] <= alpha + 4 * math.sqrt(alpha * (1 - alpha) / (n_voxels * len(seeds)))
    assert share[0.6, 10] - alpha < (share[0.6, 1] - alpha) / 3


def test_untested_voxels_are_left_out_of_the_permutations_and_the_family():
    response, tuned, _ = planted(0)
    tested = np.zeros(response.shape[1], dtype=bool)
    tested[:250] = True
    result = voxel_significance(tuned, response, tested=tested, n_permutations=200, seed=3)
    assert np.isnan(result.p_value[250:]).all() and np.isnan(result.q_value[250:]).all()
    assert not result.significant[250:].any()
    r, p = permutation_p_values(tuned[:, :250], response[:, :250], n_permutations=200, seed=3)
    assert np.array_equal(result.p_value[:250], p)
    # a voxel's p does not depend on which other voxels are tested: p of every voxel can be stored
    # once and the family (the ceiling threshold) chosen later
    assert np.array_equal(permutation_p_values(tuned, response, n_permutations=200, seed=3)[1][:250], p)
    assert np.array_equal(result.significant[:250], fdr_bh(p, Q)[0])

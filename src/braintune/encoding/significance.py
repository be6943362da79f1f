"""Per-voxel significance of test-story correlations: block permutations, then Benjamini-Hochberg.

The observed statistic of a voxel is the Pearson r between its prediction and its test
response (both (rows, voxels)). Its null distribution comes from block permutations of the
prediction's rows:

- the test rows are cut into ``n_rows // block`` full blocks of ``block`` consecutive rows
  (default 10 TRs, so the autocorrelation within a block is kept); a draw puts the full
  blocks in a random order, each block's rows staying together and in order;
- the last ``n_rows % block`` rows (a partial block) stay in place in every draw: they add
  the same term to the observed r and to every null r, and every draw moves whole blocks only
  (the test is exact for exchangeable full blocks). At least 2 full blocks are needed;
- one draw is one order of the blocks, the same for every voxel (voxels keep their spatial
  correlation under the null); draws are taken with replacement from the m! orders, seeded.

Blocks keep the autocorrelation within a block but not across block edges, so with
autocorrelation that outlasts a block the test is slightly liberal: in simulations with
independent AR(1) prediction and response (300 rows, 4 x 300 voxels, as in
tests/test_significance.py), 6% of the voxels had p <= 0.05 at coefficient 0.6 and 7% at 0.8
with 10-row blocks, against 14% and 22% when single rows are permuted (block=1).

The test is one-sided (is the prediction better than chance, r greater than the null):

    p = (1 + #{draws with null r >= observed r}) / (1 + n_permutations)

so p is never 0 and is at least 1 / (1 + n_permutations). A constant prediction or
response column has r = 0 in every draw, hence p = 1.

Computation: with both arrays standardised per column (centred, unit norm) r is the sum over
rows of their product, so with C[i, j, v] = sum over the rows s of a block of
Pz[block i row s, v] * Yz[block j row s, v] a draw that puts source block order[j] at
position j has r = sum_j C[order[j], j, v] + tail[v]. C is computed once per batch of voxels
(m^2 * voxels numbers); each draw then costs m additions per voxel, summed in the same order
for the observed r (the identity order) and every draw, so that ties are exact. Voxels are
processed in batches that keep the working memory near ``memory_mib``, and the null is never
stored: 100,000 voxels x 1,000 draws x 300 rows (float32 inputs, 240 MiB) took 30 s on one
core and a peak of 370 MiB beyond the inputs with the default 256.

The voxels tested form one family for the false discovery rate: ``fdr_bh`` uses statsmodels'
Benjamini-Hochberg (``multipletests(method="fdr_bh")``); its adjusted p-values are the q-values,
and a voxel is significant at level q where its q-value is at most q.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from braintune.encoding.summary import WHOLE_CORTEX, check_roi_indices
from braintune.errors import ConfigError, DataError

SIGNIFICANCE_COLUMNS = ["n_significant", "fraction_significant"]  # added per ROI by roi_significance


@dataclass(frozen=True)
class VoxelSignificance:
    """Significance of one layer's test correlations; each array (voxels,).

    r: observed Pearson r; p_value: one-sided block-permutation p; q_value: Benjamini-Hochberg
    adjusted p over the tested voxels; all NaN where not tested. significant: q_value <= q
    (False where not tested). q, n_permutations, block: the settings used.
    """

    r: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    significant: np.ndarray
    q: float
    n_permutations: int
    block: int


def block_permutations(n_rows: int, n_permutations: int, *, block: int = 10, seed=0) -> np.ndarray:
    """The row order of every draw: (n_permutations, n_rows) indices into the test rows.

    Draw k reads row ``rows[k, t]`` of the prediction at test row t. Full blocks of ``block``
    rows move as units; the last n_rows % block rows stay in place (module docstring).
    seed: int or numpy Generator; the draws equal those permutation_p_values uses with it.
    """
    orders = _block_orders(n_rows, n_permutations, block, np.random.default_rng(seed))
    n_blocks = orders.shape[1]
    rows = (orders[:, :, None] * block + np.arange(block)).reshape(n_permutations, n_blocks * block)
    tail = np.broadcast_to(np.arange(n_blocks * block, n_rows), (n_permutations, n_rows - n_blocks * block))
    return np.concatenate([rows, tail], axis=1)


def permutation_p_values(
    prediction: np.ndarray,
    response: np.ndarray,
    *,
    n_permutations: int = 1000,
    block: int = 10,
    seed=0,
    memory_mib: float = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed Pearson r and one-sided block-permutation p per voxel (module docstring).

    prediction, response: (rows, voxels), e.g. EncodingResult.prediction and the
    repeat-averaged test response. seed: int or numpy Generator (a Generator is advanced).
    The draws depend on the seed and the rows only, so a voxel's p does not depend on the
    other voxels passed. Returns (r (voxels,) float64, p (voxels,) float64).
    """
    prediction, response = _check_pair(prediction, response)
    if memory_mib <= 0:
        raise ConfigError(f"memory_mib: must be positive, got {memory_mib}")
    n_rows, n_voxels = prediction.shape
    orders = _block_orders(n_rows, n_permutations, block, np.random.default_rng(seed))
    n_blocks = orders.shape[1]
    perm_batch = min(n_permutations, 256)
    bytes_per_voxel = 8 * (n_blocks * n_blocks + 2 * n_rows + 2 * perm_batch)
    voxel_batch = max(1, int(memory_mib * 2**20 // bytes_per_voxel))
    r = np.empty(n_voxels)
    exceed = np.zeros(n_voxels, dtype=np.int64)
    for start in range(0, n_voxels, voxel_batch):
        cols = slice(start, min(start + voxel_batch, n_voxels))
        cross, tail = _block_products(_unit_columns(prediction[:, cols]), _unit_columns(response[:, cols]), block,
                                      n_blocks)
        r[cols] = _draw_r(cross, tail, np.arange(n_blocks)[None, :])[0]
        for first in range(0, n_permutations, perm_batch):
            null = _draw_r(cross, tail, orders[first:first + perm_batch])  # (draws, batch)
            exceed[cols] += (null >= r[cols]).sum(0)
    return r, (1.0 + exceed) / (1.0 + n_permutations)


def fdr_bh(p_values: np.ndarray, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg over the finite p-values (statsmodels' multipletests, "fdr_bh").

    p_values: (voxels,), NaN for voxels not tested (left out of the family).
    Returns (significant (voxels,) bool, q_values (voxels,) float64, NaN where p is NaN).
    """
    from statsmodels.stats.multitest import multipletests

    if not 0 < q < 1:
        raise ConfigError(f"q: the false discovery rate must lie in (0, 1), got {q}")
    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.ndim != 1:
        raise DataError(f"p-values must be one per voxel (voxels,), got shape {p_values.shape}")
    tested = np.isfinite(p_values)
    if np.any((p_values[tested] < 0) | (p_values[tested] > 1)):
        raise DataError("p-values must lie in [0, 1]")
    significant = np.zeros(p_values.shape, dtype=bool)
    q_values = np.full(p_values.shape, np.nan)
    if tested.any():
        significant[tested], q_values[tested] = multipletests(p_values[tested], alpha=q, method="fdr_bh")[:2]
    return significant, q_values


def voxel_significance(
    prediction: np.ndarray,
    response: np.ndarray,
    *,
    tested: np.ndarray | None = None,
    q: float = 0.05,
    n_permutations: int = 1000,
    block: int = 10,
    seed=0,
    memory_mib: float = 256,
) -> VoxelSignificance:
    """Block-permutation p per voxel, then Benjamini-Hochberg at level q over the tested voxels.

    prediction, response: (rows, voxels); tested: (voxels,) bool, the voxels tested and the
    FDR family (e.g. ceiling > threshold), default all. Only tested voxels are permuted.
    """
    prediction, response = _check_pair(prediction, response)
    n_voxels = prediction.shape[1]
    tested = np.ones(n_voxels, dtype=bool) if tested is None else _check_mask(tested, n_voxels, "tested")
    r, p = np.full(n_voxels, np.nan), np.full(n_voxels, np.nan)
    if tested.any():
        if not tested.all():  # copies of the tested columns only
            prediction, response = prediction[:, tested], response[:, tested]
        r[tested], p[tested] = permutation_p_values(prediction, response, n_permutations=n_permutations, block=block,
                                                    seed=seed, memory_mib=memory_mib)
    significant, q_values = fdr_bh(p, q)
    return VoxelSignificance(r=r, p_value=p, q_value=q_values, significant=significant, q=q,
                             n_permutations=n_permutations, block=block)


def roi_significance(
    significant: np.ndarray, rois: Mapping[str, np.ndarray], *, tested: np.ndarray | None = None
) -> pd.DataFrame:
    """Significant voxels per ROI, with the whole cortex first (as in encoding.roi_table).

    significant: (voxels,) bool; rois: name -> voxel indices; tested: (voxels,) bool, the
    voxels counted (e.g. ceiling > threshold, as roi_table's n_voxels), default all.
    -> columns roi, n_significant (tested ROI voxels that are significant), fraction_significant
    (n_significant / tested ROI voxels; NaN when none is tested).
    """
    significant = _check_mask(significant, None, "significant")
    n_voxels = len(significant)
    tested = np.ones(n_voxels, dtype=bool) if tested is None else _check_mask(tested, n_voxels, "tested")
    check_roi_indices(rois, n_voxels)
    rows = []
    for roi, voxels in {WHOLE_CORTEX: np.arange(n_voxels), **rois}.items():
        voxels = np.asarray(voxels, dtype=np.int64)
        voxels = voxels[tested[voxels]]
        count = int(significant[voxels].sum())
        rows.append((roi, count, count / len(voxels) if len(voxels) else np.nan))
    return pd.DataFrame(rows, columns=["roi", *SIGNIFICANCE_COLUMNS])


def _block_orders(n_rows: int, n_permutations: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """(n_permutations, n_rows // block) random orders of the full blocks."""
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ConfigError(f"block: must be a positive whole number of rows, got {block!r}")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ConfigError(f"n_permutations: must be a positive whole number, got {n_permutations!r}")
    n_blocks = n_rows // block
    if n_blocks < 2:
        raise ConfigError(f"block: {n_rows} test rows make {n_blocks} full block(s) of {block}; a permutation needs 2")
    return rng.permuted(np.tile(np.arange(n_blocks), (n_permutations, 1)), axis=1)


def _unit_columns(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm, float64; constant columns become 0. (rows, v) -> (rows, v)"""
    centred = x - x.mean(0, dtype=np.float64)
    norm = np.sqrt((centred * centred).sum(0))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def _block_products(pred: np.ndarray, resp: np.ndarray, block: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """C (n_blocks, n_blocks, v): prediction block i against response block j; tail (v,): the fixed rows."""
    full = n_blocks * block
    pred_blocks = pred[:full].reshape(n_blocks, block, -1)
    resp_blocks = resp[:full].reshape(n_blocks, block, -1)
    cross = np.einsum("isv,jsv->ijv", pred_blocks, resp_blocks)
    return cross, (pred[full:] * resp[full:]).sum(0)


def _draw_r(cross: np.ndarray, tail: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """r of each draw, summed block by block in position order. orders (draws, m) -> (draws, v)"""
    total = np.zeros((len(orders), cross.shape[2]))
    for position in range(cross.shape[1]):
        total += cross[orders[:, position], position]
    return total + tail


def _check_pair(prediction: np.ndarray, response: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, response = np.asarray(prediction), np.asarray(response)
    if prediction.ndim != 2 or prediction.shape != response.shape:
        raise DataError(f"prediction {prediction.shape} and response {response.shape} must both be (rows, voxels)")
    if not (np.isfinite(prediction).all() and np.isfinite(response).all()):
        raise DataError("prediction and response must be finite (no NaN or inf)")
    return prediction, response


def _check_mask(mask: np.ndarray, n_voxels: int | None, name: str) -> np.ndarray:
    """mask as a (voxels,) bool array; n_voxels None: any length."""
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 1 or (n_voxels is not None and len(mask) != n_voxels):
        expected = "(voxels,)" if n_voxels is None else f"({n_voxels},)"
        raise DataError(f"{name} must be a boolean mask of shape {expected}, got {mask.dtype} {mask.shape}")
    return mask

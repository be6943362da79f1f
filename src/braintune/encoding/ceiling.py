"""Noise ceiling per voxel from repeated presentations (Schoppe et al. 2016), two ways.

With N repeats of total power TP each and their mean ybar, the signal power is

    SP = (N * var(ybar) - TP) / (N - 1)

and the largest correlation any model can reach with the repeat-averaged response is

    CCmax = 1 / sqrt(1 + (TP / SP - 1) / N).

``noise_ceiling`` (braintune's): each repeat is z-scored over the rows used, so TP = 1
exactly, and var(ybar) uses the same population variance (ddof = 0); equal to gallantlab's
bias-corrected explainable variance. Where SP <= 0 or a voxel is constant the ceiling is 0.

``noise_ceiling_authors`` (bridge-ai-neuro/brain-tuning, ``src/eval_utils.py::
spe_and_cc_norm`` with ``data_norm=True``): the repeats are taken as given (z-scored over the
whole story in the dataset, then cut), TP is set to 1, var(ybar) uses ddof = 1, and
CCmax = nan_to_num(1 / sqrt(1 + (1/N) (TP/SP - 1))): a square root of a negative number
gives 0, a zero denominator the largest float.
"""

from __future__ import annotations

import numpy as np

from braintune.arrays import zscore


def zscored_repeats_mean(repeats: np.ndarray) -> np.ndarray:
    """Mean over repeats of the per-repeat z-scored responses.

    repeats: (R, rows, voxels). Returns (rows, voxels) float32; constant voxels give 0.
    """
    repeats = _check_repeats(repeats)
    total = np.zeros(repeats.shape[1:], dtype=np.float64)
    for repeat in repeats:
        total += zscore(repeat, dtype=np.float64)
    return (total / len(repeats)).astype(np.float32)


def noise_ceiling(repeats: np.ndarray) -> np.ndarray:
    """CCmax per voxel with z-scored repeats and population variances (braintune's).

    repeats: (R, rows, voxels), R >= 2. Returns (voxels,) float32 in [0, 1].
    """
    n = len(_check_repeats(repeats))
    signal_power = (n * zscored_repeats_mean(repeats).astype(np.float64).var(0) - 1.0) / (n - 1)
    ceiling = np.zeros(signal_power.shape)
    ok = signal_power > 0
    ceiling[ok] = 1.0 / np.sqrt(1.0 + (1.0 / signal_power[ok] - 1.0) / n)
    return ceiling.astype(np.float32)


def noise_ceiling_authors(repeats: np.ndarray) -> np.ndarray:
    """CCmax per voxel as the authors' public code computes it (see the module docstring).

    repeats: (R, rows, voxels), R >= 2, as stored. Returns (voxels,) float64.
    """
    repeats = _check_repeats(repeats).astype(np.float64)
    n = len(repeats)
    signal_power = (n * repeats.mean(0).var(0, ddof=1) - 1.0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(1.0 / np.sqrt(1.0 + (1.0 / n) * (1.0 / signal_power - 1.0)))


def _check_repeats(repeats: np.ndarray) -> np.ndarray:
    repeats = np.asarray(repeats)
    if repeats.ndim != 3:
        raise ValueError(f"repeats must be (repeats, rows, voxels), got shape {repeats.shape}")
    if repeats.shape[0] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 repeats, got {repeats.shape[0]}")
    if repeats.shape[1] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 rows per repeat, got {repeats.shape[1]}")
    return repeats

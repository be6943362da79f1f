"""Noise ceiling per voxel from repeated presentations (Schoppe et al. 2016).

Each repeat is z-scored over time per voxel, so every repeat has total power TP = 1.
With N repeats and their mean ybar, the signal power is

    SP = (N * var(ybar) - TP) / (N - 1)

and the largest correlation any model can reach with the repeat-averaged response is

    CCmax = 1 / sqrt(1 + (TP / SP - 1) / N).

Where SP <= 0 (no detectable signal) or a voxel is constant, the ceiling is 0: such
voxels never pass a positive threshold.
"""

from __future__ import annotations

import numpy as np


def zscored_repeats_mean(repeats: np.ndarray) -> np.ndarray:
    """Mean over repeats of the per-repeat z-scored responses.

    repeats: (R, rows, voxels). Returns (rows, voxels) float32; constant voxels give 0.
    """
    repeats = _check_repeats(repeats)
    total = np.zeros(repeats.shape[1:], dtype=np.float64)
    for repeat in repeats:
        repeat = repeat.astype(np.float64)
        centred = repeat - repeat.mean(0)
        std = centred.std(0)
        total += np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    return (total / len(repeats)).astype(np.float32)


def noise_ceiling(repeats: np.ndarray) -> np.ndarray:
    """CCmax per voxel: the highest Pearson r a model can reach with the repeat mean.

    repeats: (R, rows, voxels), R >= 2. Returns (voxels,) float32 in [0, 1].
    """
    n = len(_check_repeats(repeats))
    signal_power = (n * zscored_repeats_mean(repeats).astype(np.float64).var(0) - 1.0) / (n - 1)
    ceiling = np.zeros(signal_power.shape)
    ok = signal_power > 0
    ceiling[ok] = 1.0 / np.sqrt(1.0 + (1.0 / signal_power[ok] - 1.0) / n)
    return ceiling.astype(np.float32)


def _check_repeats(repeats: np.ndarray) -> np.ndarray:
    repeats = np.asarray(repeats)
    if repeats.ndim != 3:
        raise ValueError(f"repeats must be (repeats, rows, voxels), got shape {repeats.shape}")
    if repeats.shape[0] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 repeats, got {repeats.shape[0]}")
    if repeats.shape[1] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 rows per repeat, got {repeats.shape[1]}")
    return repeats

"""From feature times to the fMRI clock: Lanczos resampling, per-story z-scoring, FIR delays."""

from __future__ import annotations

import numpy as np


def lanczos_kernel(t: np.ndarray, lobes: int = 3) -> np.ndarray:
    """Unnormalised Lanczos weights at `t` (already scaled by the cutoff frequency).

    w(t) = lobes * sin(pi t) * sin(pi t / lobes) / (pi^2 t^2), w(0) = 1, w = 0 for |t| > lobes.
    """
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = lobes * np.sin(np.pi * t) * np.sin(np.pi * t / lobes) / (np.pi**2 * t**2)
    w = np.where(t == 0, 1.0, w)
    return np.where(np.abs(t) > lobes, 0.0, w)


def lanczos_matrix(out_times: np.ndarray, in_times: np.ndarray, cutoff: float, lobes: int = 3) -> np.ndarray:
    """Weights W (out, in) with W[i, j] = lanczos_kernel(cutoff * (out_times[i] - in_times[j]))."""
    delta = np.asarray(out_times, dtype=np.float64)[:, None] - np.asarray(in_times, dtype=np.float64)[None, :]
    return lanczos_kernel(cutoff * delta, lobes)


def lanczos_resample(
    x: np.ndarray, in_times: np.ndarray, out_times: np.ndarray, tr: float, lobes: int = 3
) -> np.ndarray:
    """Resample x (..., in, features) from in_times to out_times with cutoff 1/tr. -> (..., out, features) float32

    Unnormalised, as in the field's code: the output scale grows with the input rate, which the
    per-story z-score that follows removes.
    """
    weights = lanczos_matrix(out_times, in_times, 1.0 / tr, lobes).astype(np.float32)
    return np.matmul(weights, np.asarray(x, dtype=np.float32))


def make_delayed(x: np.ndarray, delays: tuple[int, ...]) -> np.ndarray:
    """FIR copies of one story's features: x (..., rows, features) -> (..., rows, features*len(delays)).

    Block d holds x shifted d rows later (row r gets x[r - d]); rows before the story's
    first row are zeros. Apply per story: never to stories stacked together.
    """
    x = np.asarray(x, dtype=np.float32)
    rows = x.shape[-2]
    blocks = []
    for d in delays:
        shifted = np.zeros_like(x)
        if 0 <= d < rows:
            shifted[..., d:, :] = x[..., : rows - d, :]
        elif -rows < d < 0:
            shifted[..., : rows + d, :] = x[..., -d:, :]
        blocks.append(shifted)
    return np.concatenate(blocks, axis=-1)

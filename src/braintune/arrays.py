"""Array helpers every stage shares (numpy only)."""

from __future__ import annotations

import numpy as np


def zscore(x: np.ndarray, axis: int = 0, dtype=np.float32, reference: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit variance (population sd) along `axis`; constant columns become 0.

    x: e.g. (time, features) or (layers, time, features) with axis=-2. reference: take the
    mean and sd from this array instead of x (same shape but along `axis`), e.g. a probe's
    fitting rows applied to its test rows; a column constant in `reference` becomes 0. The
    statistics are computed in float64; the result has `dtype`.
    """
    x = np.asarray(x, dtype=np.float64)
    reference = x if reference is None else np.asarray(reference, dtype=np.float64)
    mean = reference.mean(axis=axis, keepdims=True)
    std = (reference - mean).std(axis=axis, keepdims=True)
    centred = x - mean
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0).astype(dtype, copy=False)

"""Array helpers every stage shares (numpy only)."""

from __future__ import annotations

import numpy as np


def zscore(x: np.ndarray, axis: int = 0, dtype=np.float32) -> np.ndarray:
    """Zero mean, unit variance (population sd) along `axis`; constant columns become 0.

    x: e.g. (time, features) or (layers, time, features) with axis=-2. The statistics are
    computed in float64; the result has `dtype`.
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=axis, keepdims=True)
    std = centred.std(axis=axis, keepdims=True)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0).astype(dtype, copy=False)

"""Noise-ceiling-normalised alignment, summarised per ROI group.

Table columns (one row per participant x model x layer x ROI):
    participant, model, layer, roi, alignment, alignment_sem, n_voxels
where alignment is the mean over the ROI's voxels of r / CCmax (voxels whose ceiling
exceeds the threshold only), alignment_sem its standard error over those voxels
(NaN below 2 voxels) and n_voxels their number. The ROI "whole_cortex" holds every voxel.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

WHOLE_CORTEX = "whole_cortex"
TABLE_COLUMNS = ["participant", "model", "layer", "roi", "alignment", "alignment_sem", "n_voxels"]


def normalised_alignment(r: np.ndarray, ceiling: np.ndarray, threshold: float) -> np.ndarray:
    """r / CCmax per voxel; NaN where the ceiling does not exceed ``threshold``.

    r, ceiling: (voxels,). Returns (voxels,) float32.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    if r.shape != ceiling.shape:
        raise ValueError(f"r has shape {r.shape} but the ceiling has shape {ceiling.shape}")
    if threshold < 0:
        raise ValueError(f"the ceiling threshold must be >= 0, got {threshold}")
    out = np.full(r.shape, np.nan)
    keep = ceiling > threshold
    out[keep] = r[keep] / ceiling[keep]
    return out.astype(np.float32)


def roi_table(
    r: np.ndarray,
    ceiling: np.ndarray,
    rois: Mapping[str, np.ndarray],
    *,
    participant: str,
    model: str,
    layer: int,
    threshold: float,
) -> pd.DataFrame:
    """Mean normalised alignment per ROI group plus the whole cortex (see module docstring).

    r, ceiling: (voxels,); rois: group name -> voxel indices into those arrays.
    """
    values = normalised_alignment(r, ceiling, threshold).astype(np.float64)
    check_roi_indices(rois, len(values))
    groups = {WHOLE_CORTEX: np.arange(len(values)), **rois}
    rows = []
    for roi, voxels in groups.items():
        kept = values[np.asarray(voxels, dtype=np.int64)]
        kept = kept[np.isfinite(kept)]
        mean, sem = _mean_sem(kept)
        rows.append((participant, model, int(layer), roi, mean, sem, len(kept)))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def check_roi_indices(rois: Mapping[str, np.ndarray], n_voxels: int) -> None:
    """Raise ValueError naming the first ROI whose indices are not integers in [0, n_voxels)."""
    for roi, voxels in rois.items():
        voxels = np.asarray(voxels)
        if voxels.size and not np.issubdtype(voxels.dtype, np.integer):
            raise ValueError(f"ROI {roi!r} holds non-integer voxel indices ({voxels.dtype})")
        if voxels.size and (voxels.min() < 0 or voxels.max() >= n_voxels):
            raise ValueError(
                f"ROI {roi!r} names voxel indices {int(voxels.min())}..{int(voxels.max())} "
                f"outside 0..{n_voxels - 1} ({n_voxels} voxels)"
            )


def _mean_sem(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return np.nan, np.nan
    sem = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean()), float(sem)

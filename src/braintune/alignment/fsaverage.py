"""The authors' ROI values (align.protocol: authors): through fsaverage, not a mean over voxels.

What bridge-ai-neuro/brain-tuning does (src/brn_align_utils.py, src/brn_preds_rois.py), as facts:
per voxel r / CCmax where CCmax > the threshold, 0 elsewhere (their NaN, then np.nan_to_num);
the participant's volume (pycortex's (z, y, x), transposed to NIfTI (x, y, z)) given the
participant's affine to MNI space (their datasets/affine_transforms/affine_s<N>.npy); sampled
onto fsaverage's pial surface with its white surface as the inner mesh by nilearn's
vol_to_surf, linear interpolation, each hemisphere; per HCP-MMP1 area (MNE's HCPMMP1
annotation of fsaverage, L_<area>_ROI and R_<area>_ROI) the mean over the vertices of both
hemispheres with NaN counted as 0; an ROI group is the mean of its areas' means.

The atlas folder is MNE's layout (fetch_hcp_mmp_parcellation): fsaverage/surf/{lh,rh}.{pial,white}
and fsaverage/label/{lh,rh}.HCPMMP1.annot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from braintune.data.fsaverage import (  # noqa: F401 (the common space's readers, named here for the stage)
    FsaverageAtlas,
    affine_path,
    atlas_files,
    read_affine,
    surface_values,
)
from braintune.data.pycortex.subject import HEMISPHERES
from braintune.data.rois import ROI_GROUPS
from braintune.encoding.summary import TABLE_COLUMNS, WHOLE_CORTEX


def area_means(surface: dict[str, np.ndarray], atlas: FsaverageAtlas) -> dict[str, float]:
    """Per HCP-MMP1 area the mean over its vertices of both hemispheres, NaN counted as 0."""
    left, right = (surface[h] for h in HEMISPHERES)
    means = {}
    for area, (lh, rh) in atlas.areas.items():
        both = np.nan_to_num(np.concatenate([left[lh], right[rh]]))
        means[area] = float(both.mean()) if both.size else np.nan
    return means


def fsaverage_roi_table(r: np.ndarray, ceiling: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                        atlas: FsaverageAtlas, *, participant: str, model: str, layer: int,
                        threshold: float) -> pd.DataFrame:
    """The authors' ROI values of one layer (module docstring), in the alignment table's columns
    (TABLE_COLUMNS): alignment = the mean of the group's area means; alignment_sem = their standard
    error across areas (NaN for one area); n_voxels = the group's fsaverage vertices. whole_cortex
    is the mean over every area. r, ceiling: (voxels,)."""
    normalised = np.where(ceiling > threshold, r / np.where(ceiling > 0, ceiling, 1.0), np.nan)
    means = area_means(surface_values(normalised, mask, affine, atlas), atlas)
    groups = {WHOLE_CORTEX: tuple(atlas.areas), **ROI_GROUPS}
    rows = []
    for roi, members in groups.items():
        found = [means[a] for a in members if a in means and np.isfinite(means[a])]
        mean = float(np.mean(found)) if found else np.nan
        sem = float(np.std(found, ddof=1) / np.sqrt(len(found))) if len(found) > 1 else np.nan
        vertices = sum(len(lh) + len(rh) for a, (lh, rh) in atlas.areas.items() if a in members)
        rows.append((participant, model, int(layer), roi, mean, sem, vertices))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)

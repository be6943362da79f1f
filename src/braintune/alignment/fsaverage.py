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

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from braintune.data.pycortex.glasser import UNLABELLED, read_annotation, read_sphere
from braintune.data.pycortex.subject import HEMISPHERES
from braintune.data.rois import ROI_GROUPS, normalise_area_name
from braintune.encoding.summary import TABLE_COLUMNS, WHOLE_CORTEX
from braintune.errors import ConfigError, DataError

_PARTICIPANT_NUMBER = re.compile(r"(\d+)$")


def atlas_files(folder: str | Path) -> list[Path]:
    """The files of an atlas folder this module reads (meshes and annotations; a cache key's part)."""
    folder = Path(folder)
    base = folder / "fsaverage" if (folder / "fsaverage").is_dir() else folder
    return [base / sub / f"{hemi}.{name}" for hemi in HEMISPHERES
            for sub, name in (("surf", "pial"), ("surf", "white"), ("label", "HCPMMP1.annot"))]


def affine_path(folder: str | Path, participant: str) -> Path:
    """The authors' affine of a participant: FOLDER/affine_s<N>.npy, N the number ending its name (UTS03 -> 3)."""
    match = _PARTICIPANT_NUMBER.search(participant)
    if match is None:
        raise ConfigError(f"align.affines: participant {participant!r} has no number for affine_s<N>.npy")
    return Path(folder) / f"affine_s{int(match[1])}.npy"


def read_affine(path: Path) -> np.ndarray:
    """A (4, 4) voxel -> MNI mm affine from a .npy file; DataError naming it."""
    try:
        affine = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable affine ({exc})") from None
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise DataError(f"{path}: an affine is a finite (4, 4) matrix, got shape {affine.shape}")
    return affine.astype(np.float64)


@dataclass(frozen=True)
class FsaverageAtlas:
    """fsaverage's pial and white meshes (FreeSurfer files) and its HCP-MMP1 areas, per hemisphere.
    areas: area -> (left vertex indices, right vertex indices)."""

    meshes: dict[str, tuple[str, str]]  # hemisphere -> (pial, white) file paths
    areas: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def read(cls, folder: str | Path) -> FsaverageAtlas:
        """The atlas under `folder` (holding fsaverage/, or the fsaverage folder itself); DataError naming a bad file."""
        folder = Path(folder)
        base = folder / "fsaverage" if (folder / "fsaverage").is_dir() else folder
        meshes, per_hemisphere = {}, []
        for hemi in HEMISPHERES:
            pial, white = base / "surf" / f"{hemi}.pial", base / "surf" / f"{hemi}.white"
            n_vertices = len(read_sphere(pial))
            if len(read_sphere(white)) != n_vertices:
                raise DataError(f"{white}: {len(read_sphere(white))} vertices, but {pial} has {n_vertices}")
            annot = base / "label" / f"{hemi}.HCPMMP1.annot"
            labels, names = read_annotation(annot, n_vertices, pial)
            meshes[hemi] = (str(pial), str(white))
            per_hemisphere.append({normalise_area_name(n): np.flatnonzero(labels == i)
                                   for i, n in enumerate(names) if n.strip().lower() not in UNLABELLED})
        left, right = per_hemisphere
        empty = np.zeros(0, np.int64)
        areas = {a: (left.get(a, empty), right.get(a, empty)) for a in dict.fromkeys([*left, *right])}
        return cls(meshes, areas)


def surface_values(values: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                   atlas: FsaverageAtlas) -> dict[str, np.ndarray]:
    """values (voxels,), one per True voxel of mask (z, y, x) in C order, NaN counted as 0, sampled
    onto fsaverage (nilearn's vol_to_surf, pial with white inside, linear). -> hemisphere -> (vertices,)"""
    import nibabel
    from nilearn.surface import vol_to_surf

    volume = np.zeros(mask.shape, np.float64)
    volume[mask] = np.nan_to_num(np.asarray(values, np.float64))
    image = nibabel.Nifti1Image(volume.T, affine)
    return {hemi: vol_to_surf(image, surf_mesh=pial, inner_mesh=white, interpolation="linear")
            for hemi, (pial, white) in atlas.meshes.items()}


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

"""fsaverage, the common space of the authors' evaluation and of multi-participant tuning with a
shared head: the HCP-MMP1 atlas on fsaverage (MNE's layout: fsaverage/surf/?h.{pial,white},
fsaverage/label/?h.HCPMMP1.annot), a participant's affine to MNI space (the authors'
datasets/affine_transforms/affine_s<N>.npy), and a participant's voxel values brought onto
fsaverage's vertices by nilearn's vol_to_surf (pial with white as the inner mesh, linear), as
bridge-ai-neuro/brain-tuning's src/brn_align_utils.py does.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.data.pycortex.glasser import UNLABELLED, read_annotation, read_sphere
from braintune.data.pycortex.subject import HEMISPHERES
from braintune.data.rois import normalise_area_name
from braintune.errors import ConfigError, DataError

_PARTICIPANT_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class CommonSpace:
    """Where the common space's files are: the atlas folder and the folder of per-participant affines."""

    atlas: str
    affines: str


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


def area_vertices(atlas: FsaverageAtlas, areas) -> tuple[np.ndarray, np.ndarray]:
    """The left and right fsaverage vertices of the given HCP-MMP1 areas, sorted. -> 2 x (vertices,) int64"""
    empty = np.zeros(0, np.int64)
    parts = [atlas.areas.get(a, (empty, empty)) for a in areas]
    return tuple(np.unique(np.concatenate([p[h] for p in parts] or [empty])).astype(np.int64) for h in (0, 1))


def project_rows(rows: np.ndarray, mask: np.ndarray, affine: np.ndarray, atlas: FsaverageAtlas,
                 vertices: tuple[np.ndarray, np.ndarray], chunk: int = 64) -> np.ndarray:
    """Voxel values of many rows (rows, voxels) onto the given left and right fsaverage vertices as
    surface_values does for one, NaN as 0. -> (rows, left + right vertices) float32"""
    import nibabel
    from nilearn.surface import vol_to_surf

    out = np.zeros((len(rows), sum(len(v) for v in vertices)), np.float32)
    for first in range(0, len(rows), chunk):
        block = np.nan_to_num(np.asarray(rows[first:first + chunk], np.float64))
        volume = np.zeros((len(block), *mask.shape))
        volume[:, mask] = block
        image = nibabel.Nifti1Image(np.moveaxis(volume, 0, -1).transpose(2, 1, 0, 3), affine)  # (x, y, z, rows)
        with warnings.catch_warnings():  # vertices outside the volume: nilearn's NaN ("mean of empty slice"), 0 here
            warnings.simplefilter("ignore", RuntimeWarning)
            parts = [vol_to_surf(image, surf_mesh=pial, inner_mesh=white, interpolation="linear")[ids]
                     for (pial, white), ids in zip((atlas.meshes[h] for h in HEMISPHERES), vertices)]
        out[first:first + len(block)] = np.nan_to_num(np.concatenate(parts, axis=0)).T
    return out

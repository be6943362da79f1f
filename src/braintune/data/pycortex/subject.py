"""Reading a pycortex database subject folder (no pycortex import).

A subject folder, as pycortex 1.4.0 lays it out (and as ds003020 ships it under
``derivative/pycortex-db/<UTSxx>/``)::

    surfaces/<kind>_<hemi>.gii      kind: pia, wm, flat, inflated, fiducial (optional); hemi: lh, rh
    overlays.svg                    ROI shapes drawn over the flat map (layer "rois")
    transforms/<name>/matrices.xfm  JSON; "coord" maps surface mm to voxel (x, y, z) = (i, j, k)
    transforms/<name>/reference.nii.gz
    transforms/<name>/mask_<type>.nii.gz   cached masks (pycortex's db.get_mask reads these first)

Conventions (pycortex's): a volume is (z, y, x), the NIfTI array transposed; vertices are
numbered left hemisphere first; where no fiducial surface is stored it is (wm + pia) / 2, computed
in the files' dtype (float32) per hemisphere, as ``db.get_surf(subject, "fiducial")`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from braintune.errors import DataError

HEMISPHERES = ("lh", "rh")


@dataclass(frozen=True)
class Transform:
    """One pycortex transform: ``db.get_xfm(subject, name)`` (type "coord").

    coord: (4, 4) float64, surface mm -> voxel coordinates (x, y, z) of the reference.
    shape: (z, y, x), the reference's shape reversed (pycortex's ``Transform.shape``).
    affine: (4, 4) the reference NIfTI's affine (pycortex writes masks with it).
    """

    name: str
    folder: Path
    coord: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray

    def to_voxels(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) surface mm -> (n, 3) float64 voxel coordinates (x, y, z), pycortex's ``Transform.__call__``."""
        return apply_affine(self.coord, points)

    def mask_path(self, kind: str) -> Path:
        """Where pycortex caches the mask of this type: transforms/<name>/mask_<kind>.nii.gz."""
        return self.folder / f"mask_{kind}.nii.gz"

    def stored_mask(self, kind: str) -> np.ndarray | None:
        """The mask file of this type as (z, y, x) bool (``get_fdata().T != 0``), or None if absent.

        A mask whose shape is not the reference's is a DataError naming both files.
        """
        path = self.mask_path(kind)
        if not path.is_file():
            return None
        import nibabel

        try:
            mask = np.asarray(nibabel.load(path).get_fdata()).T != 0
        except Exception as exc:  # nibabel raises several types for a broken file
            raise DataError(f"{path}: unreadable NIfTI mask ({exc})") from exc
        if mask.shape != self.shape:
            raise DataError(f"{path}: mask shape (z, y, x) {mask.shape} differs from the shape {self.shape} of "
                            f"{self.folder / 'reference.nii.gz'}")
        return mask


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, 3) points -> (n, 3) float64 through a (4, 4) affine, as pycortex computes it
    (``np.dot(M, [points, 1].T)[:3].T``), so the last bits agree with its outputs."""
    homogeneous = np.hstack([points, np.ones((len(points), 1))])
    return np.dot(matrix, homogeneous.T)[:3].T


class Subject:
    """A pycortex subject folder: surfaces, overlays and transforms, read on demand and kept.

    Every problem (a missing file, vertex counts that disagree between surfaces of a hemisphere)
    is a one-line DataError naming the file.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: no such pycortex subject folder")
        self.name = self.folder.name
        self._surfaces: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def __repr__(self):
        return f"Subject({str(self.folder)!r})"

    # ---------------------------------------------------------------- surfaces
    def surface_path(self, kind: str, hemi: str) -> Path:
        return self.folder / "surfaces" / f"{kind}_{hemi}.gii"

    def has_surface(self, kind: str) -> bool:
        return all(self.surface_path(kind, h).is_file() for h in HEMISPHERES)

    def surface(self, kind: str, hemi: str) -> tuple[np.ndarray, np.ndarray]:
        """(points (n, 3) in the file's dtype, triangles (f, 3)) of one hemisphere's surface.

        kind "fiducial" is the stored fiducial surface, else (wm + pia) / 2 with wm's triangles.
        The vertex count is checked against the hemisphere's other surfaces.
        """
        key = (kind, hemi)
        if key not in self._surfaces:
            if kind == "fiducial" and not self.surface_path("fiducial", hemi).is_file():
                wm, polys = self.surface("wm", hemi)
                pia, _ = self.surface("pia", hemi)
                self._surfaces[key] = ((wm + pia) / 2, polys)
            else:
                self._surfaces[key] = self._read_gifti(self.surface_path(kind, hemi))
                self._check_count(kind, hemi)
        return self._surfaces[key]

    def surfaces(self, kind: str, nudge: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Both hemispheres stacked, left first: (points (n_lh + n_rh, 3), triangles (f, 3) with the
        right hemisphere's indices offset by n_lh), as ``db.get_surf(subject, kind, merge=True, nudge=nudge)``.

        nudge (ignored for "fiducial"): shift x so the left hemisphere ends and the right one starts at 0.
        """
        (lpts, lpolys), (rpts, rpolys) = (self.surface(kind, h) for h in HEMISPHERES)
        if nudge and kind != "fiducial":
            lpts, rpts = lpts.copy(), rpts.copy()
            lpts[:, 0] -= lpts.max(0)[0]
            rpts[:, 0] -= rpts.min(0)[0]
        return np.vstack([lpts, rpts]), np.vstack([lpolys, rpolys + len(lpts)])

    @cached_property
    def vertex_counts(self) -> tuple[int, int]:
        """(n_lh, n_rh): vertices per hemisphere (of the wm surface, which every subject has)."""
        return tuple(len(self.surface("wm", h)[0]) for h in HEMISPHERES)

    @property
    def n_vertices(self) -> int:
        return sum(self.vertex_counts)

    def _read_gifti(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        if not path.is_file():
            raise DataError(f"{path}: surface file missing")
        import nibabel

        try:
            gii = nibabel.load(path)
            points = gii.get_arrays_from_intent("pointset")
            triangles = gii.get_arrays_from_intent("triangle")
        except Exception as exc:
            raise DataError(f"{path}: unreadable GIFTI surface ({exc})") from exc
        if not points or not triangles:
            raise DataError(f"{path}: GIFTI surface without a pointset and a triangle array")
        pts, polys = points[0].data, triangles[0].data
        if pts.ndim != 2 or pts.shape[1] != 3 or polys.ndim != 2 or polys.shape[1] != 3:
            raise DataError(f"{path}: pointset {pts.shape} / triangles {polys.shape}, expected (n, 3) each")
        if polys.size and (polys.min() < 0 or polys.max() >= len(pts)):
            raise DataError(f"{path}: triangles refer to vertex {int(polys.max())} of {len(pts)}")
        return pts, polys

    def _check_count(self, kind: str, hemi: str) -> None:
        count = len(self._surfaces[(kind, hemi)][0])
        for (other, other_hemi), (points, _) in self._surfaces.items():
            if other_hemi == hemi and other != kind and len(points) != count:
                raise DataError(f"{self.surface_path(kind, hemi)}: {count} vertices, but "
                                f"{self.surface_path(other, hemi)} has {len(points)}")

    def check_surfaces(self, kinds=("wm", "pia", "flat")) -> None:
        """Read the given surfaces of both hemispheres (DataError if one is missing or their vertex counts differ)."""
        for kind in kinds:
            for hemi in HEMISPHERES:
                self.surface(kind, hemi)

    # ---------------------------------------------------------------- overlays, transforms
    @property
    def overlays_path(self) -> Path:
        return self.folder / "overlays.svg"

    def transform(self, name: str) -> Transform:
        """The transform transforms/<name>/: its "coord" matrix and reference (``db.get_xfm(subject, name)``)."""
        folder = self.folder / "transforms" / name
        xfm_path, reference = folder / "matrices.xfm", folder / "reference.nii.gz"
        for path in (xfm_path, reference):
            if not path.is_file():
                known = sorted(p.name for p in (self.folder / "transforms").glob("*") if p.is_dir())
                raise DataError(f"{path}: missing (transforms of {self.name}: {', '.join(known) or 'none'})")
        try:
            coord = np.asarray(json.loads(xfm_path.read_text())["coord"], dtype=np.float64)
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{xfm_path}: no readable 'coord' matrix ({type(exc).__name__}: {exc})") from exc
        if coord.shape != (4, 4):
            raise DataError(f"{xfm_path}: 'coord' has shape {coord.shape}, expected (4, 4)")
        import nibabel

        try:
            image = nibabel.load(reference)
        except Exception as exc:
            raise DataError(f"{reference}: unreadable NIfTI ({exc})") from exc
        if len(image.shape) < 3:
            raise DataError(f"{reference}: shape {image.shape}, expected a 3-D (or 4-D) volume")
        shape = tuple(int(n) for n in image.shape[:3][::-1])
        return Transform(name, folder, coord, shape, np.asarray(image.affine, dtype=np.float64))

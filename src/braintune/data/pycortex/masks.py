"""Cortical voxel masks of a pycortex transform, as pycortex 1.4.0 computes them.

``cortical_mask(subject, transform, kind)`` is ``cortex.db.get_mask(subject, xfmname, kind)``: the
mask file transforms/<name>/mask_<kind>.nii.gz when it exists, else pycortex's
``cortex.utils.get_cortical_mask(subject, xfmname, kind)``:

- "thick": voxels whose centre is < 8 mm from the nearest fiducial vertex (``get_vox_dist``);
- "thin": the same, < 2 mm;
- "cortical": distance <= the cortical thickness |pia - wm| (float32) at that nearest vertex;
- "nearest": voxels that a flat-map vertex's fiducial position rounds to (``PointNN`` mapper mask);
- "line_nearest": voxels that any of 64 points on each vertex's wm-pia segment rounds to (``LineNN``).

All volumes are (z, y, x) (pycortex's order: the NIfTI array transposed).
"""

from __future__ import annotations

import numpy as np

from braintune.data.pycortex.subject import HEMISPHERES, Subject, Transform, apply_affine

MASK_KINDS = ("thick", "thin", "cortical", "nearest", "line_nearest")
DISTANCE_LIMITS_MM = {"thick": 8, "thin": 2}  # get_cortical_mask: dist < limit
LINE_SAMPLES = 64  # LineMapper._getmask's npts


def voxel_distances(subject: Subject, transform: Transform, surface: str = "fiducial") -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) from each voxel centre to the nearest vertex of `surface`, and that vertex.

    Reproduces ``cortex.utils.get_vox_dist(subject, xfmname, surface)``: voxel centres (x, y, z)
    go to mm through the inverse of the "coord" matrix, and a scipy cKDTree over both
    hemispheres' vertices (left first) finds the nearest one.
    Returns (dist (z, y, x) float64, nearest vertex (z, y, x) int).
    """
    from scipy.spatial import cKDTree

    points, _ = subject.surfaces(surface)
    z, y, x = transform.shape
    centres = np.mgrid[:x, :y, :z].reshape(3, -1).T
    mm = apply_affine(np.linalg.inv(transform.coord), centres)
    dist, nearest = cKDTree(points).query(mm)
    return dist.reshape(x, y, z).T, nearest.reshape(x, y, z).T


def cortical_mask(subject: Subject, transform: Transform, kind: str = "thick", *, use_stored: bool = True,
                  distances: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The (z, y, x) bool mask of `kind` (MASK_KINDS), as ``cortex.db.get_mask(subject, xfmname, kind)``.

    use_stored: read transforms/<name>/mask_<kind>.nii.gz when present (pycortex does); False always
    computes. distances: voxel_distances(subject, transform), if already at hand.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask type {kind!r}; one of {', '.join(MASK_KINDS)}")
    if use_stored:
        stored = transform.stored_mask(kind)
        if stored is not None:
            return stored
    if kind in DISTANCE_LIMITS_MM or kind == "cortical":
        dist, nearest = distances if distances is not None else voxel_distances(subject, transform)
        if kind != "cortical":
            return dist < DISTANCE_LIMITS_MM[kind]
        pia, _ = subject.surfaces("pia")
        wm, _ = subject.surfaces("wm")
        thickness = np.sqrt(((pia - wm) ** 2).sum(1))
        return dist <= thickness[nearest]
    if kind == "nearest":
        return _nearest_mask(subject, transform)
    return _line_nearest_mask(subject, transform)


def nearest_voxels(coords: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """pycortex's ``mapper.samplers.nearest``: which points fall in the volume and their voxel.

    coords: (n, 3) voxel coordinates (x, y, z); shape: (z, y, x). A point counts if it is not NaN
    and -0.5 < coordinate < size + 0.5 on each axis; it takes the voxel its rounded coordinates
    (half to even) name, clipped into the volume. Returns (indices of the points kept,
    their voxels' flat indices in C order of (z, y, x)).
    """
    keep = ~np.isnan(coords).all(1)
    for axis, size in enumerate(shape[::-1]):
        keep &= (coords[:, axis] > -0.5) & (coords[:, axis] < size + 0.5)
    rounded = coords[keep].round().astype(int)
    return np.nonzero(keep)[0], np.ravel_multi_index(rounded.T[::-1], shape, mode="clip")


def _nearest_mask(subject: Subject, transform: Transform) -> np.ndarray:
    """Voxels hit by the fiducial position of a vertex that the flat map's triangles use
    (``PointNN``: the flat surface's triangles pick the vertices; all of them if there is no flat)."""
    hit = np.zeros(int(np.prod(transform.shape)), dtype=bool)
    for hemi in HEMISPHERES:
        points, _ = subject.surface("fiducial", hemi)
        polys = subject.surface("flat" if subject.has_surface("flat") else "fiducial", hemi)[1]
        used = np.unique(polys)
        _, voxels = nearest_voxels(transform.to_voxels(points)[used], transform.shape)
        hit[voxels] = True
    return hit.reshape(transform.shape)


def _line_nearest_mask(subject: Subject, transform: Transform) -> np.ndarray:
    """Voxels hit by any of LINE_SAMPLES points on each vertex's segment (``LineNN``).

    pycortex 1.4.0's ``LineMapper._cache`` passes the wm positions where its ``_getmask`` expects
    pia and the reverse, so the points are wm * t + pia * (1 - t), t = linspace(0, 1, 66)[1:-1];
    kept as it is, for the same rounding.
    """
    hit = np.zeros(int(np.prod(transform.shape)), dtype=bool)
    for hemi in HEMISPHERES:
        wm = transform.to_voxels(subject.surface("wm", hemi)[0])
        pia = transform.to_voxels(subject.surface("pia", hemi)[0])
        for t in np.linspace(0, 1, LINE_SAMPLES + 2)[1:-1]:
            _, voxels = nearest_voxels(wm * t + pia * (1 - t), transform.shape)
            hit[voxels] = True
    return hit.reshape(transform.shape)


"""ROI vertices and ROI voxel masks of a pycortex subject, as pycortex 1.4.0 computes them.

- ``roi_vertices(subject)`` is ``cortex.get_roi_verts(subject)`` (roi=None, mask=False): per shape
  of the overlays' "rois" layer, the flat-map vertices inside it that the flat surface's triangles
  use, plus their neighbours on the full (fiducial) mesh that the flat map cut away.
- ``roi_voxel_masks(subject, transform, rois)`` is ``cortex.utils.get_roi_masks(subject, xfmname)``
  with its defaults (roi_list=None, gm_sampler="cortical", split_lr=False, allow_overlap=False,
  fail_for_missing_rois=True, exclude_empty_rois=False, threshold=None, return_dict=True): a voxel
  belongs to an ROI if it is in the "cortical" mask and its nearest fiducial vertex
  (``get_vox_dist``) is one of the ROI's vertices; voxels that land in more than one ROI are
  removed from all of them.
- ``mask_columns(masks, thick)``: an ROI's voxels as positions among the True voxels of the thick
  mask in C order of (z, y, x) -- the columns of ds003020's response files.
"""

from __future__ import annotations

import logging

import numpy as np

from braintune.data.pycortex.masks import cortical_mask, voxel_distances
from braintune.data.pycortex.overlays import Overlays, flat_svg_coordinates, read_overlays
from braintune.data.pycortex.subject import Subject, Transform

log = logging.getLogger(__name__)


def svg_vertex_coordinates(subject: Subject, overlays: Overlays) -> np.ndarray:
    """(n_vertices, 2) float64: every vertex's flat-map position in the overlays' svg user units (y up)."""
    flat, _ = subject.surfaces("flat", nudge=True)
    return flat_svg_coordinates(flat, overlays.width, overlays.height)


def roi_vertices(subject: Subject, overlays: Overlays | None = None) -> dict[str, np.ndarray]:
    """ROI name -> sorted int64 vertex indices (left hemisphere first), ``cortex.get_roi_verts(subject)``.

    overlays: the shapes to use (default: the subject's overlays.svg, layer "rois"). Shapes with no
    path or no vertex inside are kept, empty, as pycortex keeps them.
    """
    overlays = overlays if overlays is not None else read_overlays(subject.overlays_path)
    coords = svg_vertex_coordinates(subject, overlays)
    _, flat_polys = subject.surfaces("flat")
    on_flat = np.zeros(subject.n_vertices, dtype=bool)
    on_flat[np.unique(flat_polys)] = True
    _, full_polys = subject.surfaces("fiducial")
    edges = _directed_edges(full_polys)
    cut_edges = edges[~on_flat[edges[:, 1]]]  # edges that end on a vertex the flat map lacks
    out = {}
    for name in overlays.shapes:
        inside = np.zeros(subject.n_vertices, dtype=bool)
        inside[overlays.vertices_inside(name, coords)] = True
        inside &= on_flat
        inside[cut_edges[inside[cut_edges[:, 0]], 1]] = True
        out[name] = np.flatnonzero(inside).astype(np.int64)
    return out


def _directed_edges(polys: np.ndarray) -> np.ndarray:
    """(3 f * 2, 2) int64: both directions of every triangle side."""
    polys = np.asarray(polys, dtype=np.int64)
    sides = np.concatenate([polys[:, [0, 1]], polys[:, [1, 2]], polys[:, [2, 0]]])
    return np.concatenate([sides, sides[:, ::-1]])


def vertex_voxel_masks(vertex_sets: dict[str, np.ndarray], nearest_vertex: np.ndarray, gray_matter: np.ndarray,
                       allow_overlap: bool = False) -> dict[str, np.ndarray]:
    """Name -> (z, y, x) bool: voxels of `gray_matter` whose nearest vertex is in the set (get_roi_masks' rule).

    nearest_vertex: (z, y, x) int from voxel_distances; gray_matter: (z, y, x) bool (pycortex's
    default: the "cortical" mask). Unless allow_overlap, voxels in more than one set leave them all.
    """
    masks = {name: np.isin(nearest_vertex, verts) & gray_matter for name, verts in vertex_sets.items()}
    if not allow_overlap and masks:
        count = np.sum(list(masks.values()), axis=0)
        shared = count > 1
        if shared.any():
            log.info("removing %d voxels that fall in more than one ROI", int(shared.sum()))
        for mask in masks.values():
            mask[shared] = False
    return masks


def roi_voxel_masks(subject: Subject, transform: Transform, rois: dict[str, np.ndarray] | None = None,
                    gray_matter: np.ndarray | None = None,
                    distances: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """ROI name -> (z, y, x) bool, ``cortex.utils.get_roi_masks(subject, xfmname)`` with its defaults.

    rois: ROI -> vertices (default roi_vertices(subject)); gray_matter: default the "cortical" mask
    (``db.get_mask(subject, xfmname, "cortical")``: the stored file if any); distances: the
    voxel_distances of this transform if already computed.
    """
    rois = roi_vertices(subject) if rois is None else rois
    distances = distances if distances is not None else voxel_distances(subject, transform)
    if gray_matter is None:
        gray_matter = cortical_mask(subject, transform, "cortical", distances=distances)
    return vertex_voxel_masks(rois, distances[1], gray_matter)


def mask_columns(masks: dict[str, np.ndarray], thick: np.ndarray, source: str = "ROI") -> dict[str, np.ndarray]:
    """Name -> sorted int64 positions of the mask's voxels among thick's True voxels (C order of (z, y, x)).

    masks: name -> (z, y, x) bool; thick: (z, y, x) bool, whose True voxels are the response
    columns. Voxels outside `thick` have no column and are left out (logged per ROI).
    """
    out = {}
    for name, mask in masks.items():
        outside = int(np.count_nonzero(mask & ~thick))
        if outside:
            log.info("%s %s: %d voxel(s) outside the thick mask have no column", source, name, outside)
        out[name] = np.flatnonzero(mask[thick]).astype(np.int64)
    return out

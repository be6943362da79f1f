"""A participant's ROI files from its pycortex subject: ``write_subject_rois`` (``braintune rois``).

Writes, into OUT (created, never cleaned):

- ``mask_thick.nii.gz``: the transform's thick mask (the stored one, else computed as
  ``cortex.db.get_mask(subject, xfm, "thick")``), uint8, NIfTI (x, y, z) order, the reference's affine;
- ``rois.json``: ROI -> column indices into the thick mask's True voxels (C order of (z, y, x)),
  braintune's ROI file format ``{name: [ints]}``: the overlays' ROIs (``get_roi_masks`` with its
  defaults) and, given an atlas and the subject's sphere.reg files, the HCP-MMP1 areas;
- ``roi_vertices.json``: ROI -> vertex indices (left hemisphere first), the same names.

A Glasser area and an overlays ROI of the same name (V1, FEF, RSC ...): the area keeps the name
(braintune's ROI groups read Glasser names) and the overlays ROI becomes "<name>_overlay".
Everything is computed before anything is written; a bad input is a DataError naming the file.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.data.pycortex.glasser import glasser_vertices
from braintune.data.pycortex.masks import cortical_mask, voxel_distances
from braintune.data.pycortex.overlays import read_overlays
from braintune.data.pycortex.regions import mask_columns, roi_vertices, vertex_voxel_masks
from braintune.data.pycortex.subject import Subject, Transform
from braintune.errors import ConfigError
from braintune.io import write_atomic

log = logging.getLogger(__name__)

OVERLAY_SUFFIX = "_overlay"


@dataclass(frozen=True)
class SubjectRois:
    """Everything write_subject_rois writes, in memory.

    thick: (z, y, x) bool; vertices / columns: ROI -> sorted int64 indices; glasser: the names that
    are HCP-MMP1 areas; transform: the transform used (its affine goes into the NIfTI).
    """

    thick: np.ndarray
    vertices: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    glasser: tuple[str, ...]
    transform: Transform


def build_subject_rois(subject_dir: str | Path, transform: str, atlas: str | Path | None = None,
                       freesurfer_subject: str | Path | None = None) -> SubjectRois:
    """Compute the thick mask, ROI vertices and ROI columns of one subject (see the module docstring).

    atlas: a folder holding fsaverage/label/?h.HCPMMP1.annot and fsaverage/surf/?h.sphere (MNE's
    layout); freesurfer_subject: the subject's FreeSurfer folder (with surf/?h.sphere.reg), needed with atlas.
    """
    if atlas is not None and freesurfer_subject is None:
        raise ConfigError("an atlas needs the subject's FreeSurfer folder (surf/?h.sphere.reg) to reach its vertices")
    subject = Subject(subject_dir)
    xfm = subject.transform(transform)
    subject.check_surfaces(("wm", "pia", "flat"))
    overlays = read_overlays(subject.overlays_path)
    glasser = glasser_vertices(subject, atlas, freesurfer_subject) if atlas is not None else {}
    distances = voxel_distances(subject, xfm)
    thick = cortical_mask(subject, xfm, "thick", distances=distances)
    gray_matter = cortical_mask(subject, xfm, "cortical", distances=distances)
    overlay_vertices = roi_vertices(subject, overlays)
    vertices = {(f"{name}{OVERLAY_SUFFIX}" if name in glasser else name): verts
                for name, verts in overlay_vertices.items()}
    renamed = sorted(set(overlay_vertices) & set(glasser))
    if renamed:
        log.info("%s: overlays ROIs named like HCP-MMP1 areas are written as <name>%s: %s", subject.overlays_path,
                    OVERLAY_SUFFIX, ", ".join(renamed))
    masks = vertex_voxel_masks(vertices, distances[1], gray_matter)
    masks.update(vertex_voxel_masks(glasser, distances[1], gray_matter))
    vertices.update(glasser)
    columns = mask_columns(masks, thick, source=subject.name)
    return SubjectRois(thick, vertices, columns, tuple(glasser), xfm)


def write_subject_rois(subject_dir: str | Path, transform: str, out: str | Path, atlas: str | Path | None = None,
                       freesurfer_subject: str | Path | None = None) -> SubjectRois:
    """Write OUT/mask_thick.nii.gz, OUT/rois.json and OUT/roi_vertices.json for one pycortex subject.

    Arguments as build_subject_rois; every file is written atomically, and only once all are computed.
    """
    rois = build_subject_rois(subject_dir, transform, atlas, freesurfer_subject)
    out = Path(out)
    write_atomic(out / "mask_thick.nii.gz", nifti_bytes(rois.thick, rois.transform.affine))
    write_atomic(out / "rois.json", _index_json(rois.columns))
    write_atomic(out / "roi_vertices.json", _index_json(rois.vertices))
    log.info("%s: %d ROIs (%d HCP-MMP1 areas) over %d thick-mask voxels written to %s", Path(subject_dir).name,
             len(rois.columns), len(rois.glasser), int(rois.thick.sum()), out)
    return rois


def nifti_bytes(mask: np.ndarray, affine: np.ndarray) -> bytes:
    """A (z, y, x) bool mask as gzipped NIfTI-1 bytes: uint8 in (x, y, z) order with `affine`,
    as pycortex's ``db.save_mask`` writes it."""
    import nibabel

    image = nibabel.Nifti1Image(np.asarray(mask, dtype=np.uint8).T, affine)
    return gzip.compress(image.to_bytes(), mtime=0)


def _index_json(indices: dict[str, np.ndarray]) -> str:
    return json.dumps({name: [int(i) for i in values] for name, values in indices.items()}) + "\n"

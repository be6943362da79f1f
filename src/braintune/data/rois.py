"""Regions of interest: Glasser (HCP-MMP1) areas as voxel indices, grouped as in DESIGN.md.

braintune reads one ROI file per participant, ``root/derivative/rois/<UTSxx>.json``: a JSON
object mapping a Glasser area name to the indices of that participant's voxels in the area,
e.g. ``{"A1": [812, 813, ...], "PGi": [...], ...}``. Indices count the voxels of the
response files, i.e. the columns of ``data`` in ``preprocessed_data/<UTSxx>/<story>.hf5``.
Hemisphere-specific names such as ``"L_A1_ROI"``, ``"R_A1"`` or ``"lh.A1"`` are normalised
to ``"A1"`` and the hemispheres are united.

Building the file for a real ds003020 participant (pycortex, outside braintune):

1. Get the participant's pycortex subject and transform from ds003020
   (``derivative/pycortex-db/<UTSxx>``); its cortical voxel mask defines the columns of the
   response files: ``mask = cortex.db.get_mask("UTSxx", "UTSxx_auto")`` (the flattened
   voxels where ``mask`` is true, in C order, are the response columns).
2. Take the HCP-MMP1 (Glasser 2016) atlas as an fsaverage surface annotation
   (``lh.HCP-MMP1.annot``, ``rh.HCP-MMP1.annot``) and map it to the participant's surface
   (FreeSurfer ``mri_surf2surf --srcsubject fsaverage --trgsubject UTSxx --sval-annot ...``,
   or pycortex's fsaverage-to-subject mapping).
3. For each area label, build a vertex map on the participant's surface and turn it into
   a voxel map with the participant's transform (``cortex.Vertex(...)`` then
   ``cortex.get_roi_masks`` or ``mapper.backwards``), threshold it, intersect it with ``mask``
   and write the positions of its voxels within ``mask[mask]`` (``np.flatnonzero(roi[mask])``).
4. ``json.dump({area: indices}, open("derivative/rois/UTSxx.json", "w"))``.
"""

from __future__ import annotations

import re

import numpy as np

# DESIGN.md, "Voxels -> regions".
ROI_GROUPS: dict[str, tuple[str, ...]] = {
    "primary_auditory": ("A1",),
    "early_auditory": ("A1", "LBelt", "PBelt", "MBelt", "RI", "A4"),
    "late_language": (
        "A5", "44", "45", "IFJa", "IFSp", "PGi", "PGp", "PGs", "TPOJ1", "TPOJ2", "TPOJ3",
        "STGa", "STSda", "STSdp", "TA2", "STSva",
    ),
    "angular_gyrus": ("PGi", "PGp", "PGs", "TPOJ2", "TPOJ3"),
    "lateral_temporal": ("TPOJ1", "STGa", "STSda", "STSdp", "A5", "STSva"),
    "ifg_mfg": ("44", "45", "IFJa", "IFSp"),
}
WHOLE_CORTEX = "whole_cortex"

_HEMI_PREFIX = re.compile(r"^(?:[LR]_|[lr]h[._])")
_ROI_SUFFIX = re.compile(r"_ROI$", re.IGNORECASE)


def normalise_area_name(name: str) -> str:
    """"L_A1_ROI", "R_A1", "lh.A1", "A1" -> "A1"."""
    return _ROI_SUFFIX.sub("", _HEMI_PREFIX.sub("", name.strip()))


def group_rois(area_rois: dict[str, np.ndarray], n_voxels: int) -> dict[str, np.ndarray]:
    """Voxel indices of each ROI group of ROI_GROUPS plus "whole_cortex" (all voxels).

    area_rois: Glasser area -> voxel indices (names are normalised, hemispheres united).
    Returns group -> sorted unique int64 indices; groups none of whose areas has a voxel
    are left out, so every returned group is non-empty.
    """
    areas: dict[str, list[np.ndarray]] = {}
    for name, idx in area_rois.items():
        areas.setdefault(normalise_area_name(name), []).append(np.asarray(idx, dtype=np.int64))
    groups = {}
    for group, members in ROI_GROUPS.items():
        parts = [i for m in members for i in areas.get(m, [])]
        idx = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        if idx.size:
            groups[group] = idx
    groups[WHOLE_CORTEX] = np.arange(n_voxels, dtype=np.int64)
    return groups

"""Regions of interest: Glasser (HCP-MMP1) areas as voxel indices, grouped as in DESIGN.md.

braintune reads one ROI file per participant (ds003020: ``derivative/rois/<UTSxx>.json``): a
JSON object mapping a Glasser area name to the indices of that participant's voxels in the
area, e.g. ``{"A1": [812, 813, ...], "PGi": [...], ...}``, and optionally a ``"_source"``
entry saying how it was made. Indices count the voxels of the response files, i.e. the
columns of ``data`` in ``preprocessed_data/<UTSxx>/<story>.hf5``. Hemisphere-specific names
such as ``"L_A1_ROI"``, ``"R_A1"`` or ``"lh.A1"`` are normalised to ``"A1"`` and the
hemispheres are united.

``braintune rois DATA --atlas DIR`` writes these files from the dataset's own pycortex
subjects, as pycortex computes them (braintune.data.pycortex, braintune.data.fmri.rois;
docs/rois.md), together with the dataset's functional ROIs (``<UTSxx>.overlays.json``: AC,
Broca, sPMv ... from overlays.svg) and each ROI's vertices (``<UTSxx>.vertices.json``).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from braintune.errors import DataError

log = logging.getLogger(__name__)

# The 180 areas of the HCP-MMP1 parcellation (Glasser et al. 2016), per hemisphere, in the atlas's order.
GLASSER_AREAS = tuple("""
V1 MST V6 V2 V3 V4 V8 4 3b FEF PEF 55b V3A RSC POS2 V7 IPS1 FFC V3B LO1 LO2 PIT MT A1 PSL SFL PCV STV 7Pm 7m
POS1 23d v23ab d23ab 31pv 5m 5mv 23c 5L 24dd 24dv 7AL SCEF 6ma 7Am 7PL 7PC LIPv VIP MIP 1 2 3a 6d 6mp 6v p24pr
33pr a24pr p32pr a24 d32 8BM p32 10r 47m 8Av 8Ad 9m 8BL 9p 10d 8C 44 45 47l a47r 6r IFJa IFJp IFSp IFSa p9-46v
46 a9-46v 9-46d 9a 10v a10p 10pp 11l 13l OFC 47s LIPd 6a i6-8 s6-8 43 OP4 OP1 OP2-3 52 RI PFcm PoI2 TA2 FOP4 MI
Pir AVI AAIC FOP1 FOP3 FOP2 PFt AIP EC PreS H ProS PeEc STGa PBelt A5 PHA1 PHA3 STSda STSdp STSvp TGd TE1a TE1p
TE2a TF TE2p PHT PH TPOJ1 TPOJ2 TPOJ3 DVT PGp IP2 IP1 IP0 PFop PF PFm PGi PGs V6A VMV1 VMV3 PHA2 V4t FST V3CD
LO3 VMV2 31pd 31a VVC 25 s32 pOFC PoI1 Ig FOP5 p10p p47r TGv MBelt LBelt A4 STSva TE1m PI a32pr p24
""".split())

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


def group_rois(area_rois: dict[str, np.ndarray], n_voxels: int, source: str | Path = "ROI file") -> dict[str, np.ndarray]:
    """Voxel indices of each ROI group of ROI_GROUPS plus "whole_cortex" (all voxels).

    area_rois: Glasser area -> voxel indices (names are normalised, hemispheres united).
    Returns group -> sorted unique int64 indices, for every group: a group none of whose
    areas has a voxel is kept empty and a warning names it. Names that are not Glasser
    areas are ignored with a warning naming them; a file with no Glasser area at all is a
    DataError naming `source`.
    """
    areas: dict[str, list[np.ndarray]] = {}
    for name, idx in area_rois.items():
        areas.setdefault(normalise_area_name(name), []).append(np.asarray(idx, dtype=np.int64))
    unknown = sorted(set(areas) - set(GLASSER_AREAS))
    if unknown:
        log.warning("%s: ignoring %d name(s) that are not HCP-MMP1 (Glasser) areas: %s", source, len(unknown),
                    ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
    if not set(areas) & set(GLASSER_AREAS):
        raise DataError(f"{source}: no HCP-MMP1 (Glasser) area names (found: {unknown[:5] or 'none'}); "
                        "expected e.g. {\"A1\": [voxel indices], \"PGi\": [...]} (see braintune.data.rois)")
    groups = {}
    for group, members in ROI_GROUPS.items():
        parts = [i for m in members for i in areas.get(m, [])]
        groups[group] = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        if not groups[group].size:
            log.warning("%s: ROI group %s is empty (none of %s has a voxel); its rows will be NaN", source, group,
                        ", ".join(members))
    groups[WHOLE_CORTEX] = np.arange(n_voxels, dtype=np.int64)
    return groups


METADATA_KEY = "_source"  # an ROI file's record of how it was made (not an area)


def read_roi_file(path: str | Path, n_voxels: int, normalise: bool = True) -> dict[str, np.ndarray]:
    """An ROI file: area -> sorted unique voxel indices (int64) in 0..n_voxels - 1, names
    normalised (normalise_area_name; unless `normalise` is False) and hemispheres united; its
    METADATA_KEY entry, if any, is skipped. A missing file, JSON that is not an object of
    integer lists, or an index out of range is a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing ROI file (area -> voxel indices; see braintune.data.rois, `braintune rois`)")
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        areas: dict[str, list[np.ndarray]] = {}
        for name, idx in raw.items():
            if name == METADATA_KEY:
                continue
            # JSON true/false are Python bools (an int subclass): not voxel indices
            bad = [idx] if not isinstance(idx, list) else [i for i in idx if type(i) is not int]
            if bad:
                raise ValueError(f"area {name!r}: voxel indices must be a list of integers, found "
                                 f"{json.dumps(bad[0])[:40]}")
            if any(abs(i) >= 2**63 for i in idx):
                raise ValueError(f"area {name!r}: voxel index {max(idx, key=abs)} is out of range")
            areas.setdefault(normalise_area_name(name) if normalise else name, []).append(np.array(idx, dtype=np.int64))
    except ValueError as exc:
        raise DataError(f"{path}: not a JSON object of area -> voxel indices ({exc})") from exc
    rois = {}
    for name, parts in areas.items():
        idx = np.unique(np.concatenate(parts))
        if idx.size and (idx[0] < 0 or idx[-1] >= n_voxels):
            bad = idx[(idx < 0) | (idx >= n_voxels)]
            raise DataError(f"{path}: area {name!r} has voxel indices out of range 0..{n_voxels - 1} (e.g. {bad[0]})")
        rois[name] = idx
    return rois

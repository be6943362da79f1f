"""A dataset's ROI files from its own cortex files (`braintune rois DATA --atlas DIR`).

For each participant, from its pycortex subject (FMRIDataset.cortex; braintune.data.pycortex,
equal to pycortex's get_roi_masks with its defaults):

    roi_path(p)               HCP-MMP1 area -> voxel columns (the atlas carried through sphere.reg)
    functional_roi_path(p)    the dataset's functional ROIs (overlays.svg: AC, Broca ...) -> voxel columns
    <roi file>.vertices.json  every ROI above -> vertex indices (left hemisphere first)

each with a "_source" entry (the subject, the transform, the atlas, the rule). A participant's
three files are written only once all of its ROIs are computed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from braintune.data.fmri.interface import FMRIDataset
from braintune.data.rois import METADATA_KEY
from braintune.errors import ConfigError
from braintune.io import write_atomic
from braintune.progress import tqdm

log = logging.getLogger(__name__)

RULE = "pycortex get_roi_masks (gm_sampler 'cortical', no overlap) on the thick mask's columns; areas by nearest vertex on sphere.reg"


def vertices_path(roi_path: Path) -> Path:
    """Where the vertices of a participant's ROIs are written: beside its ROI file."""
    return roi_path.with_name(roi_path.name.removesuffix(".json") + ".vertices.json")


def write_dataset_rois(dataset: FMRIDataset, participants: Sequence[str], atlas: str | Path | None) -> dict[str, dict]:
    """Write each participant's ROI files (module docstring); returns participant -> counts.
    Without an atlas only the functional ROIs are written."""
    from braintune.data.pycortex import build_subject_rois

    if not participants:
        raise ConfigError(f"{dataset.root}: no participants to build ROIs for")
    summary = {}
    for p in tqdm(participants, desc="ROIs", unit="participant"):
        files = dataset.cortex(p)
        rois = build_subject_rois(files.subject, files.transform, atlas=atlas,
                                  freesurfer_subject=files.freesurfer if atlas is not None else None)
        n_voxels = dataset.n_voxels(p)
        if int(rois.thick.sum()) != n_voxels:
            from braintune.errors import DataError

            raise DataError(f"{files.subject}: the thick mask of {files.transform} has {int(rois.thick.sum())} voxels, "
                            f"but {p}'s responses have {n_voxels} columns; is it the transform of these responses?")
        source = {"pycortex_subject": str(files.subject), "transform": files.transform,
                  "atlas": None if atlas is None else str(atlas), "rule": RULE}
        glasser = {n: c for n, c in rois.columns.items() if n in rois.glasser}
        functional = {n: c for n, c in rois.columns.items() if n not in rois.glasser}
        outputs = {dataset.functional_roi_path(p): functional,
                   vertices_path(dataset.roi_path(p)): rois.vertices}
        if atlas is not None:
            outputs[dataset.roi_path(p)] = glasser
        for path, indices in outputs.items():
            write_atomic(path, json.dumps({METADATA_KEY: source, **{n: [int(i) for i in v] for n, v in indices.items()}})
                         + "\n")
        summary[p] = {"areas": sum(len(c) > 0 for c in glasser.values()), "functional": len(functional),
                      "voxels": n_voxels}
        log.info("%s: %d HCP-MMP1 areas with voxels, %d functional ROIs -> %s", p, summary[p]["areas"],
                 len(functional), dataset.roi_path(p).parent)
    return summary

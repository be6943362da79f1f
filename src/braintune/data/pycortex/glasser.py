"""HCP-MMP1 (Glasser 2016) areas on a pycortex subject's vertices, from an fsaverage annotation.

The atlas is an fsaverage surface annotation in MNE's layout (``mne.datasets.fetch_hcp_mmp_parcellation``)::

    ATLAS/fsaverage/label/{lh,rh}.HCPMMP1.annot     (ATLAS may also be the fsaverage folder itself)
    ATLAS/fsaverage/surf/{lh,rh}.sphere

and the subject's registration to fsaverage is FreeSurfer's ``surf/{lh,rh}.sphere.reg`` (ds003020:
``derivative/freesurfer_subjdir/<UTSxx>/surf``), whose vertices are the subject's surface
vertices in the same order as pycortex's surfaces. Each subject vertex takes the label of the
nearest fsaverage vertex on the registered spheres (scipy cKDTree); area names are normalised with
``braintune.data.rois.normalise_area_name`` ("L_A1_ROI" -> "A1") and the hemispheres united.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from braintune.data.pycortex.subject import HEMISPHERES, Subject
from braintune.data.rois import normalise_area_name
from braintune.errors import DataError

ANNOTATION = "{hemi}.HCPMMP1.annot"
UNLABELLED = {"???", "unknown", "medial_wall"}


def atlas_files(atlas: str | Path, hemi: str) -> tuple[Path, Path]:
    """(annotation, fsaverage sphere) of one hemisphere under `atlas` (a subjects dir holding
    fsaverage/, or the fsaverage folder); DataError naming what is missing."""
    atlas = Path(atlas)
    base = atlas / "fsaverage" if (atlas / "fsaverage").is_dir() else atlas
    annot, sphere = base / "label" / ANNOTATION.format(hemi=hemi), base / "surf" / f"{hemi}.sphere"
    for path in (annot, sphere):
        if not path.is_file():
            raise DataError(f"{path}: missing (expected MNE's fetch_hcp_mmp_parcellation layout: "
                            "fsaverage/label/?h.HCPMMP1.annot and fsaverage/surf/?h.sphere)")
    return annot, sphere


def sphere_reg_path(freesurfer_subject: str | Path, hemi: str) -> Path:
    """<freesurfer_subject>/surf/<hemi>.sphere.reg (or <folder>/<hemi>.sphere.reg if given the surf folder)."""
    folder = Path(freesurfer_subject)
    surf = folder / "surf" if (folder / "surf").is_dir() else folder
    return surf / f"{hemi}.sphere.reg"


def read_sphere(path: Path) -> np.ndarray:
    """(n, 3) float64 vertex coordinates of a FreeSurfer surface file; DataError naming it."""
    if not path.is_file():
        raise DataError(f"{path}: missing")
    import nibabel.freesurfer

    try:
        coords, _ = nibabel.freesurfer.read_geometry(str(path))
    except Exception as exc:
        raise DataError(f"{path}: unreadable FreeSurfer surface ({exc})") from exc
    return np.asarray(coords, dtype=np.float64)


def read_annotation(path: Path, n_vertices: int, sphere: Path) -> tuple[np.ndarray, list[str]]:
    """(labels (n_vertices,) int, names) of a FreeSurfer annotation on a mesh of n_vertices (`sphere`).

    labels index names; -1 means unlabelled. DataError naming the file if unreadable or if its
    vertex count is not the sphere's.
    """
    import nibabel.freesurfer

    try:
        labels, _, names = nibabel.freesurfer.read_annot(str(path))
    except Exception as exc:
        raise DataError(f"{path}: unreadable FreeSurfer annotation ({exc})") from exc
    if len(labels) != n_vertices:
        raise DataError(f"{path}: annotation of {len(labels)} vertices, but its sphere {sphere} has {n_vertices}")
    return np.asarray(labels), [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def glasser_vertices(subject: Subject, atlas: str | Path, freesurfer_subject: str | Path) -> dict[str, np.ndarray]:
    """Area name -> sorted int64 subject vertex indices (left hemisphere first, right offset by n_lh).

    Areas appear in the annotation's order (left hemisphere's names first). DataError naming the
    file: a missing file, a sphere.reg whose vertex count is not the subject's surface's, an
    annotation on another mesh size than its fsaverage sphere.
    """
    from scipy.spatial import cKDTree

    areas: dict[str, list[np.ndarray]] = {}
    offset = 0
    for hemi, n_subject in zip(HEMISPHERES, subject.vertex_counts):
        annot_path, sphere_path = atlas_files(atlas, hemi)
        fsaverage = read_sphere(sphere_path)
        labels, names = read_annotation(annot_path, len(fsaverage), sphere_path)
        reg_path = sphere_reg_path(freesurfer_subject, hemi)
        registered = read_sphere(reg_path)
        if len(registered) != n_subject:
            raise DataError(f"{reg_path}: {len(registered)} vertices, but {subject.surface_path('wm', hemi)} "
                            f"has {n_subject}")
        _, nearest = cKDTree(fsaverage).query(registered)
        subject_labels = labels[nearest]
        for index, name in enumerate(names):
            if name.strip().lower() in UNLABELLED:
                continue
            verts = np.flatnonzero(subject_labels == index)
            areas.setdefault(normalise_area_name(name), []).append(verts + offset)
        offset += n_subject
    return {name: np.unique(np.concatenate(parts)).astype(np.int64) for name, parts in areas.items()}

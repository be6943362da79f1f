"""The files of the simulated cortex (braintune.synthetic.cortex), in ds003020's layout and the atlas's.

Per participant P (UTSxx; N its number), what ds003020 ships and `braintune rois` reads::

    root/derivative/pycortex-db/P/surfaces/{wm,pia,flat,inflated}_{lh,rh}.gii
        GIFTI: pointset (n, 3) float32 native mm, triangles (f, 3) int32; n = 4 nx ny per hemisphere
    root/derivative/pycortex-db/P/overlays.svg
        layer "rois" (sub-layers "shapes", "labels"): one shape per OVERLAY_ROIS name (AC, Broca,
        sPMv, V1), one closed path per hemisphere around the cells of its areas, in svg user units
        (the nudged flat map scaled to width x height, y down: pycortex's convention)
    root/derivative/pycortex-db/P/transforms/P_auto/matrices.xfm
        JSON {"coord": surface mm -> voxel (x, y, z), "magnet": surface mm -> scanner mm (identity)}
    root/derivative/pycortex-db/P/transforms/P_auto/reference.nii.gz   float32 (x, y, z), 1 in cortex
    root/derivative/pycortex-db/P/transforms/P_auto/mask_thick.nii.gz  uint8 (x, y, z): the cortex voxels,
        whose C order over (z, y, x) is the response files' column order
    root/derivative/freesurfer_subjdir/P/surf/{lh,rh}.sphere.reg       FreeSurfer surface: registration to the atlas

and what the authors' protocol reads besides (bridge-ai-neuro/brain-tuning keeps these in its repository)::

    root/simulation_truth/affine_transforms/affine_s<N>.npy   (4, 4) float64 voxel (x, y, z) -> common space mm

Per dataset, the atlas (MNE's fetch_hcp_mmp_parcellation layout, shared by all participants)::

    root/simulation_truth/atlas/fsaverage/surf/{lh,rh}.sphere          one vertex per atlas cell, on the sphere
    root/simulation_truth/atlas/fsaverage/surf/{lh,rh}.{white,pial}    the same vertices in the common space
    root/simulation_truth/atlas/fsaverage/label/{lh,rh}.HCPMMP1.annot  names "???", "L_V1_ROI", ... (R_ on the
        right) in GLASSER_AREAS order after "???" (which no vertex carries)

Every file is written atomically and is the same bytes for the same grid.
"""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from braintune.data.rois import GLASSER_AREAS
from braintune.io import write_atomic, write_atomic_with
from braintune.synthetic.cortex import (
    ATLAS_CORTEX_MM, ATLAS_SIDE, CANONICAL_Z0, EXTRA_ROWS, OVERLAY_ROIS, ParticipantGrid, atlas_vertices, canonical_mm,
    grid_triangles, sphere_points,
)

HEMISPHERES = ("lh", "rh")
SURFACES = ("wm", "pia", "flat", "inflated")
SVG_HEIGHT = 1024.0
_SVG, _INKSCAPE = "http://www.w3.org/2000/svg", "http://www.inkscape.org/namespaces/inkscape"
_STAMP = "created by braintune.synthetic"


def transform_name(participant: str) -> str:
    return f"{participant}_auto"


def atlas_dir(root: str | Path) -> Path:
    """The simulated atlas (pass it as `braintune rois --atlas`)."""
    return Path(root) / "simulation_truth" / "atlas"


def affine_path(root: str | Path, participant: str) -> Path:
    """simulation_truth/affine_transforms/affine_s<N>.npy, the authors' name for participant UTS0N's affine."""
    return Path(root) / "simulation_truth" / "affine_transforms" / f"affine_s{int(participant.removeprefix('UTS'))}.npy"


def write_participant_cortex(root: str | Path, participant: str, grid: ParticipantGrid) -> None:
    """Write the participant's pycortex subject, sphere.reg files and common-space affine (module docstring)."""
    root = Path(root)
    db = root / "derivative" / "pycortex-db" / participant
    surf = root / "derivative" / "freesurfer_subjdir" / participant / "surf"
    triangles = grid.triangles()
    for h, hemi in enumerate(HEMISPHERES):
        for kind in SURFACES:
            write_atomic(db / "surfaces" / f"{kind}_{hemi}.gii", _gifti_bytes(grid.surface(kind, h), triangles))
        _write_geometry(surf / f"{hemi}.sphere.reg", grid.sphere_reg(h), triangles)
    write_atomic(db / "overlays.svg", overlays_svg(grid))
    xfm = db / "transforms" / transform_name(participant)
    scanner = grid.voxel_to_mm()
    write_atomic(xfm / "matrices.xfm", json.dumps({"coord": grid.coord().tolist(),
                                                   "magnet": (scanner @ grid.coord()).tolist()}, indent=1) + "\n")
    mask = grid.mask()
    write_atomic(xfm / "reference.nii.gz", _nifti_bytes(mask.astype(np.float32), scanner))
    write_atomic(xfm / "mask_thick.nii.gz", _nifti_bytes(mask.astype(np.uint8), scanner))
    write_atomic_with(affine_path(root, participant), lambda tmp: np.save(tmp, grid.canonical_affine()))


def write_atlas(root: str | Path) -> Path:
    """Write the atlas folder (module docstring) and return it."""
    import nibabel.freesurfer

    base = atlas_dir(root) / "fsaverage"
    u, v, label = atlas_vertices()
    faces = grid_triangles(ATLAS_SIDE + EXTRA_ROWS, ATLAS_SIDE)
    index = np.arange(len(GLASSER_AREAS) + 1)
    ctab = np.column_stack([index, 255 - index, (97 * index) % 256, np.zeros_like(index)])  # unique colours, none black
    for h, hemi in enumerate(HEMISPHERES):
        side = np.full(len(u), h)
        _write_geometry(base / "surf" / f"{hemi}.sphere", sphere_points(u, v), faces)
        _write_geometry(base / "surf" / f"{hemi}.white", canonical_mm(side, u, v, CANONICAL_Z0 - ATLAS_CORTEX_MM / 2), faces)
        _write_geometry(base / "surf" / f"{hemi}.pial", canonical_mm(side, u, v, CANONICAL_Z0 + ATLAS_CORTEX_MM / 2), faces)
        names = ["???"] + [f"{'LR'[h]}_{area}_ROI" for area in GLASSER_AREAS]
        write_atomic_with(base / "label" / f"{hemi}.HCPMMP1.annot", lambda tmp: nibabel.freesurfer.write_annot(
            str(tmp), (label + 1).astype(np.int32), ctab, names, fill_ctab=True))
    return atlas_dir(root)


# ---- overlays.svg ---------------------------------------------------------------------
def overlays_svg(grid: ParticipantGrid) -> str:
    """The overlays.svg text: a "rois" layer with one shape per OVERLAY_ROIS name (module docstring).

    A shape's path per hemisphere runs along the cell boundaries around its areas' cells (a
    rectangle of cells, as the areas of an overlay ROI tile a rectangle of the map), mapped like
    the vertices: flat map, nudged, normalised to the svg's size.
    """
    flats = [grid.surface("flat", h)[:, :2].astype(np.float32).astype(np.float64) for h in (0, 1)]
    shifts = [-flats[0][:, 0].max(), -flats[1][:, 0].min()]  # pycortex's nudge: left ends and right starts at 0
    points = np.vstack([flat + (shift, 0.0) for flat, shift in zip(flats, shifts)])
    low, span = points.min(axis=0), points.max(axis=0) - points.min(axis=0)
    width = round(SVG_HEIGHT * span[0] / span[1], 3)

    def to_svg(voxel_xy: np.ndarray, h: int) -> np.ndarray:
        xy = grid.flat_xy(h, voxel_xy) + (shifts[h], 0.0)
        scaled = (xy - low) / span * (width, SVG_HEIGHT)
        return np.column_stack([scaled[:, 0], SVG_HEIGHT - scaled[:, 1]])

    ET.register_namespace("", _SVG)
    ET.register_namespace("inkscape", _INKSCAPE)
    svg = ET.Element(f"{{{_SVG}}}svg", {"width": f"{width:.3f}", "height": f"{SVG_HEIGHT:.3f}", "version": "1.1"})
    layer = _layer(svg, "rois", "rois")
    shapes, labels = _layer(layer, "shapes", "rois_shapes"), _layer(layer, "labels", "rois_labels")
    voxels = grid.voxels()
    for name, areas in OVERLAY_ROIS.items():
        shape = _layer(shapes, name, name)
        for h in (0, 1):
            cells = voxels.voxel[np.isin(voxels.area, areas) & (voxels.hemisphere == h), :2]
            if not len(cells):
                continue
            (x0, y0), (x1, y1) = cells.min(axis=0) - 0.5, cells.max(axis=0) + 0.5
            if len(cells) != (x1 - x0) * (y1 - y0):
                raise RuntimeError(f"overlay ROI {name}: its areas do not tile a rectangle of the map")
            corners = to_svg(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), h)
            d = "M " + " L ".join(f"{x:.3f},{y:.3f}" for x, y in corners) + " Z"
            ET.SubElement(shape, f"{{{_SVG}}}path", {"d": d, "style": "fill:none;stroke:#000000;stroke-width:2"})
            x, y = corners.mean(axis=0)
            ET.SubElement(labels, f"{{{_SVG}}}text", {"x": f"{x:.3f}", "y": f"{y:.3f}"}).text = name
    ET.indent(svg)
    return ET.tostring(svg, encoding="unicode", xml_declaration=True) + "\n"


def _layer(parent: ET.Element, label: str, element_id: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{_SVG}}}g", {"id": element_id, f"{{{_INKSCAPE}}}label": label,
                                                  f"{{{_INKSCAPE}}}groupmode": "layer", "style": "display:inline"})


# ---- nibabel writers ---------------------------------------------------------------------
def _gifti_bytes(points: np.ndarray, triangles: np.ndarray) -> bytes:
    import nibabel

    return nibabel.gifti.GiftiImage(darrays=[
        nibabel.gifti.GiftiDataArray(np.asarray(points, dtype=np.float32), intent="NIFTI_INTENT_POINTSET"),
        nibabel.gifti.GiftiDataArray(np.asarray(triangles, dtype=np.int32), intent="NIFTI_INTENT_TRIANGLE"),
    ]).to_bytes()


def _nifti_bytes(volume_zyx: np.ndarray, affine: np.ndarray) -> bytes:
    """Gzipped NIfTI-1 of a (z, y, x) volume, stored (x, y, z) with `affine` (no time stamp: same bytes each time)."""
    import nibabel

    return gzip.compress(nibabel.Nifti1Image(np.ascontiguousarray(volume_zyx.T), affine).to_bytes(), mtime=0)


def _write_geometry(path: Path, coords: np.ndarray, faces: np.ndarray) -> None:
    """A FreeSurfer surface file, with the volume information FreeSurfer writes (a conformed 256^3 1 mm volume)."""
    import nibabel.freesurfer

    volume_info = dict(head=np.array([2, 0, 20], dtype=np.int32), valid="1  # volume info valid", filename="orig.mgz",
                       volume=np.array([256, 256, 256]), voxelsize=np.ones(3), xras=np.array([-1.0, 0.0, 0.0]),
                       yras=np.array([0.0, 0.0, -1.0]), zras=np.array([0.0, 1.0, 0.0]), cras=np.zeros(3))
    write_atomic_with(path, lambda tmp: nibabel.freesurfer.write_geometry(
        str(tmp), np.asarray(coords, dtype=np.float64), np.asarray(faces, dtype=np.int32), create_stamp=_STAMP,
        volume_info=volume_info))

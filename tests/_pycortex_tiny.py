"""A tiny pycortex subject whose answers are known by hand (for tests/test_pycortex*.py).

Each hemisphere is a 5 x 5 grid of vertices, index = 5 * row + column (left 0-24, right 25-49),
split into triangles (c, r), (c+1, r), (c+1, r+1) and (c, r), (c+1, r+1), (c, r+1).

- 3-D (mm): left vertex (c, r) has wm at (c, r, 1) and pia at (c, r, 3), so the fiducial is at
  z = 2 and the cortex is 2 mm thick; the right hemisphere is the same at x + 6 and y + 0.25.
- flat: left (c, r), right (c, r + 0.25); nudged, the left spans x -4..0 and the right 0..4.
- transform "identity": coord is the identity, so voxel (x, y, z) = mm; reference 12 x 6 x 13
  (x, y, z), i.e. pycortex shape (z, y, x) = (13, 6, 12).
- overlays.svg is 800 x 425 user units: flat (x, y) is at svg (100 * (x + 4), 425 - 100 * y).
  ROI "square" covers left vertices 11, 12, 16, 17 (columns 1-2, rows 2-3).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np

N = 5  # vertices per side
SHAPE_XYZ = (12, 6, 13)
SVG_SIZE = (800, 425)
SQUARE = "M 50,75 L 250,75 L 250,275 L 50,275 Z"  # left columns 1-2, rows 2-3
SQUARE_VERTICES = [11, 12, 16, 17]


def grid_triangles(n: int = N) -> np.ndarray:
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c + 1, (r + 1) * n + c
            tris += [(a, b, d), (a, d, e)]
    return np.array(tris, dtype=np.int32)


def grid_points(n: int = N, dx: float = 0.0, dy: float = 0.0, z: float = 0.0) -> np.ndarray:
    r, c = np.divmod(np.arange(n * n), n)
    return np.column_stack([c + dx, r + dy, np.full(n * n, z)]).astype(np.float32)


def write_gifti(path: Path, points: np.ndarray, triangles: np.ndarray) -> None:
    gii = nibabel.gifti.GiftiImage(darrays=[
        nibabel.gifti.GiftiDataArray(np.asarray(points, dtype=np.float32), intent="NIFTI_INTENT_POINTSET"),
        nibabel.gifti.GiftiDataArray(np.asarray(triangles, dtype=np.int32), intent="NIFTI_INTENT_TRIANGLE"),
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(gii, path)


def svg_text(shapes: dict[str, list[str]], layer: str = "rois", size=SVG_SIZE, extra: str = "") -> str:
    groups = "".join(
        f'<g inkscape:label="{name}" id="{name}">' + "".join(f'<path d="{d}"/>' for d in paths) + "</g>"
        for name, paths in shapes.items())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
            f'width="{size[0]}" height="{size[1]}">'
            f'<g inkscape:label="data" id="data"/>'
            f'<g inkscape:label="{layer}" id="{layer}"><g inkscape:label="shapes" id="{layer}_shapes">{groups}{extra}</g>'
            f'<g inkscape:label="labels" id="{layer}_labels"/></g></svg>')


def make_subject(root: Path, shapes: dict[str, list[str]] | None = None, cut: tuple[int, ...] = (),
                 name: str = "tiny") -> Path:
    """Write the tiny subject under root/name; `cut`: left vertices whose triangles the flat map drops."""
    folder = Path(root) / name
    tris = grid_triangles()
    flat_lh = tris[~np.isin(tris, cut).any(1)]
    offsets = {"lh": (0.0, 0.0), "rh": (6.0, 0.25)}
    for hemi, (dx, dy) in offsets.items():
        write_gifti(folder / "surfaces" / f"wm_{hemi}.gii", grid_points(dx=dx, dy=dy, z=1), tris)
        write_gifti(folder / "surfaces" / f"pia_{hemi}.gii", grid_points(dx=dx, dy=dy, z=3), tris)
        flat = grid_points(dy=dy)
        write_gifti(folder / "surfaces" / f"flat_{hemi}.gii", flat, flat_lh if hemi == "lh" else tris)
    xfm = folder / "transforms" / "identity"
    xfm.mkdir(parents=True)
    (xfm / "matrices.xfm").write_text(json.dumps({"coord": np.eye(4).tolist(), "magnet": np.eye(4).tolist()}))
    nibabel.save(nibabel.Nifti1Image(np.zeros(SHAPE_XYZ, dtype=np.float32), np.diag([2.0, 2.0, 2.0, 1.0])),
                 xfm / "reference.nii.gz")
    (folder / "overlays.svg").write_text(svg_text(shapes if shapes is not None else {"square": [SQUARE]}))
    return folder


def write_freesurfer(root: Path, fs_labels: dict[str, np.ndarray], names: list[str], subject_to_fs: dict[str, np.ndarray],
                     n_fs: int = 40, seed: int = 0) -> tuple[Path, Path]:
    """An fsaverage atlas (MNE layout) and a subject's sphere.reg files.

    fs_labels[hemi]: (n_fs,) label index per fsaverage vertex; names: label names per index;
    subject_to_fs[hemi]: (25,) the fsaverage vertex each subject vertex registers onto (its
    sphere.reg point is that fsaverage point, nudged by 1e-3). Returns (atlas dir, subject dir).
    """
    rng = np.random.default_rng(seed)
    atlas, subject = Path(root) / "atlas", Path(root) / "fs_subject"
    for hemi in ("lh", "rh"):
        sphere = rng.standard_normal((n_fs, 3))
        sphere = 100 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True)
        faces = np.array([[0, 1, 2]], dtype=np.int32)
        (atlas / "fsaverage" / "surf").mkdir(parents=True, exist_ok=True)
        (atlas / "fsaverage" / "label").mkdir(parents=True, exist_ok=True)
        nibabel.freesurfer.write_geometry(str(atlas / "fsaverage" / "surf" / f"{hemi}.sphere"), sphere, faces)
        ctab = np.column_stack([rng.integers(0, 255, (len(names), 3)), np.zeros(len(names), int)])
        nibabel.freesurfer.write_annot(str(atlas / "fsaverage" / "label" / f"{hemi}.HCPMMP1.annot"),
                                       np.asarray(fs_labels[hemi], dtype=np.int32), ctab,
                                       [n.replace("L_", "R_") if hemi == "rh" else n for n in names], fill_ctab=True)
        registered = sphere[subject_to_fs[hemi]] + 1e-3
        (subject / "surf").mkdir(parents=True, exist_ok=True)
        nibabel.freesurfer.write_geometry(str(subject / "surf" / f"{hemi}.sphere.reg"), registered,
                                          grid_triangles())
    return atlas, subject

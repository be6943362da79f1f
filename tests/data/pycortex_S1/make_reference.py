"""Reference outputs of pycortex 1.4.0 on its example subject S1 -> reference.npz (see README.md).

Run with pycortex 1.4.0 in a throw-away venv (never a braintune dependency), on a writable copy of S1
(pycortex writes its caches and masks into the subject folder):

    python3 -m venv /tmp/pycx && /tmp/pycx/bin/pip install pycortex==1.4.0
    mkdir -p /tmp/pycx_store /tmp/pycx_xdg/pycortex
    cp -r ../../../../shared/pycortex-S1/S1 /tmp/pycx_store/ && chmod -R u+w /tmp/pycx_store
    printf '[basic]\\nfilestore = /tmp/pycx_store\\n' > /tmp/pycx_xdg/pycortex/options.cfg
    XDG_CONFIG_HOME=/tmp/pycx_xdg OMP_NUM_THREADS=1 /tmp/pycx/bin/python make_reference.py reference.npz

Arrays (sorted index lists are stored as int32 differences: np.cumsum restores them):
    roi_order                       the ROI names of get_roi_verts, in its order
    verts__<roi>                    cortex.get_roi_verts("S1")[roi]
    mask__<xfm>__<kind>             np.packbits(cortex.db.get_mask("S1", xfm, kind).ravel()), kind in
                                    thick thin cortical nearest line_nearest
    roimask__<xfm>__<roi>           flat (z, y, x) indices of cortex.utils.get_roi_masks("S1", xfm)[roi]
    flat<h>__volume / __columns / __vertex   make_flatmap_image(...)[0] at height h (h = 64: whole images)
    flat<h>__extents, flat<h>__mask_bits     its extents; np.packbits(get_flatmask("S1", h)[0].ravel())
    flat1024__<image>_sha256        sha256 of the image (NaN made canonical, -0 made 0) as float64 bytes
    flat1024__<image>_pixels / _values  2000 seeded pixel positions (flat index of the image) and their values
The volume is arange(z*y*x) reshaped to (z, y, x) with every 7th voxel NaN; the columns are
0.5 * arange(thick voxels) with every 5th NaN (cortex.Volume(columns, "S1", "fullhead", mask=thick));
the vertex values arange(n_vertices) with every 11th NaN (cortex.Vertex).
"""
import hashlib
import sys
import warnings

import numpy as np

import cortex
from cortex import db
from cortex.quickflat.utils import get_flatmask, make_flatmap_image

warnings.simplefilter("ignore")
S = "S1"
out = {}


def diffs(indices):
    return np.diff(np.asarray(indices, dtype=np.int64), prepend=0).astype(np.int32)


def canonical_sha256(image):
    image = np.where(np.isnan(image), np.nan, image + 0.0).astype(np.float64)
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


assert cortex.__version__.startswith("1.4.0"), cortex.__version__
verts = cortex.get_roi_verts(S)
out["roi_order"] = np.array(list(verts))
for name, indices in verts.items():
    out[f"verts__{name}"] = diffs(indices)
for xfm in ("fullhead", "retinotopy"):
    for kind in ("thick", "thin", "cortical", "nearest", "line_nearest"):
        out[f"mask__{xfm}__{kind}"] = np.packbits(np.asarray(db.get_mask(S, xfm, kind), dtype=bool).ravel())
    for name, mask in cortex.utils.get_roi_masks(S, xfm).items():
        out[f"roimask__{xfm}__{name}"] = diffs(np.flatnonzero(mask))

shape = db.get_xfm(S, "fullhead").shape
volume = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
volume.ravel()[::7] = np.nan
thick = db.get_mask(S, "fullhead", "thick")
columns = np.arange(thick.sum(), dtype=np.float64) * 0.5
columns[::5] = np.nan
n_vertices = sum(len(db.get_surf(S, "fiducial", h)[0]) for h in ("lh", "rh"))
vertex_values = np.arange(n_vertices, dtype=np.float64)
vertex_values[::11] = np.nan
for height in (64, 1024):
    images = {
        "volume": make_flatmap_image(cortex.Volume(volume, S, "fullhead"), height=height)[0],
        "columns": make_flatmap_image(cortex.Volume(columns, S, "fullhead", mask=thick), height=height)[0],
        "vertex": make_flatmap_image(cortex.Vertex(vertex_values, S), height=height)[0],
    }
    mask, extents = get_flatmask(S, height=height)
    out[f"flat{height}__extents"] = extents
    out[f"flat{height}__mask_bits"] = np.packbits(mask.ravel())
    for name, image in images.items():
        if height == 64:
            out[f"flat{height}__{name}"] = image
        else:
            pixels = np.random.default_rng(0).choice(image.size, 2000, replace=False)
            out[f"flat{height}__{name}_sha256"] = np.array(canonical_sha256(image))
            out[f"flat{height}__{name}_pixels"] = pixels
            out[f"flat{height}__{name}_values"] = image.ravel()[pixels]
np.savez_compressed(sys.argv[1], **out)
print("wrote", sys.argv[1], len(out), "arrays")

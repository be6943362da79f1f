"""braintune.data.pycortex against pycortex 1.4.0's own outputs on its example subject S1.

The reference arrays (tests/data/pycortex_S1/reference.npz) were made by pycortex 1.4.0 itself
(tests/data/pycortex_S1/README.md); every comparison is exact: integers, booleans, float64 bit for bit.
S1 is ../shared/pycortex-S1/S1 beside the repository.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from braintune.data.pycortex import (Flatmap, Subject, build_subject_rois, cortical_mask, roi_vertices,
                                     roi_voxel_masks, voxel_distances)

from conftest import PYCORTEX_S1 as S1

REFERENCE = Path(__file__).resolve().parent / "data" / "pycortex_S1" / "reference.npz"
pytestmark = pytest.mark.usefixtures("pycortex_s1")  # skips without S1, fails so in CI
KINDS = ("thick", "thin", "cortical", "nearest", "line_nearest")


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def s1():
    subject = Subject(S1)
    subject.check_surfaces(("wm", "pia", "flat"))
    return subject


@pytest.fixture(scope="module")
def distances(s1):
    return {xfm: voxel_distances(s1, s1.transform(xfm)) for xfm in ("fullhead", "retinotopy")}


def indices(ref, key):
    return np.cumsum(ref[key].astype(np.int64))


def bits(ref, key, shape):
    return np.unpackbits(ref[key], count=int(np.prod(shape))).astype(bool).reshape(shape)


def canonical_sha256(image):
    image = np.where(np.isnan(image), np.nan, image + 0.0).astype(np.float64)
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_roi_vertices_equal_get_roi_verts(s1, ref):
    """Guards against any drift from cortex.get_roi_verts("S1"): names, order and every vertex."""
    rois = roi_vertices(s1)
    assert list(rois) == ref["roi_order"].tolist()
    for name, verts in rois.items():
        assert verts.tolist() == indices(ref, f"verts__{name}").tolist(), name
    assert sum(len(v) for v in rois.values()) > 60_000


@pytest.mark.parametrize("xfm", ["fullhead", "retinotopy"])
def test_masks_equal_get_mask(s1, ref, distances, xfm):
    """Guards against drift from cortex.db.get_mask("S1", xfm, kind) for every mask type (computed:
    S1 ships no mask files)."""
    transform = s1.transform(xfm)
    for kind in KINDS:
        mask = cortical_mask(s1, transform, kind, distances=distances[xfm])
        assert np.array_equal(mask, bits(ref, f"mask__{xfm}__{kind}", transform.shape)), kind


@pytest.mark.parametrize("xfm", ["fullhead", "retinotopy"])
def test_roi_masks_equal_get_roi_masks(s1, ref, distances, xfm):
    """Guards against drift from cortex.utils.get_roi_masks("S1", xfm) with its defaults (cortical
    ribbon, overlapping voxels removed)."""
    masks = roi_voxel_masks(s1, s1.transform(xfm), distances=distances[xfm])
    assert list(masks) == ref["roi_order"].tolist()
    for name, mask in masks.items():
        assert np.flatnonzero(mask).tolist() == indices(ref, f"roimask__{xfm}__{name}").tolist(), name


def test_columns_are_the_roi_masks_within_the_thick_mask(s1, ref):
    """Guards against the response-column numbering: rois.json's columns are get_roi_masks' voxels
    ranked among get_mask("thick")'s True voxels, C order of (z, y, x)."""
    rois = build_subject_rois(S1, "fullhead")
    shape = rois.transform.shape
    thick = bits(ref, "mask__fullhead__thick", shape)
    assert np.array_equal(rois.thick, thick)
    rank = np.cumsum(thick.ravel()) - 1
    for name in ref["roi_order"].tolist():
        voxels = indices(ref, f"roimask__fullhead__{name}")
        assert rois.columns[name].tolist() == rank[voxels].tolist(), name


@pytest.fixture(scope="module")
def flatmaps(s1):
    return {}


def _flatmap(s1, flatmaps, height):
    if height not in flatmaps:
        flatmaps[height] = Flatmap(s1, height)
    return flatmaps[height]


def _test_images(s1, distances):
    transform = s1.transform("fullhead")
    volume = np.arange(np.prod(transform.shape), dtype=np.float64).reshape(transform.shape)
    volume.ravel()[::7] = np.nan
    thick = cortical_mask(s1, transform, "thick", distances=distances["fullhead"])
    columns = np.arange(thick.sum(), dtype=np.float64) * 0.5
    columns[::5] = np.nan
    vertex_values = np.arange(s1.n_vertices, dtype=np.float64)
    vertex_values[::11] = np.nan
    return transform, volume, thick, columns, vertex_values


@pytest.mark.parametrize("height", [64, 1024])
def test_flatmap_images_equal_make_flatmap_image(s1, ref, distances, flatmaps, height):
    """Guards against drift from cortex.quickflat.make_flatmap_image(..., height) for a Volume, a
    masked Volume of thick-mask columns and a Vertex: the flat mask, extents and every pixel
    (height 64 in full, 1024 by a hash of the whole image and 2000 stored pixels)."""
    transform, volume, thick, columns, vertex_values = _test_images(s1, distances)
    flatmap = _flatmap(s1, flatmaps, height)
    assert np.array_equal(flatmap.extents, ref[f"flat{height}__extents"])
    assert np.array_equal(flatmap.mask, bits(ref, f"flat{height}__mask_bits", flatmap.mask.shape))
    images = {"volume": flatmap.volume_image(volume, transform),
              "columns": flatmap.columns_image(columns, transform, thick),
              "vertex": flatmap.vertex_image(vertex_values)}
    for name, image in images.items():
        assert image.shape == (height, flatmap.width)
        if height == 64:
            assert np.array_equal(image, ref[f"flat64__{name}"], equal_nan=True), name
        else:
            stored = image.ravel()[ref[f"flat{height}__{name}_pixels"]]
            assert np.array_equal(stored, ref[f"flat{height}__{name}_values"], equal_nan=True), name
            assert canonical_sha256(image) == str(ref[f"flat{height}__{name}_sha256"]), name


def test_a_voxel_lands_on_the_pixels_that_sample_it(s1, flatmaps):
    """Guards against voxel order in the flat map: one cortical voxel's value shows exactly on the pixels
    whose cortical segment crosses it, those pixels lie over vertices within a few mm of the voxel,
    and every other pixel is NaN. (pycortex's quirk, kept: mask pixels outside every Delaunay
    triangle sample the voxel at the mm origin, which is thus the most sampled one.)"""
    transform = s1.transform("fullhead")
    flatmap = _flatmap(s1, flatmaps, 64)
    matrix = flatmap.pixel_matrix(transform)
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1])
    origin = np.ravel_multi_index(tuple(np.rint(transform.coord[:3, 3][::-1]).astype(int)), transform.shape)
    assert counts.argmax() == origin
    counts[origin] = 0
    voxel = counts.argmax()
    volume = np.full(transform.shape, np.nan)
    volume.ravel()[voxel] = 3.5
    image = flatmap.volume_image(volume, transform)
    samples = np.zeros(len(flatmap.points), dtype=bool)
    samples[matrix[:, voxel].nonzero()[0]] = True
    shown = np.full(flatmap.mask.shape, False)
    shown[flatmap.mask] = samples
    assert np.array_equal(np.isfinite(image), shown.T[::-1]) and (image[np.isfinite(image)] == 3.5).all()
    nearest_vertex = flatmap.vertex_image(np.arange(s1.n_vertices, dtype=np.float64))[np.isfinite(image)]
    fiducial, _ = s1.surfaces("fiducial")
    where = transform.to_voxels(fiducial[nearest_vertex.astype(int)])
    z, y, x = np.unravel_index(voxel, transform.shape)
    assert np.abs(where - [x, y, z]).max() < 4

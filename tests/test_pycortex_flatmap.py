"""braintune.data.pycortex.Flatmap on the tiny subject (tests/_pycortex_tiny.py): which pixel shows which
vertex and which voxels, the flat-map mask, ROI outlines in pixels. pycortex's own images of S1 are
compared in tests/test_pycortex_s1.py."""

from __future__ import annotations

import numpy as np
import pytest
from _pycortex_tiny import SHAPE_XYZ, make_subject

from braintune.data.pycortex import Flatmap, Subject
from braintune.data.pycortex.flatmap import _count_matrix

HEIGHT = 20  # the flat map is 8 x 4.25 mm: int(20 * 8 / 4.25) = 37 pixels wide


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    subject = Subject(make_subject(tmp_path_factory.mktemp("flat")))
    return subject, subject.transform("identity"), Flatmap(subject, HEIGHT)


def pixel_positions(flatmap):
    """(height, width) flat x and y of each image pixel (row 0 at the top), from the documented grid."""
    xmin, xmax, ymin, ymax = flatmap.extents
    cols, rows = np.meshgrid(np.arange(flatmap.width), np.arange(flatmap.height))
    x = xmin + cols * (xmax - xmin) / (flatmap.width - 1)
    y = ymax - rows * (ymax - ymin) / (flatmap.height - 1)
    return x, y


def test_grid_and_mask(tiny):
    """Guards against the image size, the orientation (row 0 = largest y) and the flat-map mask:
    pixels well inside a hemisphere's rectangle are on, pixels outside both are off (NaN)."""
    _, _, flatmap = tiny
    assert flatmap.shape == (20, 37) and flatmap.mask.shape == (37, 20)
    assert flatmap.extents.tolist() == [-4, 4, 0, 4.25]
    x, y = pixel_positions(flatmap)
    on = flatmap.mask.T[::-1]
    left = (x > -4 + 0.3) & (x < -0.3) & (y > 0.3) & (y < 4 - 0.3)
    right = (x > 0.3) & (x < 4 - 0.3) & (y > 0.55) & (y < 4.25 - 0.3)
    assert on[left | right].all()
    assert not on[((x < -0.3) & (y > 4.1)) | ((x > 0.3) & (y < 0.15))].any()
    image = flatmap.vertex_image(np.arange(50.0))
    assert np.isnan(image[~on]).all() and np.isfinite(image[on]).all()


def test_each_pixel_shows_its_nearest_vertex(tiny):
    """Guards against the vertex cache: a pixel within 0.3 mm of a vertex shows that vertex's value."""
    _, _, flatmap = tiny
    image = flatmap.vertex_image(np.arange(50.0))
    x, y = pixel_positions(flatmap)
    on = flatmap.mask.T[::-1]
    checked = 0
    for index in range(50):
        hemi, (r, c) = index // 25, divmod(index % 25, 5)
        vx, vy = (c - 4, r) if hemi == 0 else (c, r + 0.25)
        near = (np.hypot(x - vx, y - vy) < 0.3) & (np.abs(x) > 0.5) & on
        assert (image[near] == index).all()
        checked += near.sum()
    assert checked > 20


def test_each_pixel_averages_the_voxels_of_its_cortical_segment(tiny):
    """Guards against the pixel cache: a pixel at flat (x, y) of the left hemisphere lies over
    mm (x + 4, y); its 32 samples between wm (z = 1) and pia (z = 3) fall 8 / 16 / 8 in voxels z = 1, 2, 3."""
    _, xfm, flatmap = tiny
    z, y, x = np.meshgrid(*(np.arange(n) for n in xfm.shape), indexing="ij")
    image = flatmap.volume_image((x + 100 * y + 10000 * z).astype(float), xfm)
    px, py = pixel_positions(flatmap)
    mm_x, mm_y = np.where(px < 0, px + 4, px + 6), py
    clear = lambda v: np.abs(v - np.floor(v) - 0.5) > 0.02  # noqa: E731  (not on a rounding edge)
    in_rectangle = np.where(px < 0, py <= 4, py >= 0.25)  # the mask also takes a rim of pixels outside them
    inside = flatmap.mask.T[::-1] & in_rectangle & (np.abs(px) > 1) & clear(mm_x) & clear(mm_y)
    assert inside.sum() > 200
    expected = np.round(mm_x) + 100 * np.round(mm_y) + 10000 * 2.0
    assert np.array_equal(image[inside], expected[inside])


def test_one_voxel_lands_on_the_pixels_of_the_vertex_over_it(tiny):
    """Guards against voxel order and NaN handling: a single voxel's value shows exactly on the pixels
    whose nearest vertex is the one whose cortical segment crosses it; every other pixel is NaN."""
    _, xfm, flatmap = tiny
    volume = np.full(xfm.shape, np.nan)
    volume[2, 2, 2] = 7.0  # (z, y, x): above left vertex 12
    image = flatmap.volume_image(volume, xfm)
    nearest = flatmap.vertex_image(np.arange(50.0))
    assert np.isfinite(image).sum() > 0
    assert np.array_equal(np.isfinite(image), nearest == 12)
    assert (image[np.isfinite(image)] == 7.0).all()


def test_columns_image_is_the_volume_with_nan_off_the_mask(tiny):
    """Guards against column order: column values are the thick mask's voxels in C order of (z, y, x)."""
    _, xfm, flatmap = tiny
    rng = np.random.default_rng(0)
    thick = rng.random(xfm.shape) < 0.7
    columns = rng.standard_normal(int(thick.sum()))
    volume = np.full(xfm.shape, np.nan)
    volume[thick] = columns
    assert np.array_equal(flatmap.columns_image(columns, xfm, thick), flatmap.volume_image(volume, xfm),
                          equal_nan=True)
    with pytest.raises(ValueError, match="column values"):
        flatmap.columns_image(columns[:-1], xfm, thick)
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        flatmap.volume_image(np.zeros(SHAPE_XYZ), xfm)


def test_roi_outline_in_pixels(tiny):
    """Guards against the svg -> pixel (and mm) mapping: the square's corner svg (50, 75) is flat (-3.5, 3.5)."""
    _, _, flatmap = tiny
    outline = flatmap.roi_outlines()["square"][0]
    xmin, xmax, ymin, ymax = flatmap.extents
    to_flat = lambda col, row: (xmin + col * (xmax - xmin) / 36, ymax - row * (ymax - ymin) / 19)  # noqa: E731
    corners = [to_flat(col, row) for col, row in outline[:4]]
    assert np.allclose(corners, [(-3.5, 3.5), (-1.5, 3.5), (-1.5, 1.5), (-3.5, 1.5)])
    in_mm = flatmap.roi_outlines(units="mm")["square"][0]
    assert np.allclose(in_mm[:4], corners)


def test_weights_add_one_layer_at_a_time():
    """Guards against a shortcut (count * weight) that rounds differently from pycortex's layer-by-layer sums."""
    matrix = _count_matrix(np.array([0, 2]), np.array([[5, 5, -1], [1, 7, 1]]), 3, 8, 1 / 3)
    third = 1 / 3
    assert matrix.has_canonical_format
    assert matrix.toarray().tolist() == [[0] * 5 + [third + third, 0, 0], [0] * 8, [0, third + third] + [0] * 5 + [third]]

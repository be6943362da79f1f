"""Flat-map images of volumes, thick-mask columns and vertex values, as pycortex 1.4.0's quickflat makes them.

``Flatmap(subject, height).volume_image(volume, transform)`` equals
``cortex.quickflat.make_flatmap_image(cortex.Volume(volume, subject, xfmname), height=height)[0]``
with its defaults (nanmean=True; the pixel cache: pixelwise=True, thick=32, sampler="nearest"),
and ``vertex_image(values)`` equals it for ``cortex.Vertex(values, subject)``. How pycortex builds them
(``quickflat/utils.py``: ``_make_flatmask``, ``_make_pixel_cache``, ``_make_vertex_cache``):

- the flat surface of both hemispheres, nudged apart (float32). The image is `height` pixels high
  and int(height * x-size / y-size) wide; its mask is the two longest boundary loops of the flat
  mesh filled by PIL's ``ImageDraw.polygon`` after scaling by height / y-size.
- pixel (column i, row j from the bottom) sits at the flat point of ``np.mgrid[xmin:xmax:W*1j,
  ymin:ymax:H*1j]``; only pixels inside the mask are computed.
- volumes: each pixel's flat point lies in a triangle of the Delaunay triangulation of the flat
  vertices the flat mesh uses; its barycentric weights give a point on the pia and on the wm
  surface (mm -> voxels through the "coord" matrix). Pixels whose two points both lie in
  [0, size) on every axis take 32 points evenly inside the pia-wm segment (t = linspace(0, 1,
  34)[1:-1]); each point gives weight 1/32 to the voxel its rounded coordinates name. A pixel
  outside every triangle keeps the triangle weights 0 (so both its points are the mm origin).
- vertices: each pixel takes the value of the nearest flat vertex (scipy cKDTree) that the mesh uses.
- a pixel's value is the weighted mean of its voxels' values, NaN ignored; NaN where no weight.

Images are (height, width) float64, row 0 at the top of the map (the largest flat y), NaN off the cortex.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy import sparse

from braintune.data.pycortex.boundary import boundary_edges, trace_loops
from braintune.data.pycortex.overlays import Overlays, outline_polylines, read_overlays
from braintune.data.pycortex.subject import Subject, Transform
from braintune.errors import DataError

CORTICAL_SAMPLES = 32  # get_flatcache's thick
DEPTH = 0.5  # get_flatcache's depth (used when thick == 1)


class Flatmap:
    """The flat-map pixel grid of a subject at one image height, and the images made on it.

    mask: (width, height) bool, True for the pixels on the cortex (pycortex's ``get_flatmask``,
    x-major); extents: (4,) [xmin, xmax, ymin, ymax] of the flat map (mm, float32);
    points: (n_pixels, 2) float64 flat positions of the mask's True pixels, in mask.ravel() order.
    The matrices that sample volumes and vertices are made on first use and kept.
    """

    def __init__(self, subject: Subject, height: int = 1024):
        if int(height) < 2:
            raise ValueError(f"flat map height {height}: at least 2 pixels")
        self.subject, self.height = subject, int(height)
        self._flat, self._flat_polys = subject.surfaces("flat", nudge=True)
        self.mask, self.extents = self._make_mask()
        self.width = self.mask.shape[0]
        flat = self._flat
        fmax, fmin = flat.max(0), flat.min(0)
        size = fmax - fmin
        width = int(size[0] / size[1] * self.height)
        if width != self.width:  # pycortex asserts this
            raise DataError(f"{subject.surface_path('flat', 'lh')}: flat map {width} pixels wide by its aspect but "
                            f"{self.width} by its mask at height {self.height} (pycortex fails here too)")
        grid = np.mgrid[fmin[0]:fmax[0]:width * 1j, fmin[1]:fmax[1]:self.height * 1j].reshape(2, -1)
        self.points = grid.T[self.mask.ravel()]
        self._used = np.unique(self._flat_polys)
        self._pixel_matrices: dict[tuple, sparse.csr_matrix] = {}
        self._vertex_matrix: sparse.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the images."""
        return self.height, self.width

    def _make_mask(self) -> tuple[np.ndarray, np.ndarray]:
        """(mask (width, height) bool, extents (4,)): ``quickflat.utils._make_flatmask``."""
        from PIL import Image, ImageDraw

        pts = self._flat
        first, second = trace_loops(boundary_edges(self._flat_polys), str(self.subject.surface_path("flat", "lh")))
        aspect = self.height / (pts.max(0) - pts.min(0))[1]
        image = Image.new("L", (int(aspect * (pts.max(0) - pts.min(0))[0]), self.height))
        draw = ImageDraw.Draw(image)
        for loop in (first, second):
            corners = (pts[loop] - pts.min(0)) * aspect
            draw.polygon(corners[:, :2].ravel().tolist(), fill=255)
        extents = np.hstack([pts.min(0), pts.max(0)])[[0, 3, 1, 4]]
        return np.array(image).T > 0, extents

    # ---------------------------------------------------------------- sampling matrices
    def pixel_matrix(self, transform: Transform, thick: int = CORTICAL_SAMPLES, depth: float = DEPTH) -> sparse.csr_matrix:
        """(n_pixels, n_voxels) csr: each mask pixel's weights over the voxels (C order of (z, y, x)),
        ``_make_pixel_cache(subject, xfmname, height, thick, depth, sampler="nearest")``."""
        key = (transform.name, transform.folder, thick, depth)
        if key not in self._pixel_matrices:
            self._pixel_matrices[key] = self._make_pixel_matrix(transform, thick, depth)
        return self._pixel_matrices[key]

    def _make_pixel_matrix(self, transform: Transform, thick: int, depth: float) -> sparse.csr_matrix:
        from scipy.spatial import Delaunay

        used = self._used
        triangulation = Delaunay(self._flat[used, :2])
        with _one_blas_thread():  # scipy inverts one 2 x 2 matrix per triangle; threads only add waiting
            simplex = triangulation.find_simplex(self.points)
            affine = triangulation.transform[simplex]
        outside = simplex == -1
        l1, l2 = (affine[:, :2].transpose(1, 2, 0) * (self.points - affine[:, 2]).T).sum(1)
        weights = np.vstack([l1, l2, 1 - l1 - l2])
        weights[:, outside] = 0
        corners = triangulation.simplices[simplex]
        ends = []
        for kind in ("pia", "wm"):
            surface, _ = self.subject.surfaces(kind)
            ends.append(transform.to_voxels((surface[used][corners] * weights[np.newaxis].T).sum(1)))
        pia, wm = ends
        z, y, x = transform.shape
        inside = np.ones(len(self.points), dtype=bool)
        for coords in (pia, wm):
            inside &= np.all(coords >= 0, axis=1) & (coords[:, 0] < x) & (coords[:, 1] < y) & (coords[:, 2] < z)
        rows = np.flatnonzero(inside)
        pia, wm = pia[rows], wm[rows]
        depths = [depth] if thick == 1 else np.linspace(0, 1, thick + 2)[1:-1]
        voxels = np.empty((len(rows), len(depths)), dtype=np.int32 if np.prod(transform.shape) < 2**31 else np.int64)
        for k, t in enumerate(depths):
            voxels[:, k] = _segment_voxels(pia * t + wm * (1 - t), transform.shape)
        return _count_matrix(rows, voxels, len(self.points), int(np.prod(transform.shape)), 1 / float(thick))

    def vertex_matrix(self) -> sparse.csr_matrix:
        """(n_pixels, n_vertices) csr with one 1 per pixel at its nearest used flat vertex, ``_make_vertex_cache``."""
        if self._vertex_matrix is None:
            from scipy.spatial import cKDTree

            _, nearest = cKDTree(self._flat[self._used, :2]).query(self.points)
            n = len(self.points)
            self._vertex_matrix = sparse.csr_matrix((np.ones(n), (np.arange(n), self._used[nearest])),
                                                    shape=(n, len(self._flat)))
        return self._vertex_matrix

    # ---------------------------------------------------------------- images
    def image(self, matrix: sparse.csr_matrix, values: np.ndarray) -> np.ndarray:
        """(height, width) float64: the NaN-ignoring weighted mean of `values` (one per matrix column)
        at each pixel, ``make_flatmap_image``'s float branch with nanmean=True."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.shape[0] != matrix.shape[1]:
            raise ValueError(f"{values.shape[0]} values for a flat-map matrix of {matrix.shape[1]} columns")
        weighted = np.asarray(matrix.sum(1)).ravel() > 0
        total = matrix.dot(np.nan_to_num(values))
        counted = matrix.dot((~np.isnan(values)).astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / counted
        pixels = np.full(len(self.points), np.nan)
        pixels[weighted] = mean[weighted]
        image = np.full(self.mask.shape, np.nan)
        image[self.mask] = pixels
        return np.ascontiguousarray(image.T[::-1])

    def volume_image(self, volume: np.ndarray, transform: Transform) -> np.ndarray:
        """(height, width) image of a (z, y, x) volume (the transform's reference shape)."""
        volume = np.asarray(volume)
        if volume.shape != transform.shape:
            raise ValueError(f"volume of shape {volume.shape}; the transform {transform.name} needs (z, y, x) "
                             f"{transform.shape}")
        return self.image(self.pixel_matrix(transform), volume)

    def columns_image(self, columns: np.ndarray, transform: Transform, thick_mask: np.ndarray) -> np.ndarray:
        """(height, width) image of per-column values (n_columns,) = one per True voxel of `thick_mask`
        ((z, y, x) bool, C order), as ``cortex.Volume(columns, subject, xfmname, mask=thick_mask)``."""
        columns = np.asarray(columns, dtype=np.float64).ravel()
        if columns.shape[0] != int(thick_mask.sum()):
            raise ValueError(f"{columns.shape[0]} column values for a mask of {int(thick_mask.sum())} voxels")
        volume = np.full(thick_mask.shape, np.nan)
        volume[thick_mask] = columns
        return self.volume_image(volume, transform)

    def vertex_image(self, values: np.ndarray) -> np.ndarray:
        """(height, width) image of per-vertex values (n_vertices,), left hemisphere first."""
        return self.image(self.vertex_matrix(), values)

    # ---------------------------------------------------------------- ROI outlines
    def roi_outlines(self, overlays: Overlays | None = None, units: str = "pixels") -> dict[str, list[np.ndarray]]:
        """ROI name -> outlines, each (k, 2) float64, for drawing over the images.

        units "pixels": (column, row) in image pixels, row 0 at the top, pixel centres at integer
        positions (as matplotlib's imshow draws an array by default); an svg point (sx, sy) (y down)
        is at column sx / svg_width * (width - 1), row sy / svg_height * (height - 1), since the svg
        spans the flat map's extents as the pixel grid does. units "mm": flat-map (x, y), y up.
        overlays: default the subject's overlays.svg, layer "rois".
        """
        if units not in ("pixels", "mm"):
            raise ValueError(f"units {units!r}: 'pixels' or 'mm'")
        overlays = overlays if overlays is not None else read_overlays(self.subject.overlays_path)
        xmin, xmax, ymin, ymax = (float(v) for v in self.extents)
        if units == "pixels":
            scale, offset = np.array([(self.width - 1) / overlays.width, (self.height - 1) / overlays.height]), 0.0
        else:
            scale = np.array([(xmax - xmin) / overlays.width, -(ymax - ymin) / overlays.height])
            offset = np.array([xmin, ymax])
        return {name: [line * scale + offset for line in outline_polylines(paths)]
                for name, paths in overlays.shapes.items()}


def _one_blas_thread():
    """A context in which BLAS/LAPACK use one thread (threadpoolctl, installed with scikit-learn);
    scipy's Delaunay.transform makes ~10^5 tiny LAPACK calls that crawl when each wakes a thread pool
    on a busy machine (80 s instead of 2 s for S1 on 2 shared cores). Results do not change."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _segment_voxels(coords: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Flat voxel index (C order of (z, y, x)) of (n, 3) voxel coordinates (x, y, z) that lie within
    [0, size] on every axis: pycortex's nearest sampler (masks.nearest_voxels) for points known to
    be valid, as every point between a pixel's pia and wm ends is (both ends are in [0, size)).
    Rounded coordinates are whole numbers, so the index is computed exactly in float64."""
    z, y, x = shape
    rounded = np.clip(np.rint(coords), 0, np.array([x - 1, y - 1, z - 1], dtype=np.float64))
    return (rounded @ np.array([1.0, x, x * y])).astype(np.int64)


def _count_matrix(rows: np.ndarray, voxels: np.ndarray, n_rows: int, n_columns: int, weight: float) -> sparse.csr_matrix:
    """csr (n_rows, n_columns): row rows[i] gets, for each distinct voxel v >= 0 in voxels[i] (k samples,
    -1 = none), `weight` added once per occurrence, one float64 addition at a time, as pycortex adds
    its sampling layers one after the other (exact for 1/32; the same rounding for any weight).
    The result is canonical (sorted column indices, no duplicates), as scipy's sums are.

    Samples of one voxel mostly follow each other along a segment, so runs are counted first and
    only the runs are sorted.
    """
    n, k = voxels.shape
    change = np.ones((n, k), dtype=bool)
    change[:, 1:] = voxels[:, 1:] != voxels[:, :-1]
    run_start = np.flatnonzero(change.ravel())
    run_length = np.diff(np.append(run_start, n * k))
    run_voxel = voxels.ravel()[run_start].astype(np.int64)
    sampled = run_voxel >= 0
    key = (rows[run_start[sampled] // k].astype(np.int64) * n_columns + run_voxel[sampled])
    order = np.argsort(key, kind="stable")
    key, run_length = key[order], run_length[sampled][order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    counts = np.add.reduceat(run_length, first) if len(key) else np.zeros(0, dtype=np.int64)
    sums = [0.0]
    for _ in range(k):
        sums.append(sums[-1] + weight)
    row, column = np.divmod(key[first], n_columns)
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=n_rows))]
    return sparse.csr_matrix((np.array(sums)[counts], column, indptr), shape=(n_rows, n_columns))

"""The canonical cortex of simulated participants: one map shared by all, sampled by each.

**Canonical map.** Each hemisphere is the unit square of map coordinates (u, v): u runs from
the midline (0) outwards, v from ventral (0) to dorsal (1); both hemispheres have the same map.
It is cut into ATLAS_SIDE x ATLAS_SIDE atlas cells, and REGIONS gives each simulated area a
half-open rectangle of them (u0, u1, v0, v1)::

    u:       0-10   10-20 | 20-30  30-40  40-50 | 50-60
    v 24-36  PGs    TPOJ3 |                     |
    v 12-24  PGp    TPOJ2 |                     |
    v  0-12  PGi    TPOJ1 |                     |
    v 27-36               | A5     TA2    STGa  | IFSp
    v 18-27               | RI     A1     MBelt | IFJa
    v  9-18               | PBelt  LBelt  A4    | 44
    v  0-9                | STSdp  STSda  STSva | 45
    v 36-60  V1 V2 V4 POS2 7Am 3b 4 FEF 46 10d, 6 cells wide each (u 0-6, 6-12, ..., 54-60)

Early auditory (A1, belts, RI, A4) covers 15% of the map, late language 45%, the other areas
40% (KIND_SHARES). Every rectangle is >= 6 atlas cells (0.1) wide and >= 9 (0.15) tall, so a
grid of >= 10 x 7 cells per hemisphere samples every area. The map is a function of these
constants only.

**A participant** samples the map with its own grid (ParticipantGrid): nx x ny cells per
hemisphere, each one voxel of a volume (z, y, x) = (3, ny + 2, 2 nx + 2) whose middle layer
(z = CORTEX_LAYER) is cortex, a one-voxel margin around it. Left hemisphere at x = 1..nx (its
column nx borders the midline), right at x = nx + 1..2 nx; row y = 1..ny. A cell's canonical
position is its centre, u = (c + 0.5) / nx for the c-th column from the midline, v = (r + 0.5) / ny;
its area is the region of the atlas cell holding that centre. Its voxels, in C order of
(z, y, x), are the response columns (CortexVoxels).

**Surfaces** (native mm = (voxel - volume centre) * VOXEL_MM): every cell has four vertices, its
corners pulled in by INSET voxel, so each vertex lies in its own voxel; the vertices of a
hemisphere form a 2 ny x 2 nx grid, two triangles per grid square. wm and pia are at
-/+ DEPTH voxel from the layer's centre, the fiducial (their mean) on it. With VOXEL_MM = 12, a
cortex voxel's centre is 4.2 mm from its nearest vertices and any other voxel is >= 9 mm from
every vertex: pycortex's thick mask (< 8 mm) and cortical mask (<= the 8.4 mm thickness) are
exactly the cortex layer, and each cortex voxel's nearest vertex is one of its own. The flat
map is the (x, y) layout turned by FLAT_TILT_DEG per hemisphere, so that the two hemispheres,
set side by side by pycortex's nudge, touch only at opposite corners.

**Registration**: a vertex's sphere.reg point is the centre of the atlas cell of its cell's
canonical position, moved 0.2 atlas cell towards the vertex's corner, on the sphere
(sphere_points); the atlas's sphere has one vertex per atlas cell centre, so nearest-vertex
transfer gives each vertex its cell's area. The atlas has EXTRA_ROWS more rows (v in [1, 7/6),
outside every participant) carrying the other 148 HCP-MMP1 areas, so every area has vertices,
as in the real atlas ("???" is named but carries none).

**Common space** (MNI-like): canonical mm of a point of hemisphere h (0 left, 1 right) at (u, v)
are x = -/+ CANONICAL_WIDTH * u, y = CANONICAL_Y0 + CANONICAL_HEIGHT * v, z = CANONICAL_Z0
(canonical_mm); a participant's voxel grid maps there by one affine (ParticipantGrid.canonical_affine),
exactly at every cortex voxel centre (one layer spans CANONICAL_LAYER_MM in z). The atlas's white and
pial surfaces lie at CANONICAL_Z0 -/+ ATLAS_CORTEX_MM / 2 (its extra rows EXTRA_ROWS_Z_MM higher, outside
every volume): nilearn's vol_to_surf (linear, between white and pial) reads a vertex's value from the
participant's cortex voxels around it, diluted by at most 5% by the non-cortex layers above and below.

**Language read-out** (ReadoutField): one smooth random field of (u, v), drawn once per dataset,
gives the language voxels' weights: voxels at the same canonical place in different
participants (and both hemispheres) read the same stimulus features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from braintune.data.rois import GLASSER_AREAS, ROI_GROUPS

ATLAS_SIDE = 60  # atlas cells per side of the canonical map
EXTRA_ROWS = 10  # atlas rows beyond the map (v >= 1) carrying the HCP-MMP1 areas the simulator does not use
OTHER_AREAS = ("V1", "V2", "V4", "POS2", "7Am", "3b", "4", "FEF", "46", "10d")
# area -> (u0, u1, v0, v1): half-open rectangle of atlas cells
REGIONS: dict[str, tuple[int, int, int, int]] = {
    "PGi": (0, 10, 0, 12), "TPOJ1": (10, 20, 0, 12),
    "PGp": (0, 10, 12, 24), "TPOJ2": (10, 20, 12, 24),
    "PGs": (0, 10, 24, 36), "TPOJ3": (10, 20, 24, 36),
    "STSdp": (20, 30, 0, 9), "STSda": (30, 40, 0, 9), "STSva": (40, 50, 0, 9),
    "PBelt": (20, 30, 9, 18), "LBelt": (30, 40, 9, 18), "A4": (40, 50, 9, 18),
    "RI": (20, 30, 18, 27), "A1": (30, 40, 18, 27), "MBelt": (40, 50, 18, 27),
    "A5": (20, 30, 27, 36), "TA2": (30, 40, 27, 36), "STGa": (40, 50, 27, 36),
    "45": (50, 60, 0, 9), "44": (50, 60, 9, 18), "IFJa": (50, 60, 18, 27), "IFSp": (50, 60, 27, 36),
    **{area: (6 * n, 6 * n + 6, 36, 60) for n, area in enumerate(OTHER_AREAS)},
}
KINDS = ("noise", "auditory", "language")  # voxel kinds, by the area's group
KIND_GROUPS = {1: ROI_GROUPS["early_auditory"], 2: ROI_GROUPS["late_language"]}
# the dataset-style functional ROIs drawn in overlays.svg: name -> the areas it covers (a rectangle of the map)
OVERLAY_ROIS = {"AC": ROI_GROUPS["early_auditory"], "Broca": ("44", "45"), "sPMv": ("IFJa",), "V1": ("V1",)}

VOXEL_MM = 12.0  # participant voxel size (mm)
INSET = 0.25  # vertices sit at the cell's corners pulled in by this many voxels
DEPTH = 0.35  # wm and pia at -/+ this many voxels from the cortex layer's centre
CORTEX_LAYER = 1  # z index of the cortex layer (volume of 3 layers)
FLAT_TILT_DEG = 10.0  # turn of each hemisphere's flat map
SPHERE_RADIUS = 100.0  # mm, as FreeSurfer's spheres
REGISTRATION_SHIFT = 0.2  # atlas cells from a sphere.reg point to its atlas vertex
CANONICAL_WIDTH, CANONICAL_HEIGHT = 64.0, 120.0  # mm of the map in the common space
CANONICAL_Y0, CANONICAL_Z0, CANONICAL_LAYER_MM = -80.0, 20.0, 10.0
ATLAS_CORTEX_MM = 1.0  # white-to-pial distance of the atlas surfaces in the common space
EXTRA_ROWS_Z_MM = 60.0  # the atlas's extra rows lie this far above the map's layer, outside every participant's volume


def area_kind(area: str) -> int:
    """Index into KINDS of an area: 1 early auditory, 2 late language, 0 anything else."""
    return next((kind for kind, areas in KIND_GROUPS.items() if area in areas), 0)


KIND_SHARES = {KINDS[k]: sum((u1 - u0) * (v1 - v0) for a, (u0, u1, v0, v1) in REGIONS.items() if area_kind(a) == k)
               / ATLAS_SIDE ** 2 for k in (1, 2)}  # share of the map: {"auditory": 0.15, "language": 0.45}


@cache
def atlas_labels() -> np.ndarray:
    """(ATLAS_SIDE + EXTRA_ROWS, ATLAS_SIDE) int: the GLASSER_AREAS index of each atlas cell (v row, u column).

    Rows below ATLAS_SIDE hold REGIONS; the extra rows share the other HCP-MMP1 areas out in
    GLASSER_AREAS order (4-5 cells each). Read-only.
    """
    labels = np.full((ATLAS_SIDE + EXTRA_ROWS, ATLAS_SIDE), -1, dtype=np.int64)
    for area, (u0, u1, v0, v1) in REGIONS.items():
        labels[v0:v1, u0:u1] = GLASSER_AREAS.index(area)
    others = np.array([i for i, area in enumerate(GLASSER_AREAS) if area not in REGIONS])
    n_extra = EXTRA_ROWS * ATLAS_SIDE
    labels[ATLAS_SIDE:] = others[np.arange(n_extra) * len(others) // n_extra].reshape(EXTRA_ROWS, ATLAS_SIDE)
    if (labels < 0).any():
        raise RuntimeError("REGIONS leave part of the canonical map without an area")
    labels.flags.writeable = False
    return labels


def atlas_cell(index: np.ndarray, n_cells: int) -> np.ndarray:
    """Atlas cell (along one axis) holding the centre of grid cell `index` of `n_cells`: floor(ATLAS_SIDE * (index + 0.5) / n_cells), in integers."""
    return (ATLAS_SIDE * (2 * np.asarray(index) + 1)) // (2 * n_cells)


def sphere_points(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n, 3) float64 points on the SPHERE_RADIUS sphere of canonical (u, v): longitude (u - 0.5) * 90 deg, latitude (v - 0.5) * 90 deg."""
    lon, lat = (np.asarray(u) - 0.5) * np.pi / 2, (np.asarray(v) - 0.5) * np.pi / 2
    return SPHERE_RADIUS * np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def canonical_mm(hemisphere: np.ndarray, u: np.ndarray, v: np.ndarray, z: float = CANONICAL_Z0) -> np.ndarray:
    """(n, 3) float64 common-space mm of canonical positions: x = -/+ CANONICAL_WIDTH u (left negative);
    positions beyond the map (v >= 1, the atlas's extra rows) are raised by EXTRA_ROWS_Z_MM."""
    side = np.where(np.asarray(hemisphere) == 0, -1.0, 1.0)
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return np.column_stack([side * CANONICAL_WIDTH * u, CANONICAL_Y0 + CANONICAL_HEIGHT * v,
                            z + np.where(v >= 1, EXTRA_ROWS_Z_MM, 0.0)])


def grid_triangles(rows: int, cols: int) -> np.ndarray:
    """(2 (rows - 1)(cols - 1), 3) int32 triangles of a row-major rows x cols vertex grid, two per square."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (r * cols + c).ravel()
    return np.concatenate([np.column_stack([a, a + 1, a + cols + 1]),
                           np.column_stack([a, a + cols + 1, a + cols])]).astype(np.int32)


@dataclass(frozen=True)
class CortexVoxels:
    """A participant's cortex voxels in C order of (z, y, x): the response columns (V of them)."""

    flat_index: np.ndarray  # (V,) int64 index into the (z, y, x) volume, increasing
    voxel: np.ndarray  # (V, 3) int64 voxel coordinates (x, y, z) of the reference volume
    hemisphere: np.ndarray  # (V,) int8, 0 left, 1 right
    position: np.ndarray  # (V, 2) float64 canonical (u, v) of the cell centre
    atlas_cell: np.ndarray  # (V, 2) int64 atlas cell (u, v) holding that centre
    area: np.ndarray  # (V,) str, the area of that atlas cell

    @property
    def kind(self) -> np.ndarray:
        """(V,) int8 index into KINDS."""
        return np.array([area_kind(a) for a in self.area], dtype=np.int8)


@dataclass(frozen=True)
class ParticipantGrid:
    """nx x ny cells per hemisphere (see the module docstring for the volume and surfaces)."""

    nx: int
    ny: int

    @classmethod
    def for_voxels(cls, n_voxels: int) -> "ParticipantGrid":
        """The grid whose 2 nx ny voxels come nearest n_voxels with 1.1 <= nx / ny <= 1.5 (then: nx / ny
        nearest 1.25); from 152 voxels on, nx >= 10 and ny >= 7, so every area has voxels."""
        candidates = [(abs(2 * nx * ny - n_voxels), abs(nx / ny - 1.25), nx, ny)
                      for nx in range(1, n_voxels + 1) for ny in [max(1, round(n_voxels / (2 * nx)))]
                      if 1.1 <= nx / ny <= 1.5]
        _, _, nx, ny = min(candidates)
        return cls(nx, ny)

    @property
    def n_voxels(self) -> int:
        return 2 * self.nx * self.ny

    @property
    def shape(self) -> tuple[int, int, int]:
        """The volume's (z, y, x) shape (pycortex's order; the NIfTI array is its transpose)."""
        return 3, self.ny + 2, 2 * self.nx + 2

    def voxels(self) -> CortexVoxels:
        """The cortex voxels, row by row (y), left hemisphere's cells then right's within a row."""
        row, i = np.divmod(np.arange(self.n_voxels), 2 * self.nx)
        hemisphere = (i >= self.nx).astype(np.int8)
        column = np.where(hemisphere == 0, self.nx - 1 - i, i - self.nx)  # from the midline outwards
        voxel = np.column_stack([i + 1, row + 1, np.full(i.shape, CORTEX_LAYER)])
        position = np.column_stack([(2 * column + 1) / (2 * self.nx), (2 * row + 1) / (2 * self.ny)])
        cell = np.column_stack([atlas_cell(column, self.nx), atlas_cell(row, self.ny)])
        area = np.array(GLASSER_AREAS)[atlas_labels()[cell[:, 1], cell[:, 0]]]
        flat = np.ravel_multi_index((voxel[:, 2], voxel[:, 1], voxel[:, 0]), self.shape)
        return CortexVoxels(flat, voxel, hemisphere, position, cell, area)

    def mask(self) -> np.ndarray:
        """(z, y, x) bool: the cortex voxels (pycortex's thick mask of these surfaces)."""
        mask = np.zeros(int(np.prod(self.shape)), dtype=bool)
        mask[self.voxels().flat_index] = True
        return mask.reshape(self.shape)

    # ---- native space -----------------------------------------------------------------
    def voxel_to_mm(self) -> np.ndarray:
        """(4, 4) native affine, voxel (x, y, z) -> mm, centred on the volume (the reference's affine)."""
        centre = (np.array(self.shape[::-1]) - 1) / 2
        affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
        affine[:3, 3] = -VOXEL_MM * centre
        return affine

    def coord(self) -> np.ndarray:
        """(4, 4) pycortex "coord" transform: surface mm -> voxel (x, y, z)."""
        centre = (np.array(self.shape[::-1]) - 1) / 2
        coord = np.diag([1 / VOXEL_MM, 1 / VOXEL_MM, 1 / VOXEL_MM, 1.0])
        coord[:3, 3] = centre
        return coord

    def to_mm(self, voxel_xyz: np.ndarray) -> np.ndarray:
        """(n, 3) voxel coordinates -> (n, 3) native mm."""
        return (np.asarray(voxel_xyz, dtype=np.float64) - (np.array(self.shape[::-1]) - 1) / 2) * VOXEL_MM

    def hemisphere_vertices(self, hemisphere: int) -> tuple[np.ndarray, np.ndarray]:
        """One hemisphere's vertices: (voxel (x, y) (n, 2) float64, corner (n, 2) int -1/+1 in x and y),
        row-major over its 2 ny x 2 nx grid (n = 4 nx ny); vertex (a, b) is corner (b % 2, a % 2) of cell
        (x = hemisphere * nx + 1 + b // 2, y = 1 + a // 2)."""
        a, b = np.divmod(np.arange(4 * self.nx * self.ny), 2 * self.nx)
        corner = np.column_stack([2 * (b % 2) - 1, 2 * (a % 2) - 1])
        centre = np.column_stack([hemisphere * self.nx + 1 + b // 2, 1 + a // 2])
        return centre + INSET * corner, corner

    def surface(self, kind: str, hemisphere: int) -> np.ndarray:
        """(n, 3) float64 native mm of one hemisphere's surface: "wm", "pia", "fiducial", "flat" or "inflated"."""
        xy, _ = self.hemisphere_vertices(hemisphere)
        if kind == "flat":
            return np.column_stack([self.flat_xy(hemisphere, xy), np.zeros(len(xy))])
        depth = {"wm": -DEPTH, "pia": DEPTH, "fiducial": 0.0, "inflated": 0.0}[kind]
        points = self.to_mm(np.column_stack([xy, np.full(len(xy), CORTEX_LAYER + depth)]))
        if kind == "inflated":
            centre = points.mean(axis=0)
            return centre + 1.25 * (points - centre)
        return points

    def flat_xy(self, hemisphere: int, voxel_xy: np.ndarray) -> np.ndarray:
        """(n, 2) voxel (x, y) of a hemisphere -> (n, 2) flat-map mm: native (x, y) mm turned by
        FLAT_TILT_DEG counter-clockwise about the hemisphere's centre."""
        centre = self.to_mm([[hemisphere * self.nx + (self.nx + 1) / 2, (self.ny + 1) / 2, CORTEX_LAYER]])[0, :2]
        xy = self.to_mm(np.column_stack([voxel_xy, np.full(len(voxel_xy), CORTEX_LAYER)]))[:, :2]
        t = np.deg2rad(FLAT_TILT_DEG)
        rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        return centre + (xy - centre) @ rotation.T

    def triangles(self) -> np.ndarray:
        """(f, 3) int32 triangles of one hemisphere (the same for every surface, flat included)."""
        return grid_triangles(2 * self.ny, 2 * self.nx)

    def sphere_reg(self, hemisphere: int) -> np.ndarray:
        """(n, 3) float64 sphere.reg points of one hemisphere's vertices (module docstring, Registration)."""
        xy, corner = self.hemisphere_vertices(hemisphere)
        x_cell, y_cell = np.rint(xy - INSET * corner).astype(int).T
        column = self.nx - x_cell if hemisphere == 0 else x_cell - self.nx - 1
        u_sign = -corner[:, 0] if hemisphere == 0 else corner[:, 0]  # the left map is mirrored in x
        u = (atlas_cell(column, self.nx) + 0.5 + REGISTRATION_SHIFT * u_sign) / ATLAS_SIDE
        v = (atlas_cell(y_cell - 1, self.ny) + 0.5 + REGISTRATION_SHIFT * corner[:, 1]) / ATLAS_SIDE
        return sphere_points(u, v)

    # ---- common space -----------------------------------------------------------------
    def canonical_affine(self) -> np.ndarray:
        """(4, 4) voxel (x, y, z) -> common-space mm (canonical_mm at every cortex voxel centre).

        Left cell column c (x = nx - c) and right (x = nx + 1 + c) are at -/+ W (c + 0.5) / nx, i.e.
        x_mm = W / nx * (x - nx - 0.5); y_mm = Y0 + H (y - 0.5) / ny; z_mm = Z0 + LAYER (z - CORTEX_LAYER).
        """
        affine = np.diag([CANONICAL_WIDTH / self.nx, CANONICAL_HEIGHT / self.ny, CANONICAL_LAYER_MM, 1.0])
        affine[:3, 3] = [-CANONICAL_WIDTH * (self.nx + 0.5) / self.nx, CANONICAL_Y0 - 0.5 * CANONICAL_HEIGHT / self.ny,
                         CANONICAL_Z0 - CANONICAL_LAYER_MM * CORTEX_LAYER]
        return affine


def atlas_vertices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The atlas's vertices (one per atlas cell, row-major, the same for both hemispheres):
    (u (n,), v (n,), GLASSER_AREAS index (n,)), n = ATLAS_SIDE * (ATLAS_SIDE + EXTRA_ROWS)."""
    labels = atlas_labels()
    v, u = np.divmod(np.arange(labels.size), ATLAS_SIDE)
    return (u + 0.5) / ATLAS_SIDE, (v + 0.5) / ATLAS_SIDE, labels.ravel()


@dataclass(frozen=True)
class ReadoutField:
    """A smooth random field of the canonical position: the language voxels' read-out weights.

    w(p) = sqrt(2 / K) * sum_k coef[k] * cos(omega[k] . p + phase[k]) (random Fourier features of a
    Gaussian process with length scale LENGTH map units and unit variance), p = (u, v).
    """

    omega: np.ndarray  # (K, 2)
    phase: np.ndarray  # (K,)
    coef: np.ndarray  # (K, D)

    LENGTH = 0.1  # map units (an area is 0.1-0.2 across)
    COMPONENTS = 64

    @classmethod
    def draw(cls, dims: int, rng: np.random.Generator) -> "ReadoutField":
        omega = rng.standard_normal((cls.COMPONENTS, 2)) / cls.LENGTH
        phase = rng.uniform(0.0, 2 * np.pi, cls.COMPONENTS)
        return cls(omega, phase, rng.standard_normal((cls.COMPONENTS, dims)))

    def __call__(self, position: np.ndarray) -> np.ndarray:
        """(V, 2) canonical positions -> (V, D) float64 weights; element by element, so equal
        positions give equal bits whatever the other rows."""
        position = np.asarray(position, dtype=np.float64)
        out = np.zeros((len(position), self.coef.shape[1]))
        for omega, phase, coef in zip(self.omega, self.phase, self.coef):
            out += np.cos(position[:, 0] * omega[0] + position[:, 1] * omega[1] + phase)[:, None] * coef
        return out * np.sqrt(2.0 / len(self.phase))

"""Flat maps of per-voxel values, drawn with matplotlib on braintune.data.pycortex's flat-map images.

    cortex = CortexMap(subject_dir, transform, height, areas)   # one per participant: the pixel matrix is built once
    cortex.image(columns)            (H, W) pycortex's quickflat image of per-column values (thick-mask voxels)
    cortex.volume_image(volume)      (H, W) the same for a (z, y, x) volume
    cortex.dominant_image(columns)   (H, W) each pixel the value of its most-weighted voxel (categories: layers)
    map_figure(cortex, panels, title) -> Figure, one flat map per Panel, each with its colour bar

Images are (H, W) float64, row 0 at the top of the map, the left hemisphere on the left (pycortex's
nudge), NaN off the cortex. Drawn over each map: the dataset's ROI shapes (overlays.svg, solid black)
and HCP-MMP1 area borders (thin grey, from area -> vertex indices), with their names; pixels on the
cortex without a value (no voxel above the ceiling threshold) are grey; an optional (H, W) fraction of
not-significant voxels is hatched where it exceeds one half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from matplotlib import colors, patheffects
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import sparse

from braintune.data.pycortex import Flatmap, Subject, cortical_mask
from braintune.errors import ConfigError, DataError

GREY = (0.78, 0.78, 0.78, 1.0)  # on the cortex, no value
HATCH = "////"
ROI_STYLE = dict(color="black", linewidth=1.3)
AREA_STYLE = dict(color="0.25", linewidth=0.6, linestyle=(0, (3, 1.5)))
HALO = [patheffects.withStroke(linewidth=2.4, foreground="white")]
PANEL_WIDTH = 10.0  # inches of one map (colour bar included)
MARGIN = 0.02  # of the map's width on each side: outlines drawn past the cortex stay in view


@dataclass(frozen=True)
class Outline:
    """A named outline to draw: lines, each (k, 2) (column, row) in image pixels, and where its name goes (2,)."""

    name: str
    lines: list[np.ndarray]
    anchor: np.ndarray


class CortexMap:
    """One participant's flat map: its Flatmap at `height` (the pixel matrix, the slow part, made once
    and kept), thick mask, ROI outlines and area borders.

    areas: HCP-MMP1 area -> vertex indices (left hemisphere first) whose borders to draw, or None.
    The thick mask (stored, else computed as pycortex does) is read on first use.
    """

    def __init__(self, subject_dir: str | Path, transform: str, height: int = 1024,
                 areas: Mapping[str, np.ndarray] | None = None):
        self.subject = Subject(subject_dir)
        self.transform = self.subject.transform(transform)
        self.flatmap = Flatmap(self.subject, height)
        self._areas = dict(areas or {})

    @property
    def shape(self) -> tuple[int, int]:
        return self.flatmap.shape

    @cached_property
    def thick(self) -> np.ndarray:
        """(z, y, x) bool: the thick mask, whose True voxels in C order are the response columns."""
        return cortical_mask(self.subject, self.transform, "thick")

    @cached_property
    def on_cortex(self) -> np.ndarray:
        """(H, W) bool: the flat map's pixels (pycortex's flat mask), row 0 at the top."""
        return np.ascontiguousarray(self.flatmap.mask.T[::-1])

    def volume_image(self, volume: np.ndarray) -> np.ndarray:
        """(H, W) image of a (z, y, x) volume (Flatmap.volume_image)."""
        return self.flatmap.volume_image(volume, self.transform)

    def image(self, columns: np.ndarray) -> np.ndarray:
        """(H, W) image of per-column values (n_columns,), NaN voxels ignored (Flatmap.columns_image)."""
        return self.flatmap.columns_image(columns, self.transform, self.thick)

    def dominant_image(self, columns: np.ndarray) -> np.ndarray:
        """(H, W) image whose pixels hold the value of their most-weighted voxel with a finite value (the
        first such voxel in C order on a tie), NaN where none: a category (a layer number) is never averaged."""
        volume = np.full(self.thick.shape, np.nan)
        volume[self.thick] = np.asarray(columns, dtype=np.float64)
        values = volume.ravel()
        weights = self.flatmap.pixel_matrix(self.transform)
        weights = (weights @ sparse.diags(np.isfinite(values).astype(np.float64))).tocsr()
        weights.eliminate_zeros()
        return self.flatmap.image(heaviest_column(weights), values)

    # ---------------------------------------------------------------- what is drawn over the maps
    @cached_property
    def roi_outlines(self) -> list[Outline]:
        """The dataset's ROI shapes (overlays.svg, layer "rois"), one Outline per path; [] without the file."""
        if not self.subject.overlays_path.is_file():
            return []
        outlines = []
        for name, lines in self.flatmap.roi_outlines(units="pixels").items():
            outlines += [Outline(name, [line], line.mean(axis=0)) for line in lines if len(line) > 1]
        return outlines

    @cached_property
    def area_outlines(self) -> list[Outline]:
        """HCP-MMP1 area borders, one Outline per area and hemisphere (contours of its pixels)."""
        return area_outlines(self.flatmap, self._areas, self.subject.vertex_counts[0])


def heaviest_column(weights: sparse.csr_matrix) -> sparse.csr_matrix:
    """(rows, columns) csr with one 1 per non-empty row, at the row's largest weight (first on a tie)."""
    weights = weights.tocsr()
    weights.sort_indices()
    lengths = np.diff(weights.indptr)
    rows = np.repeat(np.arange(weights.shape[0]), lengths)
    if not len(rows):
        return sparse.csr_matrix(weights.shape)
    row_max = np.full(weights.shape[0], -np.inf)
    np.maximum.at(row_max, rows, weights.data)
    at_max = np.flatnonzero(weights.data == row_max[rows])
    _, first = np.unique(rows[at_max], return_index=True)
    chosen = at_max[first]
    return sparse.csr_matrix((np.ones(len(chosen)), (rows[chosen], weights.indices[chosen])), shape=weights.shape)


def area_outlines(flatmap: Flatmap, areas: Mapping[str, np.ndarray], n_left: int) -> list[Outline]:
    """Outline per area and hemisphere: the 0.5 contour of its pixels in the vertex image (pixels take
    their nearest vertex's area), the name at the area's pixel nearest its centroid."""
    from contourpy import contour_generator

    if not areas:
        return []
    labels = np.full(flatmap.subject.n_vertices, np.nan)
    names = list(areas)
    for index, name in enumerate(names):
        vertices = np.asarray(areas[name], dtype=np.int64)
        labels[vertices] = 2 * index + (vertices >= n_left)
    image = flatmap.vertex_image(labels)
    outlines = []
    for code in np.unique(image[np.isfinite(image)]):
        rows, cols = np.nonzero(image == code)
        top, left = rows.min(), cols.min()
        inside = np.pad((image[top:rows.max() + 1, left:cols.max() + 1] == code).astype(np.float64), 1)
        lines = contour_generator(z=inside, line_type="Separate").lines(0.5)
        centre = np.array([cols.mean(), rows.mean()])
        nearest = np.argmin((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2)
        outlines.append(Outline(names[int(code) // 2], [line + [left - 1, top - 1] for line in lines],
                                np.array([cols[nearest], rows[nearest]], dtype=np.float64)))
    return outlines


# -------------------------------------------------------------------- colour scales
@dataclass(frozen=True)
class Scale:
    """How values become colours: a colour map and norm, the colour bar's label (with units) and ticks."""

    cmap: colors.Colormap
    norm: colors.Normalize
    label: str
    ticks: Sequence[float] | None = None
    extend: str = "neither"


def _robust_limit(values: np.ndarray, percentile: float = 99.0) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(np.percentile(finite, percentile)) if finite.size else 1.0


def sequential_scale(values: np.ndarray, label: str, cmap: str = "viridis", vmin: float | None = None,
                     vmax: float | None = None) -> Scale:
    """From vmin (default 0, or the 1st percentile if lower) to vmax (default the 99th percentile of |values|)."""
    finite = values[np.isfinite(values)]
    low = vmin if vmin is not None else min(0.0, float(np.percentile(finite, 1)) if finite.size else 0.0)
    high = vmax if vmax is not None else max(_robust_limit(values), low + 1e-6)
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (bool(finite.size and finite.min() < low), bool(finite.size and finite.max() > high))]
    return Scale(colormap(cmap), colors.Normalize(low, high), label, extend=extend)


def diverging_scale(values: np.ndarray, label: str, cmap: str = "RdBu_r", limit: float | None = None) -> Scale:
    """Centred on 0, from -limit to +limit (default the 99th percentile of |values|)."""
    limit = limit if limit is not None else max(_robust_limit(values), 1e-6)
    finite = np.abs(values[np.isfinite(values)])
    return Scale(colormap(cmap), colors.TwoSlopeNorm(0.0, -limit, limit), label,
                 extend="both" if finite.size and finite.max() > limit else "neither")


def layer_scale(layers: Sequence[int], label: str = "layer of highest r", cmap: str = "viridis") -> Scale:
    """One colour per layer (ordered), a tick per layer number."""
    layers = sorted(int(layer) for layer in layers)
    edges = [layers[0] - 0.5, *[(a + b) / 2 for a, b in zip(layers, layers[1:])], layers[-1] + 0.5]
    listed = colors.ListedColormap(colormap(cmap)(np.linspace(0, 1, len(layers))))
    return Scale(listed.with_extremes(bad=(0, 0, 0, 0)), colors.BoundaryNorm(edges, len(layers)), label, ticks=layers)


def colormap(name: str) -> colors.Colormap:
    """A matplotlib colour map by name, NaN transparent; ConfigError naming it if unknown."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ConfigError(f"unknown colour map {name!r} (matplotlib's names, e.g. viridis, magma, RdBu_r)") from None
    return cmap.with_extremes(bad=(0, 0, 0, 0))


# -------------------------------------------------------------------- drawing
@dataclass
class Panel:
    """One map: image (H, W), its Scale, a title, and optionally (H, W) the fraction of not-significant
    voxels per pixel (hatched above one half)."""

    image: np.ndarray
    scale: Scale
    title: str
    not_significant: np.ndarray | None = None


def draw_panel(ax: Axes, bar_ax: Axes, cortex: CortexMap, panel: Panel, outlines: bool = True) -> None:
    """Draw one map on ax (grey cortex, the image, hatching, outlines and names) and its colour bar on bar_ax."""
    height, width = cortex.shape
    if panel.image.shape != (height, width):
        raise ValueError(f"image of shape {panel.image.shape}; the flat map is {(height, width)}")
    scale = panel.scale
    rgba = scale.cmap(scale.norm(np.ma.masked_invalid(panel.image)))
    rgba[np.isnan(panel.image) & cortex.on_cortex] = GREY
    ax.imshow(rgba, interpolation="nearest")
    if panel.not_significant is not None and np.nanmax(panel.not_significant, initial=0) > 0.5:
        ax.contourf(np.ma.masked_invalid(panel.not_significant), levels=[0.5, 1.5], colors="none", hatches=[HATCH])
    if outlines:
        _draw_outlines(ax, cortex.area_outlines, AREA_STYLE, dict(fontsize=6.5, color="0.15", fontstyle="italic"))
        _draw_outlines(ax, cortex.roi_outlines, ROI_STYLE, dict(fontsize=7, color="black", fontweight="bold"))
    pad = MARGIN * width
    ax.set_xlim(-0.5 - pad, width - 0.5 + pad)
    ax.set_ylim(height - 0.5 + pad, -0.5 - pad)
    ax.set_axis_off()
    ax.set_title(panel.title, fontsize="medium")
    bar = ax.figure.colorbar(ScalarMappable(scale.norm, scale.cmap), cax=bar_ax, extend=scale.extend, ticks=scale.ticks)
    bar.set_label(scale.label)


def _draw_outlines(ax: Axes, outlines: list[Outline], line_style: dict, text_style: dict) -> None:
    lines = [line for outline in outlines for line in outline.lines]
    if lines:
        ax.add_collection(LineCollection(lines, path_effects=HALO, **line_style))
    for outline in outlines:
        ax.text(*outline.anchor, outline.name, ha="center", va="center", path_effects=HALO, **text_style)


def legend_handles(cortex: CortexMap, grey: str, hatched: str | None) -> list:
    """What the grey, the hatching and the two kinds of outline mean (only those the maps show)."""
    handles = [Patch(facecolor=GREY, edgecolor="none", label=grey)]
    if hatched:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=HATCH, label=hatched))
    if cortex.roi_outlines:
        handles.append(Line2D([], [], label="dataset ROI (overlays.svg)", **ROI_STYLE))
    if cortex.area_outlines:
        handles.append(Line2D([], [], label="HCP-MMP1 area", **AREA_STYLE))
    return handles


def map_figure(cortex: CortexMap, panels: Sequence[Panel], title: str, legend: Sequence = (),
               outlines: bool = True) -> Figure:
    """A figure of flat maps stacked vertically, each with its colour bar on the right, a title above and
    a legend below. Axes are placed in inches (no layout engine: drawing stays fast for large maps)."""
    height, width = cortex.shape
    map_width = PANEL_WIDTH - 1.6  # inches; the colour bar, its ticks and label take the rest
    map_height = map_width * (height + 2 * MARGIN * width) / (width + 2 * MARGIN * width)
    top, title_height, bottom = 0.45, 0.3, 0.45 if legend else 0.1
    figure_height = top + len(panels) * (title_height + map_height) + bottom
    fig = Figure(figsize=(PANEL_WIDTH, figure_height))

    def box(left: float, low: float, box_width: float, box_height: float) -> list[float]:
        return [left / PANEL_WIDTH, low / figure_height, box_width / PANEL_WIDTH, box_height / figure_height]

    for k, panel in enumerate(panels):
        low = figure_height - top - (k + 1) * (title_height + map_height)
        ax = fig.add_axes(box(0.1, low, map_width, map_height))
        bar_ax = fig.add_axes(box(0.1 + map_width + 0.15, low + 0.1 * map_height, 0.17, 0.8 * map_height))
        draw_panel(ax, bar_ax, cortex, panel, outlines=outlines)
    fig.suptitle(title, y=1 - 0.12 / figure_height, va="top", fontweight="bold")
    if legend:
        fig.legend(handles=list(legend), loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(legend), 4),
                   frameon=False, fontsize="small")
    return fig


# -------------------------------------------------------------------- one map from a file (`braintune flatmap`)
def values_image(cortex: CortexMap, values: np.ndarray, source: str | Path) -> np.ndarray:
    """(H, W) image of `values`: one per voxel of the (z, y, x) volume (that shape, or flat in C order),
    else one per column of the thick mask (n_columns,). Another shape: DataError naming `source`."""
    shape = cortex.transform.shape
    if values.shape == shape or values.shape == (int(np.prod(shape)),):
        return cortex.volume_image(values.reshape(shape))
    n_columns = int(cortex.thick.sum())
    if values.shape == (n_columns,):
        return cortex.image(values)
    raise DataError(f"{source}: values of shape {values.shape}; expected one per voxel of the (z, y, x) volume "
                    f"{shape} (or flat, ({int(np.prod(shape))},)) or one per column of the thick mask ({n_columns},)")


def write_flatmap(subject_dir: str | Path, transform: str, values_path: str | Path, out: str | Path, height: int = 1024,
                  cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None, label: str = "value",
                  outlines: bool = True, pdf: bool = False) -> np.ndarray:
    """Draw the values of a .npy file (values_image) on a subject's flat map: OUT.png, OUT.npy (the
    (H, W) image, row 0 at the top, NaN off the cortex) and OUT.pdf if `pdf`. Returns the image.
    Limits default to the 1st and 99th percentiles of the image (a unit range where they meet).
    Everything is checked before anything is written."""
    from braintune.io import write_atomic, write_atomic_with
    from braintune.report.figures import render

    out, values_path = Path(out), Path(values_path)
    if out.suffix.lower() != ".png":
        raise DataError(f"{out}: the output must be a .png file (OUT.npy and OUT.pdf are written beside it)")
    if not values_path.is_file():
        raise DataError(f"{values_path}: no such values file (.npy)")
    if out.with_suffix(".npy").resolve() == values_path.resolve():
        raise DataError(f"{out}: would overwrite the values file {values_path} with the image (OUT.npy); "
                        "name another OUT")
    try:
        values = np.asarray(np.load(values_path, allow_pickle=False), dtype=np.float64)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{values_path}: not a numeric .npy array ({' '.join(str(exc).split())})") from exc
    colormap(cmap)  # an unknown name fails before the slow part
    try:
        cortex = CortexMap(subject_dir, transform, height)
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    image = values_image(cortex, values, values_path)
    finite = image[np.isfinite(image)]
    low = vmin if vmin is not None else (float(np.percentile(finite, 1)) if finite.size else 0.0)
    high = vmax if vmax is not None else (float(np.percentile(finite, 99)) if finite.size else 1.0)
    if not high > low and vmin is not None and vmax is not None:
        raise DataError(f"colour limits {low:g} .. {high:g}: the upper limit must exceed the lower")
    if not high > low:  # one value everywhere, or one limit given past the other's default: a unit range
        low, high = (low, low + 1.0) if vmax is None else (high - 1.0, high)
    scale = sequential_scale(image, label, cmap, vmin=low, vmax=high)
    fig = map_figure(cortex, [Panel(image, scale, f"{values_path.name} on {cortex.subject.folder.name}, "
                                                  f"transform {transform}")],
                     f"{cortex.subject.folder.name} flat map", outlines=outlines)
    write_atomic_with(out.with_suffix(".npy"), lambda tmp: np.save(tmp, image))
    write_atomic(out, render(fig, "png"))
    if pdf:
        write_atomic(out.with_suffix(".pdf"), render(fig, "pdf"))
    return image


"""ROI shapes of a pycortex ``overlays.svg`` and the flat-map vertices inside them (pycortex 1.4.0's rules).

What counts (``cortex/svgoverlay.py``: ``SVGOverlay``, ``Overlay``, ``Shape``, ``gen_path``):

- the layer: a top-level ``<g>`` whose ``inkscape:label`` is "rois" (the last one, if several);
  in it, the first child ``<g>`` labelled "shapes"; each of its child ``<g>`` is one shape, named by
  its ``inkscape:label`` (a repeated name keeps its first place and its last group); a shape's
  outlines are its direct ``<path>`` children. ``transform`` attributes are ignored, as pycortex does.
- a path's ``d`` is split at single spaces. A one-character token is a command (``z``/``Z`` close
  the outline); other tokens are "x,y" pairs (one number for h/v). m/l/h/v/c are relative to the
  pen, M/L/H/V/C absolute; after m (M) come l (L). pycortex's quirks are kept: ``H x`` and
  ``V y`` put the pen at (x, 0) and (0, y); ``z`` does not move the pen back; a curve cut short at
  the end of the string is dropped. Anything else pycortex cannot parse (s, q, t, a commands,
  numbers not in "x,y" form) is a DataError here.
- svg user coordinates: the flat surface (both hemispheres, nudged apart as ``get_surf(..., "flat",
  nudge=True)``; x, y only; float32) is normalised to 0..1 per axis and scaled by the svg root's
  width and height; a vertex is inside a shape if matplotlib's ``Path.contains_points`` says so for
  (x, height - y) (svg's y axis points down) for any of its paths.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from braintune.errors import DataError

SVG = "{http://www.w3.org/2000/svg}"
INKSCAPE_LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
ROI_LAYER = "rois"


@dataclass
class Overlays:
    """The shapes of one layer of an overlays.svg.

    width, height: the svg root's size (user units); shapes: name -> matplotlib Paths in svg user
    coordinates (y down), in the file's order; source: the file, for messages.
    """

    width: float
    height: float
    shapes: dict[str, list[MplPath]]
    source: Path

    def vertices_inside(self, name: str, svg_coords: np.ndarray) -> np.ndarray:
        """Indices of the (n, 2) points (svg user coordinates, y down) inside shape `name`:
        ``Shape.get_mask`` (indices of each path's hits, concatenated; unsorted, repeats possible)."""
        flipped = svg_coords.copy()
        flipped[:, 1] = self.height - flipped[:, 1]
        hits = [_points_in_path(path, flipped) for path in self.shapes[name]]
        return np.hstack(hits) if hits else np.zeros(0, dtype=np.int64)


def _points_in_path(path: MplPath, points: np.ndarray) -> np.ndarray:
    """Sorted indices of the (n, 2) points that ``path.contains_points`` puts inside.

    Only the points within the box of the path's vertices (curve control points included, which
    bound the curves; the ignored vertex of a close command left out) are tested: the answer is the
    same, found faster.
    """
    drawn = path.vertices if path.codes is None else path.vertices[path.codes != MplPath.CLOSEPOLY]
    if not len(drawn):
        return np.zeros(0, dtype=np.int64)
    low, high = drawn.min(0), drawn.max(0)
    candidates = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1))
    return candidates[path.contains_points(points[candidates])]


def read_overlays(path: str | Path, layer: str = ROI_LAYER) -> Overlays:
    """The shapes of `layer` in the overlays.svg at `path` (see the module docstring for the rules).

    DataError naming the file: missing or unreadable, no width/height, no such layer, a layer
    without a "shapes" group, a shape without a label, a path pycortex cannot parse.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: overlays file missing")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataError(f"{path}: unreadable svg ({exc})") from exc
    try:
        width, height = float(root.get("width")), float(root.get("height"))
    except (TypeError, ValueError):
        raise DataError(f"{path}: the svg root needs numeric width and height (user units), "
                        f"found width={root.get('width')!r} height={root.get('height')!r}") from None
    layers = [g for g in root.findall(f"{SVG}g") if g.get(INKSCAPE_LABEL) == layer]
    if not layers:
        found = [g.get(INKSCAPE_LABEL) for g in root.findall(f"{SVG}g") if g.get(INKSCAPE_LABEL)]
        raise DataError(f"{path}: no layer labelled {layer!r} (layers: {', '.join(found) or 'none'})")
    groups = [g for g in layers[-1].findall(f"{SVG}g") if g.get(INKSCAPE_LABEL) == "shapes"]
    if not groups:
        raise DataError(f"{path}: layer {layer!r} has no sub-layer labelled 'shapes'")
    shapes: dict[str, list[MplPath]] = {}
    for group in groups[0].findall(f"{SVG}g"):
        name = group.get(INKSCAPE_LABEL)
        if name is None:
            raise DataError(f"{path}: a shape group (id={group.get('id')!r}) in layer {layer!r} has no inkscape:label")
        shapes[name] = [parse_path(p.get("d", ""), f"{path}: shape {name!r}") for p in group.findall(f"{SVG}path")]
    return Overlays(width, height, shapes, path)


def parse_path(d: str, where: str) -> MplPath:
    """An svg path string -> matplotlib Path, by pycortex 1.4.0's ``gen_path`` rules (module docstring).

    where: names the file and shape in a DataError.
    """
    tokens = d.strip().split(" ")
    verts: list[list[float]] = []
    codes: list[int] = []
    mode, pen, at = None, np.zeros(2), 0

    def pair(token: str) -> np.ndarray:
        parts = token.split(",")
        if len(parts) != 2:
            raise DataError(f"{where}: path token {token!r} is not an 'x,y' pair (pycortex cannot read it)")
        try:
            return np.array([float(parts[0]), float(parts[1])])
        except ValueError:
            raise DataError(f"{where}: path token {token!r} is not a number pair") from None

    while at < len(tokens):
        token = tokens[at]
        at += 1
        if len(token) == 1:
            mode = token
            if token in "zZ":
                verts.append([0.0, 0.0])
                codes.append(MplPath.CLOSEPOLY)
            continue
        kind = mode.lower() if mode else None
        relative = mode == kind
        if kind == "c":
            if at + 2 > len(tokens):
                break  # pycortex stops at the end of the string, dropping the unfinished curve
            p1, p2, p3 = pair(token), pair(tokens[at]), pair(tokens[at + 1])
            at += 2
            offset = pen if relative else 0.0
            verts += [list(offset + p1), list(offset + p2), list(offset + p3)]
            pen = pen + p3 if relative else p3
            codes += [MplPath.CURVE4] * 3
            continue
        if kind not in ("m", "l", "h", "v"):
            raise DataError(f"{where}: path command {mode!r} before {token!r} is not one pycortex reads (m l h v c z)")
        if kind in ("h", "v"):
            try:
                number = float(token)
            except ValueError:
                raise DataError(f"{where}: path token {token!r} is not a number") from None
            value = np.array([number, 0.0] if kind == "h" else [0.0, number])
        else:
            value = pair(token)
        codes.append(MplPath.MOVETO if kind == "m" else MplPath.LINETO)
        pen = pen + value if relative else value  # absolute H/V: (x, 0) / (0, y), as pycortex
        verts.append(list(pen))
        if mode in ("m", "M"):
            mode = "l" if mode == "m" else "L"
    if codes and codes[0] != MplPath.MOVETO:
        raise DataError(f"{where}: path does not start with a move (m or M)")
    return MplPath(np.array(verts, dtype=float).reshape(-1, 2), codes=codes or None)


def flat_svg_coordinates(flat_points: np.ndarray, width: float, height: float) -> np.ndarray:
    """(n, 2) svg user coordinates (y up, as pycortex stores them) of the nudged flat vertices.

    flat_points: (n, >= 2) the flat surface of both hemispheres, nudged (``get_surf(..., "flat",
    merge=True, nudge=True)``), in the file's dtype. Each axis is shifted to 0 and divided by its
    maximum in that dtype (``SVGOverlay.set_coords``), then scaled to (width, height) in float64.
    """
    coords = np.array(flat_points[:, :2])
    if np.any(coords.max(0) > 1) or np.any(coords.min(0) < 0):
        coords -= coords.min(0)
        coords /= coords.max(0)
    return coords * (width, height)


def outline_polylines(paths: list[MplPath]) -> list[np.ndarray]:
    """The outlines of one shape as polylines (k, 2) in svg user coordinates (y down); curves
    flattened by matplotlib (``Path.to_polygons``)."""
    return [poly for path in paths for poly in path.to_polygons(closed_only=False) if len(poly)]

"""The outline of a flat map: its boundary edges traced into closed loops (pycortex 1.4.0's
``polyutils.boundary_edges`` and ``polyutils.trace_poly``, which quickflat's flat-map mask fills)."""

from __future__ import annotations

import numpy as np

from braintune.errors import DataError


def boundary_edges(polys: np.ndarray) -> np.ndarray:
    """(e, 2) int64 edges that belong to exactly one triangle, each as (smaller, larger) vertex,
    in the order they first appear (triangles in order; sides (a, b), (b, c), (a, c) of the sorted triangle).
    """
    ordered = np.sort(np.asarray(polys, dtype=np.int64), axis=1)
    sides = np.stack([ordered[:, [0, 1]], ordered[:, [1, 2]], ordered[:, [0, 2]]], axis=1).reshape(-1, 2)
    keys = sides[:, 0] * (int(ordered.max(initial=0)) + 1) + sides[:, 1]  # one integer per edge
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return sides[np.sort(first[counts == 1])]


def trace_loops(edges: np.ndarray, source: str = "flat surface") -> tuple[list[int], list[int]]:
    """The two longest closed loops of boundary edges, as vertex lists (first vertex repeated at the end).

    The walk is pycortex's: start at the smallest vertex not yet used, always follow the first
    unused edge of the current vertex (edges in the order given), stop back at the start; loops
    are ranked by length with numpy's argsort. A boundary that does not close, or fewer than
    two loops, is a DataError naming `source` (pycortex fails there too).
    """
    neighbours: dict[int, list[int]] = {int(v): [] for v in np.unique(edges)}
    for a, b in edges.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    loops = []
    while neighbours:
        start = next(iter(neighbours))
        loop = [start]
        while (len(loop) == 1 or loop[0] != loop[-1]) and neighbours.get(loop[-1]):
            here = loop[-1]
            step = neighbours[here][0]
            neighbours[step].remove(here)
            neighbours[here].remove(step)
            for vertex in (step, here):
                if vertex in neighbours and not neighbours[vertex]:
                    del neighbours[vertex]
            loop.append(step)
            if loop[0] != loop[-1] and loop[-1] not in neighbours:
                raise DataError(f"{source}: the flat map's boundary does not close at vertex {loop[-1]}")
        loops.append(loop)
    if len(loops) < 2:
        raise DataError(f"{source}: the flat map's boundary has {len(loops)} loop(s); expected one per hemisphere")
    order = np.argsort([len(loop) for loop in loops])
    return loops[order[-1]], loops[order[-2]]

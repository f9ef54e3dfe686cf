"""Outlines of a binary mask by vectorised marching squares.

The same closed polygons as :func:`skimage.measure.find_contours` at level
0.5 on the mask padded with background (vertices at the middles of the
pixel edges between the mask and the background, the mask 4-connected and
the background 8-connected, outer outlines turning one way and hole
outlines the other), but built with array operations: each 2 x 2 cell gives
its oriented segments from a table, every vertex has exactly one segment
leaving it, and following those links splits the vertices into polygons.
Only the starting vertex of each polygon may differ from skimage's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["trace_outlines"]

# Corners of a 2 x 2 cell (row, col) and the middles of its edges.
_CORNERS = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], float)  # bits 1, 2, 4, 8
_EDGES = {"T": (0.0, 0.5), "R": (0.5, 1.0), "B": (1.0, 0.5), "L": (0.5, 0.0)}
_CUTS = {  # code -> segments between edge middles (unoriented)
    1: ["TL"], 2: ["TR"], 3: ["LR"], 4: ["RB"], 5: ["TL", "RB"], 6: ["TB"],
    7: ["BL"], 8: ["BL"], 9: ["TB"], 10: ["TR", "BL"], 11: ["RB"], 12: ["LR"],
    13: ["TR"], 14: ["TL"],
}


def _oriented(code: int, edges: str) -> tuple[str, str]:
    """The segment turned so that the mask lies on its right (as skimage's)."""
    start, stop = (np.array(_EDGES[e]) for e in edges)
    step = stop - start
    side = np.sign(step[0] * (_CORNERS[:, 1] - start[1])
                   - step[1] * (_CORNERS[:, 0] - start[0]))
    inside = np.array([(code >> k) & 1 for k in range(4)], bool)
    for sign in (1, -1):  # a side whose corners all agree decides
        corners = inside[side == sign]
        if corners.all() or not corners.any():
            mask_left = corners.all() == (sign > 0)
            break
    return (edges[1], edges[0]) if mask_left else (edges[0], edges[1])


#: code -> list of (from edge, to edge), the mask on the right.
_TABLE = {
    code: [_oriented(code, e) for e in cuts] for code, cuts in _CUTS.items()
}


_ORDER = "TBLR"
#: (row, col) of the middle of each edge (T B L R) in its cell.
_MIDDLES = np.array([[0.0, 0.5], [1.0, 0.5], [0.5, 0.0], [0.5, 1.0]])
#: code -> edges (indices in _ORDER) of its first segment, and of its second
#: one (saddles only; -1 otherwise).
_FIRST = np.array([[_ORDER.index(e) for e in _TABLE.get(k, ["TT"])[0]]
                   for k in range(16)])
_SECOND = np.array([[_ORDER.index(e) for e in _TABLE[k][1]] if k in (5, 10)
                    else [-1, -1] for k in range(16)])


def trace_outlines(mask) -> list[np.ndarray]:
    """Closed outline polygons of a 2D boolean mask, in (row, col) pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction._marching import trace_outlines
    >>> square = np.zeros((5, 5), bool); square[1:4, 1:4] = True
    >>> [p.shape for p in trace_outlines(square)]
    [(12, 2)]
    """
    return trace_many([mask])[0]


def trace_many(masks) -> list[list[np.ndarray]]:
    """The outlines of several masks of one shape, traced in one pass.

    The masks are stacked along the rows, each with a background border, so
    that no cell of the stack spans two of them. Edge middles have integer
    ids in the stack (``height x width``): the middle between pixels (r, c)
    and (r, c + 1) is ``r * (width - 1) + c``, the one between (r, c) and
    (r + 1, c) comes after all of those.
    """
    rows_each, cols_each = masks[0].shape
    step = rows_each + 2
    height, width = step * len(masks), cols_each + 2
    padded = np.zeros((len(masks), step, width), np.uint8)
    padded[:, 1:-1, 1:-1] = masks
    padded = padded.reshape(height, width)
    code = (padded[:-1, :-1] | padded[:-1, 1:] << 1 | padded[1:, 1:] << 2
            | padded[1:, :-1] << 3)
    rows, cols = np.nonzero((code != 0) & (code != 15))
    found = [[] for _ in masks]
    if not len(rows):
        return found
    split = height * (width - 1)
    # id = row * scale[edge] + col + shift[edge], edges in the order T B L R
    scale = np.array([width - 1, width - 1, width, width])
    shift = np.array([0, width - 1, split, split + 1])
    kinds = code[rows, cols]
    saddle = _SECOND[kinds, 0] >= 0
    edges = np.concatenate([_FIRST[kinds], _SECOND[kinds[saddle]]])
    rows = np.concatenate([rows, rows[saddle]])[:, None]
    cols = np.concatenate([cols, cols[saddle]])[:, None]
    ids = (rows * scale[edges] + cols + shift[edges]).T.tolist()
    # where each segment starts, in the frame of its own mask
    points = _MIDDLES[edges[:, 0]] - 1
    points[:, 0] += rows[:, 0] % step
    points[:, 1] += cols[:, 0]
    owner = (rows[:, 0] // step).tolist()
    segment = dict(zip(ids[0], range(len(ids[0]))))
    stops = ids[1]
    for first in ids[0]:
        if first not in segment:
            continue
        cycle, vertex = [], first
        while vertex in segment:
            k = segment.pop(vertex)
            cycle.append(k)
            vertex = stops[k]
        found[owner[cycle[0]]].append(points[cycle])
    return found

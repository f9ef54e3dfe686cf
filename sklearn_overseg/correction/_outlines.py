"""Outlines of 2D masks as closed polygons, and polygons back to masks.

The geometry under :func:`~sklearn_overseg.interpolate_masks`: the sub-pixel
outlines of a mask (outer boundaries and hole boundaries), their resampling
into points evenly spaced along the arc, and the even-odd fill of moved
outlines. Two rasterisers give the same rule (a pixel is inside when its
centre is): skimage's ``polygon2mask`` (a point-in-polygon test per pixel of
the bounding box, the reference) and a vectorised scanline fill that cuts
every edge with the pixel-centre rows it spans.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon2mask
from skimage.measure import find_contours

__all__ = [
    "arc_weights",
    "perimeter",
    "fill_polygons",
    "is_outer",
    "outlines",
    "resample_outlines",
    "scanline_fill",
    "scanline_fill_edges",
    "thin",
]


def outlines(mask, max_points: int | None = None) -> list[np.ndarray]:
    """Closed outline polygons of a mask (sub-pixel, outer and hole).

    With ``max_points``, every polygon is evenly thinned so that all of them
    together keep about that many vertices (at least 4 each when they have).
    """
    padded = np.pad(mask, 1).astype(np.float32)
    polygons = [c[:-1] - 1 for c in find_contours(padded, 0.5)]
    return polygons if max_points is None else thin(polygons, max_points)


def thin(polygons, max_points: int) -> list[np.ndarray]:
    """Evenly thin polygons to about ``max_points`` vertices in all (at least
    4 each when they have)."""
    stride = max(1, -(-sum(len(p) for p in polygons) // max_points))
    return [p[:: max(1, min(stride, len(p) // 4))] for p in polygons]


def arc_weights(polygon, pixel_size) -> np.ndarray:
    """Arc length carried by each vertex of a closed polygon."""
    steps = np.linalg.norm(
        np.diff(polygon, axis=0, append=polygon[:1]) * pixel_size, axis=1
    )
    return 0.5 * (steps + np.roll(steps, 1)) + 1e-9


def perimeter(polygon, pixel_size) -> float:
    """Physical length of a closed polygon."""
    steps = (np.concatenate([polygon[1:], polygon[:1]]) - polygon) * pixel_size
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())


def resample_outlines(
    polygons, n_points: int, pixel_size, phase: float = 0.5
) -> list[np.ndarray]:
    """``n_points`` points evenly spaced along the arc of all polygons.

    Every polygon gets at least 3 points and the rest in proportion to its
    (physical) perimeter, by largest remainder; its ``count`` points sit at
    arc fractions ``(k + phase) / count`` from its first vertex, in the
    polygon's order (``phase=0.5``: the middles of equal arc intervals).
    ``n_points`` must be at least ``3 * len(polygons)``.
    """
    closed = [np.concatenate([p, p[:1]]) for p in polygons]
    arcs = []
    for c in closed:
        steps = np.diff(c, axis=0) * pixel_size
        arcs.append(np.cumsum(np.hypot(steps[:, 0], steps[:, 1])))
    lengths = np.array([arc[-1] for arc in arcs])
    share = (n_points - 3 * len(polygons)) * lengths / lengths.sum()
    counts = 3 + np.floor(share).astype(int)
    left = n_points - counts.sum()
    counts[np.argsort(np.floor(share) - share, kind="stable")[:left]] += 1
    points = []
    for c, arc, count in zip(closed, arcs, counts.tolist()):
        arc = np.concatenate([[0.0], arc])
        where = (np.arange(count) + phase) * (arc[-1] / count)
        points.append(
            np.column_stack([np.interp(where, arc, c[:, 0]),
                             np.interp(where, arc, c[:, 1])])
        )
    return points


def is_outer(polygon) -> bool:
    """Outer boundaries run the other way round from hole boundaries."""
    after = np.concatenate([polygon[1:], polygon[:1]])
    return np.dot(polygon[:, 0], after[:, 1]) < np.dot(after[:, 0], polygon[:, 1])


def scanline_fill(polygon, shape) -> np.ndarray:
    """Pixels whose centre lies inside a closed polygon or on its outline.

    Each edge is cut with the pixel-centre rows it spans (half-open, so a
    vertex on a row counts once); along a row, the cuts sorted by column
    alternately enter and leave the polygon, and a pixel centre on a cut or
    on a horizontal edge counts as inside, as in :func:`skimage.draw.polygon`.
    """
    polygon = np.asarray(polygon, float)
    return scanline_fill_edges(
        polygon, np.concatenate([polygon[1:], polygon[:1]]), shape
    )


def scanline_fill_edges(start, stop, shape) -> np.ndarray:
    """:func:`scanline_fill` from the edges ``start[i] -> stop[i]``.

    The edges of several closed polygons that share no pixel-centre row are
    filled in one call as each would be alone.
    """
    height, width = shape
    low = np.minimum(start[:, 0], stop[:, 0])
    high = np.maximum(start[:, 0], stop[:, 0])
    first = np.clip(np.ceil(low), 0, height).astype(np.intp)
    counts = np.clip(np.ceil(high), 0, height).astype(np.intp) - first
    region = np.zeros(shape, bool)
    total = int(counts.sum())
    if total:
        edge = np.repeat(np.arange(len(start)), counts)
        rows = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        rows += first[edge]
        (r0, c0), (r1, c1) = start[edge].T, stop[edge].T
        cols = c0 + (rows - r0) * (c1 - c0) / (r1 - r0)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        leaving = (np.arange(total) - np.searchsorted(rows, rows)) % 2 == 1
        cut = np.where(leaving, np.floor(cols) + 1, np.ceil(cols))
        flat_cut = rows * (width + 1) + np.clip(cut, 0, width).astype(np.intp)
        toggles = np.bincount(flat_cut, minlength=height * (width + 1))
        toggles = toggles.reshape(height, width + 1)[:, :-1]
        region = (np.cumsum(toggles, axis=1) & 1) > 0
    flat = (start[:, 0] == stop[:, 0]) & (start[:, 0] == np.round(start[:, 0]))
    for row, a, b in zip(start[flat, 0], start[flat, 1], stop[flat, 1]):
        if 0 <= row < height:
            lo = int(max(np.ceil(min(a, b)), 0))
            hi = int(min(np.floor(max(a, b)), width - 1))
            region[int(row), lo : hi + 1] = True
    return region


def _reference_fill(polygon, shape) -> np.ndarray:
    return polygon2mask(shape, polygon)


def fill_polygons(polygons, outer, shape, *, fast: bool = True) -> np.ndarray:
    """Even-odd fill of several polygons: holes stay holes.

    An outer polygon too thin to hold a pixel centre still marks the pixel
    under its centroid, so a moving one-pixel mask does not vanish.
    """
    rasterise = scanline_fill if fast else _reference_fill
    region = np.zeros(shape, bool)
    for polygon, outer_polygon in zip(polygons, outer):
        inside = rasterise(polygon, shape)
        if outer_polygon and not inside.any():
            row, col = np.round(polygon.mean(axis=0)).astype(int)
            if 0 <= row < shape[0] and 0 <= col < shape[1]:
                inside[row, col] = True
        region ^= inside
    return region

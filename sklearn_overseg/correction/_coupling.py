"""Order-preserving transport between two closed outlines.

Each outline carries its length uniformly: vertex ``i`` of a closed polygon
holds the arc from half its previous edge to half its next one (the
weights of ``_outlines.arc_weights``), and a point of the outline is named
by its arc fraction from vertex 0. A monotone coupling with shift ``s``
carries arc fraction ``x`` of the upper outline to fraction ``x + s`` (mod
1) of the lower one. Between two outlines of one cell (both traced the same
way round) the optimal transport plan between the arc-weighted vertices is
often such a coupling, and it is then found in ``O(n log n)`` instead of
the network simplex's cost:

1. a first shift: the best cyclic rotation between equally many points
   evenly spaced along both outlines (the squared Euclidean cost of every
   rotation at once), refined by a parabola through the three best;
2. the cost is linear in the shift between two shifts where a cell end of
   one outline meets one of the other: a walk down the slope reaches such
   a meeting, where the coupling is a basic solution (one piece empty);
3. the dual potentials along the coupling's path prove it optimal when no
   pair of vertices has a negative reduced cost; otherwise the caller
   falls back to the network simplex.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["best_shift", "monotone_plan"]


def _cells(polygon, pixel_size):
    """Arc fractions where each vertex's share of the outline ends, and its
    share (sum 1)."""
    steps = (np.concatenate([polygon[1:], polygon[:1]]) - polygon) * pixel_size
    steps = np.hypot(steps[:, 0], steps[:, 1])
    length = steps.sum()
    ends = (np.cumsum(steps) - 0.5 * steps) / length
    share = 0.5 * (steps + np.concatenate([steps[-1:], steps[:-1]])) / length
    return ends, share


def _even(polygon, n_points: int, pixel_size) -> np.ndarray:
    """``n_points`` points in the middles of equal arcs (physical units)."""
    closed = np.concatenate([polygon, polygon[:1]]) * pixel_size
    steps = np.diff(closed, axis=0)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(steps[:, 0], steps[:, 1]))])
    where = (np.arange(n_points) + 0.5) * (arc[-1] / n_points)
    return np.column_stack([np.interp(where, arc, closed[:, 0]),
                            np.interp(where, arc, closed[:, 1])])


def best_shift(upper, lower, n_points: int, pixel_size) -> float:
    """Arc fraction ``s`` that best carries ``upper`` onto ``lower``."""
    a, b = (_even(p, n_points, pixel_size) for p in (upper, lower))
    cost = cdist(a, b, "sqeuclidean")
    index = np.arange(n_points)
    totals = cost[index[:, None], (index[:, None] + index) % n_points].sum(axis=0)
    best = int(np.argmin(totals))
    low, mid, high = totals[[best - 1, best, (best + 1) % n_points]]
    curve = low - 2 * mid + high
    step = 0.5 * (low - high) / curve if curve > 0 else 0.0
    return (best + step) / n_points


def _segments(ends_a, ends_b, shift):
    """Pieces of the coupling: cuts in upper arc fraction, B-cut flags."""
    cuts = np.concatenate([ends_a, (ends_b - shift) % 1.0])
    order = np.argsort(cuts, kind="stable")
    cuts = cuts[order]
    is_b = order >= len(ends_a)
    mass = np.diff(cuts, append=cuts[0] + 1.0)
    middle = (cuts + 0.5 * mass) % 1.0
    a = np.searchsorted(ends_a, middle, side="right") % len(ends_a)
    b = np.searchsorted(ends_b, (middle + shift) % 1.0, side="right") % len(ends_b)
    return mass, a, b, is_b


def _optimal_shift(upper, lower, cells, shift, pixel_size, max_steps=50):
    """Walk from ``shift`` to the nearest local minimum of the transport cost.

    The cost is linear in the shift between two shifts where a cell end of
    one outline meets one of the other, so the minimum sits at such a meeting,
    where the coupling is a basic solution of the transport problem.
    """
    (ends_a, _), (ends_b, _) = cells
    upper, lower = upper * pixel_size, lower * pixel_size
    tiny = 1e-12
    direction = 0
    for _ in range(max_steps):
        mass, a, b, is_b = _segments(ends_a, ends_b, shift)
        cost = ((upper[a] - lower[b]) ** 2).sum(axis=1)
        after_b = np.roll(is_b, -1)
        slope = float(np.dot(cost, is_b.astype(float) - after_b))
        step = 1 if slope < 0 else -1
        if slope == 0 or (direction and step != direction):
            break  # the minimum: at the meeting just passed, or flat here
        meets = (after_b & ~is_b) if step > 0 else (is_b & ~after_b)
        shift += step * (float(mass[meets].min()) if meets.any() else 0.0)
        direction = step
        shift += step * tiny  # into the next piece, to read its slope
    return shift - direction * tiny if direction else shift


def _certified(upper, lower, mass, a, b, pixel_size) -> bool:
    """Whether the coupling is an optimal transport plan (dual feasibility).

    At a meeting of two cell ends one piece has no mass; the others, cut
    open there, form a path through all vertices of both outlines, each
    piece sharing its upper or its lower vertex with the one before. The
    potentials with ``u[a] + v[b] = cost`` along the path prove the plan
    optimal when ``cost - u - v >= 0`` for every pair of vertices.
    """
    empty = np.flatnonzero(mass <= 1e-12)
    if len(empty) != 1:
        return False  # degenerate, or not at a meeting: no single path
    order = np.roll(np.arange(len(mass)), -int(empty[0]) - 1)[:-1]
    a, b = a[order], b[order]
    same_a, same_b = a[1:] == a[:-1], b[1:] == b[:-1]
    if np.any(same_a == same_b):
        return False
    cost = cdist(upper * pixel_size, lower * pixel_size, "sqeuclidean")
    pieces = cost[a, b]
    u_path = np.concatenate([[0.0], np.cumsum(np.where(same_b, np.diff(pieces), 0))])
    u, v = np.empty(len(upper)), np.empty(len(lower))
    u[a], v[b] = u_path, pieces - u_path
    slack = cost - u[:, None] - v[None, :]
    return bool(slack.min() >= -1e-9 * cost.max())


def monotone_plan(upper, lower, shift: float, pixel_size):
    """Where upper vertices go and where lower vertices come from, or None.

    None when the best monotone coupling near ``shift`` is not an optimal
    transport plan. Otherwise the barycentres, under that coupling, of the
    lower outline's part that each upper vertex's share is carried to, and
    of the upper outline's part carried to each lower vertex's share.
    """
    cells = [_cells(p, pixel_size) for p in (upper, lower)]
    (ends_a, share_a), (ends_b, share_b) = cells
    shift = _optimal_shift(upper, lower, cells, shift, pixel_size)
    mass, a, b, _ = _segments(ends_a, ends_b, shift)
    if not _certified(upper, lower, mass, a, b, pixel_size):
        return None
    to = np.column_stack([
        np.bincount(a, mass * lower[b, k], len(upper)) for k in (0, 1)
    ]) / share_a[:, None]
    source = np.column_stack([
        np.bincount(b, mass * upper[a, k], len(lower)) for k in (0, 1)
    ]) / share_b[:, None]
    return to, source

"""The topology of one overlap curve: a real cell grows then shrinks.

A candidate pair is stacked as if it were one cell with the gap closed (the
upper fragment's layers, then the lower fragment's), and the overlap areas
of consecutive layers form a curve along the stacking axis. A real cell
gives a unimodal curve (monotone is a special case); two different cells
stacked on each other usually leave a dip at the junction.
:func:`curve_topology` describes one curve (linear and quadratic fits, the
largest dip); :func:`_candidate_topology` adds what the junction of a pair
shows. :class:`~sklearn_overseg.features.TopologyFeatures` turns them into
features.
"""

from __future__ import annotations

import numpy as np

from .._candidates import Candidate, fragment_layers

__all__ = ["curve_topology"]


def _adjusted_r2(y: np.ndarray, degree: int) -> float:
    """Adjusted R² of a least-squares polynomial fit of ``y`` over [-1, 1].

    ``-inf`` when the fit has no residual degree of freedom; 1 for a flat
    curve.
    """
    n = len(y)
    if n <= degree + 1:
        return -np.inf
    design = np.vander(np.linspace(-1.0, 1.0, n), degree + 1)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    ss_res = float(np.sum((y - design @ coef) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot <= 1e-12 * float(np.sum(y**2)) + 1e-300:
        return 1.0
    r2 = 1.0 - ss_res / ss_tot
    return 1.0 - (1.0 - r2) * (n - 1) / (n - degree - 1)


def _dip_depth(y: np.ndarray) -> float:
    """Depth of the largest dip below the curve's running maxima, over its max.

    A point dips when both a higher point before it and a higher point after
    it exist; the curve is unimodal (rises then falls, or monotone) exactly
    when no point dips.
    """
    if len(y) < 3 or y.max() <= 0:
        return 0.0
    before = np.maximum.accumulate(y)[:-2]
    after = np.maximum.accumulate(y[::-1])[::-1][2:]
    return max(0.0, float(np.max(np.minimum(before, after) - y[1:-1]))) / y.max()


def curve_topology(overlaps: np.ndarray, tolerance: float = 0.05) -> dict:
    """Topology descriptors of one overlap curve (all scale-free).

    Curves with fewer than three points are trivially monotone: score 1,
    linear fit, no curvature, no dip.
    """
    y = np.asarray(overlaps, dtype=float)
    scale = y.mean() if len(y) and y.mean() > 0 else 1.0
    y = y / scale
    dip = _dip_depth(y)
    unimodal = dip <= tolerance
    r2_linear, r2_quadratic = _adjusted_r2(y, 1), _adjusted_r2(y, 2)
    best = max(r2_linear, r2_quadratic)
    score = 1.0 if unimodal or not np.isfinite(best) else min(1.0, max(0.0, best))
    # Curvature: the quadratic coefficient, also for three points (exact fit).
    curvature = np.polyfit(np.linspace(-1, 1, len(y)), y, 2)[0] if len(y) >= 3 else 0
    return {
        "topology_r2": score,
        "shape_index": float(curvature),
        "quadratic_won": float(r2_quadratic > r2_linear),
        "unimodal": float(unimodal),
        "dip_depth": dip,
    }


def _candidate_topology(
    candidate: Candidate, tolerance: float, units: str = "absolute"
) -> dict:
    """Raw topology features of one pair with its gap closed."""
    upper, lower = fragment_layers(candidate)
    stack = np.concatenate([upper, lower])
    overlaps = np.count_nonzero(stack[:-1] & stack[1:], axis=(1, 2)).astype(float)
    features = curve_topology(overlaps, tolerance)
    # The junction is curve point len(upper) - 1 (last upper vs first lower).
    junction = len(upper) - 1
    beside = [i for i in (junction - 1, junction + 1) if 0 <= i < len(overlaps)]
    neighbours = overlaps[beside]
    reference = neighbours.mean() if len(neighbours) else overlaps[junction]
    # one pixel keeps the ratio finite; "relative": 1% of the curve's mean
    eps = 1.0
    if units == "relative":
        eps = max(0.01 * float(overlaps.mean()), 1e-3) if len(overlaps) else 1.0
    features["gap_overlap_ratio"] = (overlaps[junction] + eps) / (reference + eps)
    areas = np.count_nonzero(upper[-1]), np.count_nonzero(lower[0])
    features["gap_area_ratio"] = min(areas) / max(areas)
    return features

"""The reference ``boundary_ot`` path, and the signed-distance blend.

The interpolation as it was before the fast path
(:mod:`~sklearn_overseg.correction._displacement`), kept as the baseline that
``benchmarks/bench_speed.py --parts d`` runs in the same loop and that the
tests compare the fast path with: the outline vertices (skimage's
``find_contours``, evenly thinned to ``max_points``) weighted by arc length,
POT's exact network simplex between them, every outline point slid along its
barycentric match, skimage polygon fills, and the two fills (one carried
from each side) blended through full signed distance maps. The blend of
signed distance maps is also the ``"distance"`` method.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._outlines import arc_weights, fill_polygons, is_outer, outlines

__all__ = ["blend", "boundary_ot_reference", "vertex_plan"]


def _signed_distance(mask, pixel_size):
    """Distance to the outline: negative inside, positive outside (pixels)."""
    inside = ndi.distance_transform_edt(mask, sampling=pixel_size)
    outside = ndi.distance_transform_edt(~mask, sampling=pixel_size)
    half = 0.5 * pixel_size.min()
    return np.where(mask, half - inside, outside - half)


def blend(masks, weights, pixel_size):
    """Non-positive part of the weighted mean of the signed distance maps."""
    kept = [(m, w) for m, w in zip(masks, weights) if m.any()]
    if not kept:
        return np.zeros_like(masks[0])
    sdf = sum(w * _signed_distance(m, pixel_size) for m, w in kept)
    return sdf <= 0


def _has_holes(mask) -> bool:
    return bool((ndi.binary_fill_holes(mask) & ~mask).any())


def _displace(mask_a, mask_b, fractions, pixel_size, outlines_, matched):
    """Layers from outlines slid along their matches, blended from both sides."""
    points = [np.concatenate(o) for o in outlines_]
    splits = [np.cumsum([len(p) for p in o])[:-1] for o in outlines_]
    outer = [[is_outer(p) for p in o] for o in outlines_]
    layers = []
    for t in fractions:
        moved = [
            (1 - t) * points[0] + t * matched[0],
            (1 - t) * matched[1] + t * points[1],
        ]
        fills = [
            fill_polygons(np.split(m, s), o, mask_a.shape, fast=False)
            for m, s, o in zip(moved, splits, outer)
        ]
        layers.append(blend(fills, (1 - t, t), pixel_size))
    if not any(_has_holes(m) for m in (mask_a, mask_b)):
        layers = [ndi.binary_fill_holes(layer) for layer in layers]
    return layers


def vertex_plan(polygons, pixel_size):
    """Exact transport between outline vertices weighted by arc length (POT)."""
    points = [np.concatenate(o) for o in polygons]
    weights = [
        np.concatenate([arc_weights(p, pixel_size) for p in o]) for o in polygons
    ]
    import ot  # here, not at the top: POT imports torch when it is installed

    cost = ot.dist(points[0] * pixel_size, points[1] * pixel_size)
    plan = ot.emd(
        weights[0] / weights[0].sum(),
        weights[1] / weights[1].sum(),
        cost,
        numItermax=max(100_000, 50 * cost.size),
    )
    return [
        plan @ points[1] / plan.sum(axis=1)[:, None],  # where upper points go
        plan.T @ points[0] / plan.sum(axis=0)[:, None],  # where lower come from
    ]


def boundary_ot_reference(mask_a, mask_b, fractions, pixel_size, max_points):
    """The reference path: exact transport between all outline vertices.

    POT's network simplex on up to ``max_points`` arc-weighted vertices per
    mask, polygons filled by skimage, on the full frame.
    """
    polygons = [outlines(m, max_points) for m in (mask_a, mask_b)]
    matched = vertex_plan(polygons, pixel_size)
    return _displace(mask_a, mask_b, fractions, pixel_size, polygons, matched)

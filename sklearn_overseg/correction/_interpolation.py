"""Rebuild missing layers of a cell between two 2D masks.

``boundary_ot`` (displacement interpolation of the outlines, in the spirit of
CellStitch): the outlines of both masks (outer boundaries and hole boundaries,
as closed sub-pixel polygons) are sampled into points weighted by arc length,
an exact optimal transport plan with squared Euclidean cost matches the two
point sets (POT's network simplex on the outline vertices when they are few;
for longer outlines, equally many points evenly spaced along both outlines,
whose exact plan is a one-to-one assignment, solved by scipy in a fraction of
the time), and every outline point slides along its barycentric match:
at fraction ``t`` a point ``x`` of the upper outline sits at
``(1 - t) x + t T(x)``, and a point ``y`` of the lower outline at
``(1 - t) S(y) + t y``. Each moved outline keeps its order, so it is still a
polygon; polygons are filled with the even-odd rule (holes stay holes, several
components stay apart) and the two fills, one carried from each side, are
blended through their signed distance maps. Outlines that cross while they
move can leave small spurious holes: these are filled unless one of the two
masks has a hole itself.

``distance`` (shape-based interpolation, Raya and Udupa 1990): blend the
signed distance maps of the two masks and keep the non-positive part. Cheap,
but it needs the masks to overlap: two disjoint masks give empty layers.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import check_pixel_size
from ._outlines import arc_weights, fill_polygons, is_outer, outlines, resample_outlines

__all__ = ["interpolate_masks"]

_METHODS = ("boundary_ot", "distance")
#: Outlines with at most this many vertices are matched exactly on them.
_EXACT_VERTICES = 128
#: Longer outlines are resampled into at most this many points.
_MAX_ASSIGNMENT = 160


def _signed_distance(mask, pixel_size):
    """Distance to the outline: negative inside, positive outside (pixels)."""
    inside = ndi.distance_transform_edt(mask, sampling=pixel_size)
    outside = ndi.distance_transform_edt(~mask, sampling=pixel_size)
    half = 0.5 * pixel_size.min()
    return np.where(mask, half - inside, outside - half)


def _blend(masks, weights, pixel_size):
    """Non-positive part of the weighted mean of the signed distance maps."""
    kept = [(m, w) for m, w in zip(masks, weights) if m.any()]
    if not kept:
        return np.zeros_like(masks[0])
    sdf = sum(w * _signed_distance(m, pixel_size) for m, w in kept)
    return sdf <= 0


def _has_holes(mask) -> bool:
    return bool((ndi.binary_fill_holes(mask) & ~mask).any())


def _displace(mask_a, mask_b, fractions, pixel_size, outlines_, matched, fast):
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
            fill_polygons(np.split(m, s), o, mask_a.shape, fast=fast)
            for m, s, o in zip(moved, splits, outer)
        ]
        layers.append(_blend(fills, (1 - t, t), pixel_size))
    if not any(_has_holes(m) for m in (mask_a, mask_b)):
        layers = [ndi.binary_fill_holes(layer) for layer in layers]
    return layers


def _vertex_plan(polygons, pixel_size):
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


def _even_points_plan(polygons, n_points, pixel_size):
    """Exact transport between ``n_points`` evenly spaced points per outline.

    Every point carries the same arc length, so the optimal plan between the
    two uniform point sets is a one-to-one assignment
    (:func:`scipy.optimize.linear_sum_assignment`, exact).
    """
    resampled = [resample_outlines(o, n_points, pixel_size) for o in polygons]
    points = [np.concatenate(o) for o in resampled]
    cost = cdist(points[0] * pixel_size, points[1] * pixel_size, "sqeuclidean")
    rows, cols = linear_sum_assignment(cost)
    order = np.empty_like(cols)
    order[cols] = rows
    return resampled, [points[1][cols], points[0][order]]


def _boundary_ot_reference(mask_a, mask_b, fractions, pixel_size, max_points):
    """The reference path: exact transport between all outline vertices.

    POT's network simplex on up to ``max_points`` arc-weighted vertices per
    mask, polygons filled by skimage, on the full frame.
    """
    polygons = [outlines(m, max_points) for m in (mask_a, mask_b)]
    matched = _vertex_plan(polygons, pixel_size)
    return _displace(
        mask_a, mask_b, fractions, pixel_size, polygons, matched, fast=False
    )


def _boundary_ot(mask_a, mask_b, fractions, pixel_size, max_points):
    """Outline transport, exact on the vertices when they are few.

    Outlines of up to ``_EXACT_VERTICES`` vertices are matched exactly as in
    :func:`_boundary_ot_reference`; longer ones are resampled into equally
    many points, one per pixel of arc (at most ``max_points`` and at most
    ``_MAX_ASSIGNMENT`` points), and matched by an exact assignment, which
    costs a fraction of a network simplex on arc-weighted vertices.
    """
    polygons = [outlines(m, max_points) for m in (mask_a, mask_b)]
    if max(sum(map(len, o)) for o in polygons) <= _EXACT_VERTICES:
        matched = _vertex_plan(polygons, pixel_size)
    else:
        longest = max(
            sum(arc_weights(p, pixel_size).sum() for p in o) for o in polygons
        )
        n_points = int(np.ceil(longest / pixel_size.min()))
        n_points = min(n_points, max_points, _MAX_ASSIGNMENT)
        n_points = max(n_points, 3 * max(len(o) for o in polygons))
        polygons, matched = _even_points_plan(polygons, n_points, pixel_size)
    return _displace(
        mask_a, mask_b, fractions, pixel_size, polygons, matched, fast=True
    )


@validate_params(
    {
        "mask_above": "no_validation",  # checked by _interpolate_masks
        "mask_below": "no_validation",
        "n_missing": [Interval(Integral, 1, None, closed="left")],
        "voxel_size": "no_validation",  # check_pixel_size
        "method": [StrOptions(set(_METHODS))],
        "max_points": [Interval(Integral, 8, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def interpolate_masks(
    mask_above,
    mask_below,
    n_missing: int = 1,
    *,
    voxel_size=None,
    method: str = "boundary_ot",
    max_points: int = 2000,
) -> np.ndarray:
    """Rebuild the missing layers of a cell between two of its 2D masks.

    Parameters
    ----------
    mask_above, mask_below : array-like of shape (y, x)
        Boolean (or 0/1) masks of the layers just above and just below the
        gap (same shape).
    n_missing : int, default=1
        Number of missing layers; layer ``k`` (1-based) sits at fraction
        ``t = k / (n_missing + 1)`` of the way from ``mask_above``.
    voxel_size : None, float or sequence of float, default=None
        Pixel size along (y, x), or (z, y, x) (z is not used): distances and
        transport costs are measured in physical units.
    method : {"boundary_ot", "distance"}, default="boundary_ot"
        ``"boundary_ot"``: optimal transport displacement of the outlines.
        ``"distance"``: blend of signed distance maps (a cheap baseline).
    max_points : int, default=2000
        At most this many outline points per mask are transported (evenly
        thinned beyond that).

    Returns
    -------
    ndarray of shape (n_missing, y, x), dtype bool
        The rebuilt layers, from just below ``mask_above`` downwards. If one
        mask is empty every layer is a copy of the other (the cell is taken
        to go on unchanged); if both are empty every layer is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import interpolate_masks
    >>> above = np.zeros((12, 12), bool); above[2:6, 2:6] = True
    >>> below = np.zeros((12, 12), bool); below[6:10, 6:10] = True
    >>> middle = interpolate_masks(above, below)[0]
    >>> middle.sum(), np.argwhere(middle).mean(axis=0).tolist()
    (np.int64(16), [5.5, 5.5])
    """
    return _interpolate_masks(
        mask_above, mask_below, n_missing, voxel_size=voxel_size, method=method,
        max_points=max_points,
    )


def _interpolate_masks(
    mask_above, mask_below, n_missing=1, *, voxel_size=None, method="boundary_ot",
    max_points=2000,
) -> np.ndarray:
    """:func:`interpolate_masks` without the parameter validation.

    For callers whose parameters were validated once (the corrector's
    ``interpolation``), not once per pair; the masks and voxel size are
    still checked.
    """
    masks = []
    for name, mask in (("mask_above", mask_above), ("mask_below", mask_below)):
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2D mask, got shape {arr.shape}.")
        if arr.dtype != bool:
            if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
                raise TypeError(f"{name} must be boolean (or 0/1), got {arr.dtype}.")
            arr = arr.astype(bool)
        masks.append(arr)
    if masks[0].shape != masks[1].shape:
        raise ValueError(
            "mask_above and mask_below must have the same shape, got "
            f"{masks[0].shape} and {masks[1].shape}."
        )
    # (z, y, x): only the in-plane size matters, but all of it must be valid
    pixel_size = check_pixel_size(voxel_size)
    fractions = np.arange(1, n_missing + 1) / (n_missing + 1)
    present = [m.any() for m in masks]
    if not all(present):
        source = masks[0] if present[0] else masks[1]
        return np.repeat(source[None], n_missing, axis=0)
    # Every rebuilt pixel lies inside the box of the two masks: work on that
    # box with a one-pixel background margin (distances and hole filling are
    # the same there as on the whole frame) and paste the layers back.
    rows, cols = np.nonzero(masks[0] | masks[1])
    box = (
        slice(max(rows.min() - 1, 0), rows.max() + 2),
        slice(max(cols.min() - 1, 0), cols.max() + 2),
    )
    cropped = [m[box] for m in masks]
    if method == "distance":
        layers = [_blend(cropped, (1 - t, t), pixel_size) for t in fractions]
    else:
        layers = _boundary_ot(*cropped, fractions, pixel_size, max_points)
    out = np.zeros((n_missing, *masks[0].shape), bool)
    out[(slice(None), *box)] = layers
    return out

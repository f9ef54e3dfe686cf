"""Rebuild missing layers of a cell between two 2D masks.

``boundary_ot`` (displacement interpolation of the outlines, in the spirit of
CellStitch): the outlines of both masks (outer boundaries and hole boundaries,
as closed sub-pixel polygons) are sampled into points weighted by arc length,
an exact optimal transport plan with squared Euclidean cost (POT) matches the
two point sets, and every outline point slides along its barycentric match:
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
from skimage.draw import polygon2mask
from skimage.measure import find_contours

from .._validation import check_voxel_size

__all__ = ["interpolate_masks"]

_METHODS = ("boundary_ot", "distance")


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


def _outlines(mask, max_points):
    """Closed outline polygons of a mask (sub-pixel, outer and hole)."""
    padded = np.pad(mask, 1).astype(np.float32)
    polygons = [c[:-1] - 1 for c in find_contours(padded, 0.5)]
    stride = max(1, -(-sum(len(p) for p in polygons) // max_points))
    return [p[:: max(1, min(stride, len(p) // 4))] for p in polygons]


def _arc_weights(polygon, pixel_size):
    """Arc length carried by each vertex of a closed polygon."""
    steps = np.linalg.norm(
        np.diff(polygon, axis=0, append=polygon[:1]) * pixel_size, axis=1
    )
    return 0.5 * (steps + np.roll(steps, 1)) + 1e-9


def _is_outer(polygon) -> bool:
    """Outer boundaries run the other way round from hole boundaries."""
    rows, cols = polygon.T
    return np.dot(rows, np.roll(cols, -1)) < np.dot(np.roll(rows, -1), cols)


def _fill(polygons, outer, shape):
    """Even-odd fill of several polygons: holes stay holes.

    An outer polygon too thin to hold a pixel centre still marks the pixel
    under its centroid, so a moving one-pixel mask does not vanish.
    """
    region = np.zeros(shape, bool)
    for polygon, is_outer in zip(polygons, outer):
        inside = polygon2mask(shape, polygon)
        if is_outer and not inside.any():
            row, col = np.round(polygon.mean(axis=0)).astype(int)
            if 0 <= row < shape[0] and 0 <= col < shape[1]:
                inside[row, col] = True
        region ^= inside
    return region


def _has_holes(mask) -> bool:
    return bool((ndi.binary_fill_holes(mask) & ~mask).any())


def _boundary_ot(mask_a, mask_b, fractions, pixel_size, max_points):
    outlines = [_outlines(m, max_points) for m in (mask_a, mask_b)]
    points = [np.concatenate(o) for o in outlines]
    weights = [
        np.concatenate([_arc_weights(p, pixel_size) for p in o]) for o in outlines
    ]
    import ot  # here, not at the top: POT imports torch when it is installed

    cost = ot.dist(points[0] * pixel_size, points[1] * pixel_size)
    plan = ot.emd(
        weights[0] / weights[0].sum(),
        weights[1] / weights[1].sum(),
        cost,
        numItermax=max(100_000, 50 * cost.size),
    )
    matched = [
        plan @ points[1] / plan.sum(axis=1)[:, None],  # where upper points go
        plan.T @ points[0] / plan.sum(axis=0)[:, None],  # where lower come from
    ]
    splits = [np.cumsum([len(p) for p in o])[:-1] for o in outlines]
    outer = [[_is_outer(p) for p in o] for o in outlines]
    layers = []
    for t in fractions:
        moved = [
            (1 - t) * points[0] + t * matched[0],
            (1 - t) * matched[1] + t * points[1],
        ]
        fills = [
            _fill(np.split(m, s), o, mask_a.shape)
            for m, s, o in zip(moved, splits, outer)
        ]
        layers.append(_blend(fills, (1 - t, t), pixel_size))
    if not any(_has_holes(m) for m in (mask_a, mask_b)):
        layers = [ndi.binary_fill_holes(layer) for layer in layers]
    return layers


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
    if (
        not isinstance(n_missing, Integral)
        or isinstance(n_missing, bool)
        or (n_missing < 1)
    ):
        raise ValueError(f"n_missing must be an integer >= 1, got {n_missing!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if not isinstance(max_points, Integral) or max_points < 8:
        raise ValueError(f"max_points must be an integer >= 8, got {max_points!r}.")
    if np.ndim(voxel_size) == 1 and len(voxel_size) == 3:
        # (z, y, x): only the in-plane size matters, but all of it must be valid
        voxel_size = check_voxel_size(voxel_size, ndim=3)[1:]
    pixel_size = check_voxel_size(voxel_size, ndim=2)
    fractions = np.arange(1, n_missing + 1) / (n_missing + 1)
    present = [m.any() for m in masks]
    if not all(present):
        source = masks[0] if present[0] else masks[1]
        return np.repeat(source[None], n_missing, axis=0)
    if method == "distance":
        layers = [_blend(masks, (1 - t, t), pixel_size) for t in fractions]
    else:
        layers = _boundary_ot(*masks, fractions, pixel_size, max_points)
    return np.stack(layers)

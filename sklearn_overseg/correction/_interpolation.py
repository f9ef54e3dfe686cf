"""Rebuild missing layers of a cell between two 2D masks.

``boundary_ot`` (displacement interpolation of the outlines, in the spirit of
CellStitch): the outlines of both masks (outer boundaries and hole boundaries,
as closed sub-pixel polygons) carry their length as mass, an exact optimal
transport plan with squared Euclidean cost matches the two, and every
outline vertex slides along its barycentric match: at fraction ``t`` a
vertex ``x`` of the upper outline sits at ``(1 - t) x + t T(x)``, and a
vertex ``y`` of the lower outline at ``(1 - t) S(y) + t y``. Each moved
outline keeps its order, so it is still a polygon; polygons are filled with
the even-odd rule (holes stay holes, several components stay apart) and the
two fills, one carried from each side, are blended through their signed
distance maps. Outlines that cross while they move can leave small spurious
holes: these are filled unless one of the two masks has a hole itself.

How the plan is found (``_displacement``): when each mask is one region
without holes and its outline has at most 128 vertices, the best
order-preserving coupling of the two outlines, proved optimal by its dual
(``_coupling``), else POT's network simplex on the vertices; longer
outlines are resampled into equally many points evenly spaced along the
arc (at most 160), whose exact plan is a one-to-one assignment (scipy).
``_ot_reference`` keeps the former path (network simplex on every outline
vertex, skimage fills, full distance maps) as the baseline of benchmarks
and tests.

``distance`` (shape-based interpolation, Raya and Udupa 1990): blend the
signed distance maps of the two masks and keep the non-positive part. Cheap,
but it needs the masks to overlap: two disjoint masks give empty layers.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from .._validation import check_pixel_size
from ._displacement import boundary_ot_fast
from ._ot_reference import blend

__all__ = ["interpolate_masks"]

_METHODS = ("boundary_ot", "distance")
# Checked by hand (not by the validate_params decorator, whose context costs
# more than a small gap's interpolation): same rules and messages.
_CONSTRAINTS = {
    "n_missing": [Interval(Integral, 1, None, closed="left")],
    "method": [StrOptions(set(_METHODS))],
    "max_points": [Interval(Integral, 8, None, closed="left")],
}


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
    validate_parameter_constraints(
        _CONSTRAINTS,
        {"n_missing": n_missing, "method": method, "max_points": max_points},
        caller_name="interpolate_masks",
    )
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
        layers = [blend(cropped, (1 - t, t), pixel_size) for t in fractions]
    else:
        layers = boundary_ot_fast(*cropped, fractions, pixel_size, max_points)
    out = np.zeros((n_missing, *masks[0].shape), bool)
    out[(slice(None), *box)] = layers
    return out

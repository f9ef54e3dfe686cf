"""Geo-Wasserstein divergence: earth mover's distance between 2D masks.

A mask is the uniform probability distribution over its pixel centres
``(row, col)``, times the pixel size ``(y, x)`` when one is given. The
divergence of two masks is the Wasserstein-1 distance (earth mover's distance,
Euclidean ground cost) between those distributions. W1 depends only on the
difference of the two measures, so the mass two masks share cancels before
anything is transported: overlapping masks leave a small problem.

``exact``
    POT's network simplex on what is left. A side with more than
    ``max_exact_pixels`` points is pooled into squares of ``b`` pixels, each at
    the mass centroid of its pixels; the result is then exact for the pooled
    measures and within ``2 m (b - 1) hypot(vy, vx)`` of the pixel W1
    (``m <= 1`` is the transported mass).
``sliced``
    ``pi / 2`` times the sliced W1: the mean over evenly spaced directions of
    the 1D W1 of the projected masks. Pixel row runs are projected as
    segments and the projected CDFs sampled every ``bin_width`` pixels, so the
    cost grows with the number of runs, not pixels. ``pi / 2 = 1 / E|cos|``
    makes it exact for translations and isotropic scalings; otherwise it is a
    lower bound of W1 (crossing flows cancel in projection).
``multiscale``
    Exact W1 of the two sides pooled to at most 100 points each, plus the
    sliced estimate of what pooling changed (a control variate).

Measured against ``exact`` (median / worst relative error, share within 3%):
random blobs and ellipses of 50-3000 px at random offsets: sliced -0.1% / -28%
/ 88%, multiscale +0.03% / +0.5% / 100%; consecutive layers of real cells
(PlantSeg ovule, GoNuclear nuclei): sliced -0.7% / -28% / 77-82%, multiscale
+0.04% / +1.4% / 100%. Sliced is the tool for fast, consistent comparisons
(:func:`layer_distances`); use multiscale or exact for the distance itself.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import check_voxel_size
from ._projections import _angles, _Grid

__all__ = ["geo_wasserstein", "layer_distances"]

_METHODS = ("auto", "exact", "sliced", "multiscale")
_AUTO_EXACT = 300_000  # most source-sink pairs solved exactly by "auto"
_COARSE_POINTS = 100  # points per side of the pooled multiscale problem


def _check_mask(mask, name: str) -> np.ndarray:
    arr = _check_stack([mask], name)[0]
    if not arr.any():
        raise ValueError(f"{name} is empty (no foreground pixel).")
    return arr


def _check_stack(masks, name: str) -> np.ndarray:
    """Validate 2D masks of one shape and return them as a boolean stack."""
    try:
        stack = np.stack([np.asarray(m) for m in masks])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be 2D masks of one shape: {exc}") from exc
    if stack.ndim != 3:
        raise ValueError(f"{name} must be 2D masks, got shape {stack.shape[1:]}.")
    if stack.dtype != bool:
        if stack.dtype.kind not in "iuf" or not np.isin(stack, (0, 1)).all():
            raise TypeError(f"{name} must be boolean (or 0/1), got {stack.dtype}.")
        stack = stack.astype(bool)
    return stack


def _pool(part, block):
    """Points and masses of a mass image pooled into ``block``-pixel squares.

    Each non-empty square becomes one point at the mass centroid of its pixels.
    """
    rows, cols = np.indices(part.shape, dtype=float)
    pad = [(0, -n % block) for n in part.shape]
    shape = [(n + p[1]) // block for n, p in zip(part.shape, pad)]
    sums = [
        np.pad(image, pad).reshape(shape[0], block, shape[1], block).sum((1, 3))
        for image in (part, part * rows, part * cols)
    ]
    keep = sums[0] > 0
    mass = sums[0][keep]
    return np.stack([sums[1][keep], sums[2][keep]], axis=1) / mass[:, None], mass


def _pooled_side(part, max_points: int):
    """Pool a side with the smallest block leaving at most ``max_points``."""
    n_pixels = np.count_nonzero(part)
    block = max(1, math.isqrt(n_pixels // max_points))
    points, mass = _pool(part, block)
    while len(mass) > max_points:
        block += 1
        points, mass = _pool(part, block)
    return points, mass, block


def _emd(sources, sinks, pixel_size) -> float:
    """Exact W1 between two weighted point sets of equal mass (POT)."""
    (src, ws), (snk, wt) = sources, sinks
    mass = ws.sum()
    if len(ws) == 0 or len(wt) == 0 or mass <= 1e-12:
        return 0.0
    import ot  # here, not at the top: POT imports torch when it is installed

    cost = ot.dist(src * pixel_size, snk * pixel_size, metric="euclidean")
    n_iter = max(100_000, 50 * cost.size)
    return float(mass * ot.emd2(ws / mass, wt / wt.sum(), cost, numItermax=n_iter))


def _distances(stack, pairs, method, pixel_size, grid, max_exact_pixels):
    """W1 between ``stack[i]`` and ``stack[j]`` for each row ``(i, j)``."""
    if method == "sliced":
        return grid.pair_distances(grid.project_runs(stack, pixel_size), pairs)
    density = stack / np.maximum(stack.sum(axis=(1, 2)), 1)[:, None, None]
    out = np.zeros(len(pairs))
    pooled, corrected = [], []
    for n, (i, j) in enumerate(pairs):
        signed = density[i] - density[j]
        sides = [np.maximum(signed, 0), np.maximum(-signed, 0)]
        size = np.prod([np.count_nonzero(part) for part in sides])
        if method == "exact" or (method == "auto" and size <= _AUTO_EXACT):
            limit = max_exact_pixels
        else:
            limit = _COARSE_POINTS
        sides = [_pooled_side(part, limit) for part in sides]
        out[n] = _emd(sides[0][:2], sides[1][:2], pixel_size)
        if method != "exact" and max(side[2] for side in sides) > 1:
            corrected.append(n)
            pooled += [side[:2] for side in sides]
    if not corrected:
        return out
    corrected = np.array(corrected)
    cdf = grid.project_runs(stack, pixel_size)
    sliced = grid.pair_distances(cdf, pairs[corrected])
    group = np.repeat(np.arange(len(pooled)), [len(m) for _, m in pooled])
    points = np.concatenate([p for p, _ in pooled]) * pixel_size
    coarse = grid.project_points(
        group, points, np.concatenate([m for _, m in pooled]), len(pooled)
    )
    sliced_coarse = grid.distance(coarse[0::2], coarse[1::2])
    out[corrected] = np.maximum(out[corrected] + sliced - sliced_coarse, sliced)
    return out


def _stack_distances(
    stack,
    pairs,
    method,
    n_projections,
    voxel_size,
    max_exact_pixels,
    bin_width,
    random_state,
):
    """W1 of ``stack`` layers per pair (parameters validated by the caller)."""
    pixel_size = check_voxel_size(voxel_size, ndim=2)
    angles = _angles(n_projections, random_state)
    grid = _Grid(stack.shape[1:], pixel_size, angles, bin_width * pixel_size.min())
    return _distances(stack, pairs, method, pixel_size, grid, max_exact_pixels)


#: the parameters of the distance, shared by the two public functions
_DISTANCE_CONSTRAINTS = {
    "method": [StrOptions(set(_METHODS))],
    "n_projections": [Interval(Integral, 1, None, closed="left")],
    "voxel_size": "no_validation",  # check_voxel_size (2 entries)
    "max_exact_pixels": [Interval(Integral, 2, None, closed="left")],
    "bin_width": [Interval(Real, 0, 1, closed="right")],
    "random_state": ["random_state"],
}


@validate_params(
    {"mask_a": "no_validation", "mask_b": "no_validation",  # _check_mask
     **_DISTANCE_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def geo_wasserstein(
    mask_a,
    mask_b,
    method: str = "auto",
    *,
    n_projections: int = 16,
    voxel_size=None,
    max_exact_pixels: int = 2000,
    bin_width: float = 0.5,
    random_state=0,
) -> float:
    """Earth mover's distance (Wasserstein-1) between two 2D masks.

    Each mask is the uniform distribution over its pixel centres ``(row,
    col)`` (times ``voxel_size``); the ground cost is the Euclidean distance.
    The module docstring details each method and its accuracy.

    Parameters
    ----------
    mask_a, mask_b : array-like of shape (y, x)
        Boolean (or 0/1) masks of the same shape, each with a foreground pixel.
    method : {"auto", "exact", "sliced", "multiscale"}, default="auto"
        ``"exact"``: network simplex on the pixels where the masks differ
        (pooled into blocks beyond ``max_exact_pixels``). ``"sliced"``:
        ``pi / 2`` times sliced W1, fast, a lower bound, exact for
        translations and scalings. ``"multiscale"``: exact W1 of block-pooled
        masks plus the sliced estimate of the pooling error. ``"auto"``:
        exact when at most 1000 pixels per side remain once the shared mass
        cancels, multiscale otherwise.
    n_projections : int, default=16
        Number of directions, evenly spaced over 180 degrees with a random
        common offset (``sliced`` and ``multiscale``).
    voxel_size : None, float or (float, float), default=None
        Pixel size along (y, x); the distance is then in physical units.
    max_exact_pixels : int, default=2000
        Most points per side handed to the exact solver by ``"exact"``.
    bin_width : float, default=0.5
        Sampling step of the projected distributions, in pixels (<= 1).
    random_state : int, RandomState instance or None, default=0
        Seeds the offset of the directions; the default gives repeatable
        results.

    Returns
    -------
    float
        The distance, in pixels or in the units of ``voxel_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import geo_wasserstein
    >>> a = np.zeros((20, 20), bool); a[5:10, 5:10] = True
    >>> round(geo_wasserstein(a, np.roll(a, 3, axis=1), "exact"), 6)
    3.0
    >>> round(geo_wasserstein(a, np.roll(a, 3, axis=1), "sliced"), 2)
    3.0
    """
    mask_a, mask_b = _check_mask(mask_a, "mask_a"), _check_mask(mask_b, "mask_b")
    if mask_a.shape != mask_b.shape:
        raise ValueError(
            "mask_a and mask_b must have the same shape, got "
            f"{mask_a.shape} and {mask_b.shape}."
        )
    distances = _stack_distances(
        np.stack([mask_a, mask_b]),
        np.array([[0, 1]]),
        method,
        n_projections,
        voxel_size,
        max_exact_pixels,
        bin_width,
        random_state,
    )
    return float(distances[0])


@validate_params(
    {"masks": "no_validation", "pairs": "no_validation",  # checked below
     "spacing": [Interval(Integral, 1, None, closed="left")],
     **_DISTANCE_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def layer_distances(
    masks,
    spacing: int = 1,
    *,
    pairs=None,
    method: str = "sliced",
    n_projections: int = 16,
    voxel_size=None,
    max_exact_pixels: int = 2000,
    bin_width: float = 0.5,
    random_state=0,
) -> np.ndarray:
    """Earth mover's distances between layers of a stack of 2D masks.

    Batched :func:`geo_wasserstein`: every layer is projected once, so with
    ``method="sliced"`` a whole stack costs about as much as a few single
    calls.

    Parameters
    ----------
    masks : array-like of shape (n_layers, y, x) or list of 2D masks
        Boolean (or 0/1) masks, all of the same shape; empty layers allowed.
    spacing : int, default=1
        Compare layer ``i`` with layer ``i + spacing``.
    pairs : array-like of shape (n_pairs, 2), default=None
        Layer indices ``(i, j)`` to compare instead of the ``spacing`` rule.
    method : {"sliced", "multiscale", "auto", "exact"}, default="sliced"
        As in :func:`geo_wasserstein`; ``"sliced"`` is the fast one.
    n_projections, voxel_size, max_exact_pixels, bin_width, random_state
        As in :func:`geo_wasserstein`.

    Returns
    -------
    ndarray of shape (n_pairs,)
        Distances (``n_layers - spacing`` of them with the ``spacing`` rule);
        ``nan`` where a layer of the pair is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.features._wasserstein import layer_distances
    >>> stack = np.zeros((3, 20, 20), bool)
    >>> for z in range(3):
    ...     stack[z, 5:10, 5 + 2 * z:10 + 2 * z] = True
    >>> layer_distances(stack, spacing=2).round(2).tolist()
    [4.0]
    """
    return _layer_distances(
        masks, spacing, pairs=pairs, method=method, n_projections=n_projections,
        voxel_size=voxel_size, max_exact_pixels=max_exact_pixels,
        bin_width=bin_width, random_state=random_state,
    )


def _layer_distances(
    masks, spacing=1, *, pairs=None, method="sliced", n_projections=16,
    voxel_size=None, max_exact_pixels=2000, bin_width=0.5, random_state=0,
) -> np.ndarray:
    """:func:`layer_distances` without the parameter validation.

    For callers that validated the parameters once (the feature transformer,
    once per fit, not once per pair).
    """
    stack = _check_stack(masks, "masks")
    if pairs is None:
        first = np.arange(max(len(stack) - spacing, 0))
        pairs = np.stack([first, first + spacing], axis=1)
    pairs = np.asarray(pairs)
    if pairs.dtype.kind not in "iu" or pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be integer pairs (n, 2), got {pairs.shape}.")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(stack)):
        raise ValueError(f"pairs must index layers 0..{len(stack) - 1}.")
    empty = ~stack.any(axis=(1, 2))
    missing = empty[pairs[:, 0]] | empty[pairs[:, 1]]
    out = np.full(len(pairs), np.nan)
    out[~missing] = _stack_distances(
        stack,
        pairs[~missing],
        method,
        n_projections,
        voxel_size,
        max_exact_pixels,
        bin_width,
        random_state,
    )
    return out


def __getattr__(name: str):
    """``_wasserstein.ot`` is POT, imported on first use (it imports torch)."""
    if name == "ot":
        import ot

        return ot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Wasserstein-1 between layers of a stack of 2D masks, without validation.

The computation behind :func:`~sklearn_overseg.geo_wasserstein` and
:func:`~sklearn_overseg.features.layer_distances` (the module docstring of
:mod:`._wasserstein` describes the methods): pooling, POT's network simplex
(imported on first use), the sliced and multiscale estimates. Its callers
validated the parameters. It imports NumPy only, because it is what worker
processes run for the pair features (:mod:`._geo_rows`): such a process
starts in a fraction of a second without scikit-learn, SciPy or POT, unless
an exact solve needs POT.
"""

from __future__ import annotations

import math

import numpy as np

from .._voxel_size import check_voxel_size
from ._projections import _angles, _Grid

_AUTO_EXACT = 300_000  # most source-sink pairs solved exactly by "auto"
_COARSE_POINTS = 100  # points per side of the pooled multiscale problem


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
    """``_layer_w1.ot`` is POT, imported on first use (it imports torch)."""
    if name == "ot":
        import ot

        return ot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

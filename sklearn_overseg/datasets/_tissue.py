"""Synthetic 3D tissue: dense cells, loose cells with air spaces, or nuclei.

Dense tissue is a power diagram in physical coordinates (z scaled by the
anisotropy) in which every cell has its own ellipsoidal metric: a long axis
close to z (``elongation``), a small random tilt and random proportions, so
walls are curved and cells are elongated, tapered or rounded. The diagram is
computed tile by tile; a cell is evaluated in a tile only if a distance bound
says it could win there, so time and memory grow with the volume, not with
``volume x cells``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._nuclei import (
    draw_nuclei,
    ellipsoid_forms,
    local_grid,
    relative_axes,
    spread_points,
)
from ._pieces import keep_largest_pieces, relabel_consecutive

__all__ = ["make_tissue"]

_MODES = ("dense", "loose", "nuclei")
_TILE = (16, 64, 64)


@validate_params(
    {
        "shape": "no_validation",  # check_shape
        "n_cells": [Interval(Integral, 1, None, closed="left")],
        "mode": [StrOptions(set(_MODES))],
        "anisotropy": [Interval(Real, 0, None, closed="neither")],
        "elongation": [Interval(Real, 0, None, closed="neither"), None],
        "gap_width": [Interval(Integral, 1, None, closed="left")],
        "gap_fraction": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_tissue(
    shape=(40, 128, 128),
    n_cells: int = 60,
    *,
    mode: str = "dense",
    anisotropy: float = 3.0,
    elongation: float | None = None,
    gap_width: int = 2,
    gap_fraction: float = 0.4,
    random_state=None,
) -> np.ndarray:
    """Make a synthetic 3D label volume of cells or nuclei.

    Parameters
    ----------
    shape : tuple of 3 int, default=(40, 128, 128)
        Volume shape ``(z, y, x)``.
    n_cells : int, default=60
        Number of cells (or nuclei) to place. The result has ``n_cells``
        labels, or slightly fewer when a nucleus finds no free room (or,
        rarely, a cell is left without voxels).
    mode : {"dense", "loose", "nuclei"}, default="dense"
        ``"dense"``: cells tile the whole volume, like plant tissue (no
        background). ``"loose"``: dense cells with intercellular spaces of
        background between some of them, also between vertically stacked
        cells. ``"nuclei"``: separated ellipsoids in background.
    anisotropy : float, default=3.0
        Z step divided by the xy step. Shapes are drawn in physical units, so
        a larger anisotropy gives cells that span fewer z layers.
    elongation : float or None, default=None
        Ratio of a cell's physical z axis to its xy axes (before random
        variation). ``None`` means 1.5 for cells and 1.2 for nuclei.
    gap_width : int, default=2
        Thickness, in xy pixels, of the intercellular spaces (``"loose"``).
        In z they are ``max(1, round(gap_width / anisotropy))`` layers thick.
    gap_fraction : float, default=0.4
        Approximate fraction of the cell walls opened into spaces
        (``"loose"``).
    random_state : int, RandomState instance or None, default=None
        Seed; the output is deterministic for a fixed seed.

    Returns
    -------
    labels : ndarray of shape ``shape``, dtype int32
        Labels ``1..n`` (consecutive), ``0`` background. Every label is one
        face-connected component.

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_tissue
    >>> tissue = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    >>> tissue.shape, int(tissue.min()), int(tissue.max())
    ((24, 64, 64), 1, 20)
    """
    shape = check_shape(shape)
    n_cells, gap_width, anisotropy = int(n_cells), int(gap_width), float(anisotropy)
    if elongation is None:
        elongation = 1.2 if mode == "nuclei" else 1.5
    elongation = float(elongation)
    if n_cells > np.prod(shape) // 27:
        raise ValueError(
            f"n_cells={n_cells} is too many for a volume of shape {shape}; "
            "cells need at least 27 voxels each."
        )
    rng = check_random_state(random_state)
    extent = np.array(shape, dtype=float) * (anisotropy, 1.0, 1.0)
    if mode == "nuclei":
        labels = draw_nuclei(shape, n_cells, anisotropy, elongation, rng)
        return relabel_consecutive(keep_largest_pieces(labels, reassign=False))
    axes = relative_axes(elongation)
    seeds = spread_points(n_cells, extent, axes, rng)
    radius = (np.prod(extent) / n_cells * 3 / (4 * np.pi)) ** (1 / 3)
    forms = ellipsoid_forms(n_cells, axes, rng)
    weights = radius**2 * rng.uniform(-0.3, 0.3, n_cells)
    labels = _power_diagram(shape, anisotropy, seeds, forms, weights)
    keep_largest_pieces(labels, reassign=True)
    if mode == "loose":
        _open_spaces(labels, anisotropy, gap_width, gap_fraction, radius, rng)
        keep_largest_pieces(labels, reassign=False)
    return relabel_consecutive(labels)


def _power_diagram(shape, anisotropy, seeds, forms, weights) -> np.ndarray:
    """Label each voxel by the cell minimising ``(p-s)^T M (p-s) - w``."""
    eig = np.linalg.eigvalsh(forms)
    lam_min, lam_max = eig[:, 0], eig[:, -1]
    quad_index = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    labels = np.empty(shape, dtype=np.int32)
    scale = np.array([anisotropy, 1.0, 1.0])
    for z0 in range(0, shape[0], _TILE[0]):
        for y0 in range(0, shape[1], _TILE[1]):
            for x0 in range(0, shape[2], _TILE[2]):
                start = np.array([z0, y0, x0])
                stop = np.minimum(start + _TILE, shape)
                lo, hi = start * scale, (stop - 1) * scale
                near = np.sum((seeds - np.clip(seeds, lo, hi)) ** 2, axis=1)
                far = np.sum(np.maximum(np.abs(seeds - lo), np.abs(seeds - hi)) ** 2, 1)
                lower = lam_min * near - weights
                cand = np.flatnonzero(lower <= np.min(lam_max * far - weights))
                box = tuple(slice(a, b) for a, b in zip(start, stop))
                if cand.size == 1:
                    labels[box] = cand[0] + 1
                    continue
                center = (lo + hi) / 2
                p = local_grid(start, stop, scale, center).reshape(-1, 3)
                s = seeds[cand] - center
                m = forms[cand]
                ms = np.einsum("kij,kj->ki", m, s)
                coef = np.empty((10, cand.size))
                coef[0] = np.sum(ms * s, axis=1) - weights[cand]
                coef[1:4] = -2 * ms.T
                for row, (i, j) in enumerate(quad_index):
                    coef[4 + row] = m[:, i, j] * (1 if i == j else 2)
                feats = np.empty((p.shape[0], 10))
                feats[:, 0] = 1.0
                feats[:, 1:4] = p
                for row, (i, j) in enumerate(quad_index):
                    feats[:, 4 + row] = p[:, i] * p[:, j]
                winner = np.argmin(feats @ coef, axis=1)
                labels[box] = (cand[winner] + 1).reshape(tuple(stop - start))
    return labels


def _open_spaces(labels, anisotropy, gap_width, gap_fraction, radius, rng) -> None:
    """Set patches of cell walls to background, in place (``"loose"`` mode)."""
    wall = np.zeros(labels.shape, dtype=bool)
    for axis in range(3):
        lower = [slice(None)] * 3
        upper = [slice(None)] * 3
        lower[axis], upper[axis] = slice(None, -1), slice(1, None)
        a, b = labels[tuple(lower)], labels[tuple(upper)]
        wall[tuple(lower)] |= (a != b) & (a > 0) & (b > 0)
    z_width = max(1, int(round(gap_width / anisotropy)))
    band = ndi.maximum_filter(wall, size=(z_width, gap_width, gap_width))
    if gap_fraction <= 0 or not band.any():
        return
    step = np.maximum(1.0, np.round(radius / np.array([anisotropy, 1.0, 1.0]) / 2))
    coarse_shape = np.ceil(np.array(labels.shape) / step).astype(int) + 1
    noise = ndi.gaussian_filter(rng.normal(size=coarse_shape), 1.0)
    where = np.nonzero(band)
    field = ndi.map_coordinates(
        noise, [w / s for w, s in zip(where, step)], order=1, mode="nearest"
    )
    opened = field >= np.quantile(field, 1.0 - gap_fraction)
    labels[tuple(w[opened] for w in where)] = 0


def check_shape(shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a tuple of 3 ints, got {shape!r}.") from exc
    if len(shape) != 3 or min(shape) < 3:
        raise ValueError(f"shape must be 3 ints >= 3 (z, y, x), got {shape}.")
    return shape

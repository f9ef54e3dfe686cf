"""Projected distributions of 2D masks: the engine of the sliced distance.

The sliced Wasserstein-1 distance compares masks through their 1D
projections on evenly spaced directions. A mask is projected as its pixel row
runs (segments), so the cost grows with the number of runs, not of pixels;
weighted points (pooled pixels) can be projected too. Every projection is
sampled on one common grid of ``bin_width`` bins per direction, which makes
the 1D W1 of two projections the L1 distance of their sampled CDFs. Used by
:mod:`._layer_w1`. NumPy only, as that module (worker processes import it).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

_BLOCK_VALUES = 16384  # (run, direction) values projected at once
_PAIR_VALUES = 16384  # CDF values per side compared at once


def _angles(n_projections: int, random_state) -> np.ndarray:
    """Evenly spaced directions on [0, pi) with a random common offset."""
    if isinstance(random_state, numbers.Integral):  # a pair's seed
        rng = np.random.RandomState(random_state)  # as check_random_state
    else:  # None or a RandomState, from the public functions
        from sklearn.utils import check_random_state

        rng = check_random_state(random_state)
    offset = rng.uniform()
    return (np.arange(n_projections) + offset) * np.pi / n_projections


def _row_runs(stack):
    """Horizontal runs ``(layer, row, first_col, stop_col)`` of a mask stack.

    The rows are laid end to end in one flat array, each after a background
    pixel, so a run starts and stops at consecutive changes of that array.
    """
    n_layers, n_rows, n_cols = stack.shape
    width = n_cols + 1
    flat = np.zeros(n_layers * n_rows * width + 1, dtype=bool)
    flat[:-1].reshape(n_layers * n_rows, width)[:, 1:] = stack.reshape(-1, n_cols)
    change = np.flatnonzero(flat[1:] != flat[:-1])
    start, end = change[0::2], change[1::2]
    line = start // width
    layer, row = np.divmod(line, n_rows)
    return layer, row, start - line * width, end - line * width


class _Grid:
    """Common sampling grid of projected positions, per direction."""

    def __init__(self, shape, spacing, angles, bin_width):
        self.direction = np.stack([np.cos(angles), np.sin(angles)])  # (2, K)
        span_y = (shape[0] - 1) * spacing[0] * self.direction[0]
        span_x = shape[1] * spacing[1] * self.direction[1]
        pad = 0.5 * spacing[1] * np.abs(self.direction[1]) + bin_width
        self.origin = np.minimum(span_y, 0) + np.minimum(span_x, 0) - pad
        extent = np.abs(span_y) + np.abs(span_x) + 2 * pad
        self.n_bins = int(math.ceil(extent.max() / bin_width)) + 3
        self.bin_width = bin_width

    def cdfs(self, group, low, high, weight, n_groups):
        """CDFs (n_groups, K, n_bins) of weighted segments ``[low, high]``."""
        h = self.bin_width
        mid, half = (low + high) / 2, np.maximum((high - low) / 2, h / 2)
        u_low = (mid - half - self.origin) / h
        u_high = (mid + half - self.origin) / h
        slope = weight[:, None] / (u_high - u_low)
        n_dirs = self.direction.shape[1]
        base = (group[:, None] * n_dirs + np.arange(n_dirs)) * self.n_bins
        # Each end spreads its slope change over two bins; the bins of the
        # four parts are filled in order (low+1, low+2, high+1, high+2).
        index = np.empty((4, *u_low.shape), dtype=np.int64)
        value = np.empty((4, *u_low.shape))
        for part, (u, sign) in enumerate(((u_low, 1.0), (u_high, -1.0))):
            whole = np.floor(u)
            frac = u - whole
            cell = base + whole.astype(np.int64)
            np.add(cell, 1, out=index[2 * part])
            np.add(cell, 2, out=index[2 * part + 1])
            signed = sign * slope
            np.multiply(signed, 1 - frac, out=value[2 * part])
            np.multiply(signed, frac, out=value[2 * part + 1])
        size = n_groups * n_dirs * self.n_bins
        curve = np.bincount(index.ravel(), value.ravel(), size)
        curve = curve.reshape(n_groups, n_dirs, self.n_bins)
        return np.cumsum(np.cumsum(curve, axis=2), axis=2)

    def project_runs(self, stack, spacing):
        """CDFs (n_layers, K, n_bins) of the row runs of each stack layer.

        Layers are projected in blocks of about ``_BLOCK_VALUES`` values so
        the temporaries stay small (fresh large arrays cost more than the
        arithmetic); each CDF depends on its own layer only.
        """
        layer, row, first, stop = _row_runs(stack)
        count = stack.reshape(len(stack), -1).sum(axis=1)
        weight = (stop - first) / np.maximum(count[layer], 1)
        n_layers, n_dirs = len(stack), self.direction.shape[1]
        layer_start = np.searchsorted(layer, np.arange(n_layers + 1))
        block = layer_start[:-1] // max(1, _BLOCK_VALUES // n_dirs)
        edges = np.concatenate([[0], np.flatnonzero(np.diff(block)) + 1, [n_layers]])
        out = np.empty((n_layers, n_dirs, self.n_bins))
        for top, bottom in zip(edges[:-1], edges[1:]):
            runs = slice(layer_start[top], layer_start[bottom])
            y = np.outer(row[runs] * spacing[0], self.direction[0])
            ends = [
                y + np.outer((col[runs] - 0.5) * spacing[1], self.direction[1])
                for col in (first, stop)
            ]
            low, high = np.minimum(*ends), np.maximum(*ends)
            out[top:bottom] = self.cdfs(
                layer[runs] - top, low, high, weight[runs], bottom - top
            )
        return out

    def project_points(self, group, points, weight, n_groups):
        t = points @ self.direction  # points in physical units
        return self.cdfs(group, t, t, weight, n_groups)

    def distance(self, cdf_a, cdf_b):
        """pi/2 times the mean 1D W1 over directions (last two axes)."""
        w1 = np.abs(cdf_a - cdf_b).sum(axis=-1) * self.bin_width
        return np.pi / 2 * w1.mean(axis=-1)

    def pair_distances(self, cdf, pairs):
        """:meth:`distance` between ``cdf[i]`` and ``cdf[j]`` for rows (i, j)."""
        chunk = max(1, _PAIR_VALUES // cdf[0].size)
        # the batches of sklearn's gen_batches, without importing scikit-learn
        batches = (pairs[a : a + chunk] for a in range(0, len(pairs), chunk))
        return np.concatenate(
            [np.empty(0)] + [self.distance(cdf[b[:, 0]], cdf[b[:, 1]]) for b in batches]
        )

"""Projected distributions of 2D masks: the engine of the sliced distance.

The sliced Wasserstein-1 distance compares masks through their 1D
projections on evenly spaced directions. A mask is projected as its pixel row
runs (segments), so the cost grows with the number of runs, not of pixels;
weighted points (pooled pixels) can be projected too. Every projection is
sampled on one common grid of ``bin_width`` bins per direction, which makes
the 1D W1 of two projections the L1 distance of their sampled CDFs. Used by
:mod:`._wasserstein`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import check_random_state


def _angles(n_projections: int, random_state) -> np.ndarray:
    """Evenly spaced directions on [0, pi) with a random common offset."""
    offset = check_random_state(random_state).uniform()
    return (np.arange(n_projections) + offset) * np.pi / n_projections


def _row_runs(stack):
    """Horizontal runs ``(layer, row, first_col, stop_col)`` of a mask stack."""
    padded = np.pad(stack.astype(np.int8), ((0, 0), (0, 0), (1, 1)))
    step = np.diff(padded, axis=2)
    layer, row, first = np.nonzero(step == 1)
    stop = np.nonzero(step == -1)[2]
    return layer, row, first, stop


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
        index, value = [], []
        for u, sign in ((u_low, 1.0), (u_high, -1.0)):
            whole = np.floor(u)
            frac = u - whole
            cell = base + whole.astype(np.int64)
            index += [cell + 1, cell + 2]
            value += [sign * slope * (1 - frac), sign * slope * frac]
        size = n_groups * n_dirs * self.n_bins
        curve = np.bincount(
            np.concatenate(index).ravel(), np.concatenate(value).ravel(), size
        ).reshape(n_groups, n_dirs, self.n_bins)
        return np.cumsum(np.cumsum(curve, axis=2), axis=2)

    def project_runs(self, stack, spacing):
        layer, row, first, stop = _row_runs(stack)
        count = stack.reshape(len(stack), -1).sum(axis=1)
        y = np.outer(row * spacing[0], self.direction[0])
        ends = [
            y + np.outer((col - 0.5) * spacing[1], self.direction[1])
            for col in (first, stop)
        ]
        weight = (stop - first) / np.maximum(count[layer], 1)
        low, high = np.minimum(*ends), np.maximum(*ends)
        return self.cdfs(layer, low, high, weight, len(stack))

    def project_points(self, group, points, weight, n_groups):
        t = points @ self.direction  # points in physical units
        return self.cdfs(group, t, t, weight, n_groups)

    def distance(self, cdf_a, cdf_b):
        """pi/2 times the mean 1D W1 over directions (last two axes)."""
        w1 = np.abs(cdf_a - cdf_b).sum(axis=-1) * self.bin_width
        return np.pi / 2 * w1.mean(axis=-1)

    def pair_distances(self, cdf, pairs):
        """:meth:`distance` between ``cdf[i]`` and ``cdf[j]`` for rows (i, j)."""
        chunk = max(1, 4_000_000 // cdf[0].size)
        return np.concatenate(
            [np.empty(0)]
            + [
                self.distance(
                    cdf[pairs[k : k + chunk, 0]], cdf[pairs[k : k + chunk, 1]]
                )
                for k in range(0, len(pairs), chunk)
            ]
        )

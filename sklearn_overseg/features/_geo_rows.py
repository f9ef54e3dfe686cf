"""One pair's Geo-Wasserstein feature row: what the worker processes run.

:class:`~sklearn_overseg.GeoWassersteinFeatures` validates its parameters
and hands batches of pairs to :func:`_chunk_features`, here or in worker
processes (:func:`~sklearn_overseg._parallel.map_batches`). This module and
what it imports use NumPy only (the distances: :mod:`._layer_w1`), so that a
worker process is ready in a fraction of a second, without scikit-learn,
SciPy or POT.
"""

from __future__ import annotations

import numpy as np

from .._candidates import Candidate, fragment_layers
from ._layer_w1 import _layer_distances

#: Quantile levels and their names for each ``statistics`` option.
STATISTICS = {
    "quantiles": (0.0, 0.25, 0.5, 0.75, 1.0),
    "range_free": (0.25, 0.5, 0.75),
    "deciles": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "shifted": (0.1, 0.3, 0.5, 0.7, 0.9),
}


def _within_pairs(n_layers: int, spacing: int, offset: int):
    """Layer pairs ``spacing`` apart, or the widest ones a short fragment has.

    Returns the pairs (in stack coordinates) and the spacing actually used
    (0 when the fragment has a single layer and so no pair).
    """
    used = min(spacing, n_layers - 1)
    first = np.arange(n_layers - used) if used > 0 else np.arange(0)
    return np.stack([first, first + used], axis=1) + offset, used


def _candidate_features(candidate: Candidate, params: dict, seed: int) -> np.ndarray:
    """One pair's raw row (:class:`~sklearn_overseg.GeoWassersteinFeatures`)."""
    upper, lower = fragment_layers(candidate)
    spacing = params["spacing"] or candidate.n_gap_layers + 1
    stack = np.concatenate([upper, lower])
    rows, cols = np.nonzero(stack.any(axis=0))
    stack = stack[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    pixel = np.asarray(candidate.voxel_size[1:], dtype=float)
    if not params["use_physical_units"]:
        pixel = np.ones(2)
    pairs_up, used_up = _within_pairs(len(upper), spacing, 0)
    pairs_lo, used_lo = _within_pairs(len(lower), spacing, len(upper))
    pairs = np.concatenate([pairs_up, pairs_lo, [[len(upper) - 1, len(upper)]]])
    # the parameters were validated once, by the transformer
    dist = _layer_distances(
        stack,
        pairs=pairs,
        method=params["method"],
        n_projections=params["n_projections"],
        voxel_size=pixel,
        bin_width=params["bin_width"],
        random_state=seed,
    )
    gap = dist[-1]
    # Short fragments: rescale the widest available spacing linearly to the
    # target spacing; a single-layer fragment borrows the other fragment's
    # distances, or the gap EMD when both are single layers.
    within = [
        dist[: len(pairs_up)] * (spacing / max(used_up, 1)),
        dist[len(pairs_up) : -1] * (spacing / max(used_lo, 1)),
    ]
    for side in (0, 1):
        if len(within[side]) == 0:
            other = within[1 - side]
            within[side] = other if len(other) else np.array([gap])
    levels = STATISTICS[params["statistics"]]
    stats = [np.quantile(w, levels) for w in within]
    radius = 1.0
    if params["units"] == "relative":
        radius = equivalent_radius(stack, pixel)
    row = [*(stats[0] / radius), *(stats[1] / radius), gap / radius]
    if params["feature_set"] == "extended":
        eps = 0.25 * pixel.mean()
        medians = [np.median(w) for w in within]
        area = (upper[-1].sum() + lower[0].sum()) / 2 * pixel.prod()
        row += [
            np.log((gap + eps) / (medians[0] + eps)),
            np.log((gap + eps) / (medians[1] + eps)),
            gap / np.sqrt(area / np.pi),
            float(len(upper) < spacing + 1),
            float(len(lower) < spacing + 1),
        ]
    return np.asarray(row, dtype=float)


def equivalent_radius(stack: np.ndarray, pixel=(1.0, 1.0)) -> float:
    """Radius of the disc of the mean area of the non-empty masks of ``stack``.

    In the units of ``pixel`` (the (y, x) size of a pixel); at least half a
    pixel, so that a one-pixel mask cannot blow up what is divided by it.

    Examples
    --------
    >>> import numpy as np
    >>> masks = np.zeros((2, 20, 20), dtype=bool)
    >>> masks[0, :10, :10] = True  # area 100; the second layer is empty
    >>> round(equivalent_radius(masks), 3)
    5.642
    """
    areas = np.count_nonzero(stack, axis=(1, 2)).astype(float)
    areas = areas[areas > 0]
    area = areas.mean() if areas.size else 0.0
    pixel = np.asarray(pixel, dtype=float)
    return max(float(np.sqrt(area * pixel.prod() / np.pi)), 0.5 * float(pixel.mean()))


def _chunk_features(seeded, params) -> np.ndarray:
    """Features of a batch of ``(candidate, seed)``."""
    return np.array([_candidate_features(c, params, s) for c, s in seeded])

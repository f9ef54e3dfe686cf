"""Cutting single cells: axis gaps (blanked layers) and tilted planes.

Both cutters visit the cells in random order, work inside each cell's bounding
box and only accept a cut whose fragments are each one face-connected
component spanning at least ``min_layers`` z layers; a cell where no such cut
is found within a few tries is left alone.
"""

from __future__ import annotations

import numpy as np

from .._geometry import LabelGeometry
from ._gaps import Gap
from ._pieces import is_connected

_TRIES = 10
_MIN_TILTED_SHARE = 0.2


def label_boxes(volume: np.ndarray) -> dict[int, tuple[slice, slice, slice]]:
    """Bounding box of every label present, ``{label: (z, y, x) slices}``."""
    geometry = LabelGeometry.from_volume(volume)
    return {
        int(label): tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        for label, lo, hi in zip(geometry.labels, geometry.starts, geometry.stops)
    }


def axis_splits(volume, boxes, n_splits, gap_layers, min_layers, max_cuts, first, rng):
    """Blank interior layers of random cells; the parts below get new labels.

    Returns ``(pairs, gaps, sources)``: the ``(upper, lower)`` pairs top to
    bottom, one :class:`~._gaps.Gap` per pair and the source label per pair.
    """
    pairs, gaps, sources = [], [], []
    next_label = first
    for label in rng.permutation(np.array(sorted(boxes), dtype=np.int64)):
        remaining = n_splits - len(pairs)
        if remaining == 0:
            break
        label = int(label)
        box = boxes[label]
        height = box[0].stop - box[0].start
        capacity = (height - min_layers) // (min_layers + gap_layers)
        if capacity < 1:
            continue
        n_cuts = int(rng.randint(1, min(max_cuts, capacity, remaining) + 1))
        cell = volume[box] == label
        starts = _pick_gap_starts(cell, n_cuts, gap_layers, min_layers, rng)
        if starts is None:
            continue
        view = volume[box]
        fragment_labels = [label] + list(range(next_label, next_label + n_cuts))
        next_label += n_cuts
        for k, start in enumerate(starts):
            below = slice(start + gap_layers, None)
            view[below][cell[below]] = fragment_labels[k + 1]
            blanked = np.zeros_like(cell)
            blanked[start : start + gap_layers] = cell[start : start + gap_layers]
            view[blanked] = 0
            layers = box[0].start + start + np.arange(gap_layers)
            pair = (fragment_labels[k], fragment_labels[k + 1])
            pairs.append(pair)
            gaps.append(Gap(pair[0], pair[1], layers, box, blanked))
            sources.append(label)
    return pairs, gaps, sources


def _pick_gap_starts(cell, n_cuts, gap_layers, min_layers, rng):
    """Gap start layers (box coordinates) leaving valid fragments, or None."""
    height = cell.shape[0]
    filled = cell.any(axis=(1, 2))
    spare = height - n_cuts * gap_layers - (n_cuts + 1) * min_layers
    if not filled.all():
        return None
    for _ in range(_TRIES):
        extra = np.diff(np.r_[0, np.sort(rng.randint(0, spare + 1, n_cuts)), spare])
        lengths = min_layers + extra
        starts = np.cumsum(lengths[:-1]) + gap_layers * np.arange(n_cuts)
        tops = np.r_[0, starts + gap_layers]
        bottoms = np.r_[starts, height]
        segments = [slice(a, b) for a, b in zip(tops, bottoms)]
        if all(is_connected(cell[s]) for s in segments):
            return starts
    return None


def tilted_splits(volume, boxes, n_splits, min_layers, min_tilt, spacing, first, rng):
    """Cut random cells by tilted planes; the part with larger mean z is new.

    Returns ``(pairs, sources)``.
    """
    pairs, sources = [], []
    highest_cos = np.cos(np.radians(min_tilt))
    for label in rng.permutation(np.array(sorted(boxes), dtype=np.int64)):
        if len(pairs) == n_splits:
            break
        label = int(label)
        box = boxes[label]
        if box[0].stop - box[0].start < min_layers:
            continue
        cell = volume[box] == label
        voxels = np.argwhere(cell)
        if len(voxels) < 16:
            continue
        points = voxels * spacing
        centre, spread = points.mean(axis=0), points.std(axis=0)
        for _ in range(_TRIES):
            anchor = centre + rng.normal(0.0, 0.2, 3) * spread
            cos_t = rng.uniform(0.0, highest_cos)
            azimuth = rng.uniform(0.0, 2 * np.pi)
            sin_t = np.sqrt(1.0 - cos_t**2)
            normal = np.array([cos_t, sin_t * np.cos(azimuth), sin_t * np.sin(azimuth)])
            far = (points - anchor) @ normal > 0
            if not _MIN_TILTED_SHARE <= far.mean() <= 1 - _MIN_TILTED_SHARE:
                continue
            if voxels[far, 0].mean() < voxels[~far, 0].mean():
                far = ~far
            lower = np.zeros_like(cell)
            lower[tuple(voxels[far].T)] = True
            upper = cell & ~lower
            if not (_spans(upper, min_layers) and _spans(lower, min_layers)):
                continue
            if not (is_connected(upper) and is_connected(lower)):
                continue
            new_label = first + len(pairs)
            volume[box][lower] = new_label
            pairs.append((label, new_label))
            sources.append(label)
            break
    return pairs, sources


def _spans(mask: np.ndarray, min_layers: int) -> bool:
    return int(np.count_nonzero(mask.any(axis=(1, 2)))) >= min_layers

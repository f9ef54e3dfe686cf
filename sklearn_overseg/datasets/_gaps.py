"""Gaps between labels: stacked confounders, mask shrinkage and noisy partial masks.

A *gap* is a run of blanked z layers between an upper and a lower label. True
splits make gaps inside one cell; stacked confounders make the same kind of
gap between two different cells that sit on top of each other (hard negatives).
Both kinds can then be made harder: the masks next to a gap shrink by a few
pixels, and small noisy masks with new labels appear inside the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._pieces import is_connected

_MIN_CONTACT_PIXELS = 12
_MIN_CONTACT_SHARE = 0.3


@dataclass
class Gap:
    """Blanked layers between ``upper`` (smaller z) and ``lower``.

    ``box`` holds both labels; ``blanked`` marks, in box coordinates, the
    voxels set to background; ``layers`` are the absolute z of the gap.
    """

    upper: int
    lower: int
    layers: np.ndarray
    box: tuple[slice, slice, slice]
    blanked: np.ndarray


def stacked_contacts(volume: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Rows ``(upper, lower, z, area)``: the largest z contact of each stacked pair.

    ``area`` counts the pixels where ``upper`` is at layer ``z`` and ``lower``
    directly below at ``z + 1``; labels in ``excluded`` are ignored.
    """
    above, below = volume[:-1], volume[1:]
    z, y, x = np.nonzero((above != below) & (above > 0) & (below > 0))
    a, b = above[z, y, x].astype(np.int64), below[z, y, x].astype(np.int64)
    keep = ~(np.isin(a, excluded) | np.isin(b, excluded))
    if not keep.any():
        return np.zeros((0, 4), dtype=np.int64)
    rows, area = np.unique(
        np.stack([a[keep], b[keep], z[keep]], axis=1), axis=0, return_counts=True
    )
    order = np.lexsort((area, rows[:, 1], rows[:, 0]))
    rows, area = rows[order], area[order]
    last = np.r_[np.any(rows[1:, :2] != rows[:-1, :2], axis=1), True]
    best = np.column_stack([rows[last], area[last]])
    return best[best[:, 3] >= _MIN_CONTACT_PIXELS]


def blank_stacked_pairs(volume, boxes, excluded, n, gap_layers, min_layers, rng):
    """Blank the bottom layers of upper cells where they sit on a different cell.

    Returns the list of :class:`Gap` made (at most ``n``); each label is used
    in at most one confounder, and the upper cell stays one component with at
    least ``min_layers`` layers above the gap.
    """
    gaps: list[Gap] = []
    if n == 0:
        return gaps
    contacts = stacked_contacts(volume, np.asarray(sorted(excluded), dtype=np.int64))
    used: set[int] = set()
    for upper, lower, z, _ in contacts[rng.permutation(len(contacts))]:
        if len(gaps) == n:
            break
        upper, lower, z = int(upper), int(lower), int(z)
        if upper in used or lower in used:
            continue
        box = tuple(
            slice(min(p.start, q.start), max(p.stop, q.stop))
            for p, q in zip(boxes[upper], boxes[lower])
        )
        view = volume[box]
        cell = view == upper
        zl = z - box[0].start
        first = zl - gap_layers + 1
        if first - (boxes[upper][0].start - box[0].start) < min_layers:
            continue
        contact = cell[zl] & (view[zl + 1] == lower)
        if contact.sum() < _MIN_CONTACT_SHARE * cell[zl].sum():
            continue
        blanked = np.zeros_like(cell)
        blanked[first : zl + 1] = cell[first : zl + 1] & contact
        if not is_connected(cell & ~blanked):
            continue
        view[blanked] = 0
        layers = np.arange(first, zl + 1) + box[0].start
        gaps.append(Gap(upper, lower, layers, box, blanked))
        used.update((upper, lower))
    return gaps


def shrink_next_to_gaps(volume, gaps, shrink, probability, rng) -> None:
    """Erode, with some probability, the 2D masks just above and below each gap.

    An erosion that would empty the layer or disconnect the label is skipped.
    """
    if shrink == 0:
        return
    for gap in gaps:
        view = volume[gap.box]
        sides = ((gap.upper, gap.layers[0] - 1), (gap.lower, gap.layers[-1] + 1))
        for label, z in sides:
            zl = z - gap.box[0].start
            if rng.random_sample() >= probability or not 0 <= zl < view.shape[0]:
                continue
            layer = view[zl] == label
            kept = ndi.binary_erosion(layer, iterations=shrink)
            if not kept.any():
                continue
            cell = view == label
            cell[zl] = kept
            if is_connected(cell):
                view[zl][layer & ~kept] = 0


def add_noise_masks(volume, gaps, n, max_fraction, first_label, rng):
    """Put ``n`` small ragged masks with new labels inside blanked gap layers.

    Each mask is one 2D connected blob of 3 pixels up to ``max_fraction`` of
    the blanked area of its layer. Returns ``(labels, gap_index)``.
    """
    made, where = [], []
    if n == 0 or not gaps:
        return made, where
    chosen = rng.choice(len(gaps), size=n, replace=n > len(gaps))
    for index in chosen:
        gap = gaps[index]
        view = volume[gap.box]
        zl = int(rng.choice(gap.layers)) - gap.box[0].start
        free = gap.blanked[zl] & (view[zl] == 0)
        pixels = np.argwhere(free)
        if len(pixels) < 3:
            continue
        target = rng.randint(3, max(3, int(max_fraction * gap.blanked[zl].sum())) + 1)
        seed = pixels[rng.randint(len(pixels))]
        stretch = np.exp(rng.normal(0.0, 0.3, 2))
        distance = np.sqrt((((pixels - seed) * stretch) ** 2).sum(axis=1))
        distance *= 1.0 + 0.4 * rng.random_sample(len(pixels))
        picked = pixels[np.argsort(distance, kind="stable")[:target]]
        blob = np.zeros_like(free)
        blob[picked[:, 0], picked[:, 1]] = True
        pieces, _ = ndi.label(blob)
        label = first_label + len(made)
        view[zl][pieces == pieces[seed[0], seed[1]]] = label
        made.append(label)
        where.append(int(index))
    return made, where

"""Gaps between labels: the gap record, mask shrinkage and noisy partial masks.

A *gap* is a run of empty z layers between an upper label's last layer and a
lower label's first layer. True splits (``_cuts``) make gaps inside one cell,
stacked confounders (``_confounders``) between two different cells. Both kinds
can then be made harder: the masks next to a gap shrink by a few pixels, and
small noisy masks with new labels appear inside the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._pieces import is_connected


@dataclass
class Gap:
    """Blanked layers between ``upper`` (smaller z) and ``lower``.

    ``box`` holds both labels; ``blanked`` marks, in box coordinates, the
    voxels set to background (for a confounder, also those of its cells
    outside the gap); ``layers`` are the absolute z of the gap.
    """

    upper: int
    lower: int
    layers: np.ndarray
    box: tuple[slice, slice, slice]
    blanked: np.ndarray


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

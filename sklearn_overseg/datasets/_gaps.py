"""Gaps between labels: stacked confounders, mask shrinkage and noisy partial masks.

A *gap* is a run of empty z layers between an upper label's last layer and a
lower label's first layer. True splits make gaps inside one cell. Stacked
confounders make the same gap between two *different* cells ``A`` and ``B``
stacked directly (``A``'s last layer lies on ``B``'s first layer), as a 2D
model that missed ``A``'s whole mask in its last layer(s), or ``B``'s in its
first layer(s), would: the pair becomes an axis candidate that a classifier
must reject (a hard negative). Both kinds of gap can then be made harder: the
masks next to a gap shrink by a few pixels, and small noisy masks with new
labels appear inside the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .._geometry import LabelGeometry
from ._pieces import is_connected

_MIN_CONTACT_PIXELS = 12
_MIN_FACING_SHARE = 0.3
# Largest share of the facing region a neighbour may cover in a gap layer (the
# default tolerance of the axis screener).
_MAX_INTRUSION = 0.05
# The axis screener pairs masks across at most this many missing layers.
_SCREENED_GAPS = 3


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


class _Extents:
    """Bounding boxes of the labels of a volume, updated as labels lose layers."""

    def __init__(self, volume: np.ndarray):
        geometry = LabelGeometry.from_volume(volume)
        self.labels = geometry.labels
        self.starts = geometry.starts.copy()
        self.stops = geometry.stops.copy()

    def first(self, values: np.ndarray) -> np.ndarray:
        """First z layer of each label in ``values`` (all present)."""
        return self.starts[np.searchsorted(self.labels, values), 0]

    def last(self, values: np.ndarray) -> np.ndarray:
        """Last z layer of each label in ``values`` (all present)."""
        return self.stops[np.searchsorted(self.labels, values), 0] - 1

    def box(self, *labels: int) -> tuple[slice, slice, slice]:
        rows = np.searchsorted(self.labels, labels)
        lo, hi = self.starts[rows].min(axis=0), self.stops[rows].max(axis=0)
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))

    def set_z(self, label: int, first: int, last: int) -> None:
        row = int(np.searchsorted(self.labels, label))
        self.starts[row, 0], self.stops[row, 0] = first, last + 1


def stacked_pairs(volume: np.ndarray, extents: _Extents, excluded) -> np.ndarray:
    """Rows ``(upper, lower, z)``: ``upper``'s last layer ``z`` is on ``lower``'s first.

    The two masks must touch (``upper`` at ``z`` above ``lower`` at ``z + 1``)
    on at least ``_MIN_CONTACT_PIXELS`` pixels; labels in ``excluded`` are
    ignored.
    """
    excluded = np.asarray(sorted(excluded), dtype=np.int64)
    rows = [np.zeros((0, 3), dtype=np.int64)]
    ending = set((extents.stops[:, 0] - 1).tolist())
    starting = set(extents.starts[:, 0].tolist())
    for z in sorted(ending & {s - 1 for s in starting}):
        above, below = volume[z], volume[z + 1]
        touch = (above != below) & (above > 0) & (below > 0)
        a, b = above[touch].astype(np.int64), below[touch].astype(np.int64)
        keep = (extents.last(a) == z) & (extents.first(b) == z + 1)
        keep &= ~(np.isin(a, excluded) | np.isin(b, excluded))
        if not keep.any():
            continue
        pairs, area = np.unique(
            np.stack([a[keep], b[keep]], axis=1), axis=0, return_counts=True
        )
        pairs = pairs[area >= _MIN_CONTACT_PIXELS]
        rows.append(np.column_stack([pairs, np.full(len(pairs), z)]))
    return np.concatenate(rows)


def blank_stacked_pairs(volume, excluded, n, gap_layers, min_layers, rng):
    """Make up to ``n`` stacked confounders in ``volume``, in place.

    A confounder is a pair of different cells ``(upper, lower)`` stacked
    directly, none of them in ``excluded``, where the whole last
    ``gap_layers`` layers of ``upper`` or the whole first ones of ``lower``
    (chosen at random, the other side tried next) are blanked. It is kept
    only if

    * the shortened cell stays one component with at least ``min_layers``
      layers (and more than ``gap_layers``, so it never fits inside a gap);
    * the two facing masks across the gap overlap on at least
      ``_MIN_CONTACT_PIXELS`` pixels and ``_MIN_FACING_SHARE`` of the smaller;
    * in each gap layer, no other label covers more than ``_MAX_INTRUSION``
      of the facing region (the overlap of the two facing masks), and no
      label confined to the gap layers lies over either facing mask;
    * its overlap is strictly the largest of every pair the axis screener
      could form, across 1 to ``_SCREENED_GAPS`` layers, with ``upper``
      as upper or ``lower`` as lower fragment.

    Only the shortened cell changes, so no other label's extent moves, and
    labels are used once. The last rule makes the greedy one-to-one matching
    of :class:`~sklearn_overseg.CandidateScreener` keep every confounder
    (later confounders cannot take their partners: a new pair of a shortened
    cell always loses to that cell's own confounder).

    Returns ``(gaps, shortened)``: one :class:`Gap` per confounder and the
    label that lost its layers.
    """
    gaps: list[Gap] = []
    shortened: list[int] = []
    if n == 0:
        return gaps, shortened
    extents = _Extents(volume)
    candidates = stacked_pairs(volume, extents, excluded)
    used: set[int] = set()
    for upper, lower, z in candidates[rng.permutation(len(candidates))].tolist():
        if len(gaps) == n:
            break
        if upper in used or lower in used:
            continue
        first_side = bool(rng.random_sample() < 0.5)
        for blank_upper in (first_side, not first_side):
            gap = _try_confounder(
                volume, extents, upper, lower, z, blank_upper, gap_layers, min_layers
            )
            if gap is not None:
                gaps.append(gap)
                shortened.append(upper if blank_upper else lower)
                used.update((upper, lower))
                break
    return gaps, shortened


def _try_confounder(volume, extents, upper, lower, z, blank_upper, g, min_layers):
    """Blank one side of a stacked pair if the rules hold; the Gap or None."""
    cell = upper if blank_upper else lower
    first, last = (int(v[0]) for v in (extents.first([cell]), extents.last([cell])))
    lo, hi = (z - g + 1, z) if blank_upper else (z + 1, z + g)
    kept = (first, lo - 1) if blank_upper else (hi + 1, last)
    if kept[1] - kept[0] + 1 < max(min_layers, g + 1):
        return None
    box = extents.box(upper, lower)
    view, z0 = volume[box], box[0].start
    mask = view == cell
    blanked = np.zeros_like(mask)
    blanked[lo - z0 : hi + 1 - z0] = mask[lo - z0 : hi + 1 - z0]
    if not is_connected(mask & ~blanked):
        return None
    view[blanked] = 0
    extents.set_z(cell, *kept)
    if _is_clear_and_dominant(volume, extents, upper, lower, lo, hi, box):
        return Gap(upper, lower, np.arange(lo, hi + 1), box, blanked)
    view[blanked] = cell
    extents.set_z(cell, first, last)
    return None


def _is_clear_and_dominant(volume, extents, upper, lower, lo, hi, box) -> bool:
    """Whether empty gap layers ``lo..hi`` make ``(upper, lower)`` a sure candidate."""
    yx = box[1:]
    upper_face = volume[lo - 1][yx] == upper
    lower_face = volume[hi + 1][yx] == lower
    facing = upper_face & lower_face
    overlap = int(facing.sum())
    smaller = min(int(upper_face.sum()), int(lower_face.sum()))
    if overlap < max(_MIN_CONTACT_PIXELS, _MIN_FACING_SHARE * smaller):
        return False
    inside = volume[lo : hi + 1][(slice(None), *yx)]
    for layer in inside[:, facing]:
        _, intruding = np.unique(layer[layer > 0], return_counts=True)
        if intruding.size and intruding.max() > _MAX_INTRUSION * overlap:
            return False
    present = np.unique(inside[:, upper_face | lower_face])
    present = present[present > 0]
    if np.any((extents.first(present) >= lo) & (extents.last(present) <= hi)):
        return False
    below = _facing_partners(volume, extents, upper_face, lo - 1, yx, +1)
    above = _facing_partners(volume, extents, lower_face, hi + 1, yx, -1)
    rivals = [c for label, c in below.items() if label != lower]
    rivals += [c for label, c in above.items() if label != upper]
    return max(rivals, default=0) < overlap


def _facing_partners(volume, extents, face, z, yx, step) -> dict[int, int]:
    """Labels the screener could pair with ``face`` (a mask at layer ``z``).

    With ``step=+1`` the labels whose *first* layer is 2 to
    ``_SCREENED_GAPS + 1`` layers below ``z``, with ``step=-1`` those whose
    *last* layer is as far above; values are pixel overlaps with ``face``.
    """
    found = [np.zeros(0, dtype=np.int64)]
    for g in range(1, _SCREENED_GAPS + 1):
        other = z + step * (g + 1)
        if not 0 <= other < volume.shape[0]:
            break
        values = volume[other][yx][face].astype(np.int64)
        values = values[values > 0]
        edge = extents.first(values) if step > 0 else extents.last(values)
        found.append(values[edge == other])
    labels, counts = np.unique(np.concatenate(found), return_counts=True)
    return dict(zip(labels.tolist(), counts.tolist()))


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

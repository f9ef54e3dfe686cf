"""Stacked confounders: a gap between two *different* cells, the hard negative.

An axis split leaves a gap inside one cell. A confounder makes the same gap
between two different cells ``upper`` and ``lower`` that touch across a
roughly horizontal interface, so that the pair looks like a split to the axis
screener and a classifier must reject it. Both styles pick a first gap layer
``s``; ``upper`` keeps only its voxels above ``s`` and ``lower`` only its
voxels from ``s + gap_layers`` on:

* ``"blank"``: ``upper``'s last layer lies directly on ``lower``'s first and
  ``s`` is chosen so that only one cell loses whole boundary layers, as a 2D
  model that missed that cell there would. Rare, since cells interlock in z.
* ``"trim"``: any two stacked cells in contact; ``s`` is drawn around the
  contact layer, so both cells may be trimmed, each losing at most
  ``MAX_TRIM_LOSS`` of its voxels.

Either way a confounder is kept only if the axis screener is sure to pair the
two cells (:func:`_is_clear_and_dominant`).
"""

from __future__ import annotations

import numpy as np

from .._geometry import LabelGeometry
from ._gaps import Gap
from ._pieces import is_connected

#: Largest share of its voxels a cell may lose to a ``"trim"`` confounder.
MAX_TRIM_LOSS = 0.3
_MIN_CONTACT_PIXELS = 12
_MIN_FACING_SHARE = 0.3
# Largest share of the facing region a neighbour may cover in a gap layer (the
# default tolerance of the axis screener).
_MAX_INTRUSION = 0.05
# The axis screener pairs masks across at most this many missing layers.
_SCREENED_GAPS = 3


class _Extents:
    """Bounding boxes of the labels of a volume, updated as labels lose layers."""

    def __init__(self, volume: np.ndarray):
        geometry = LabelGeometry.from_volume(volume)
        self.labels = geometry.labels
        self.starts = geometry.starts.copy()
        self.stops = geometry.stops.copy()

    def first(self, values) -> np.ndarray:
        """First z layer of each label in ``values`` (all present)."""
        return self.starts[np.searchsorted(self.labels, values), 0]

    def last(self, values) -> np.ndarray:
        """Last z layer of each label in ``values`` (all present)."""
        return self.stops[np.searchsorted(self.labels, values), 0] - 1

    def box(self, *labels: int) -> tuple[slice, slice, slice]:
        rows = np.searchsorted(self.labels, labels)
        lo, hi = self.starts[rows].min(axis=0), self.stops[rows].max(axis=0)
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))

    def set_z(self, label: int, first: int, last: int) -> None:
        row = int(np.searchsorted(self.labels, label))
        self.starts[row, 0], self.stops[row, 0] = first, last + 1


def stacked_contacts(volume, extents: _Extents, excluded, clean: bool) -> np.ndarray:
    """Rows ``(upper, lower, z)``: ``upper`` at layer ``z`` lies on ``lower``.

    One row per ordered pair of different labels, at the layer of their
    largest contact, kept when it covers at least ``_MIN_CONTACT_PIXELS``
    pixels; labels in ``excluded`` are ignored. With ``clean``, only pairs
    where ``z`` is ``upper``'s last layer and ``z + 1`` ``lower``'s first.
    """
    above, below = volume[:-1], volume[1:]
    z, y, x = np.nonzero((above != below) & (above > 0) & (below > 0))
    a = above[z, y, x].astype(np.int64)
    b = below[z, y, x].astype(np.int64)
    keep = ~(np.isin(a, excluded) | np.isin(b, excluded))
    if clean:
        keep &= (extents.last(a) == z) & (extents.first(b) == z + 1)
    if not keep.any():
        return np.zeros((0, 3), dtype=np.int64)
    rows, area = np.unique(
        np.stack([a[keep], b[keep], z[keep]], axis=1), axis=0, return_counts=True
    )
    order = np.lexsort((area, rows[:, 1], rows[:, 0]))
    rows, area = rows[order], area[order]
    largest = np.r_[np.any(rows[1:, :2] != rows[:-1, :2], axis=1), True]
    rows = rows[largest & (area >= _MIN_CONTACT_PIXELS)]
    return rows[np.lexsort((rows[:, 1], rows[:, 0], rows[:, 2]))]


def make_confounders(volume, excluded, n, gap_layers, min_layers, style, rng):
    """Make up to ``n`` confounders of ``style`` in ``volume``, in place.

    Pairs of cells not in ``excluded`` are tried in random order, each cell
    used once. A pair is kept only if

    * each changed cell keeps one connected piece of ``min_layers`` layers
      (and more than ``gap_layers``, so it never fits inside a gap) and, in
      ``"trim"`` style, loses at most ``MAX_TRIM_LOSS`` of its voxels;
    * the facing masks across the gap overlap on at least
      ``_MIN_CONTACT_PIXELS`` pixels and ``_MIN_FACING_SHARE`` of the smaller;
    * in each gap layer no other label covers more than ``_MAX_INTRUSION`` of
      the facing region, and no label confined to the gap lies over a face;
    * its overlap is strictly the largest of every pair the axis screener
      could form, across 1 to ``_SCREENED_GAPS`` layers, with ``upper`` as
      upper or ``lower`` as lower fragment.

    Only the two cells change, and only their facing ends move, so the
    greedy one-to-one matching of :class:`~sklearn_overseg.CandidateScreener`
    keeps every confounder (a new pair of a changed cell always loses to that
    cell's own confounder).

    Returns ``(gaps, lost)``: one :class:`Gap` per confounder and the share
    of voxels ``upper`` and ``lower`` lost, shape ``(len(gaps), 2)``.
    """
    gaps: list[Gap] = []
    lost: list[tuple[float, float]] = []
    if n == 0:
        return gaps, np.zeros((0, 2))
    extents = _Extents(volume)
    excluded = np.asarray(sorted(excluded), dtype=np.int64)
    contacts = stacked_contacts(volume, extents, excluded, clean=style == "blank")
    max_loss = MAX_TRIM_LOSS if style == "trim" else 1.0
    used: set[int] = set()
    for upper, lower, z in contacts[rng.permutation(len(contacts))].tolist():
        if len(gaps) == n:
            break
        if upper in used or lower in used:
            continue
        for start in _gap_starts(style, z, gap_layers, rng):
            made = _try_confounder(
                volume, extents, (upper, lower), start, gap_layers, min_layers,
                max_loss,
            )
            if made is not None:
                gaps.append(made[0])
                lost.append(made[1])
                used.update((upper, lower))
                break
    return gaps, np.asarray(lost, dtype=float).reshape(-1, 2)


def _gap_starts(style: str, z: int, g: int, rng) -> np.ndarray:
    """First gap layers to try for a contact of layers ``z`` and ``z + 1``.

    ``"blank"``: the upper cell's last ``g`` layers or the lower cell's first
    ones, in random order. ``"trim"``: every start whose gap holds ``z`` or
    ``z + 1``, in random order.
    """
    if style == "blank":
        upper_first = rng.random_sample() < 0.5
        sides = np.array([z - g + 1, z + 1])
        return sides if upper_first else sides[::-1]
    return z - g + 1 + rng.permutation(g + 1)


def _try_confounder(volume, extents, pair, start, g, min_layers, max_loss):
    """Open a gap at layers ``start .. start + g - 1`` if the rules hold.

    Returns ``(Gap, (upper_loss, lower_loss))``, or None with ``volume`` and
    ``extents`` left as they were.
    """
    upper, lower = pair
    spans = (
        (int(extents.first([upper])[0]), start - 1),
        (start + g, int(extents.last([lower])[0])),
    )
    box = extents.box(upper, lower)
    view, z0 = volume[box], box[0].start
    cuts = (slice(max(start - z0, 0), None), slice(0, max(start + g - z0, 0)))
    removed, losses = np.zeros(view.shape, dtype=bool), []
    for label, cut, (first, last) in zip(pair, cuts, spans):
        cell = view == label
        gone = np.zeros_like(cell)
        gone[cut] = cell[cut]
        losses.append(float(gone.sum() / cell.sum()))
        if not gone.any():
            continue
        too_short = last - first + 1 < max(min_layers, g + 1)
        if too_short or losses[-1] > max_loss or not is_connected(cell & ~gone):
            return None
        removed |= gone
    old = [(int(extents.first([c])[0]), int(extents.last([c])[0])) for c in pair]
    saved = view[removed]
    view[removed] = 0
    for cell, span in zip(pair, spans):
        extents.set_z(cell, *span)
    lo, hi = start, start + g - 1
    if _is_clear_and_dominant(volume, extents, upper, lower, lo, hi, box):
        gap = Gap(upper, lower, np.arange(lo, hi + 1), box, removed)
        return gap, tuple(losses)
    view[removed] = saved
    for cell, span in zip(pair, old):
        extents.set_z(cell, *span)
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

"""Context of a candidate pair: what lies around it in the whole label volume.

A pair's crop holds only its two fragments. Whether a one-layer piece is the
end cap of the cell below or of the cell above it cannot be read from the
pair: the piece has no shape of its own. The labels around the pair can say
so: the layer above the upper fragment, the layer below the lower one, and
the other labels in the two facing layers. :func:`add_pair_context` measures
them once, at screening time, and stores them in each candidate's
``meta["context"]`` (a dict of floats), where
:class:`~sklearn_overseg.PairContextFeatures` reads them. All values are
scale-free; each is read from the pair's own (y, x) box, one layer above and
one below it, so that a block-wise screen can compute the same values.
"""

from __future__ import annotations

import numpy as np

from .._candidates import CONTEXT_NAMES
from .._geometry import LabelGeometry

__all__ = ["add_pair_context", "pair_context", "typical_z_extent"]


def typical_z_extent(geometry: LabelGeometry) -> float:
    """Robust typical z-extent (layers) of a cell of the volume.

    The median of the labels' z-extents, each label weighted by the volume of
    its bounding box, so that the many small fragments of a stitched volume
    barely count and whole cells do. ``1`` for an empty volume.
    """
    if len(geometry) == 0:
        return 1.0
    extent = (geometry.stops - geometry.starts).astype(float)
    weight = extent.prod(axis=1)
    order = np.argsort(extent[:, 0], kind="stable")
    cumulative = np.cumsum(weight[order])
    middle = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
    return float(max(extent[order[middle], 0], 1.0))


def _best_other(mask: np.ndarray, layer: np.ndarray | None, skip: int):
    """Largest overlap of ``mask`` with one label of ``layer`` (not 0, not skip).

    Returns ``(overlap, label)``; ``(0, 0)`` when no other label overlaps.
    """
    if layer is None:
        return 0, 0
    values = layer[mask]
    values = values[(values != 0) & (values != skip)]
    if values.size == 0:
        return 0, 0
    found, counts = np.unique(values, return_counts=True)
    best = int(np.argmax(counts))  # ties: the smaller label
    return int(counts[best]), int(found[best])


def _cover_and_iou(mask: np.ndarray, layer: np.ndarray | None, skip: int):
    """Share of ``mask`` covered by its best other label, and their IoU."""
    overlap, label = _best_other(mask, layer, skip)
    area = int(np.count_nonzero(mask))
    if overlap == 0 or area == 0:
        return 0.0, 0.0
    other = int(np.count_nonzero(layer == label))
    return overlap / area, overlap / (area + other - overlap)


def pair_context(
    volume: np.ndarray, geometry: LabelGeometry, upper: int, lower: int,
    typical_extent: float,
) -> dict[str, float]:
    """Context values of the axis pair ``(upper, lower)`` (see the module).

    * ``upper_above_cover`` / ``upper_above_iou``: the upper fragment's first
      mask against the label that covers most of it in the layer above (does
      the upper piece continue upwards into another label?);
    * ``lower_below_cover`` / ``lower_below_iou``: the same for the lower
      fragment's last mask and the layer below;
    * ``lower_other_parent``: share of the lower's first mask covered, in the
      upper's last layer, by the largest label other than the upper;
    * ``upper_other_child``: share of the upper's last mask covered, in the
      lower's first layer, by the largest label other than the lower;
    * ``merged_extent_ratio``: z-extent of the two fragments together over
      ``typical_extent`` (see :func:`typical_z_extent`).

    The layers are read over the pair's (y, x) bounding box only.
    """
    zu0, zu1 = geometry.z_extent(upper)
    zl0, zl1 = geometry.z_extent(lower)
    _, ys, xs = geometry.union_bbox(upper, lower)
    n_layers = volume.shape[0]

    def layer(z):
        if not 0 <= z < n_layers:
            return None
        return np.asarray(volume[z : z + 1, ys, xs])[0]  # any sliceable store

    top, last, first = layer(zu0), layer(zu1 - 1), layer(zl0)
    bottom = layer(zl1 - 1)
    above = _cover_and_iou(top == upper, layer(zu0 - 1), upper)
    below = _cover_and_iou(bottom == lower, layer(zl1), lower)
    first_mask, last_mask = first == lower, last == upper
    parent, _ = _best_other(first_mask, last, upper)
    child, _ = _best_other(last_mask, first, lower)
    return dict(zip(CONTEXT_NAMES, (
        above[0], above[1], below[0], below[1],
        parent / max(int(np.count_nonzero(first_mask)), 1),
        child / max(int(np.count_nonzero(last_mask)), 1),
        (max(zu1, zl1) - min(zu0, zl0)) / typical_extent,
    )))


def add_pair_context(
    volume, geometry: LabelGeometry, candidates, typical_extent: float | None = None
) -> None:
    """Store :func:`pair_context` in ``meta["context"]`` of each axis candidate.

    ``volume`` is the label volume or any store sliceable by layers (the
    block-wise path passes its reader); ``typical_extent`` defaults to
    :func:`typical_z_extent` of ``geometry``. Candidates without a gap
    (contact candidates) are left alone.
    """
    typical = (typical_z_extent(geometry) if typical_extent is None
               else typical_extent)
    for c in candidates:
        if c.kind == "axis" and c.gap is not None:
            c.meta["context"] = pair_context(
                volume, geometry, int(c.upper), int(c.lower), typical
            )

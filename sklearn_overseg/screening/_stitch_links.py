"""The IoUs an IoU stitcher leaves between consecutive layers of a volume.

An IoU stitcher links a 2D mask of layer ``z + 1`` to the label of layer
``z`` it overlaps best when that IoU reaches its threshold, and starts a new
label otherwise. :func:`stitch_links` measures both sets on a volume: the
IoU of every *link* of a label between two consecutive layers, and the best
IoU of every mask that *starts* a label right under another label; the
decision on them is :func:`~sklearn_overseg.screening.evidence_from_links`.

Both sets come from consecutive layer pairs only, so the results of
disjoint ranges of layer pairs add up (:func:`join_links`; the block-wise
path reads the volume in z ranges that overlap by one layer).
"""

from __future__ import annotations

import numpy as np

from .._threads import map_slabs
from ._facing_overlaps import _MAX_TABLE_LABEL  # one dense-table limit for both

__all__ = ["join_links", "layer_pairs", "stitch_links"]

#: Voxels of layer pairs read to decide: a larger volume is read every k-th
#: pair of consecutive layers (k from its shape only), which still holds
#: hundreds of links and starts.
MAX_PAIR_VOXELS = 16_000_000


def _dense(a: np.ndarray, b: np.ndarray, top: int):
    """The two layers with labels below ``_MAX_TABLE_LABEL`` (renumbered if not)."""
    if top < _MAX_TABLE_LABEL:
        return a, b, top
    # 0 first, so that background keeps code 0
    values, codes = np.unique(np.concatenate([[0], a, b]), return_inverse=True)
    codes = codes.reshape(-1)[1:]
    return codes[: a.size], codes[a.size :], values.size - 1


def _rim(shape) -> np.ndarray:
    """Flat indices of the pixels on the (y, x) border of a layer."""
    index = np.arange(shape[0] * shape[1]).reshape(shape)
    return np.unique(np.concatenate([index[0], index[-1], index[:, 0],
                                     index[:, -1]]))


def _layer_pair(upper: np.ndarray, lower: np.ndarray, top: int):
    """IoUs of the links and of the starts between two consecutive layers.

    Pixels where both layers hold the same label are counted with a dense
    table; only the few where they differ (boundaries) are sorted. Masks
    that touch the (y, x) border of the volume say nothing: a crop may have
    cut them, which changes their IoUs.
    """
    rim = _rim(upper.shape)
    a, b, top = _dense(upper.ravel(), lower.ravel(), top)
    area_a = np.bincount(a, minlength=top + 1)
    area_b = np.bincount(b, minlength=top + 1)
    area_a[0] = area_b[0] = 0
    cut = np.zeros(top + 1, dtype=bool)  # touching the border in either layer
    cut[a[rim]] = cut[b[rim]] = True
    inter = np.bincount(a[a == b], minlength=top + 1)
    linked = np.flatnonzero((area_a > 0) & (area_b > 0))  # in both layers
    links = inter[linked] / (area_a[linked] + area_b[linked] - inter[linked])
    differ = (a != b) & (a != 0) & (b != 0)
    if not differ.any():
        return links, np.zeros(0), links[~cut[linked]], np.zeros(0)
    keys, counts = np.unique(a[differ].astype(np.int64) * (top + 1) + b[differ],
                             return_counts=True)
    pa, pb = np.divmod(keys, top + 1)
    iou = counts / (area_a[pa] + area_b[pb] - counts)
    best_claim = np.zeros(top + 1)  # the best IoU a mask of b has with a's label
    best_claim[linked] = links
    np.maximum.at(best_claim, pa, iou)
    starts = area_a[pb] == 0  # labels of b absent from a
    # a start claims a label above only when no other mask overlaps it better
    claims = np.where(iou >= best_claim[pa], iou, 0.0)
    best = np.zeros(top + 1)
    np.maximum.at(best, pb[starts], claims[starts])
    inside = starts & ~cut[pb]  # the same, away from the border
    best_inside = np.zeros(top + 1)
    np.maximum.at(best_inside, pb[inside], np.where(cut[pa], 0.0, claims)[inside])
    return (links, best[np.unique(pb[starts])], links[~cut[linked]],
            best_inside[np.unique(pb[inside])])


def layer_pairs(shape) -> range:
    """The pairs of consecutive layers ``(z, z + 1)`` the evidence reads, by ``z``.

    Every pair, or every k-th one when they hold more than
    :data:`MAX_PAIR_VOXELS` voxels in all; ``k`` depends on the shape only,
    so that the block-wise path reads the same pairs.

    Examples
    --------
    >>> from sklearn_overseg.screening import layer_pairs
    >>> layer_pairs((40, 128, 128))
    range(0, 39)
    >>> layer_pairs((2000, 224, 224))
    range(0, 1999, 13)
    """
    n_pairs = max(int(shape[0]) - 1, 0)
    pair_voxels = 2 * int(shape[1]) * int(shape[2])
    return range(0, n_pairs, max(1, -(-n_pairs * pair_voxels // MAX_PAIR_VOXELS)))


def stitch_links(volume: np.ndarray, pairs=None) -> tuple[np.ndarray, ...]:
    """IoUs of every link and every start of a (validated) volume or z range.

    Returns ``(links, starts, links_inside, starts_inside)``: the IoU of each
    label's masks in two consecutive layers ``z`` and ``z + 1``, and for each
    label absent from layer ``z`` and present in ``z + 1``, the best IoU it
    has with a label of layer ``z`` that no other mask overlaps better (``0``
    when it overlaps none), for every ``z`` of ``pairs`` (default: every
    pair, in order); then the same without the masks that touch the (y, x)
    border of the volume, which a crop may have cut. Results of z ranges
    that overlap by one layer concatenate to those of the whole.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.screening import stitch_links
    >>> volume = np.zeros((3, 6, 6), dtype=np.uint8)
    >>> volume[:2, 1:5, 1:5] = 1       # a 4 x 4 column over two layers
    >>> volume[2, 2:4, 2:4] = 2        # a 2 x 2 cap under it, a new label
    >>> links, starts, *_ = stitch_links(volume)
    >>> links.tolist(), starts.tolist()
    ([1.0], [0.25])
    """
    pairs = list(range(volume.shape[0] - 1) if pairs is None else pairs)
    top = int(volume.max(initial=0))
    if volume.dtype.kind == "u" and volume.dtype.itemsize == 8:
        volume = volume.astype(np.int64)  # bincount takes no uint64

    def slab(chosen: slice):
        return [_layer_pair(volume[z], volume[z + 1], top) for z in pairs[chosen]]

    # layer pairs in slabs, on threads when they are many voxels
    layer = volume.shape[1] * volume.shape[2]
    found = [f for part in map_slabs(slab, len(pairs), 2 * layer * len(pairs))
             for f in part]
    return join_links(found)


def join_links(parts) -> tuple[np.ndarray, ...]:
    """The outputs of :func:`stitch_links` of several z ranges, joined in order."""
    return tuple(np.concatenate([np.zeros(0)] + [p[k] for p in parts])
                 for k in range(4))

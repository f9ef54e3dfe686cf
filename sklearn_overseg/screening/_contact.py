"""Contact graph: which labels touch, and over how many voxel faces.

A 3D model that draws a tilted boundary through a cell leaves two fragments
that touch each other. Every pair of face-adjacent labels is found in one
vectorised pass: the volume is compared with itself shifted by one voxel along
z, y and x, the differing foreground neighbours are encoded as ``(min, max)``
pair keys and counted with :func:`numpy.unique`.
"""

from __future__ import annotations

import numpy as np

from .._candidates import LOWER, UPPER, Candidate
from .._geometry import LabelGeometry, require_int64_labels
from .._validation import check_label_volume

__all__ = ["contact_pairs"]

# Below this label value a pair is packed into one int64 as (low << 32) | high.
_PACKABLE_LABEL = 1 << 31


def contact_pairs(volume) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of face-adjacent labels and its contact area.

    Two labels touch when a voxel of one shares a face with a voxel of the
    other (6-connectivity along z, y and x). Background (``0``) is ignored.

    Parameters
    ----------
    volume : array-like of shape (z, y, x)
        Integer instance labels, ``0`` is background.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), dtype int64
        ``(smaller label, larger label)`` rows, sorted lexicographically.
    areas : ndarray of shape (n_pairs,), dtype int64
        Number of voxel faces the two labels share (in voxel faces, whatever
        the voxel size).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import contact_pairs
    >>> vol = np.zeros((2, 3, 4), dtype=np.uint8)
    >>> vol[:, :, :2] = 5
    >>> vol[:, :, 2:] = 3
    >>> pairs, areas = contact_pairs(vol)
    >>> pairs.tolist(), areas.tolist()
    ([[3, 5]], [6])
    """
    volume = check_label_volume(volume, name="volume", allow_background_only=True)
    require_int64_labels(volume)
    return _contact_pairs(volume)


def _contact_pairs(
    volume: np.ndarray, face_areas=None
) -> tuple[np.ndarray, ...]:
    """:func:`contact_pairs` without validation.

    With ``face_areas`` (the physical area of a face normal to z, y and x),
    also returns each pair's physical contact area, the sum of its faces'
    areas.
    """
    lows, highs, axes = [], [], []
    for axis in range(3):
        if volume.shape[axis] < 2:
            continue
        before = _shifted(volume, axis, 0)
        after = _shifted(volume, axis, 1)
        touching = before != after
        touching &= before != 0
        touching &= after != 0
        a, b = before[touching], after[touching]
        lows.append(np.minimum(a, b))
        highs.append(np.maximum(a, b))
        if face_areas is not None:
            axes.append(np.full(len(a), axis, dtype=np.int8))
    if not lows or sum(len(lo) for lo in lows) == 0:
        empty = (np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
        return empty if face_areas is None else (*empty, np.zeros(0))
    low = np.concatenate(lows).astype(np.int64)
    high = np.concatenate(highs).astype(np.int64)
    if int(high.max()) < _PACKABLE_LABEL:
        keys = (low << 32) | high
        n, values = None, None
    else:
        # Huge label values: encode through dense indices of the labels that touch.
        values, dense = np.unique(np.concatenate([low, high]), return_inverse=True)
        n = len(values)
        keys = dense[: len(low)] * n + dense[len(low) :]
    if face_areas is None:
        keys, areas = np.unique(keys, return_counts=True)
    else:
        keys, inverse, areas = np.unique(
            keys, return_inverse=True, return_counts=True
        )
        weights = np.asarray(face_areas, dtype=float)[np.concatenate(axes)]
        physical = np.bincount(inverse.ravel(), weights=weights, minlength=len(keys))
    if n is None:
        pairs = np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)
    else:
        pairs = np.stack([values[keys // n], values[keys % n]], axis=1)
    out = pairs.astype(np.int64), areas.astype(np.int64)
    return out if face_areas is None else (*out, physical)


def _shifted(volume: np.ndarray, axis: int, start: int) -> np.ndarray:
    """View of ``volume`` without its last (start=0) or first (start=1) slab."""
    index = [slice(None)] * 3
    index[axis] = slice(start, volume.shape[axis] - 1 + start)
    return volume[tuple(index)]


def label_mask(volume: np.ndarray, geometry: LabelGeometry, row: int) -> np.ndarray:
    """Boolean mask of the label of ``row`` within its bounding box."""
    lo, hi = geometry.starts[row], geometry.stops[row]
    return volume[tuple(slice(a, b) for a, b in zip(lo, hi))] == geometry.labels[row]


def pair_crop(
    volume: np.ndarray,
    geometry: LabelGeometry,
    box: tuple[slice, slice, slice],
    codes: tuple[tuple[int, int], ...],
    masks: dict | None = None,
) -> np.ndarray:
    """``uint8`` crop of ``volume[box]`` holding ``code`` on the label of ``row``.

    Each label is compared with the volume only inside its own bounding box
    (which must lie inside ``box``), so no pass over the whole box is needed;
    ``masks`` (row -> :func:`label_mask`) gives the comparisons already made.
    """
    origin = np.array([s.start for s in box])
    crop = np.zeros(tuple(s.stop - s.start for s in box), dtype=np.uint8)
    for code, row in codes:
        lo, hi = geometry.starts[row], geometry.stops[row]
        if masks is not None and row in masks:
            mask = masks[row]
        else:
            mask = label_mask(volume, geometry, row)
        local = tuple(slice(a, b) for a, b in zip(lo - origin, hi - origin))
        np.copyto(crop[local], code, where=mask)
    return crop


def contact_per_larger(
    volume: np.ndarray,
    geometry: LabelGeometry,
    pairs: np.ndarray,
    areas: np.ndarray,
    voxel_size,
) -> np.ndarray:
    """Contact area of each pair over its larger fragment's volume to the 2/3.

    ``areas`` are physical contact areas; volumes are counted within each
    label's bounding box (each label once), in physical units. The same
    quantity as :class:`~sklearn_overseg.ContactFeatures`'s
    ``contact_per_larger``, free of units and cell size.
    """
    voxel = float(np.prod(voxel_size))
    rows = np.searchsorted(geometry.labels, pairs)
    needed = np.unique(rows)
    counts = np.zeros(len(geometry), dtype=float)
    for row in needed:
        counts[row] = np.count_nonzero(label_mask(volume, geometry, row))
    larger = counts[rows].max(axis=1) * voxel
    return np.asarray(areas, dtype=float) / larger ** (2 / 3)


def contact_candidates(
    volume: np.ndarray,
    geometry: LabelGeometry,
    *,
    volume_index: int,
    min_contact: int,
    padding: int,
    voxel_size: tuple[float, float, float],
    min_contact_ratio: float = 0.0,
) -> list[Candidate]:
    """Contact candidates of one validated volume, sorted by (smaller, larger) label.

    Each candidate's crop covers the pair's union bounding box with code
    ``UPPER`` on the smaller label and ``LOWER`` on the larger one; ``gap`` is
    ``None`` and ``score`` the contact area in voxel faces. Pairs whose
    :func:`contact_per_larger` is below ``min_contact_ratio`` are left out
    (no crop is made for them).
    """
    if min_contact_ratio > 0:
        size = np.asarray(voxel_size, dtype=float)
        faces = [float(np.prod(np.delete(size, axis))) for axis in range(3)]
        pairs, areas, physical = _contact_pairs(volume, faces)
        keep = areas >= min_contact
        keep[keep] = contact_per_larger(
            volume, geometry, pairs[keep], physical[keep], size
        ) >= min_contact_ratio
    else:
        pairs, areas = _contact_pairs(volume)
        keep = areas >= min_contact
    candidates = []
    masks: dict = {}  # the smaller label's mask, kept while its pairs come
    for (low, high), area in zip(pairs[keep], areas[keep]):
        rows = (geometry.index(low), geometry.index(high))
        if rows[0] not in masks:
            masks = {rows[0]: label_mask(volume, geometry, rows[0])}
        box = geometry.pair_box(rows, padding)
        crop = pair_crop(
            volume, geometry, box, ((UPPER, rows[0]), (LOWER, rows[1])), masks
        )
        candidates.append(
            Candidate(
                volume_index=int(volume_index),
                upper=int(low),
                lower=int(high),
                crop=crop,
                gap=None,
                origin=tuple(int(s.start) for s in box),
                voxel_size=voxel_size,
                kind="contact",
                score=float(area),
            )
        )
    return candidates

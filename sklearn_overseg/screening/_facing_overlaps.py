"""Facing overlaps: the single pass over layers of the axis screen.

An axis split leaves an upper fragment whose last layer ``z`` faces the first
layer ``z + g + 1`` of the lower fragment across ``g`` missing layers (``g = 0``:
a stitch split, the fragments touch across the interface of two layers). Layer
``z`` is compared with layer ``z + g + 1`` only at pixels where the first holds
a label *ending* at ``z`` and the second a label *starting* at ``z + g + 1``;
overlapping pairs are counted with :func:`numpy.unique` on int64 pair keys
``upper_row * n + lower_row``. Counts over disjoint layer ranges or (y, x)
windows add up, which the block-wise screen of
:mod:`sklearn_overseg.distributed` relies on.
"""

from __future__ import annotations

import numpy as np

from .._geometry import LabelGeometry, RowLookup
from .._threads import map_slabs

__all__ = ["dense_overlaps", "facing_counts", "facing_overlaps", "sparse_count"]

# Labels up to this value are mapped to rows with a dense lookup table (int32).
_MAX_TABLE_LABEL = 1 << 22


def _layer_faces(layer, layer_z, per_row_z, lookup, by_label_z):
    """Flat pixel indices and rows of the labels whose first/last layer is ``z``."""
    layer = np.ascontiguousarray(layer).ravel()
    if by_label_z is not None:
        flat = np.flatnonzero(by_label_z[layer] == layer_z)
        return flat, lookup(layer[flat])
    rows = lookup(layer)
    flat = np.flatnonzero(np.append(per_row_z, -1)[rows] == layer_z)
    return flat, rows[flat]


def _shared_pixels(upper_faces, lower_faces, n: int) -> np.ndarray:
    """Pair keys ``upper_row * n + lower_row`` of every pixel both faces cover."""
    flat_a, rows_a = upper_faces
    flat_b, rows_b = lower_faces
    if flat_a.size == 0 or flat_b.size == 0:
        return np.zeros(0, np.int64)
    pos = np.minimum(np.searchsorted(flat_a, flat_b), flat_a.size - 1)
    hit = flat_a[pos] == flat_b
    return rows_a[pos[hit]].astype(np.int64) * n + rows_b[hit]


def sparse_count(values: list[np.ndarray], weights: list[np.ndarray] | None = None):
    """Distinct values and their (weighted) counts."""
    values = np.concatenate(values + [np.zeros(0, np.int64)]).astype(np.int64)
    if weights is None:
        return np.unique(values, return_counts=True)
    weights = np.concatenate(weights + [np.zeros(0, np.int64)]).astype(np.int64)
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, np.bincount(inverse, weights, len(distinct)).astype(np.int64)


def facing_counts(
    volume,
    geometry: LabelGeometry,
    lookup: RowLookup,
    max_gap: int,
    *,
    min_gap: int = 1,
    layers: tuple[int, int] | None = None,
    z_offset: int = 0,
) -> tuple[np.ndarray, ...]:
    """Sparse facing overlaps and face areas, in one ascending pass over layers.

    ``volume`` (anything indexable by layer, such as a zarr array) holds the
    layers ``z_offset, z_offset + 1, ...`` of the full volume, possibly over a
    (y, x) window. Only the faces in ``layers = (lo, hi)`` (global layers,
    default: all layers of ``volume``) are counted: upper faces (last layers)
    and lower faces (first layers) in the range, and the overlaps of an upper
    face in the range with the lower faces ``min_gap..max_gap`` gap layers
    below it (``min_gap`` is 0 or 1),
    which ``volume`` must hold. Disjoint ranges (and disjoint (y, x) windows)
    therefore give counts that add up to those of the whole volume. At most
    ``max_gap + 1`` upper faces are kept in memory at a time.

    Returns ``(pair_keys, overlaps, last_rows, last_areas, first_rows,
    first_areas)``: keys ``upper_row * n + lower_row`` with their pixel counts,
    and the rows with the pixel areas of their counted last and first faces.
    """
    n = len(geometry)
    first = geometry.z_starts.astype(np.int64)
    last = geometry.z_stops.astype(np.int64) - 1
    lo, hi = (z_offset, z_offset + volume.shape[0]) if layers is None else layers
    gaps = range(min_gap, max_gap + 1)
    starts_at, ends_at = set(first.tolist()), set(last.tolist())
    upper_layers = {
        z for z in ends_at if lo <= z < hi and any(z + g + 1 in starts_at for g in gaps)
    }
    counted_lower = {
        z for z in starts_at if lo <= z < hi and any(z - g - 1 in ends_at for g in gaps)
    }
    paired_lower = {z + g + 1 for z in upper_layers for g in gaps} & starts_at
    last_by_label = lookup.per_label(last, -1)
    first_by_label = lookup.per_label(first, -1)
    kept_upper: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    keys, key_counts, last_rows, first_rows = [], [], [], []
    for z in sorted(upper_layers | counted_lower | paired_lower):
        layer = volume[z - z_offset]
        for old in [u for u in kept_upper if u < z - max_gap - 1]:
            del kept_upper[old]
        if z in counted_lower or z in paired_lower:
            lower = _layer_faces(layer, z, first, lookup, first_by_label)
            if z in counted_lower:
                first_rows.append(lower[1])
            shared = [
                _shared_pixels(kept_upper[z - g - 1], lower, n)
                for g in gaps
                if z - g - 1 in kept_upper
            ]
            if shared:
                found, counts = sparse_count(shared)
                keys.append(found)
                key_counts.append(counts)
        if z in upper_layers:
            kept_upper[z] = _layer_faces(layer, z, last, lookup, last_by_label)
            last_rows.append(kept_upper[z][1])
    pair_keys, overlaps = sparse_count(keys, key_counts)
    return (pair_keys, overlaps, *sparse_count(last_rows), *sparse_count(first_rows))


def dense_overlaps(
    n: int, pair_keys, overlaps, last_rows, last_areas, first_rows, first_areas
) -> tuple[np.ndarray, ...]:
    """Turn sparse :func:`facing_counts` into ``facing_overlaps``'s output."""
    last_area = np.zeros(n, np.int64)
    first_area = np.zeros(n, np.int64)
    np.add.at(last_area, last_rows, last_areas)
    np.add.at(first_area, first_rows, first_areas)
    return pair_keys // n, pair_keys % n, overlaps, last_area, first_area


def facing_overlaps(
    volume: np.ndarray,
    geometry: LabelGeometry,
    lookup: RowLookup,
    max_gap: int,
    min_gap: int = 1,
) -> tuple[np.ndarray, ...]:
    """Count pixel overlaps between last-layer and first-layer masks across gaps.

    Returns ``(upper_rows, lower_rows, overlaps, last_area, first_area)``: the
    rows (in ``geometry``) of every pair whose gap is ``min_gap..max_gap``
    layers and whose facing masks share at least one pixel, the number of shared
    pixels,
    and for every label the area of its last and of its first layer mask.
    """
    # disjoint layer ranges add up: one range per z-slab, on threads for a
    # large volume, gives the counts of one pass
    parts = map_slabs(
        lambda layers: facing_counts(
            volume, geometry, lookup, max_gap, min_gap=min_gap,
            layers=(layers.start, layers.stop),
        ),
        volume.shape[0], volume.size,
    )
    return dense_overlaps(len(geometry), *_add_counts(parts))


def _add_counts(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The :func:`facing_counts` of disjoint layer ranges, added up."""
    if len(parts) == 1:
        return parts[0]
    added = []
    for k in range(0, 6, 2):
        added += sparse_count([p[k] for p in parts], [p[k + 1] for p in parts])
    return tuple(added)

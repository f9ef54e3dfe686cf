"""Axis screening of a stored volume, block by block on dask.

The same steps as :class:`~sklearn_overseg.CandidateScreener` (``mode="axis"``),
cut so that no task needs the whole volume:

1. facing overlaps: each block (z slab x (y, x) window) is read with a halo of
   ``max_gap + 1`` layers below it, and counts the overlaps of the upper
   faces in its own layers (``facing_counts`` of ``screening``);
   the sparse counts of all blocks add up, in a tree, to those of the volume;
2. gap verdicts: pairs that overlap enough are judged in batches, each pair
   reading only its footprint over its gap layers;
3. one-to-one matching runs on the client, over pair indices only.

The selected pairs are returned without crops: crops are read later, by the
tasks that compute features, so candidate crops never gather in one place.
"""

from __future__ import annotations

import dask
import numpy as np

from .._geometry import LabelGeometry, RowLookup
from ..screening import (
    AxisPair,
    dense_overlaps,
    facing_counts,
    gap_verdict,
    select_axis_pairs,
    sparse_count,
)
from ._scheduler import batches, compute
from ._source import VolumeReader, Window, block_grid

__all__ = ["screen_axis_pairs"]

#: Pairs judged per verdict task.
VERDICT_BATCH = 64
#: Partial counts merged per reduction task.
FAN_IN = 8


def _block_counts(reader: VolumeReader, geometry, block, max_gap: int, min_gap: int):
    """Sparse facing counts of the upper faces in one block's layers."""
    zs, ys, xs = block
    stop = min(zs.stop + max_gap + 1, reader.shape[0])
    values = reader[zs.start : stop, ys, xs]
    lookup = RowLookup(geometry.labels)
    return facing_counts(
        values, geometry, lookup, max_gap, min_gap=min_gap,
        layers=(zs.start, zs.stop), z_offset=zs.start,
    )


def _add_counts(*parts):
    """Sum sparse ``(keys, counts)`` triples of several blocks."""
    summed = []
    for k in range(0, 6, 2):
        summed += sparse_count([p[k] for p in parts], [p[k + 1] for p in parts])
    return tuple(summed)


def _judge(reader: VolumeReader, geometry, pairs, rules: dict) -> list:
    """Gap verdicts of a batch of pairs, each reading its own box once."""
    lookup = RowLookup(geometry.labels)
    return [
        gap_verdict(
            Window(reader, geometry.pair_box((u, v), 0)), geometry, lookup, u, v,
            **rules,
        )
        for u, v in pairs
    ]


def _face_layers(geometry: LabelGeometry, max_gap: int, min_gap: int) -> np.ndarray:
    """Layers holding a first or last face with a possible partner."""
    first = set(geometry.z_starts.tolist())
    last = set((geometry.z_stops - 1).tolist())
    gaps = range(min_gap, max_gap + 1)
    faces = {z for z in last if any(z + g + 1 in first for g in gaps)}
    faces |= {z for z in first if any(z - g - 1 in last for g in gaps)}
    return np.array(sorted(faces), dtype=np.int64)


def screen_axis_pairs(
    reader: VolumeReader,
    geometry: LabelGeometry,
    settings: dict,
    *,
    block_shape: tuple[int, int, int],
    client=None,
) -> list[AxisPair]:
    """Axis pairs of a stored volume, as ``CandidateScreener`` would select.

    ``settings`` holds the screener's ``max_gap``, ``min_gap``, ``rule``,
    ``min_overlap``, ``max_gap_occupancy``, ``max_intrusion`` and
    ``one_to_one``. Returns the pairs sorted by (upper label, lower label),
    the order of ``CandidateScreener.transform``.
    """
    max_gap, min_gap = settings["max_gap"], settings.get("min_gap", 1)
    faces = _face_layers(geometry, max_gap, min_gap)
    shared_reader = dask.delayed(reader, pure=True)
    shared_geometry = dask.delayed(geometry, pure=True)
    parts = [
        dask.delayed(_block_counts, pure=True)(
            shared_reader, shared_geometry, block, max_gap, min_gap
        )
        for block in block_grid(reader.shape, block_shape)
        if np.any((faces >= block[0].start) & (faces < block[0].stop))
    ]
    while len(parts) > 1:
        parts = [
            dask.delayed(_add_counts, pure=True)(*parts[i : i + FAN_IN])
            for i in range(0, len(parts), FAN_IN)
        ]
    empty = np.zeros(0, np.int64)
    (counts,) = compute(parts, client) if parts else [(empty,) * 6]
    overlaps = dense_overlaps(len(geometry), *counts)
    rules = {
        key: settings[key] for key in ("rule", "max_gap_occupancy", "max_intrusion")
    }

    def judge(up, low):
        pairs = list(zip(up.tolist(), low.tolist()))
        tasks = [
            dask.delayed(_judge, pure=True)(
                shared_reader, shared_geometry, batch, rules
            )
            for batch in batches(pairs, VERDICT_BATCH)
        ]
        return [v for part in compute(tasks, client) for v in part]

    selected = select_axis_pairs(
        geometry,
        overlaps,
        judge,
        min_overlap=settings["min_overlap"],
        one_to_one=settings["one_to_one"],
        max_noise_cover=settings["max_noise_cover"],
    )
    labels = geometry.labels
    return sorted(
        selected, key=lambda p: (labels[p.upper_row], labels[p.lower_row])
    )

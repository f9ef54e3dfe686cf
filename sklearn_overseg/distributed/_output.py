"""Writing the corrected volume: one task per block of whole target chunks.

Each task reads its source block, relabels it with the global mapping of the
merges (:func:`~sklearn_overseg.correction._merging.relabel_volume`), paints the rebuilt
gap layers that fall inside it, in the order the in-memory corrector paints
them, and writes the block to the target zarr array. Blocks are made of whole
target chunks (or shards), so no two tasks ever write the same chunk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..correction import paint_writes, relabel_volume
from ._source import VolumeReader, default_block_shape

__all__ = ["check_blocks", "open_target", "route_writes", "write_block"]


def write_block(reader, target, block, mapping, writes) -> int:
    """Relabel one block, paint its fills, write it; returns changed voxels."""
    source = reader[block]
    values = relabel_volume(source, mapping)
    paint_writes(values, [s.start for s in block], writes)
    target[block] = values
    return int(np.count_nonzero(values != source))


def route_writes(writes, block_shape, grid_shape) -> dict[tuple, list]:
    """Writes per block index (each list keeps the global order)."""
    routed: dict[tuple, list] = {}
    for write in writes:
        ranges = [
            range(r.start // b, min((r.stop - 1) // b, g - 1) + 1)
            for r, b, g in zip(write[0], block_shape, grid_shape)
        ]
        for index in np.ndindex(*(len(r) for r in ranges)):
            key = tuple(r[i] for r, i in zip(ranges, index))
            routed.setdefault(key, []).append(write)
    return routed


def open_target(target, reader: VolumeReader, chunks, overwrite: bool):
    """The output zarr array (created for a path), checked against the source."""
    import zarr

    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"target '{path}' exists; pass overwrite=True to replace it."
            )
        chunks = chunks or reader.chunks or default_block_shape(
            reader.shape, None, 1 << 21
        )
        return zarr.open_array(
            store=str(path), mode="w", shape=reader.shape, dtype=reader.dtype,
            chunks=tuple(min(c, n) for c, n in zip(chunks, reader.shape)),
        )
    if not isinstance(target, zarr.Array):
        raise TypeError(
            "target must be a path to a new zarr store or a zarr array, got "
            f"{type(target).__name__}."
        )
    if tuple(target.shape) != reader.shape or np.dtype(target.dtype) != reader.dtype:
        raise ValueError(
            f"target has shape {tuple(target.shape)} and dtype {target.dtype}; "
            f"the source has shape {reader.shape} and dtype {reader.dtype}."
        )
    return target


def check_blocks(block_shape, target) -> tuple[int, int, int]:
    """Blocks must be made of whole target chunks (or shards)."""
    unit = getattr(target, "shards", None) or target.chunks
    block = tuple(
        int(min(b, n)) for b, n in zip(block_shape, target.shape)
    )
    if len(block) != 3 or any(b < 1 for b in block):
        raise ValueError(f"chunks must be 3 positive integers, got {block_shape}.")
    bad = [
        axis for axis, (b, u, n) in enumerate(zip(block, unit, target.shape))
        if b % u and b != n
    ]
    if bad:
        raise ValueError(
            f"chunks {block} must be whole multiples of the target's chunks "
            f"{tuple(unit)} along every axis (axes {bad} are not)."
        )
    return block

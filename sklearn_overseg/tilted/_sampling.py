"""Sampling a contact pair on a grid of layers parallel to its contact plane.

Nearest-neighbour sampling of a crop of codes in the plane's frame, giving
exactly what ``scipy.ndimage.affine_transform(order=0, mode="grid-constant")``
gives on the whole grid (same floating-point operations, in the same order),
but computing only the blocks of the grid near the pair: a tilted pair fills
about a fifth of its bounding box in the plane's frame. Used by
:func:`~sklearn_overseg.reslice_pair`.
"""

from __future__ import annotations

import numpy as np

# Samples are shifted by this fraction of the spacing along every frame axis,
# so that grids aligned with voxel faces (an axis-aligned cut) round
# consistently instead of by floating-point noise.
_TIE_BREAK = 1e-3
# Side, in voxels, of the crop blocks whose occupancy selects grid blocks; side,
# in grid points, of the grid blocks sampled; grid blocks sampled at once.
_CROP_BLOCK = 4
_GRID_BLOCK = 8
_CHUNK = 64



def _column_ends(mask: np.ndarray) -> np.ndarray:
    """First and last voxel of every non-empty z column of a mask.

    A linear function of the voxel positions takes its extremes over the mask
    at these voxels, so they bound the mask's extent along any direction.
    Rows: the first voxels, then the last ones, columns in C order.
    """
    n = mask.shape[0]
    if n >= np.iinfo(np.uint16).max:
        first = np.argmax(mask, axis=0)
        last = n - np.argmax(mask[::-1], axis=0)
    else:  # max-reductions along z are elementwise over layers: fast
        depth = np.arange(1, n + 1, dtype=np.uint16)[:, None, None]
        last = np.max(mask * depth, axis=0)  # one past the last voxel, 0 if none
        first = n - np.max(mask * depth[::-1], axis=0)
    y, x = np.nonzero(mask.any(axis=0))
    z = np.concatenate([first[y, x], last[y, x] - 1]).astype(np.intp)
    return np.stack([z, np.tile(y, 2), np.tile(x, 2)], axis=1)


def _any_pool(mask: np.ndarray, size: int) -> np.ndarray:
    """Occupancy of the ``size``-sided blocks of a mask (edge blocks partial)."""
    for axis in range(3):
        widths = [(0, 0)] * 3
        widths[axis] = (0, -mask.shape[axis] % size)
        padded = np.moveaxis(np.pad(mask, widths), axis, 0)
        pooled = padded[::size].copy()
        for offset in range(1, size):
            pooled |= padded[offset::size]
        mask = np.moveaxis(pooled, 0, axis)
    return mask


def _grid_blocks_near(mask, voxel_size, centroid, frame, step, lo, n_blocks):
    """Origins of the grid blocks that may sample a voxel of ``mask``.

    Every grid point whose nearest voxel lies in an occupied crop block is
    within ``reach`` (the half-extent of the block along the frame axes, in
    grid steps) of the block centre's grid position; the grid blocks that
    meet that box are kept. Grid points elsewhere sample a zero.
    """
    occupied = np.argwhere(_any_pool(mask, _CROP_BLOCK))
    centre = (occupied * _CROP_BLOCK + (_CROP_BLOCK - 1) / 2) * voxel_size
    position = (centre - centroid) @ frame.T / step - lo - _TIE_BREAK
    reach = 0.5 * _CROP_BLOCK * (np.abs(frame) @ voxel_size) / step + 1e-6
    size = np.asarray(n_blocks) * _GRID_BLOCK
    inside = np.all((position + reach >= 0) & (position - reach < size), axis=1)
    top = np.asarray(n_blocks) - 1
    first = np.clip((position[inside] - reach) // _GRID_BLOCK, 0, top).astype(int)
    last = np.clip((position[inside] + reach) // _GRID_BLOCK, 0, top).astype(int)
    marked = np.zeros(n_blocks, dtype=bool)
    span = int((last - first).max(initial=0)) + 1
    # Every block from first to last along each axis (repeats are harmless).
    for i in range(span):
        a = np.minimum(first[:, 0] + i, last[:, 0])
        for j in range(span):
            b = np.minimum(first[:, 1] + j, last[:, 1])
            for k in range(span):
                marked[a, b, np.minimum(first[:, 2] + k, last[:, 2])] = True
    return np.argwhere(marked) * _GRID_BLOCK


def _nearest_codes(codes, matrix, offset, origins, n_blocks) -> np.ndarray:
    """Nearest-neighbour samples at the grid blocks starting at ``origins``.

    Crop coordinates of grid point ``o`` are ``((o0 m0 + o1 m1) + o2 m2) +
    offset`` per axis, rounded half up; outside the crop the sample is 0.
    Returns the whole grid (``n_blocks`` blocks), zero where not sampled.
    """
    padded = np.pad(codes, 1)  # a zero border for the samples outside
    flat = padded.ravel()
    strides = (padded.shape[1] * padded.shape[2], padded.shape[2], 1)
    side = _GRID_BLOCK
    tables = [
        [np.arange(n * side) * matrix[h, axis] for axis, n in enumerate(n_blocks)]
        for h in range(3)
    ]
    grid = np.zeros(tuple(n * side for n in n_blocks), dtype=np.uint8)
    blocks = grid.reshape(
        n_blocks[0], side, n_blocks[1], side, n_blocks[2], side
    ).transpose(0, 2, 4, 1, 3, 5)
    within = np.arange(side)
    for start in range(0, len(origins), _CHUNK):
        chunk = origins[start : start + _CHUNK]
        points = [o[:, None] + within for o in chunk.T]
        index = None
        for h in range(3):
            rows = tables[h][0][points[0]][:, :, None]
            rows = rows + tables[h][1][points[1]][:, None, :]
            at = rows[..., None] + tables[h][2][points[2]][:, None, None, :]
            at += offset[h]
            at += 0.5
            np.clip(at, -1, codes.shape[h], out=at)
            np.floor(at, out=at)
            if strides[h] != 1:
                at *= strides[h]
            index = at if index is None else np.add(index, at, out=index)
        index += strides[0] + strides[1] + 1  # the zero border
        block = tuple(chunk.T // side)
        blocks[block] = flat[index.astype(np.intp)]
    return grid


def _sample_in_frame(codes, voxel_size, centroid, frame, step, max_layers):
    """Nearest-neighbour samples of ``codes`` on the (n, u, v) grid.

    The grid points are integer multiples of ``step`` along the frame axes
    from ``centroid`` (layer 0 lies on the plane) and cover every voxel of the
    pair. Returns the samples and the grid's lowest (n, u, v) indices.
    """
    mask = codes > 0
    projected = (_column_ends(mask) * voxel_size - centroid) @ frame.T
    projected = np.ascontiguousarray(projected.T)  # fast row reductions
    half = 0.5 * np.abs(frame) @ voxel_size  # half a voxel along each axis
    lo = np.floor((projected.min(axis=1) - half) / step).astype(int)
    hi = np.ceil((projected.max(axis=1) + half) / step).astype(int)
    lo[0], hi[0] = min(lo[0], -1), max(hi[0], 1)
    if max_layers is not None:
        lo[0], hi[0] = max(lo[0], -max_layers), min(hi[0], max_layers)
    # Grid index -> crop index is affine (the matrix and offset that
    # scipy.ndimage.affine_transform would take).
    matrix = frame.T * step / voxel_size[:, None]
    offset = (centroid + frame.T @ ((lo + _TIE_BREAK) * step)) / voxel_size
    shape = tuple(int(v) for v in hi - lo + 1)
    n_blocks = tuple(-(-n // _GRID_BLOCK) for n in shape)
    origins = _grid_blocks_near(mask, voxel_size, centroid, frame, step, lo, n_blocks)
    grid = _nearest_codes(codes, matrix, offset, origins, n_blocks)
    return np.ascontiguousarray(grid[: shape[0], : shape[1], : shape[2]]), lo

"""Per-label geometry of a stored volume, as a dask reduction over blocks.

Each block is read on its own and measured with
:meth:`~sklearn_overseg._geometry.LabelGeometry.from_volume` (one
``find_objects`` pass); its boxes are moved to volume coordinates by the
block's offset. Partial results are merged in a tree (fan-in
:data:`FAN_IN`) by taking, per label, the smallest start and the largest stop.
Only the labels present in a block travel, so the cost of the reduction grows
with the number of (label, block) pairs, never with the voxels.
"""

from __future__ import annotations

import dask
import numpy as np

from .._geometry import LabelGeometry
from ._scheduler import compute
from ._source import VolumeReader, block_grid

__all__ = ["blockwise_geometry"]

#: Partial geometries merged per reduction task.
FAN_IN = 8


def _block_geometry(reader: VolumeReader, block) -> LabelGeometry:
    """Geometry of one block, in volume coordinates."""
    values = reader[block]
    if values.dtype.kind == "i" and values.size and values.min() < 0:
        raise ValueError(
            f"the volume contains negative labels (minimum {values.min()} in "
            f"block {[(s.start, s.stop) for s in block]})."
        )
    local = LabelGeometry.from_volume(values)
    offset = np.array([s.start for s in block], dtype=np.intp)
    return LabelGeometry(
        local.labels, local.starts + offset, local.stops + offset, reader.shape
    )


def merge_geometries(*parts: LabelGeometry) -> LabelGeometry:
    """Union of partial geometries: per label, the box covering all its parts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._geometry import LabelGeometry
    >>> from sklearn_overseg.distributed._geometry import merge_geometries
    >>> a = LabelGeometry(np.array([4]), np.array([[0, 0, 0]]),
    ...                   np.array([[2, 2, 2]]), (9, 9, 9))
    >>> b = LabelGeometry(np.array([4, 7]), np.array([[5, 1, 1], [3, 3, 3]]),
    ...                   np.array([[9, 3, 3], [4, 4, 4]]), (9, 9, 9))
    >>> merged = merge_geometries(a, b)
    >>> merged.labels.tolist(), merged.z_extent(4), merged.bbox(7)[0]
    ([4, 7], (0, 9), slice(3, 4, None))
    """
    labels = np.concatenate([p.labels for p in parts])
    starts = np.concatenate([p.starts for p in parts])
    stops = np.concatenate([p.stops for p in parts])
    distinct, inverse = np.unique(labels, return_inverse=True)
    low = np.full((len(distinct), 3), np.iinfo(np.intp).max, dtype=np.intp)
    high = np.zeros((len(distinct), 3), dtype=np.intp)
    np.minimum.at(low, inverse, starts)
    np.maximum.at(high, inverse, stops)
    return LabelGeometry(distinct.astype(np.int64), low, high, parts[0].shape)


def blockwise_geometry(
    source, *, block_shape=None, client=None
) -> LabelGeometry:
    """Bounding boxes and z-extents of every label of a stored volume.

    The same result as ``LabelGeometry.from_volume(volume)``, computed block
    by block on dask (threads by default, or the cluster of ``client``), so
    the volume never has to fit in memory.

    Parameters
    ----------
    source : zarr.Array, h5py.Dataset, ndarray, str or VolumeReader
        The label volume (see :class:`VolumeReader`).
    block_shape : tuple of 3 int, optional
        Shape of the blocks read by each task; default: whole storage chunks,
        about 8 million voxels per block.
    client : distributed.Client, optional
        Run on this cluster; ``None`` uses dask's current scheduler.

    Returns
    -------
    LabelGeometry
        Labels, inclusive starts and exclusive stops in volume coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.distributed import blockwise_geometry
    >>> vol = np.zeros((6, 8, 8), dtype=np.uint16)
    >>> vol[1:5, 2:7, 3:4] = 9
    >>> geom = blockwise_geometry(vol, block_shape=(2, 4, 4))
    >>> geom.labels.tolist(), geom.z_extent(9), geom.bbox(9)[1]
    ([9], (1, 5), slice(2, 7, None))
    """
    from ._source import default_block_shape

    reader = source if isinstance(source, VolumeReader) else VolumeReader(source)
    block_shape = block_shape or default_block_shape(reader.shape, reader.chunks)
    shared = dask.delayed(reader, pure=True)  # one graph key, sent once
    parts = [
        dask.delayed(_block_geometry, pure=True)(shared, block)
        for block in block_grid(reader.shape, block_shape)
    ]
    while len(parts) > 1:
        parts = [
            dask.delayed(merge_geometries, pure=True)(*parts[i : i + FAN_IN])
            for i in range(0, len(parts), FAN_IN)
        ]
    (geometry,) = compute(parts, client)
    return geometry

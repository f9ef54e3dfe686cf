"""Correct volumes larger than memory, block by block, on dask.

:func:`correct_zarr` reads a label volume from a Zarr or HDF5 store and writes
the corrected labels to a Zarr store; every step runs as dask tasks that read
only a block of the volume or the box of one candidate pair, on threads, a
``LocalCluster`` or any ``distributed`` cluster. :func:`blockwise_geometry`
is its first step, the bounding boxes of all labels as a reduction over
blocks. See ``docs/scaling.md`` for what runs where and how the cost grows.

Needs the optional packages of ``pip install 'sklearn_overseg[dask]'``
(dask, distributed and zarr).
"""

try:
    import dask  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sklearn_overseg.distributed needs dask; install it with "
        "pip install 'sklearn_overseg[dask]'"
    ) from exc

from ._correct import correct_zarr
from ._geometry import blockwise_geometry
from ._source import VolumeReader

__all__ = ["VolumeReader", "blockwise_geometry", "correct_zarr"]

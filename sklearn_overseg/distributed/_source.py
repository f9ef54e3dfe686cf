"""Lazy, picklable access to a label volume stored in Zarr or HDF5, by blocks.

Every task of the distributed correction reads only the part of the volume it
needs. :class:`VolumeReader` wraps the stored array so that it can be sent to
dask workers (a zarr array pickles as its store address; an HDF5 dataset is
reopened by file name and key on each worker) and returns NumPy arrays for
basic slicing. :func:`block_grid` cuts the volume into the blocks the tasks
work on, aligned to the storage chunks.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

import numpy as np
from sklearn.utils import gen_batches

__all__ = ["VolumeReader", "Window", "block_grid", "default_block_shape"]

#: Voxels per processing block when none is given (32 MB of uint32 labels).
DEFAULT_BLOCK_VOXELS = 1 << 23
_FALLBACK_CHUNKS = (32, 256, 256)


class VolumeReader:
    """A stored 3D label volume that reads NumPy blocks on demand.

    Parameters
    ----------
    source : zarr.Array, h5py.Dataset, dask array, ndarray, str or path-like
        The labels. A path is opened lazily with
        :func:`sklearn_overseg.io.read_labels` (``"cells.zarr:key"`` and
        ``"cells.h5:key"`` name an array inside a container). A NumPy array is
        kept as it is (it is pickled whole when sent to worker processes, so
        use it for small volumes or threads only). Float data must hold
        whole numbers ``>= 0``; it is read as unsigned integers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.distributed import VolumeReader
    >>> reader = VolumeReader(np.arange(8).reshape(2, 2, 2))
    >>> reader.shape, reader[1, :, 0].tolist()
    ((2, 2, 2), [4, 6])
    """

    #: the argument's name and what it holds, for messages
    _what, _holds = "source", "label volume"

    def __init__(self, source):
        self._h5 = None
        source = self._open(source)
        if type(source).__module__.startswith("h5py"):
            # h5py objects do not pickle: remember where to reopen them
            self._h5 = (str(Path(source.file.filename)), source.name)
        elif not all(hasattr(source, a) for a in ("shape", "dtype", "__getitem__")):
            raise TypeError(
                f"{self._what} must be a zarr array, an h5py dataset, a NumPy "
                f"or dask array or a path to one, got {type(source).__name__}."
            )
        self._array = source
        self._token = uuid.uuid4().hex
        self.shape = tuple(int(n) for n in source.shape)
        self.dtype = np.dtype(source.dtype)
        chunks = getattr(source, "chunks", None)
        if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], tuple):
            chunks = tuple(c[0] for c in chunks)  # a dask array's block sizes
        self.chunks = (
            tuple(int(c) for c in chunks) if isinstance(chunks, tuple) else None
        )
        if len(self.shape) != 3:
            raise ValueError(
                f"{self._what} must hold a 3D (z, y, x) {self._holds}, got "
                f"shape {self.shape}."
            )
        self._check_dtype()
        if 0 in self.shape:
            raise ValueError(f"{self._what} is empty (shape {self.shape}).")

    def _open(self, source):
        """The stored array of ``source`` (paths opened lazily)."""
        if isinstance(source, (str, os.PathLike)):
            from ..io import read_labels

            return read_labels(source, lazy=True)
        if getattr(getattr(source, "dtype", None), "kind", None) == "f":
            from ..io import WholeNumberLabels

            # whole numbers >= 0 are labels, read as unsigned integers, as
            # read_labels does (every value is checked once, block by block)
            return WholeNumberLabels(source, "source")
        return source

    def _check_dtype(self) -> None:
        if self.dtype.kind not in "iu":
            raise TypeError(
                f"source must hold integer labels, got dtype {self.dtype}."
            )

    def __getitem__(self, key) -> np.ndarray:
        if self._array is None:
            import h5py

            self._array = h5py.File(self._h5[0], "r")[self._h5[1]]
        return np.asarray(self._array[key])

    def __dask_tokenize__(self):
        return self._token

    def __getstate__(self):
        state = dict(self.__dict__)
        if self._h5 is not None:
            state["_array"] = None
        return state

    def __repr__(self) -> str:
        return f"VolumeReader(shape={self.shape}, dtype={self.dtype})"


class Window:
    """A box of a volume read once, indexed in volume coordinates.

    Tasks that handle one candidate pair read the pair's box with a single
    request (a few storage chunks) and let the screening and crop code index
    it as if it were the whole volume. Keys are tuples of integers and
    slices with explicit bounds inside the box.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.distributed._source import Window
    >>> volume = np.arange(64).reshape(4, 4, 4)
    >>> window = Window(volume, (slice(1, 3), slice(0, 4), slice(2, 4)))
    >>> window[2, 1:3, 3].tolist() == volume[2, 1:3, 3].tolist()
    True
    """

    def __init__(self, volume, box: tuple[slice, slice, slice]):
        self.origin = tuple(int(s.start) for s in box)
        self.values = np.asarray(volume[box])
        self.shape = tuple(volume.shape)

    def __getitem__(self, key) -> np.ndarray:
        local = []
        for k, o, n in zip(key, self.origin, self.values.shape):
            if isinstance(k, slice):
                start, stop = k.start - o, k.stop - o
                if start < 0 or stop > n or k.step not in (None, 1):
                    raise IndexError(f"{k} is outside the window")
                local.append(slice(start, stop))
            else:
                if not 0 <= k - o < n:
                    raise IndexError(f"{k} is outside the window")
                local.append(int(k) - o)
        return self.values[tuple(local)]


def default_block_shape(
    shape: tuple[int, int, int],
    chunks: tuple[int, int, int] | None,
    voxels: int = DEFAULT_BLOCK_VOXELS,
) -> tuple[int, int, int]:
    """A block shape made of whole storage chunks, holding about ``voxels``.

    The chunk is grown along y and x first (whole layers are what the
    screening reads), then along z, while the block stays within ``voxels``.
    """
    block = [min(c, n) for c, n in zip(chunks or _FALLBACK_CHUNKS, shape)]
    for axis in (2, 1, 0):
        others = int(np.prod(block, dtype=np.int64)) // block[axis]
        times = max(1, voxels // (others * block[axis]))
        block[axis] = min(block[axis] * times, shape[axis])
    return tuple(int(b) for b in block)


def block_grid(
    shape: tuple[int, int, int], block: tuple[int, int, int]
) -> list[tuple[slice, slice, slice]]:
    """The blocks covering ``shape``, as tuples of slices, in C order."""
    ranges = [list(gen_batches(n, b)) if n else [] for n, b in zip(shape, block)]
    return [tuple(s) for s in itertools.product(*ranges)]

"""Float label files that hold whole numbers, read as unsigned integer labels.

Some tools store label volumes as floats (ImageJ 32-bit images, a network's
output cast to float). Such a file is accepted when every value is a finite
whole number ``>= 0`` and is returned in the smallest unsigned integer dtype
that holds its largest label; any other float file is refused with a
``ValueError`` that names the file, the problem and the first voxel showing
it. Values are checked block by block, so checking a file read lazily (a
memory map, an HDF5 dataset, a zarr array) needs memory for one block only;
:class:`WholeNumberLabels` then converts each block as it is read.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from sklearn.utils import gen_batches

__all__ = [
    "WholeNumberLabels",
    "check_float_block",
    "float_label_dtype",
    "whole_number_labels",
]

#: voxels checked at once: 4 Mi float64 voxels are 32 MB, plus masks
BLOCK_VOXELS = 1 << 22


def _first_bad(bad: np.ndarray, values: np.ndarray, origin, name, problem) -> None:
    """Raise for the first ``True`` of ``bad`` (C order), if there is one."""
    if not bad.any():
        return
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    z, y, x = (int(i) + int(o) for i, o in zip(index, origin))
    raise ValueError(
        f"{name} holds {problem} (first at z={z}, y={y}, x={x}: "
        f"{float(values[index]):g}); label volumes must hold whole numbers >= 0."
    )


def check_float_block(values: np.ndarray, origin, name: str) -> float:
    """Check one block of float labels; return its largest value.

    ``origin`` is the block's first voxel in the volume, so that the error
    names the voxel in volume coordinates. Problems are looked for in this
    order: NaN or infinite values, negative values, non-integer values.
    """
    finite = np.isfinite(values)
    if not finite.all():
        index = np.unravel_index(int(np.argmin(finite)), finite.shape)
        problem = "NaN values" if np.isnan(values[index]) else "infinite values"
        _first_bad(~finite, values, origin, name, problem)
    _first_bad(values < 0, values, origin, name, "negative values")
    _first_bad(values != np.floor(values), values, origin, name, "non-integer values")
    return float(values.max()) if values.size else 0.0


def float_label_dtype(largest: float, name: str) -> np.dtype:
    """The smallest unsigned integer dtype that holds ``largest``."""
    if largest <= np.iinfo(np.uint64).max:
        return np.min_scalar_type(int(largest))
    raise ValueError(
        f"{name} holds labels too large for 64-bit integers "
        f"(largest {largest:.6g})."
    )


def _storage_chunks(array) -> tuple[int, ...] | None:
    """Chunk shape of a zarr array or chunked HDF5 dataset, else ``None``."""
    chunks = getattr(array, "chunks", None)
    return tuple(int(c) for c in chunks) if isinstance(chunks, tuple) else None


def _block_shape(shape, chunks) -> tuple[int, ...]:
    """Whole storage chunks (or whole rows), grown to about BLOCK_VOXELS."""
    base = list(chunks) if chunks else [1] * (len(shape) - 1) + [shape[-1]]
    block = [max(1, min(int(c), int(n))) for c, n in zip(base, shape)]
    for axis in reversed(range(len(shape))):
        others = int(np.prod(block, dtype=np.int64)) // block[axis]
        times = max(1, BLOCK_VOXELS // (others * block[axis]))
        block[axis] = min(block[axis] * times, int(shape[axis]))
    return tuple(block)


def _blocks(shape, chunks):
    """Slices of the blocks covering ``shape``, in C order."""
    block = _block_shape(shape, chunks)
    ranges = [
        list(gen_batches(int(n), int(b))) if n else [] for n, b in zip(shape, block)
    ]
    return itertools.product(*ranges)


def _scan(array, name: str) -> np.dtype:
    """Check every value of a (maybe lazy) float array, one block at a time."""
    largest = 0.0
    for box in _blocks(tuple(array.shape), _storage_chunks(array)):
        values = np.asarray(array[box])
        origin = [s.start for s in box]
        largest = max(largest, check_float_block(values, origin, name))
    return float_label_dtype(largest, name)


def whole_number_labels(values: np.ndarray, name: str) -> np.ndarray:
    """Float labels in memory, checked and converted to unsigned integers."""
    return values.astype(_scan(values, name))


class WholeNumberLabels:
    """A lazy float label array, read as unsigned integers block by block.

    Every value is checked once, when the object is made; each read then
    converts the block it returns. HDF5 datasets are reopened by file name
    and dataset path after pickling, so the object can go to other processes.

    Parameters
    ----------
    array : array-like
        A lazy float array (``numpy.memmap``, ``h5py.Dataset``,
        ``zarr.Array``) of shape (z, y, x).
    name : str
        Name of the data in error messages, e.g. ``"'cells.h5:seg'"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.io._float_labels import WholeNumberLabels
    >>> view = WholeNumberLabels(np.full((2, 3, 4), 300.0), "'cells.npy'")
    >>> view.dtype, view[0, 0].tolist()
    (dtype('uint16'), [300, 300, 300, 300])
    """

    def __init__(self, array, name: str):
        self.dtype = _scan(array, name)
        self.shape = tuple(int(n) for n in array.shape)
        self.chunks = _storage_chunks(array)
        self.name = name
        self._array = array
        self._h5 = None
        if type(array).__module__.startswith("h5py"):
            self._h5 = (str(Path(array.file.filename)), array.name)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if self._array is None:
            import h5py

            self._array = h5py.File(self._h5[0], "r")[self._h5[1]]
        return np.asarray(self._array[key]).astype(self.dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[...]
        return values if dtype is None else values.astype(dtype)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._h5 is not None:
            state["_array"] = None  # h5py objects do not pickle
        return state

    def __repr__(self) -> str:
        return (
            f"WholeNumberLabels({self.name}, shape={self.shape}, "
            f"dtype={self.dtype})"
        )

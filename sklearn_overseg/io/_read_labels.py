"""Reading 3D label volumes and their voxel size, from any supported format.

The file suffix picks the format (see :data:`FORMATS` in ``_common``); the
format modules open files as :class:`~._common.ArraySource` objects, and this
module applies the same checks to every format: the stored array must be a 3D
integer or float array, checked from the header before any voxel is read. A
float array must hold whole numbers ``>= 0`` (``_float_labels``) and is read
as unsigned integers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_label_volume
from ._common import ArraySource, parse_path_key, require_existing, resolve_format
from ._float_labels import WholeNumberLabels, whole_number_labels
from ._hdf5 import open_hdf5
from ._numpy_files import open_npy, open_npz
from ._tiff import open_tiff
from ._zarr import open_zarr

__all__ = ["open_source", "read_labels", "read_voxel_size", "resolve_path"]

_OPENERS = {
    "npy": open_npy,
    "npz": open_npz,
    "tiff": open_tiff,
    "hdf5": open_hdf5,
    "zarr": open_zarr,
}


def resolve_path(path, key: str | None) -> tuple[Path, str | None, str]:
    """Path, key and format name from a path (maybe ``file:key``) and a key."""
    path, key_in_path = parse_path_key(path)
    if key is not None and key_in_path is not None and key != key_in_path:
        raise ValueError(
            f"Two different keys given: {key_in_path!r} in the path and "
            f"key={key!r}."
        )
    return path, key if key is not None else key_in_path, resolve_format(path)


def open_source(path, key: str | None) -> ArraySource:
    """The file named by ``path`` (and ``key``) opened as an ``ArraySource``."""
    path, key, file_format = resolve_path(path, key)
    require_existing(path)
    return _OPENERS[file_format](path, key)


def _check_header(source: ArraySource) -> None:
    if source.dtype.kind not in "iuf":
        raise TypeError(
            f"{source.name} holds {source.dtype} data, not integer labels; "
            "label volumes must have an integer (or whole-number float) dtype."
        )
    if len(source.shape) != 3:
        raise ValueError(
            f"{source.name} must hold a 3D (z, y, x) label volume, got a "
            f"{len(source.shape)}D array of shape {source.shape}."
        )


def read_labels(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    return_voxel_size: bool = False,
    mmap: bool = False,
    lazy: bool = False,
    assume_labels: bool = False,
) -> Any:
    """Read a 3D label volume from a ``.npy``, ``.npz``, TIFF, HDF5 or zarr file.

    Parameters
    ----------
    path : str or path-like
        File (or ``.zarr`` directory). The suffix picks the format: ``.npy``,
        ``.npz``, ``.tif``/``.tiff``, ``.h5``/``.hdf5``/``.hdf``, ``.zarr``.
        Container formats accept ``"file.h5:key"``.
    key : str, optional
        Array inside a container. ``.npz``: defaults to ``"labels"`` or the
        only array. HDF5: required unless the file holds exactly one dataset.
        zarr: optional when the store is one array or a group with one array.
    return_voxel_size : bool, default=False
        Also return the stored voxel size (see :func:`read_voxel_size`).
    mmap : bool, default=False
        ``.npy`` only: return a read-only ``numpy.memmap`` instead of reading
        the file into memory.
    lazy : bool, default=False
        Return an array-like that reads voxels on demand instead of an
        ndarray: a ``numpy.memmap`` for ``.npy`` and uncompressed TIFF, an
        ``h5py.Dataset`` for HDF5 (its file stays open until
        ``dataset.file.close()``), a ``zarr.Array`` for zarr. Only the shape
        and dtype of integer data are checked, not the values. Float data is
        checked once, block by block (memory for one block only), and comes
        back as an array-like that converts every block it reads to unsigned
        integers. Not available for ``.npz``.
    assume_labels : bool, default=False
        Skip the check that the array is not a microscope image given as
        labels by mistake (most voxels non-zero, many distinct values,
        neighbouring voxels rarely equal: see the ``ValueError`` below).
        Arrays read with ``mmap`` or ``lazy`` are not checked.

    Returns
    -------
    labels : ndarray of shape (z, y, x) or array-like
        Integer labels, ``0`` is background. Integer data keeps the stored
        dtype. Float data holding only finite whole numbers ``>= 0`` (as
        saved by tools that write labels as floats) is returned in the
        smallest unsigned integer dtype that holds its largest label:
        ``uint8``, ``uint16``, ``uint32`` or ``uint64``.
    voxel_size : tuple of 3 float or None
        Only when ``return_voxel_size``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For an unknown suffix, an ambiguous missing key, a non-3D array,
        invalid labels (e.g. negative), float data holding NaN, infinite,
        negative or non-integer values (the message names the first such
        voxel) or labels beyond ``2**64 - 1``, or ``mmap=True`` on float
        data; or, unless ``assume_labels``, when the array looks like a
        microscope image rather than labels (e.g. ``"cells.npz:raw"``).
    KeyError
        If the key is not in the file; the message lists the available keys.
    TypeError
        If the stored array is neither integer nor float (boolean, complex,
        objects, ...).
    ImportError
        If h5py or zarr is needed but missing (``pip install
        'sklearn_overseg[formats]'``).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_overseg.io import read_labels, write_labels
    >>> labels = np.zeros((4, 8, 8), dtype=np.uint16)
    >>> labels[1:3, 2:6, 2:6] = 7
    >>> path = os.path.join(tempfile.mkdtemp(), "cells.tif")
    >>> write_labels(path, labels, voxel_size=(2.0, 0.5, 0.5))
    >>> volume, voxel_size = read_labels(path, return_voxel_size=True)
    >>> volume.dtype, voxel_size
    (dtype('uint16'), (2.0, 0.5, 0.5))

    A float file of whole numbers comes back as unsigned integers:

    >>> float_path = os.path.join(tempfile.mkdtemp(), "floats.npy")
    >>> np.save(float_path, labels.astype(np.float32))
    >>> read_labels(float_path).dtype
    dtype('uint8')
    """
    path, key, file_format = resolve_path(path, key)
    if mmap and file_format != "npy":
        raise ValueError(
            f"mmap=True works for .npy files only, not '{path}'; use lazy=True "
            "for HDF5, zarr or uncompressed TIFF."
        )
    require_existing(path)
    source = _OPENERS[file_format](path, key)
    try:
        _check_header(source)
        if source.dtype.kind == "f":
            labels = _read_float(source, mmap=mmap, lazy=lazy,
                                 reject_images=not assume_labels)
        elif mmap or lazy:
            labels = _open_lazily(source)
        else:
            labels = check_label_volume(
                source.load(), name=source.name, allow_background_only=True,
                reject_images=not assume_labels,
            )
        voxel_size = source.voxel_size() if return_voxel_size else None
    finally:
        source.close()
    return (labels, voxel_size) if return_voxel_size else labels


def _open_lazily(source: ArraySource):
    if source.lazy is None:
        raise ValueError(
            f"{source.name} cannot be read lazily; lazy=True works for "
            ".npy, .tif, .h5 and .zarr files."
        )
    return source.lazy()


def _read_float(source: ArraySource, *, mmap: bool, lazy: bool,
                reject_images: bool):
    """Float data checked to hold whole numbers and read as unsigned integers."""
    if mmap:
        raise ValueError(
            f"{source.name} holds {source.dtype} labels, which cannot be "
            "memory-mapped as integers; read it without mmap=True (it is "
            "converted to unsigned integers) or with lazy=True."
        )
    if not lazy:
        labels = whole_number_labels(source.load(), source.name)
        return check_label_volume(labels, name=source.name, allow_background_only=True,
                                  reject_images=reject_images)
    array = _open_lazily(source)
    if type(array) is np.ndarray:  # already in memory (compressed TIFF)
        return whole_number_labels(array, source.name)
    return WholeNumberLabels(array, source.name)


def read_voxel_size(
    path: str | os.PathLike, key: str | None = None
) -> tuple[float, ...] | None:
    """Read the voxel size (z, y, x) stored with a label volume, if any.

    Only metadata is read. Where it comes from: ``.npz`` array
    ``voxel_size`` (or ``voxel_size_um``, ``element_size_um``); TIFF ImageJ
    ``spacing`` plus the resolution tags, or a ``voxel_size`` entry in the
    image description; HDF5 and zarr attribute ``voxel_size`` (or
    ``element_size_um``, ``resolution``). ``.npy`` files have none.

    Parameters
    ----------
    path : str or path-like
        As in :func:`read_labels`, including ``"file.h5:key"``.
    key : str, optional
        Array inside a container, as in :func:`read_labels`.

    Returns
    -------
    tuple of 3 float or None
        The voxel size, or ``None`` when the file stores none.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_overseg.io import read_voxel_size, write_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "cells.npz")
    >>> write_labels(path, np.ones((2, 3, 3), dtype=np.int32), voxel_size=(3, 1, 1))
    >>> read_voxel_size(path)
    (3.0, 1.0, 1.0)
    """
    source = open_source(path, key)
    try:
        return source.voxel_size()
    finally:
        source.close()

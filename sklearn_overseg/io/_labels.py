"""Reading and writing 3D label volumes, with their voxel size.

The file suffix picks the format (see :data:`FORMATS` in ``_common``); the
format modules open files as :class:`~._common.ArraySource` objects, and this
module applies the same checks to every format: the stored array must be a 3D
integer or float array, checked from the header before any voxel is read. A
float array must hold whole numbers ``>= 0`` (``_float_labels``) and is read
as unsigned integers.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_label_volume, check_voxel_size
from ._common import ArraySource, parse_path_key, require_existing, resolve_format
from ._float_labels import WholeNumberLabels, whole_number_labels
from ._hdf5 import open_hdf5, write_hdf5
from ._numpy_files import open_npy, open_npz, write_npy, write_npz
from ._safe_write import atomic_write, atomic_write_directory, same_data
from ._tiff import open_tiff, write_tiff
from ._zarr import open_zarr, write_zarr

__all__ = [
    "check_destination", "read_labels", "read_voxel_size", "same_data_as",
    "write_labels",
]

_OPENERS = {
    "npy": open_npy,
    "npz": open_npz,
    "tiff": open_tiff,
    "hdf5": open_hdf5,
    "zarr": open_zarr,
}
# errno values of a destination that cannot be written to
_READ_ONLY_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)
_WRITERS = {
    "npy": write_npy,
    "npz": write_npz,
    "tiff": write_tiff,
    "hdf5": write_hdf5,
    "zarr": write_zarr,
}


def _resolve(path, key: str | None) -> tuple[Path, str | None, str]:
    """Path, key and format name from a path (maybe ``file:key``) and a key."""
    path, key_in_path = parse_path_key(path)
    if key is not None and key_in_path is not None and key != key_in_path:
        raise ValueError(
            f"Two different keys given: {key_in_path!r} in the path and "
            f"key={key!r}."
        )
    return path, key if key is not None else key_in_path, resolve_format(path)


def _open(path, key: str | None) -> ArraySource:
    path, key, file_format = _resolve(path, key)
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
    path, key, file_format = _resolve(path, key)
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
    source = _open(path, key)
    try:
        return source.voxel_size()
    finally:
        source.close()


def write_labels(
    path: str | os.PathLike,
    labels,
    key: str | None = None,
    voxel_size=None,
) -> None:
    """Write a 3D label volume, keeping its integer dtype and voxel size.

    Parameters
    ----------
    path : str or path-like
        Destination; the suffix picks the format as in :func:`read_labels`.
        ``.npy``, ``.npz`` and TIFF files are replaced; in HDF5 files and
        zarr groups only the dataset named by ``key`` is replaced. Files
        (and whole zarr stores) are written under a temporary name in the
        same folder and then renamed, so an interrupted write never leaves a
        half-written file; adding a dataset to an existing HDF5 file or zarr
        group happens in place.
    labels : array-like of shape (z, y, x)
        Non-negative integer labels. Float arrays are refused (cast them
        first) so that a float image is never saved as labels by mistake.
    key : str, optional
        Array name in a container: ``"labels"`` by default for ``.npz`` and
        HDF5; for zarr, no key writes the store as a single array. Also
        accepted as ``"file.h5:key"``.
    voxel_size : float or sequence of 3 float, optional
        Physical voxel size (z, y, x). ``.npy`` cannot store it (a warning is
        raised). uint8/uint16 TIFFs are written as ImageJ hyperstacks, with
        the z step as ImageJ ``spacing`` and y/x as resolution.

    Raises
    ------
    TypeError
        If ``labels`` is float, boolean or not numeric.
    ValueError
        If ``labels`` is not 3D or holds negative values, the voxel size is
        invalid, or the suffix is unknown.
    FileNotFoundError
        If the destination folder does not exist.
    PermissionError
        If the destination (file, folder or zarr store) is read-only.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_overseg.io import read_labels, write_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "cells.npy")
    >>> write_labels(path, np.arange(8, dtype=np.uint32).reshape(2, 2, 2))
    >>> read_labels(path).dtype
    dtype('uint32')
    """
    path, key, file_format = _resolve(path, key)
    array = np.asarray(labels)
    if array.dtype.kind == "f":
        raise TypeError(
            f"Refusing to write {array.dtype} labels to '{path}': label volumes "
            "must be integers. Cast them first, e.g. labels.astype(np.uint32)."
        )
    array = check_label_volume(array, name="labels", allow_background_only=True)
    if voxel_size is not None:
        voxel_size = tuple(check_voxel_size(voxel_size).tolist())
    check_destination(path)
    if file_format == "npy" and voxel_size is not None and key is None:
        warnings.warn(
            f".npy files cannot store a voxel size; it is not saved in '{path}'. "
            "Use .npz, .tif, .h5 or .zarr to keep it.",
            UserWarning,
            stacklevel=2,
        )
    try:
        _write(path, array, key, voxel_size, file_format)
    except OSError as exc:
        if isinstance(exc, PermissionError) or exc.errno in _READ_ONLY_ERRORS:
            raise PermissionError(_read_only_message(path, exc)) from exc
        raise


def _write(path: Path, array: np.ndarray, key, voxel_size, file_format: str):
    """Write through a temporary file (or store) renamed into place.

    Adding a dataset to an existing HDF5 file or zarr group is done in place,
    since the file's other datasets must stay.
    """
    writer = _WRITERS[file_format]

    def write(temporary: Path) -> None:
        if file_format == "hdf5":
            temporary.unlink()  # h5py creates the file itself
        writer(temporary, array, key, voxel_size, name=path)

    if file_format == "zarr":
        if key is None or not path.exists():
            atomic_write_directory(path, write)
        else:
            writer(path, array, key, voxel_size)
    elif file_format == "hdf5" and path.exists():
        writer(path, array, key, voxel_size)
    else:
        atomic_write(path, write)


def same_data_as(source: str | os.PathLike, destination: str | os.PathLike) -> bool:
    """Whether writing labels to ``destination`` would overwrite ``source``.

    Both may be ``"file:key"`` paths. True when they name the same file (also
    through a symbolic link or another spelling of the path) and writing would
    replace the data read from ``source``: the whole file for TIFF, ``.npy``
    and ``.npz``, the same dataset (or no key) for HDF5 and zarr.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_overseg.io._labels import same_data_as
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "cells.npy"), np.ones((2, 2, 2), np.uint8))
    >>> same_data_as(os.path.join(folder, "cells.npy"),
    ...              os.path.join(folder, "..", os.path.basename(folder), "cells.npy"))
    True
    """
    return same_data(_resolve(source, None), _resolve(destination, None))


def _read_only_message(path: Path, exc: OSError | None = None) -> str:
    reason = f" ({exc.strerror or exc})" if exc is not None else ""
    return f"cannot write '{path}': the destination is read-only{reason}."


def check_destination(path: str | os.PathLike, key: str | None = None) -> None:
    """Check, before any work, that labels can be written to ``path``.

    The suffix must be known, the folder must exist and the folder (or the
    file or store already there) must be writable. Raises the errors of
    :func:`write_labels`; writing itself can still fail (a full disk).
    """
    path, _, _ = _resolve(path, key)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder '{folder}' for '{path}' does not exist.")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise PermissionError(_read_only_message(path))

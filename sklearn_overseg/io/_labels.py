"""Writing 3D label volumes safely, and checking a destination beforehand.

Every format is written through a temporary file (or store) renamed into
place, so an interrupted write never leaves half a file; the destination is
checked before any work (known suffix, existing and writable folder), and
:func:`same_data_as` tells whether an output would overwrite its input.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from .._validation import check_label_volume
from .._voxel_size import check_voxel_size
from .._warnings import warn_user
from ._hdf5 import write_hdf5
from ._numpy_files import write_npy, write_npz
from ._read_labels import resolve_path
from ._safe_write import atomic_write, atomic_write_directory, same_data
from ._tiff import write_tiff
from ._zarr import write_zarr

__all__ = ["check_destination", "same_data_as", "write_labels"]

# errno values of a destination that cannot be written to
_READ_ONLY_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)
_WRITERS = {
    "npy": write_npy,
    "npz": write_npz,
    "tiff": write_tiff,
    "hdf5": write_hdf5,
    "zarr": write_zarr,
}


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
    path, key, file_format = resolve_path(path, key)
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
        warn_user(
            f".npy files cannot store a voxel size; it is not saved in '{path}'. "
            "Use .npz, .tif, .h5 or .zarr to keep it.",
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
    >>> from sklearn_overseg.io import same_data_as
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "cells.npy"), np.ones((2, 2, 2), np.uint8))
    >>> same_data_as(os.path.join(folder, "cells.npy"),
    ...              os.path.join(folder, "..", os.path.basename(folder), "cells.npy"))
    True
    """
    return same_data(resolve_path(source, None), resolve_path(destination, None))


def _read_only_message(path: Path, exc: OSError | None = None) -> str:
    reason = f" ({exc.strerror or exc})" if exc is not None else ""
    return f"cannot write '{path}': the destination is read-only{reason}."


def check_destination(path: str | os.PathLike, key: str | None = None) -> None:
    """Check, before any work, that labels can be written to ``path``.

    The suffix must be known, the folder must exist and the folder (or the
    file or store already there) must be writable. Raises the errors of
    :func:`write_labels`; writing itself can still fail (a full disk).
    """
    path, _, _ = resolve_path(path, key)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder '{folder}' for '{path}' does not exist.")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise PermissionError(_read_only_message(path))

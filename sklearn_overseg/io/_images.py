"""Reading a raw microscope image (the optional evidence beside the labels)."""

from __future__ import annotations

import os

import numpy as np

from ._read_labels import _open_lazily, open_source

__all__ = ["read_image"]


def read_image(
    path: str | os.PathLike, key: str | None = None, *, lazy: bool = False
) -> np.ndarray:
    """Read a 3D raw image from a ``.npy``, ``.npz``, TIFF, HDF5 or zarr file.

    Parameters
    ----------
    path : str or path-like
        File (or ``.zarr`` directory); container formats accept
        ``"file.h5:key"`` (``"file.npz:raw"``).
    key : str, optional
        Array inside a container (see :func:`read_labels`).
    lazy : bool, default=False
        Return an array-like that reads voxels on demand (as
        ``read_labels(..., lazy=True)``: ``.npy``, uncompressed TIFF, HDF5
        and zarr; not ``.npz``), for
        :func:`~sklearn_overseg.distributed.correct_zarr`.

    Returns
    -------
    ndarray or array-like of shape (z, y, x)
        The stored values, in their stored (integer or float) dtype.

    Raises
    ------
    TypeError
        If the stored array is not of real numbers.
    ValueError
        If it is not 3D.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_overseg.io import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "raw.npy")
    >>> np.save(path, np.ones((2, 3, 4), dtype=np.float32))
    >>> read_image(path).shape
    (2, 3, 4)
    """
    source = open_source(path, key)
    try:
        if source.dtype.kind not in "iuf":
            raise TypeError(
                f"{source.name} holds {source.dtype} data, not an image of "
                "real numbers"
            )
        if len(source.shape) != 3:
            raise ValueError(
                f"{source.name} must hold a 3D (z, y, x) image, got a "
                f"{len(source.shape)}D array of shape {source.shape}."
            )
        return _open_lazily(source) if lazy else np.asarray(source.load())
    finally:
        source.close()

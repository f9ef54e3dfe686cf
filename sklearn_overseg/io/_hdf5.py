"""HDF5 label files (``.h5``/``.hdf5``/``.hdf``) through h5py.

A file can hold many datasets, so the key (dataset path inside the file) is
required unless the file holds exactly one dataset. The voxel size is read
from the dataset attribute ``voxel_size``, ``element_size_um`` (the Fiji and
ilastik convention) or ``resolution``, and written to the first two.
Writing into an existing file replaces only the dataset named by the key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import (
    ArraySource,
    damaged_file_errors,
    describe,
    guarded,
    import_optional,
    missing_key,
    only_key,
    voxel_size_from_attrs,
)

__all__ = ["open_hdf5", "write_hdf5"]

DEFAULT_KEY = "labels"


def _h5py():
    return import_optional("h5py", "HDF5")


def _dataset_names(h5file) -> list[str]:
    h5py = _h5py()
    names: list[str] = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            names.append(name)

    h5file.visititems(visit)
    return names


def _find_dataset(h5file, path: Path, key: str | None):
    h5py = _h5py()
    if key is None:
        key = only_key(_dataset_names(h5file), path, "datasets", "file.h5:key")
        return h5file[key], key
    item = h5file.get(key)
    if not isinstance(item, h5py.Dataset):
        names = _dataset_names(h5file)
        raise missing_key(key, path, item is not None, "a dataset", "datasets", names)
    return item, key


def open_hdf5(path: Path, key: str | None) -> ArraySource:
    """Open one dataset of an HDF5 file."""
    h5py = _h5py()
    what = "an HDF5 file"
    with damaged_file_errors(path, what):
        h5file = h5py.File(path, "r")
    try:
        dataset, key = _find_dataset(h5file, path, key)
    except BaseException:
        h5file.close()
        raise
    name = describe(path, key)

    def read_lazily():
        # a handle of its own, which stays open as long as the dataset is used
        return h5py.File(path, "r")[key]

    return ArraySource(
        name=name,
        shape=tuple(dataset.shape),
        dtype=np.dtype(dataset.dtype),
        load=guarded(lambda: dataset[()], path, what),
        lazy=read_lazily,
        voxel_size=lambda: voxel_size_from_attrs(dataset.attrs, name),
        close=h5file.close,
    )


def write_hdf5(path: Path, labels: np.ndarray, key, voxel_size, *, name=None) -> None:
    """Write (or replace) one gzip-compressed, chunked dataset."""
    h5py = _h5py()
    key = DEFAULT_KEY if key is None else key
    with h5py.File(path, "a") as h5file:
        if key in h5file:
            if not isinstance(h5file[key], h5py.Dataset):
                raise ValueError(
                    f"Key {key!r} in '{name or path}' is a group; cannot replace it "
                    "with a dataset."
                )
            del h5file[key]
        dataset = h5file.create_dataset(
            key, data=labels, chunks=True, compression="gzip", compression_opts=1
        )
        if voxel_size is not None:
            values = np.asarray(voxel_size, dtype=float)
            dataset.attrs["voxel_size"] = values
            dataset.attrs["element_size_um"] = values

"""Zarr label stores (``.zarr`` directories) through the zarr package.

A store is either a single array (written when no key is given) or a group of
arrays addressed by key (``"cells.zarr:seg/labels"``). Without a key, a group
must hold exactly one array. The voxel size lives in the array attribute
``voxel_size`` (``element_size_um`` and ``resolution`` are also read). Works
with zarr 2 and zarr 3.
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

__all__ = ["open_zarr", "write_zarr"]

_MAX_CHUNK = (32, 256, 256)


def _zarr():
    return import_optional("zarr", "zarr")


def _array_names(group, prefix: str = "") -> list[str]:
    """Paths of every array below a group, depth first."""
    zarr = _zarr()
    names: list[str] = []
    for name in sorted(group.keys()):
        item = group[name]
        if isinstance(item, zarr.Group):
            names.extend(_array_names(item, f"{prefix}{name}/"))
        else:
            names.append(prefix + name)
    return names


def _find_array(root, path: Path, key: str | None):
    zarr = _zarr()
    if not isinstance(root, zarr.Group):
        if key not in (None, "", "/"):
            raise KeyError(
                f"'{path}' is a single zarr array, not a group; it has no key {key!r}."
            )
        return root, None
    if key is None:
        key = only_key(_array_names(root), path, "arrays", "store.zarr:key")
    try:
        item = root[key.strip("/")]
    except KeyError:
        item = None
    if item is None or isinstance(item, zarr.Group):
        names = _array_names(root)
        raise missing_key(key, path, item is not None, "an array", "arrays", names)
    return item, key


def open_zarr(path: Path, key: str | None) -> ArraySource:
    """Open one array of a zarr store (nothing is read until loaded)."""
    zarr = _zarr()
    what = "a zarr store"
    with damaged_file_errors(path, what):
        root = zarr.open(store=str(path), mode="r")
    array, key = _find_array(root, path, key)
    name = describe(path, key)
    return ArraySource(
        name=name,
        shape=tuple(array.shape),
        dtype=np.dtype(array.dtype),
        load=guarded(lambda: np.asarray(array[...]), path, what),
        lazy=lambda: array,
        voxel_size=lambda: voxel_size_from_attrs(array.attrs, name),
    )


def _holds_single_array(path: Path) -> bool:
    zarr = _zarr()
    if not path.exists():
        return False
    try:
        return not isinstance(zarr.open(store=str(path), mode="r"), zarr.Group)
    except Exception:  # not a zarr store yet: a group will be created
        return False


def write_zarr(path: Path, labels: np.ndarray, key, voxel_size, *, name=None) -> None:
    """Write the labels as the store's root array, or as ``key`` in a group."""
    zarr = _zarr()
    chunks = tuple(min(n, c) for n, c in zip(labels.shape, _MAX_CHUNK))
    options = dict(shape=labels.shape, dtype=labels.dtype, chunks=chunks)
    if key is None:
        array = zarr.open_array(store=str(path), mode="w", **options)
    else:
        if _holds_single_array(path):
            raise ValueError(
                f"'{name or path}' is a single zarr array; cannot add key "
                f"{key!r} to it. Write without a key to replace it, or use "
                "another store."
            )
        group = zarr.open_group(store=str(path), mode="a")
        member = key.strip("/")
        if hasattr(group, "create_array"):  # zarr 3
            array = group.create_array(member, overwrite=True, **options)
        else:  # zarr 2
            array = group.create_dataset(member, overwrite=True, **options)
    array[...] = labels
    if voxel_size is not None:
        array.attrs["voxel_size"] = [float(v) for v in voxel_size]

"""Plumbing shared by the file-format readers and writers.

A label file is named by a path whose suffix picks the format, optionally
followed by ``:key`` for container formats (``"cells.h5:/seg/labels"``). Each
format module opens a file as an :class:`ArraySource`, which exposes the
array's shape and dtype before any voxel is read, so that wrong files are
rejected cheaply. Optional third-party readers (h5py, zarr) are imported only
when needed.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .._voxel_size import check_voxel_size

__all__ = [
    "FORMATS",
    "ArraySource",
    "damaged_file_errors",
    "describe",
    "format_keys",
    "guarded",
    "import_optional",
    "missing_key",
    "only_key",
    "parse_path_key",
    "parse_voxel_size",
    "require_existing",
    "resolve_format",
    "voxel_size_from_attrs",
]

#: file suffix -> format name
FORMATS: dict[str, str] = {
    ".npy": "npy",
    ".npz": "npz",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".zarr": "zarr",
}

# formats that hold several arrays, addressed by a key
_CONTAINER_SUFFIXES = ("npz", "h5", "hdf5", "hdf", "zarr")
_PATH_KEY_PATTERN = re.compile(
    r"^(?P<path>.+?\.(?:" + "|".join(_CONTAINER_SUFFIXES) + r"))/?:(?P<key>.*)$",
    flags=re.IGNORECASE,
)

_EXTRA_HINT = "pip install 'sklearn_overseg[formats]'"


def parse_path_key(path: str | os.PathLike) -> tuple[Path, str | None]:
    """Split ``"file.h5:key"`` into the file path and the key inside it.

    The key syntax is recognised after the container suffixes ``.h5``,
    ``.hdf5``, ``.hdf``, ``.zarr`` and ``.npz`` only, so Windows drive letters
    (``C:\\data\\cells.tif``) and colons elsewhere in a path are left alone.

    Parameters
    ----------
    path : str or path-like
        A file path, optionally followed by ``:key``.

    Returns
    -------
    path : Path
        The file (or zarr directory) path.
    key : str or None
        The dataset key, or ``None`` when the path names no key. A leading
        ``/`` of an HDF5-style key is kept as given.

    Raises
    ------
    ValueError
        If the path ends in a colon with an empty key.

    Examples
    --------
    >>> from sklearn_overseg.io import parse_path_key
    >>> path, key = parse_path_key("data/volume.h5:segmentation/cells")
    >>> path.name, key
    ('volume.h5', 'segmentation/cells')
    >>> parse_path_key("volume.tif")[1] is None
    True
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    match = _PATH_KEY_PATTERN.match(text)
    if match is None:
        return Path(text), None
    key = match.group("key")
    if not key:
        raise ValueError(f"Empty key after ':' in path {text!r}.")
    return Path(match.group("path")), key


def resolve_format(path: Path) -> str:
    """Return the format name (``"npy"``, ``"tiff"``, ...) for a file suffix.

    Raises
    ------
    ValueError
        If the suffix is not one of the supported ones.
    """
    suffix = path.suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        supported = ", ".join(sorted(FORMATS))
        shown = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(
            f"Cannot tell the file format of '{path}' ({shown}); "
            f"supported suffixes: {supported}."
        ) from None


def import_optional(module: str, file_format: str) -> ModuleType:
    """Import an optional dependency, or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"Reading or writing {file_format} files needs the optional package "
            f"'{module}', which is not installed. Install it with: {_EXTRA_HINT}"
        ) from exc


def require_existing(path: Path) -> None:
    """Raise ``FileNotFoundError`` naming ``path`` if it does not exist."""
    if not path.exists():
        raise FileNotFoundError(f"Label file not found: '{path}'.")


def describe(path: Path, key: str | None) -> str:
    """Name of a dataset for error messages: ``'file.h5:key'`` or ``'file'``."""
    return f"'{path}:{key}'" if key else f"'{path}'"


def format_keys(keys) -> str:
    """Comma-separated, sorted, quoted list of available keys for messages."""
    keys = sorted(keys)
    return ", ".join(repr(k) for k in keys) if keys else "(none)"


def parse_voxel_size(value, *, source: str) -> tuple[float, ...]:
    """Turn a stored voxel-size attribute into a tuple of 3 positive floats."""
    try:
        return tuple(check_voxel_size(np.asarray(value, dtype=float).tolist()).tolist())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Invalid voxel size stored in {source}: {exc}") from exc


#: attributes that may hold the voxel size of an HDF5 dataset or a zarr array
VOXEL_SIZE_ATTRS = ("voxel_size", "element_size_um", "resolution")


def voxel_size_from_attrs(attrs, name: str) -> tuple[float, ...] | None:
    """Voxel size stored in the first of :data:`VOXEL_SIZE_ATTRS` present."""
    for attr in VOXEL_SIZE_ATTRS:
        if attr in attrs:
            return parse_voxel_size(attrs[attr], source=f"attribute {attr!r} of {name}")
    return None


def missing_key(
    key: str, path: Path, is_group: bool, item: str, items: str, names
) -> KeyError:
    """The ``KeyError`` for a key that is absent or a group, listing ``names``."""
    what = f"is a group, not {item}" if is_group else "does not exist"
    return KeyError(
        f"Key {key!r} in '{path}' {what}; available {items}: {format_keys(names)}."
    )


def only_key(names: list[str], path: Path, items: str, example: str) -> str:
    """The single key among ``names``; a ``ValueError`` listing them otherwise."""
    if len(names) != 1:
        raise ValueError(
            f"'{path}' holds {len(names)} {items}; pass key=... "
            f"(or '{example}') to choose one. Available keys: "
            f"{format_keys(names)}."
        )
    return names[0]


@contextmanager
def damaged_file_errors(path: Path, what: str) -> Iterator[None]:
    """Turn a file library's failure on a damaged file into a clear ValueError.

    Wrap only calls into the library (numpy, tifffile, h5py, zarr), never this
    package's own checks: every exception but a missing package, a lack of
    memory or of permission becomes ``ValueError`` naming ``path``.
    """
    try:
        yield
    except (ImportError, MemoryError, PermissionError, IsADirectoryError):
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200] or "no detail"
        raise ValueError(
            f"cannot read '{path}': it is damaged or not {what} "
            f"({type(exc).__name__}: {detail})"
        ) from exc


def guarded(read: Callable, path: Path, what: str) -> Callable:
    """``read`` with :func:`damaged_file_errors` around every call."""

    def call(*args, **kwargs):
        with damaged_file_errors(path, what):
            return read(*args, **kwargs)

    return call


def _nothing() -> None:
    return None


@dataclass
class ArraySource:
    """An opened array whose header is known but whose voxels are not read yet.

    Attributes
    ----------
    name : str
        Quoted description for messages, e.g. ``"'cells.h5:seg'"``.
    shape, dtype
        Header of the stored array.
    load : callable
        Reads the whole array into memory.
    lazy : callable or None
        Returns an array-like view that reads on demand (memory map, h5py
        dataset, zarr array); ``None`` when the format cannot do that.
    voxel_size : callable
        Reads the stored voxel size, or returns ``None`` when there is none.
    close : callable
        Releases the file handle (not called for lazy results).
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray]
    lazy: Callable[[], Any] | None
    voxel_size: Callable[[], tuple[float, ...] | None] = _nothing
    close: Callable[[], None] = _nothing

"""NumPy ``.npy`` and ``.npz`` label files.

``.npy`` holds one array and no metadata, so it cannot keep a voxel size; it
is the only format that can be memory-mapped without extra packages.
``.npz`` holds named arrays: the labels under ``key`` (default ``"labels"``)
and, when given, the voxel size under ``"voxel_size"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import (
    ArraySource,
    damaged_file_errors,
    describe,
    format_keys,
    guarded,
    parse_voxel_size,
)

__all__ = ["open_npy", "open_npz", "write_npy", "write_npz"]

DEFAULT_NPZ_KEY = "labels"
# arrays that store a voxel size rather than labels (first match wins)
VOXEL_SIZE_KEYS = ("voxel_size", "voxel_size_um", "element_size_um")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _check_magic(path: Path, magic: bytes, what: str) -> None:
    """Refuse a file that does not start like ``what`` (numpy would unpickle)."""
    with open(path, "rb") as handle:
        start = handle.read(len(magic))
    if start != magic:
        raise ValueError(
            f"cannot read '{path}': it is damaged or not {what} (it does not "
            "start with the right header)"
        )


def _read_header(handle) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype from an open ``.npy`` stream (``None``: unusual version)."""
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(handle)
    else:
        return None
    return tuple(shape), np.dtype(dtype)


def _never():
    raise TypeError("arrays of Python objects are never loaded")


def open_npy(path: Path, key: str | None) -> ArraySource:
    """Open a ``.npy`` file as a read-only memory map (no voxel is read yet)."""
    if key is not None:
        raise ValueError(
            f"'{path}' is a .npy file, which holds a single array; "
            f"it has no key {key!r}."
        )
    what = "a .npy file"
    _check_magic(path, _NPY_MAGIC, what)
    with damaged_file_errors(path, what), open(path, "rb") as handle:
        header = _read_header(handle)
    if header is not None and header[1].hasobject:
        # pickled Python objects are never loaded; the header check refuses them
        return ArraySource(
            name=describe(path, None), shape=header[0], dtype=header[1],
            load=_never, lazy=None,
        )
    with damaged_file_errors(path, what):
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    return ArraySource(
        name=describe(path, None),
        shape=mapped.shape,
        dtype=mapped.dtype,
        load=guarded(lambda: np.array(mapped), path, what),
        lazy=lambda: mapped,
    )


def _choose_npz_key(path: Path, keys: list[str], key: str | None) -> str:
    if key is not None:
        if key not in keys:
            raise KeyError(
                f"No array {key!r} in '{path}'; available keys: {format_keys(keys)}."
            )
        return key
    if DEFAULT_NPZ_KEY in keys:
        return DEFAULT_NPZ_KEY
    label_keys = [k for k in keys if k not in VOXEL_SIZE_KEYS]
    if len(label_keys) == 1:
        return label_keys[0]
    raise ValueError(
        f"'{path}' holds {len(label_keys)} arrays and none is named "
        f"{DEFAULT_NPZ_KEY!r}; pass key=... (or 'file.npz:key'). "
        f"Available keys: {format_keys(keys)}."
    )


def _member_header(archive, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one archive member, read without decompressing it."""
    try:
        with archive.zip.open(key + ".npy") as member:
            header = _read_header(member)
            if header is not None:
                return header
    except (KeyError, ValueError, AttributeError):
        pass
    array = archive[key]  # unusual member: read it to learn its header
    return array.shape, array.dtype


def open_npz(path: Path, key: str | None) -> ArraySource:
    """Open a ``.npz`` archive; the chosen array is read when loaded."""
    what = "a .npz archive"
    _check_magic(path, _ZIP_MAGIC, what)
    with damaged_file_errors(path, what):
        archive = np.load(path, allow_pickle=False)
    try:
        key = _choose_npz_key(path, list(archive.files), key)
        with damaged_file_errors(path, what):
            header = _member_header(archive, key)
    except BaseException:
        archive.close()
        raise

    def read_voxel_size():
        for name in VOXEL_SIZE_KEYS:
            if name in archive.files:
                return parse_voxel_size(
                    archive[name], source=f"array {name!r} of '{path}'"
                )
        return None

    return ArraySource(
        name=describe(path, key),
        shape=header[0],
        dtype=header[1],
        load=guarded(lambda: archive[key], path, what),
        lazy=None,
        voxel_size=read_voxel_size,
        close=archive.close,
    )


def write_npy(path: Path, labels: np.ndarray, key, voxel_size, *, name=None) -> None:
    """Write a ``.npy`` file (a voxel size cannot be stored: see ``write_labels``).

    ``name`` is the path shown in messages (the destination, when ``path`` is
    the temporary file written first).
    """
    if key is not None:
        raise ValueError(
            f"'{name or path}' is a .npy file, which holds a single array; "
            f"it cannot store key {key!r}."
        )
    np.save(path, labels, allow_pickle=False)


def write_npz(path: Path, labels: np.ndarray, key, voxel_size, *, name=None) -> None:
    """Write a compressed ``.npz`` archive (replacing any existing file)."""
    key = DEFAULT_NPZ_KEY if key is None else key
    if key in VOXEL_SIZE_KEYS:
        raise ValueError(
            f"Key {key!r} is reserved for the voxel size in .npz files "
            f"('{name or path}')."
        )
    arrays = {key: labels}
    if voxel_size is not None:
        arrays["voxel_size"] = np.asarray(voxel_size, dtype=float)
    # write through a file object so numpy does not append a second suffix
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)

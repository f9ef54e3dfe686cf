"""TIFF label stacks (``.tif``/``.tiff``) through tifffile.

``uint8`` and ``uint16`` labels are written as ImageJ hyperstacks, so Fiji
opens them with the right calibration: the z step goes in the ImageJ
``spacing`` field and the y/x pixel sizes in the resolution tags. ImageJ has
no 32- or 64-bit integer images, so other integer dtypes are written as plain
(tifffile "shaped") TIFF that keeps the dtype; the voxel size then goes in the
JSON image description as ``voxel_size`` and in the resolution tags.

On reading, a voxel size is returned only when the z step is known (ImageJ
``spacing`` or a ``voxel_size`` entry); resolution tags alone give no z step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from .._warnings import warn_user
from ._common import (
    ArraySource,
    damaged_file_errors,
    describe,
    guarded,
    parse_voxel_size,
)

__all__ = ["open_tiff", "write_tiff"]

_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def _pixel_size(page, tag_name: str) -> float | None:
    """Physical pixel size along one axis from a TIFF resolution tag."""
    tag = page.tags.get(tag_name)
    if tag is None:
        return None
    numerator, denominator = tag.value
    if numerator == 0 or denominator == 0:
        return None
    return denominator / numerator


def _read_voxel_size(tif, name: str) -> tuple[float, ...] | None:
    shaped = tif.shaped_metadata
    if shaped and "voxel_size" in shaped[0]:
        return parse_voxel_size(shaped[0]["voxel_size"], source=name)
    imagej = tif.imagej_metadata
    if not imagej or "spacing" not in imagej:
        return None
    page = tif.pages[0]
    size_y = _pixel_size(page, "YResolution") or 1.0
    size_x = _pixel_size(page, "XResolution") or 1.0
    return parse_voxel_size((imagej["spacing"], size_y, size_x), source=name)


def open_tiff(path: Path, key: str | None) -> ArraySource:
    """Open the first image series of a TIFF file."""
    if key is not None:
        raise ValueError(f"'{path}' is a TIFF file; it has no key {key!r}.")
    name = describe(path, None)
    what = "a TIFF file"
    with damaged_file_errors(path, what):
        tif = tifffile.TiffFile(path)
    try:
        with damaged_file_errors(path, what):
            series = tif.series[0]
            shape, dtype = tuple(series.shape), np.dtype(series.dtype)
    except BaseException:
        tif.close()
        raise

    def read_lazily():
        try:
            return tifffile.memmap(path, mode="r")
        except ValueError:
            warn_user(
                f"{name} cannot be memory-mapped (compressed or tiled); "
                "reading it into memory instead.",
            )
            return series.asarray()

    return ArraySource(
        name=name,
        shape=shape,
        dtype=dtype,
        load=guarded(series.asarray, path, what),
        lazy=read_lazily,
        voxel_size=lambda: _read_voxel_size(tif, name),
        close=tif.close,
    )


def write_tiff(path: Path, labels: np.ndarray, key, voxel_size, *, name=None) -> None:
    """Write a 3D label stack, as an ImageJ hyperstack when ImageJ can hold it.

    ``name`` is the path shown in messages (the destination, when ``path`` is
    the temporary file written first).
    """
    if key is not None:
        raise ValueError(
            f"'{name or path}' is a TIFF file; it cannot store key {key!r}."
        )
    options: dict = {}
    metadata: dict = {"axes": "ZYX"}
    if voxel_size is not None:
        size_z, size_y, size_x = (float(v) for v in voxel_size)
        options["resolution"] = (1.0 / size_x, 1.0 / size_y)
    if labels.dtype in _IMAGEJ_DTYPES:
        options["imagej"] = True
        if voxel_size is not None:
            metadata.update(spacing=size_z, unit="micron")
    elif voxel_size is not None:
        metadata["voxel_size"] = [size_z, size_y, size_x]
    tifffile.imwrite(path, labels, metadata=metadata, **options)

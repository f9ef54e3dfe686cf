"""The raw image beside a stored label volume: checks, statistics, crops.

``correct_zarr(..., image=raw)`` gives an image model the evidence that
``MergeCorrector.correct(labels, image=raw)`` gives it, without loading the
image whole:

* :class:`ImageReader` reads blocks of the stored image (zarr, HDF5, dask or
  NumPy array, or a path), as :class:`VolumeReader` does for the labels;
* :func:`image_source` checks it against the labels and the model before
  any work;
* :func:`normalised_image` gathers, block by block, the strided sample of
  image and label voxels that :func:`~sklearn_overseg._image.check_image`
  measures its median and spread on (the same voxels, so the same numbers),
  and checks every block for NaN;
* :class:`NormalisedImage` returns any crop of the normalised image, so that
  each batch of pairs reads only its own image crops.
"""

from __future__ import annotations

import os

import dask
import numpy as np

from .._image import (
    check_image_dtype,
    check_image_finite,
    check_image_shape,
    image_statistics,
    normalise_image,
    sample_step,
)
from .._warnings import warn_user
from ..features import uses_image
from ._scheduler import compute
from ._source import VolumeReader, block_grid

__all__ = ["ImageReader", "NormalisedImage", "image_source", "normalised_image"]


class ImageReader(VolumeReader):
    """A stored 3D raw image that reads NumPy blocks on demand.

    Parameters
    ----------
    source : zarr.Array, h5py.Dataset, dask array, ndarray, str or path-like
        The microscope image (integer or float values). A path is opened
        lazily with :func:`sklearn_overseg.io.read_image`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.distributed._image_source import ImageReader
    >>> reader = ImageReader(np.linspace(0, 1, 8).reshape(2, 2, 2))
    >>> reader.shape, reader.dtype
    ((2, 2, 2), dtype('float64'))
    """

    _what, _holds = "image", "image"

    def _open(self, source):
        if isinstance(source, (str, os.PathLike)):
            from ..io import read_image

            return read_image(source, lazy=True)
        return source

    def _check_dtype(self) -> None:
        check_image_dtype(self.dtype)


class NormalisedImage:
    """Crops of ``(image - median) / scale`` (float32), read on demand."""

    def __init__(self, reader: ImageReader, median: float, scale: float):
        self.reader, self.median, self.scale = reader, median, scale
        self.shape = reader.shape

    def __getitem__(self, key) -> np.ndarray:
        return normalise_image(self.reader[key], self.median, self.scale)

    def __dask_tokenize__(self):
        return (self.reader.__dask_tokenize__(), self.median, self.scale)


def _sample_positions(block, shape, step):
    """Block-local positions and flat indices of the voxels of the sample."""
    (z0, z1), (y0, y1), (x0, x1) = ((s.start, s.stop) for s in block)
    ny, width = y1 - y0, x1 - x0
    z, y = np.meshgrid(np.arange(z0, z1, dtype=np.int64),
                       np.arange(y0, y1, dtype=np.int64), indexing="ij")
    starts = (z * shape[1] + y).ravel() * shape[2] + x0  # flat index of each row
    offset = (-starts) % step  # first sampled x of each row, from x0
    counts = np.maximum(0, -((offset - width) // step))
    rows = np.repeat(np.arange(starts.size), counts)
    within = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    x = offset[rows] + within * step
    return (rows // ny, rows % ny, x), starts[rows] + x


def _block_sample(image: ImageReader, labels: VolumeReader, block, step: int):
    """The sampled voxels of one block; checks all its image values."""
    values = image[block]
    check_image_finite(values)
    local, flat = _sample_positions(block, image.shape, step)
    return flat, values[local], labels[block][local]


def image_source(image, labels: VolumeReader, corrector) -> ImageReader | None:
    """The stored image an image model needs, checked against the labels, or None.

    The quick checks of ``MergeCorrector.screen`` (dtype, shape), before any
    work: an image model refuses ``image=None``; a label-only model ignores
    the image, with a warning.
    """
    wanted = uses_image(corrector.classifier_)
    if image is None:
        if wanted:
            raise ValueError(
                "this corrector's model uses the raw image (ImageFeatures): "
                "pass image= to correct_zarr"
            )
        return None
    reader = image if isinstance(image, ImageReader) else ImageReader(image)
    check_image_shape(reader.shape, labels.shape)
    if not wanted:
        warn_user("this corrector's model uses labels only; image= is ignored")
        return None
    return reader


def normalised_image(image: ImageReader, labels: VolumeReader, *, block_shape,
                     client=None) -> NormalisedImage:
    """The image normalised as :func:`~sklearn_overseg._image.check_image` does.

    Every block is checked for NaN and gives its voxels of the strided
    sample; the median and spread of the sample (and the warning for a label
    volume given as image) are those of the in-memory check, voxel for voxel.
    """
    step = sample_step(int(np.prod(image.shape, dtype=np.int64)))
    shared = [dask.delayed(x, pure=True) for x in (image, labels)]
    parts = compute([
        dask.delayed(_block_sample, pure=True)(*shared, block, step)
        for block in block_grid(image.shape, block_shape)
    ], client)
    flat = np.concatenate([p[0] for p in parts])
    order = np.argsort(flat, kind="stable")  # C order, as the in-memory sample
    image_sample = np.concatenate([p[1] for p in parts])[order]
    label_sample = np.concatenate([p[2] for p in parts])[order]
    median, scale = image_statistics(image_sample, label_sample)
    return NormalisedImage(image, median, scale)

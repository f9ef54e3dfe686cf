"""The raw image as optional evidence: validation, normalisation, crops.

A label volume says where the fragments are; the microscope image it was
drawn on says whether a membrane separates them or a nucleus continues across
their interface. :func:`check_image` validates an ``image=`` argument against
its labels and turns it into unit-free values: a robust z-score over the
labelled voxels, ``(image - median) / (IQR / 1.349)``, so that a feature
measured on an 8-bit confocal stack and one on a 16-bit stack mean the same.
:func:`attach_image` gives each candidate pair the float32 crop of that
normalised image over its own volume-space crop (``Candidate.image``), so
pairs stay processable on their own; no whole image travels with them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._candidates import Candidate, CandidateSet
from ._warnings import warn_user

__all__ = [
    "attach_image",
    "check_image",
    "check_image_dtype",
    "check_image_finite",
    "check_image_shape",
    "image_crop_codes",
    "image_statistics",
    "normalise_image",
    "sample_step",
]

_SAMPLE = 4_000_000  # voxels used for the normalisation statistics and checks
_IQR_TO_SIGMA = 1.349  # IQR of a standard normal distribution


def sample_step(size: int) -> int:
    """The stride of the deterministic sample: every ``step``-th voxel in C order.

    The statistics of :func:`check_image` read the voxels at flat indices
    ``0, step, 2 * step, ...`` (at most about 4 million of them), so a
    block-wise reader can gather the very same sample.
    """
    return max(1, int(np.ceil(size / _SAMPLE)))


def _sample(array: np.ndarray) -> np.ndarray:
    """The strided sample of :func:`sample_step`."""
    array = np.asarray(array)
    return array.reshape(-1)[:: sample_step(array.size)]


def check_image_dtype(dtype) -> None:
    """Refuse an image that does not hold real numbers (TypeError)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise TypeError(
            f"image must hold real numbers (a microscope image), got dtype {dtype}"
        )


def check_image_shape(shape, labels_shape) -> None:
    """Refuse an image whose shape differs from the labels' (ValueError)."""
    if tuple(shape) != tuple(labels_shape):
        raise ValueError(
            f"image has shape {tuple(shape)} but the labels have shape "
            f"{tuple(labels_shape)}; pass the raw image the labels were drawn on"
        )


def check_image_finite(values: np.ndarray) -> None:
    """Refuse NaN or infinite values (ValueError)."""
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ValueError("image holds NaN or infinite values; fill or mask them first")


def image_statistics(image_sample: np.ndarray,
                     label_sample: np.ndarray) -> tuple[float, float]:
    """The ``(median, scale)`` of :func:`check_image` from the strided samples.

    Warns when the image is constant on every label (a label volume passed
    as ``image=``). ``image_sample`` and ``label_sample`` are the voxels at
    the same flat indices (every :func:`sample_step`-th one), in C order.
    """
    if _looks_like_labels(image_sample, label_sample):
        warn_user(
            "image= is constant on every label: it looks like a label volume, "
            "not the raw microscope image, and adds no evidence",
        )
    fg = label_sample > 0
    values = image_sample.astype(np.float64)
    values = values[fg] if fg.any() else values
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    scale = (q75 - q25) / _IQR_TO_SIGMA
    if not scale > 0:
        scale = float(values.std()) or 1.0
    return float(median), float(scale)


def normalise_image(image: np.ndarray, median: float, scale: float) -> np.ndarray:
    """``(image - median) / scale`` as a new float32 array (any crop of it)."""
    out = np.asarray(image).astype(np.float32)
    out -= np.float32(median)
    out /= np.float32(scale)
    return out


def _looks_like_labels(img: np.ndarray, lab: np.ndarray) -> bool:
    """Whether an image sample is constant on every label (labels, not a scan)."""
    values = np.unique(img)
    if len(values) > max(2, len(np.unique(lab))) + 1:
        return False
    pairs = np.unique(np.stack([lab.astype(np.int64), np.searchsorted(values, img)]),
                      axis=1)
    return pairs.shape[1] == len(np.unique(lab))


def check_image(image, labels: np.ndarray) -> np.ndarray:
    """Validate a raw image against its labels and normalise it (float32).

    Parameters
    ----------
    image : array-like of shape (z, y, x)
        The microscope image the labels were drawn on (any real dtype).
    labels : ndarray of shape (z, y, x)
        The validated label volume.

    Returns
    -------
    ndarray of shape (z, y, x), dtype float32
        ``(image - median) / (IQR / 1.349)`` with the median and interquartile
        range of the labelled voxels (of all voxels when nothing is labelled;
        the standard deviation, then 1, when the IQR is zero), measured on
        a strided sample of at most about 4 million voxels
        (:func:`sample_step`). A new array; the caller's image is not
        modified.

    Raises
    ------
    TypeError
        If the image is not numeric (boolean, complex, object, string).
    ValueError
        If its shape differs from the labels' or it holds NaN or infinity.

    Warns
    -----
    UserWarning
        If the image is constant on every label: a label volume was probably
        passed as ``image=``; it carries no evidence beyond the labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._image import check_image
    >>> labels = np.ones((2, 3, 3), dtype=np.uint8)
    >>> raw = np.arange(18, dtype=np.uint16).reshape(2, 3, 3)
    >>> z = check_image(raw, labels)
    >>> z.dtype, float(np.median(z))
    (dtype('float32'), 0.0)
    """
    image = np.asarray(image)
    check_image_dtype(image.dtype)
    check_image_shape(image.shape, labels.shape)
    check_image_finite(image)
    median, scale = image_statistics(_sample(image), _sample(labels))
    return normalise_image(image, median, scale)


def image_crop_codes(candidate: Candidate) -> np.ndarray:
    """The pair's codes over the volume-space crop its image crop covers.

    Axis and contact candidates: ``crop``; resliced tilted candidates: the
    contact crop they were resliced from (``meta["contact_crop"]``).
    """
    return candidate.meta.get("contact_crop", candidate.crop)


def attach_image(candidates: CandidateSet, image: np.ndarray) -> CandidateSet:
    """Give each candidate the crop of a normalised image (``Candidate.image``).

    Parameters
    ----------
    candidates : CandidateSet
        Pairs screened in one volume (axis, contact or tilted).
    image : ndarray of shape (z, y, x)
        The image from :func:`check_image`, aligned with that volume.

    Returns
    -------
    CandidateSet
        New candidates (crops shared, not copied) whose ``image`` is a float32
        array of the shape of :func:`image_crop_codes`, at ``origin``.
    """
    out = []
    for c in candidates:
        shape = image_crop_codes(c).shape
        box = tuple(slice(o, o + n) for o, n in zip(c.origin, shape))
        crop = np.array(image[box], dtype=np.float32)
        if crop.shape != shape:
            raise ValueError(
                f"candidate {c.key}: its crop at {c.origin} of shape {shape} "
                f"falls outside the image of shape {image.shape}"
            )
        out.append(replace(c, image=crop))
    return CandidateSet(out)

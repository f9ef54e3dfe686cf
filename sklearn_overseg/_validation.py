"""Validation of label volumes at the public boundary.

Every public entry point that accepts a label volume calls
:func:`check_label_volume` once; internal code may then assume a 3D, integer,
non-negative, non-empty array and never has to re-check. Voxel sizes are
checked in ``_voxel_size.py``; estimators unpickled from before a parameter
existed get its default from ``_new_params.DefaultsForNewParams`` (both
re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._image_check import check_not_image
from ._new_params import DefaultsForNewParams
from ._voxel_size import check_pixel_size, check_voxel_size

__all__ = [
    "DefaultsForNewParams",
    "check_label_volume",
    "check_out_array",
    "check_pixel_size",
    "check_single_volume",
    "check_voxel_size",
    "check_volumes",
]


def check_label_volume(
    volume,
    *,
    name: str = "labels",
    allow_background_only: bool = False,
    copy: bool = False,
    reject_images: bool = False,
) -> np.ndarray:
    """Validate a 3D instance-label volume and return it as an integer array.

    Parameters
    ----------
    volume : array-like of shape (z, y, x)
        Integer instance labels, ``0`` is background.
    name : str, default="labels"
        Name used in error messages.
    allow_background_only : bool, default=False
        Accept a volume that contains no foreground label.
    copy : bool, default=False
        Return a copy even when no conversion is needed.
    reject_images : bool, default=False
        Refuse a volume whose statistics are those of a microscope image
        rather than labels (see ``_image_check.check_not_image``).

    Returns
    -------
    labels : ndarray of shape (z, y, x)
        An integer array. Float input holding only whole numbers is converted
        to ``int64``; integer input keeps its dtype. The caller's array is never
        modified.

    Raises
    ------
    TypeError
        If the input is boolean, complex, object or string typed, or not an
        array at all.
    ValueError
        If it is not 3D, has a zero-length axis, contains NaN or infinity,
        non-integer values or negative labels, or only background (unless
        ``allow_background_only``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._validation import check_label_volume
    >>> check_label_volume(np.ones((2, 3, 3), dtype=np.uint16)).dtype
    dtype('uint16')
    """
    if volume is None:
        raise TypeError(f"{name} is None; expected a 3D integer label array.")
    if hasattr(volume, "__array__") or isinstance(volume, (list, tuple)):
        arr = np.asarray(volume)
    else:
        raise TypeError(
            f"{name} must be a 3D integer label array, got {type(volume).__name__}."
        )
    if arr.dtype == bool:
        raise TypeError(
            f"{name} is a boolean mask; expected integer instance labels "
            "(label each object, e.g. with scipy.ndimage.label)."
        )
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must have an integer dtype, got dtype {arr.dtype}."
        )
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be a 3D (z, y, x) volume, got {arr.ndim}D array with "
            f"shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        if not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} has a float dtype with non-integer values; "
                "expected integer instance labels."
            )
        if arr.min() < 0:
            raise ValueError(f"{name} contains negative labels.")
        if arr.max() >= 2.0**63:  # int64 holds labels up to 2**63 - 1
            raise ValueError(
                f"{name} has labels too large for int64 (largest {arr.max():.6g})."
            )
        arr = arr.astype(np.int64)
        copy = False
    elif arr.dtype.kind == "i" and arr.min() < 0:
        raise ValueError(f"{name} contains negative labels (minimum {arr.min()}).")
    if not allow_background_only and not arr.any():
        raise ValueError(f"{name} contains only background (label 0).")
    if reject_images:
        check_not_image(arr, name)
    if copy or arr is volume and not arr.flags.writeable:
        arr = arr.copy()
    return arr


def check_volumes(volumes, *, name: str = "volumes", **kwargs) -> list[np.ndarray]:
    """Validate a list of label volumes (or a single 3D volume).

    A single 3D array is accepted and wrapped in a list, so that transformers
    can be called on one volume or on many.

    Parameters
    ----------
    volumes : ndarray of shape (z, y, x) or sequence of such arrays
        The label volumes.
    name : str, default="volumes"
        Name used in error messages. A volume of the list is named in the
        singular, with its position when there are several: "volume 2 of 3".
    **kwargs
        Passed to :func:`check_label_volume`.

    Returns
    -------
    list of ndarray
        The validated volumes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._validation import check_volumes
    >>> len(check_volumes(np.ones((2, 2, 2), dtype=int)))
    1
    """
    if hasattr(volumes, "__array__"):  # numpy arrays and array-likes
        arr = np.asarray(volumes)
        if arr.ndim == 3:
            return [check_label_volume(arr, name=_item_names(name, 1)[0], **kwargs)]
        if arr.ndim == 4 and arr.shape[-1] == 1:
            raise ValueError(
                f"{name} has shape {arr.shape}: a 3D volume with a trailing "
                "channel axis? Remove it (e.g. volume[..., 0]); a stack of "
                "volumes has shape (n_volumes, z, y, x)."
            )
        if arr.ndim == 4 and arr.dtype != object:
            volumes = list(arr)
        else:
            raise ValueError(
                f"{name} must be a 3D label volume or a list of 3D label volumes, "
                f"got an array of shape {arr.shape}."
            )
    if not isinstance(volumes, Sequence) or isinstance(volumes, (str, bytes)):
        raise TypeError(
            f"{name} must be a 3D label volume or a list of them, "
            f"got {type(volumes).__name__}."
        )
    if len(volumes) == 0:
        raise ValueError(f"{name} is an empty list; expected at least one volume.")
    return [
        check_label_volume(v, name=item, **kwargs)
        for v, item in zip(volumes, _item_names(name, len(volumes)))
    ]


def _item_names(name: str, n: int) -> list[str]:
    """Names of the volumes of a list in messages: "volume", "volume 2 of 3"."""
    item = name[:-1] if name.endswith("volumes") else name
    if n == 1:
        return [item]
    return [f"{item} {i + 1} of {n}" for i in range(n)]



def check_single_volume(volume, *, assume_labels: bool = False) -> np.ndarray:
    """Validate one label volume (a list of several is refused clearly).

    An all-background volume is valid. Unless ``assume_labels``, a volume that
    looks like a microscope image is refused (see ``_image_check``).
    """
    if hasattr(volume, "__array__") and np.ndim(volume) not in (0, 3):
        shape = np.shape(volume)
        raise ValueError(
            f"volume must be one 3D (z, y, x) label volume, got a {len(shape)}D "
            f"array of shape {shape}; use transform for a stack of volumes"
        )
    volumes = check_volumes(volume, name="volume", allow_background_only=True,
                            reject_images=not assume_labels)
    if len(volumes) != 1:
        raise ValueError(
            f"expected one 3D label volume, got {len(volumes)} volumes; use "
            "transform for several"
        )
    return volumes[0]


def check_out_array(out, volume: np.ndarray) -> np.ndarray | None:
    """Validate the ``out`` array of a correction (``None`` passes)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}.")
    if out.shape != volume.shape or out.dtype != volume.dtype:
        raise ValueError(
            f"out must have the volume's shape {volume.shape} and dtype "
            f"{volume.dtype}, got shape {out.shape} and dtype {out.dtype}."
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    same = out.ctypes.data == volume.ctypes.data and out.strides == volume.strides
    if not same and np.may_share_memory(out, volume):
        raise ValueError("out overlaps the volume without being the volume itself.")
    return out

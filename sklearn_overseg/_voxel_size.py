"""Validation of voxel sizes (z, y, x) and in-plane pixel sizes (y, x)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_pixel_size", "check_voxel_size"]


def check_voxel_size(voxel_size, *, ndim: int = 3) -> np.ndarray:
    """Validate a voxel size and return it as a float array.

    Parameters
    ----------
    voxel_size : None, float or sequence of float
        Physical size of a voxel along (z, y, x) (or (y, x) for ``ndim=2``).
        ``None`` means isotropic unit voxels; a scalar is used on every axis.
    ndim : int, default=3
        Number of axes.

    Returns
    -------
    ndarray of shape (ndim,)
        Positive, finite voxel size.

    Examples
    --------
    >>> from sklearn_overseg._voxel_size import check_voxel_size
    >>> check_voxel_size((2, 1, 1)).tolist()
    [2.0, 1.0, 1.0]
    """
    if voxel_size is None:
        return np.ones(ndim, dtype=float)
    if isinstance(voxel_size, numbers.Real) and not isinstance(voxel_size, bool):
        voxel_size = [voxel_size] * ndim
    try:
        vs = np.asarray(voxel_size, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"voxel_size must be a sequence of {ndim} numbers, got {voxel_size!r}."
        ) from exc
    if vs.shape != (ndim,):
        raise ValueError(
            f"voxel_size must have {ndim} entries (one per axis), got {vs.size}."
        )
    if not np.all(np.isfinite(vs)) or np.any(vs <= 0):
        raise ValueError(f"voxel_size must be positive and finite, got {vs.tolist()}.")
    return vs


def check_pixel_size(voxel_size) -> np.ndarray:
    """The in-plane pixel size (y, x) of a voxel size (z, y, x), (y, x) or a number.

    A (z, y, x) size is validated whole, then its z entry is dropped.

    Examples
    --------
    >>> from sklearn_overseg._voxel_size import check_pixel_size
    >>> check_pixel_size((2, 0.5, 0.5)).tolist()
    [0.5, 0.5]
    """
    if np.ndim(voxel_size) == 1 and len(voxel_size) == 3:
        return check_voxel_size(voxel_size, ndim=3)[1:]
    return check_voxel_size(voxel_size, ndim=2)

"""Genuinely flawed segmentations of the real volumes: 2D per slice, then z-stitching.

CellPose-style pipelines segment each z slice in 2D and stitch the 2D masks
along z by IoU: a cell that the 2D step misses, cuts or draws badly in one
layer is split in 3D, because the stitcher only looks one layer back. This
module rebuilds that failure on the real ``raw`` images:

* :func:`segment_membrane_slices` (dense tissue, membrane stain): per slice,
  watershed of the smoothed membrane signal from h-minima markers;
* :func:`segment_nuclei_slices` (sparse nuclei): per slice, Otsu threshold of
  the smoothed image plus a distance-transform watershed;
* :func:`stitch_labels`: IoU stitching of 2D masks along z, as CellPose's
  ``stitch3D`` does it (written here from its description);
* :func:`drop_masks_per_slice`: the missing-layer case on real shapes, by
  deleting ground-truth 2D masks and splitting cells at the holes;
* :func:`z_split_pairs`: which ground-truth cells came out split along z.

Run ``python benchmarks/_flawed_segmentation.py`` for the per-file numbers.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.morphology import h_minima
from skimage.segmentation import watershed

__all__ = [
    "drop_masks_per_slice",
    "flawed_segmentation",
    "segment_membrane_slices",
    "segment_nuclei_slices",
    "stitch_labels",
    "z_split_pairs",
]


# ------------------------------------------------------------------ stitching
def _overlap_iou(current: np.ndarray, previous: np.ndarray):
    """IoU between the masks of two slices, from one contingency table.

    Returns the labels of both slices (background dropped) and the IoU matrix
    of shape (n_current, n_previous).
    """
    cur_labels, cur_codes = np.unique(current, return_inverse=True)
    prev_labels, prev_codes = np.unique(previous, return_inverse=True)
    # make sure code 0 is background on both sides
    if cur_labels[0] != 0:
        cur_labels, cur_codes = np.concatenate(([0], cur_labels)), cur_codes + 1
    if prev_labels[0] != 0:
        prev_labels, prev_codes = np.concatenate(([0], prev_labels)), prev_codes + 1
    n_cur, n_prev = cur_labels.size, prev_labels.size
    table = np.bincount(
        cur_codes.ravel() * n_prev + prev_codes.ravel(), minlength=n_cur * n_prev
    ).reshape(n_cur, n_prev)
    area_cur, area_prev = table.sum(axis=1), table.sum(axis=0)
    inter = table[1:, 1:].astype(float)
    union = area_cur[1:, None] + area_prev[None, 1:] - inter
    iou = inter / np.maximum(union, 1)
    return cur_labels[1:], prev_labels[1:], iou


def stitch_labels(slices_2d, threshold: float = 0.25) -> np.ndarray:
    """Stitch independent 2D label slices into a 3D volume by IoU.

    Going down the stack, every 2D mask of slice ``z + 1`` takes the 3D label
    of the mask of slice ``z`` it overlaps best, if that IoU is at least
    ``threshold`` and no other mask of slice ``z + 1`` overlaps that same mask
    better; otherwise it starts a new 3D label. Only adjacent slices are
    compared, so a cell missing in one layer is split in two.

    Parameters
    ----------
    slices_2d : array-like of int, shape (z, y, x)
        Per-slice 2D instance labels (0 = background); label values of
        different slices are unrelated.
    threshold : float in (0, 1], default=0.25
        Smallest IoU to continue a cell into the next slice.

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        3D instance labels ``1..n``.

    Examples
    --------
    >>> import numpy as np
    >>> slices = np.zeros((4, 6, 6), dtype=int)
    >>> slices[:, 1:5, 1:5] = [1, 7, 0, 3]   # the cell is missing in slice 2
    >>> stitched = stitch_labels(slices)
    >>> [int(stitched[z, 2, 2]) for z in range(4)]
    [1, 1, 0, 2]
    """
    slices_2d = np.asarray(slices_2d)
    if slices_2d.ndim != 3 or slices_2d.dtype.kind not in "iu":
        raise ValueError(
            "slices_2d must be a 3D integer array (z, y, x) of 2D labels, got "
            f"shape {slices_2d.shape} and dtype {slices_2d.dtype}."
        )
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}.")
    out = np.zeros(slices_2d.shape, dtype=np.int32)
    next_label = 1
    for z in range(slices_2d.shape[0]):
        labels = np.unique(slices_2d[z])
        labels = labels[labels != 0]
        if labels.size == 0:
            continue
        assigned = np.zeros(labels.size, dtype=np.int64)
        if z > 0 and out[z - 1].any():
            cur, prev, iou = _overlap_iou(slices_2d[z], out[z - 1])
            iou[iou < threshold] = 0
            iou[iou < iou.max(axis=0, keepdims=True)] = 0  # best claimant only
            best = iou.argmax(axis=1)
            assigned = np.where(iou.max(axis=1) > 0, prev[best], 0)
        fresh = assigned == 0
        assigned[fresh] = np.arange(next_label, next_label + fresh.sum())
        next_label += int(fresh.sum())
        lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
        lookup[labels] = assigned
        out[z] = lookup[slices_2d[z]]
    return out

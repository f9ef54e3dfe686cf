"""Overlap (contingency) table between two label volumes, built without loops.

Every metric in this subpackage starts from the same table: for each pair of
a ground-truth label and a predicted label that share voxels, the number of
shared voxels. Labels are first mapped to dense codes ``0..n-1``; the pair
``(code_gt, code_pred)`` is folded into one integer and counted with
``np.bincount`` when the dense table is small, or with ``np.unique`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_label_volume

__all__ = ["OverlapTable", "check_label_pair", "overlap_table"]

# largest dense table (cells) counted with bincount; beyond it, sort instead
_MAX_DENSE_CELLS = 1 << 24


def check_label_pair(gt, pred, *, names=("gt", "pred")) -> tuple[np.ndarray, ...]:
    """Validate two label arrays of the same shape (any number of dimensions).

    The rules are those of :func:`~sklearn_overseg._validation.check_label_volume`
    (integer, non-negative, finite) except that any dimensionality is accepted
    and volumes of background only are allowed.
    """
    checked = []
    for array, name in zip((gt, pred), names):
        if isinstance(array, (list, tuple)) or hasattr(array, "__array__"):
            array = np.asarray(array)
            shape = array.shape
            if array.ndim == 0:
                raise ValueError(f"{name} must be a label array, got a scalar.")
            flat = array.reshape(1, 1, -1)
        else:
            shape, flat = None, array  # let the validator name the bad type
        flat = check_label_volume(flat, name=name, allow_background_only=True)
        checked.append(flat.reshape(shape))
    if checked[0].shape != checked[1].shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got "
            f"{checked[0].shape} and {checked[1].shape}."
        )
    return tuple(checked)


def _dense_codes(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map labels to codes ``0..n-1``; return codes, labels and label sizes."""
    if flat.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    top = int(flat.max())
    if top <= max(1 << 20, 2 * flat.size):
        sizes = np.bincount(flat.astype(np.intp, copy=False), minlength=top + 1)
        labels = np.flatnonzero(sizes)
        code_dtype = np.int32 if labels.size < 2**31 else np.int64
        lookup = np.zeros(top + 1, dtype=code_dtype)
        lookup[labels] = np.arange(labels.size)
        return lookup[flat], labels, sizes[labels]
    # huge label values: find the few distinct ones, then binary-search them
    try:
        labels = np.sort(np.unique(flat, sorted=False))  # hashing, numpy >= 2.3
    except TypeError:
        labels = np.unique(flat)
    codes = np.searchsorted(labels, flat)
    return codes, labels, np.bincount(codes, minlength=labels.size)


@dataclass(frozen=True)
class OverlapTable:
    """Sparse overlap counts between ground-truth and predicted labels.

    Entry ``k`` says that ground-truth label ``gt_labels[rows[k]]`` and
    predicted label ``pred_labels[cols[k]]`` share ``counts[k]`` voxels. Label
    ``0`` (background) is an ordinary row/column here; :meth:`foreground`
    drops it.
    """

    gt_labels: np.ndarray
    pred_labels: np.ndarray
    gt_sizes: np.ndarray
    pred_sizes: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray

    @property
    def n_voxels(self) -> int:
        return int(self.counts.sum())

    def foreground(self) -> OverlapTable:
        """The table restricted to non-zero labels on both sides."""
        keep_gt = self.gt_labels != 0
        keep_pred = self.pred_labels != 0
        new_row = np.cumsum(keep_gt) - 1
        new_col = np.cumsum(keep_pred) - 1
        keep = keep_gt[self.rows] & keep_pred[self.cols]
        return OverlapTable(
            gt_labels=self.gt_labels[keep_gt],
            pred_labels=self.pred_labels[keep_pred],
            gt_sizes=self.gt_sizes[keep_gt],
            pred_sizes=self.pred_sizes[keep_pred],
            rows=new_row[self.rows[keep]],
            cols=new_col[self.cols[keep]],
            counts=self.counts[keep],
        )

    def iou(self) -> np.ndarray:
        """Intersection over union of every overlapping pair (same order)."""
        union = self.gt_sizes[self.rows] + self.pred_sizes[self.cols] - self.counts
        return self.counts / union


def overlap_table(gt: np.ndarray, pred: np.ndarray, mask=None) -> OverlapTable:
    """Count shared voxels of every (ground-truth, predicted) label pair.

    Parameters
    ----------
    gt, pred : ndarray of int, same shape
        Validated label arrays.
    mask : ndarray of bool, optional
        Only voxels where ``mask`` is true are counted (label sizes too).

    Returns
    -------
    OverlapTable
    """
    gt_flat, pred_flat = gt.ravel(), pred.ravel()
    if mask is not None:
        gt_flat, pred_flat = gt_flat[mask.ravel()], pred_flat[mask.ravel()]
    gt_codes, gt_labels, gt_sizes = _dense_codes(gt_flat)
    pred_codes, pred_labels, pred_sizes = _dense_codes(pred_flat)
    n_pred = max(pred_labels.size, 1)
    pair_codes = gt_codes.astype(np.int64) * n_pred + pred_codes
    n_cells = gt_labels.size * n_pred
    if n_cells <= _MAX_DENSE_CELLS:
        table = np.bincount(pair_codes, minlength=n_cells)
        pairs = np.flatnonzero(table)
        counts = table[pairs]
    else:
        pairs, counts = np.unique(pair_codes, return_counts=True)
    return OverlapTable(
        gt_labels=gt_labels,
        pred_labels=pred_labels,
        gt_sizes=gt_sizes,
        pred_sizes=pred_sizes,
        rows=pairs // n_pred,
        cols=pairs % n_pred,
        counts=counts,
    )

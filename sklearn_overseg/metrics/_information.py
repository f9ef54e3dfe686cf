"""Variation of information, split into its over- and under-segmentation parts.

With ``p_ij`` the fraction of voxels labelled ``i`` in the ground truth and
``j`` in the prediction, and ``p_i``, ``p_j`` its marginals (in bits):

* split = H(pred | gt) = -sum p_ij log2(p_ij / p_i): how much the prediction
  cuts true cells apart (oversegmentation, what this package repairs);
* merge = H(gt | pred) = -sum p_ij log2(p_ij / p_j): how much the prediction
  lumps true cells together (undersegmentation).

Their sum is the variation of information of Meila (2007). The pair is the
one ``skimage.metrics.variation_of_information(gt, pred)`` returns.
"""

from __future__ import annotations

import numpy as np

from ._contingency import check_label_pair, overlap_table

__all__ = ["variation_of_information"]


def variation_of_information(
    gt, pred, *, ignore_background: bool = False
) -> tuple[float, float]:
    """Split and merge parts of the variation of information, in bits.

    ``split = H(pred | gt)`` grows when true cells are cut into several
    predicted labels (oversegmentation); ``merge = H(gt | pred)`` grows when
    several true cells share one predicted label (undersegmentation). Both
    are 0 for identical segmentations (up to renaming labels).

    Parameters
    ----------
    gt, pred : array-like of int, same shape
        Ground-truth and predicted labels (any number of dimensions).
    ignore_background : bool, default=False
        By default background (``0``) is a label like any other, as in
        scikit-image. If true, voxels that are background in ``gt`` are left
        out (the prediction's background still counts, as one more label);
        this equals skimage's ``ignore_labels=[0]``.

    Returns
    -------
    split : float
        Conditional entropy H(pred | gt).
    merge : float
        Conditional entropy H(gt | pred).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import variation_of_information
    >>> gt = np.ones((2, 2, 2), dtype=int)
    >>> pred = gt.copy()
    >>> pred[1] = 2                 # the cell split into two equal halves
    >>> variation_of_information(gt, pred)
    (1.0, 0.0)
    """
    gt, pred = check_label_pair(gt, pred)
    table = overlap_table(gt, pred, mask=gt != 0 if ignore_background else None)
    n_voxels = table.n_voxels
    if n_voxels == 0:
        return 0.0, 0.0
    counts = table.counts.astype(float)
    joint = counts / n_voxels
    split = -np.sum(joint * np.log2(counts / table.gt_sizes[table.rows]))
    merge = -np.sum(joint * np.log2(counts / table.pred_sizes[table.cols]))
    # every term is >= 0; max() only turns -0.0 into 0.0
    return max(0.0, float(split)), max(0.0, float(merge))

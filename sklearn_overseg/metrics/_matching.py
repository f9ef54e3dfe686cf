"""Instance-matching metrics: average precision at IoU thresholds, Jaccard.

Both compare ground-truth cells with predicted cells through the
intersection over union (IoU) of every overlapping pair, read from one sparse
overlap table (no loop over voxels). Background (label ``0``) is never a cell.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._contingency import OverlapTable, check_label_pair, overlap_table

__all__ = ["average_precision", "jaccard_index", "mean_average_precision"]

DEFAULT_THRESHOLDS = (0.25, 0.5, 0.75)


def _check_thresholds(thresholds) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(thresholds, dtype=float))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"thresholds must be a number or a sequence of numbers, got {thresholds!r}."
        ) from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError("thresholds must be a non-empty 1D sequence of IoU values.")
    if not np.all((values > 0) & (values <= 1)):
        raise ValueError(f"IoU thresholds must lie in (0, 1], got {values.tolist()}.")
    return values


def _count_matches(rows: np.ndarray, cols: np.ndarray, iou: np.ndarray) -> int:
    """Size of the largest one-to-one matching among the candidate pairs.

    Candidate pairs are split into connected components of the bipartite
    graph. A component made of one pair is one match; the rare larger ones
    (possible only for thresholds up to 0.5) are solved exactly with
    ``linear_sum_assignment``, which prefers more matches, then higher IoU.
    """
    if rows.size == 0:
        return 0
    n_rows = int(rows.max()) + 1
    n_nodes = n_rows + int(cols.max()) + 1
    graph = coo_matrix(
        (np.ones(rows.size), (rows, cols + n_rows)), shape=(n_nodes, n_nodes)
    )
    _, component = connected_components(graph, directed=False)
    edge_component = component[rows]
    edges_per_component = np.bincount(edge_component)
    single = edges_per_component[edge_component] == 1
    n_matches = int(single.sum())
    if single.all():
        return n_matches
    shared = np.flatnonzero(~single)
    shared = shared[np.argsort(edge_component[shared], kind="stable")]
    starts = np.flatnonzero(np.diff(edge_component[shared], prepend=-1))
    for group in np.split(shared, starts[1:]):  # one loop step per component
        sub_rows, r = np.unique(rows[group], return_inverse=True)
        sub_cols, c = np.unique(cols[group], return_inverse=True)
        weight = np.zeros((sub_rows.size, sub_cols.size))
        # 1 per match, plus an IoU bonus too small to trade a match for
        weight[r, c] = 1.0 + iou[group] / (min(weight.shape) + 1)
        chosen_r, chosen_c = linear_sum_assignment(weight, maximize=True)
        n_matches += int(np.count_nonzero(weight[chosen_r, chosen_c]))
    return n_matches


def _foreground_table(gt, pred) -> OverlapTable:
    gt, pred = check_label_pair(gt, pred)
    return overlap_table(gt, pred).foreground()


def average_precision(
    gt,
    pred,
    thresholds=DEFAULT_THRESHOLDS,
    *,
    return_counts: bool = False,
):
    """Average precision of predicted cells at one or more IoU thresholds.

    At threshold ``t``, ground-truth and predicted cells are matched one to
    one, pairs needing ``IoU >= t``, with a maximum number of matches
    (``scipy.optimize.linear_sum_assignment``; above 0.5 the matching is
    unique anyway). Matched cells are true positives, unmatched predicted
    cells false positives, unmatched true cells false negatives, and
    ``AP = TP / (TP + FP + FN)`` (the definition of the cell-segmentation
    literature, e.g. StarDist and Cellpose). Background is never a cell.
    When neither volume has a cell, AP is 1.

    Parameters
    ----------
    gt, pred : array-like of int, same shape
        Ground-truth and predicted instance labels (any number of
        dimensions), ``0`` is background.
    thresholds : float or sequence of float, default=(0.25, 0.5, 0.75)
        IoU thresholds in (0, 1].
    return_counts : bool, default=False
        Also return the ``tp``, ``fp`` and ``fn`` counts per threshold.

    Returns
    -------
    ap : ndarray of shape (n_thresholds,)
        Average precision at each threshold.
    counts : dict of str to ndarray of int
        ``{"tp": ..., "fp": ..., "fn": ...}``, only with ``return_counts``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import average_precision
    >>> gt = np.zeros((1, 4, 8), dtype=int)
    >>> gt[0, :, :4], gt[0, :, 4:] = 1, 2
    >>> pred = gt.copy()
    >>> pred[0, :, 6:] = 3          # cell 2 split into halves, IoU 0.5 each
    >>> average_precision(gt, pred, thresholds=[0.5, 0.75])
    array([0.66666667, 0.25      ])
    """
    values = _check_thresholds(thresholds)
    table = _foreground_table(gt, pred)
    iou = table.iou()
    tp = np.array(
        [_count_matches(*(a[iou >= t] for a in (table.rows, table.cols, iou)))
         for t in values],
        dtype=np.int64,
    )
    fp = table.pred_labels.size - tp
    fn = table.gt_labels.size - tp
    total = tp + fp + fn
    ap = np.where(total > 0, tp / np.maximum(total, 1), 1.0)
    if return_counts:
        return ap, {"tp": tp, "fp": fp, "fn": fn}
    return ap


def mean_average_precision(gt, pred, thresholds=DEFAULT_THRESHOLDS) -> float:
    """Average precision (see :func:`average_precision`) averaged over thresholds.

    Parameters
    ----------
    gt, pred : array-like of int, same shape
        Ground-truth and predicted instance labels, ``0`` is background.
    thresholds : sequence of float, default=(0.25, 0.5, 0.75)
        IoU thresholds in (0, 1].

    Returns
    -------
    float
        Mean of the average precision over the thresholds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import mean_average_precision
    >>> labels = np.arange(8).reshape(2, 2, 2)
    >>> mean_average_precision(labels, labels)
    1.0
    """
    return float(np.mean(average_precision(gt, pred, thresholds)))


def jaccard_index(gt, pred) -> float:
    """Mean, over ground-truth cells, of the best IoU with any predicted cell.

    A true cell that no predicted cell touches scores 0. Extra predicted
    cells are not penalised (use :func:`average_precision` for that); a cell
    split in two scores the IoU of its larger piece. Background is never a
    cell. Without true cells the index is 1 if there are no predicted cells
    either, else 0.

    Parameters
    ----------
    gt, pred : array-like of int, same shape
        Ground-truth and predicted instance labels, ``0`` is background.

    Returns
    -------
    float
        The mean best IoU, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import jaccard_index
    >>> gt = np.zeros((1, 2, 4), dtype=int)
    >>> gt[0, :, :] = 1
    >>> pred = gt.copy()
    >>> pred[0, :, 3] = 2           # a quarter of the cell split off
    >>> jaccard_index(gt, pred)
    0.75
    """
    table = _foreground_table(gt, pred)
    n_true = table.gt_labels.size
    if n_true == 0:
        return 1.0 if table.pred_labels.size == 0 else 0.0
    best = np.zeros(n_true)
    np.maximum.at(best, table.rows, table.iou())
    return float(best.mean())

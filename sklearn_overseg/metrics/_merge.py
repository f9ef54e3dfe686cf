"""Scores for merge decisions: which fragments were joined, against the truth.

Merges are counted as *join operations*, so that the result does not depend
on which pairs spell out a group. The truth pairs link fragments of the same
true cell; their connected components are the true cells (a cell cut into
``k`` fragments needs ``k - 1`` joins). The predicted pairs likewise group
fragments into predicted cells. With ``n`` the number of fragments named in
any pair and ``|P|`` the number of groups of a partition ``P``:

* predicted joins = ``n - |predicted|``, true joins = ``n - |truth|``;
* ``tp = n - |meet|`` where the meet splits every predicted group along
  the true cells: the joins that glue fragments of one true cell;
* ``fp`` = predicted joins - tp, ``fn`` = true joins - tp.

So a predicted pair ``(a, c)`` is correct whenever ``a`` and ``c`` belong to
one true cell, even if the truth lists ``(a, b), (b, c)`` instead; a chain
``a-b-c`` counts two joins however it is written; redundant pairs count once.
For disjoint pairs this is plain pair matching.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._contingency import OverlapTable, check_label_pair, overlap_table

__all__ = ["merge_scores", "merge_scores_from_volumes"]


def _check_pairs(pairs, name: str) -> np.ndarray:
    array = np.asarray(pairs)
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if array.dtype == bool or array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer labels, got dtype {array.dtype}.")
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            f"{name} must have shape (n_pairs, 2), got shape {array.shape}."
        )
    if array.min() <= 0:
        raise ValueError(
            f"{name} contains label {array.min()}; fragment labels must be "
            "positive (0 is background)."
        )
    same = array[:, 0] == array[:, 1]
    if same.any():
        raise ValueError(
            f"{name} pairs a label with itself: {array[same][0].tolist()}."
        )
    return array.astype(np.int64, copy=False)


def _components(pairs: np.ndarray, n_nodes: int) -> np.ndarray:
    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_nodes, n_nodes)
    )
    return connected_components(graph, directed=False)[1]


def _ratio(numerator: int, denominator: int, zero_division: float) -> float:
    return numerator / denominator if denominator else float(zero_division)


def merge_scores(truth_pairs, predicted_pairs, *, zero_division: float = 1.0) -> dict:
    """Precision, recall and F1 of predicted merges against true merges.

    Pairs are unordered (``(a, b)`` equals ``(b, a)``) and transitive: each
    list is read as groups of fragments (connected components), and merges
    are counted as join operations, a group of ``k`` fragments making
    ``k - 1``. A predicted join is a true positive when it glues fragments
    of the same true cell. See the module notes for the exact counting.

    Parameters
    ----------
    truth_pairs : array-like of int, shape (n_true, 2)
        Pairs of fragment labels that belong to the same true cell.
    predicted_pairs : array-like of int, shape (n_predicted, 2)
        Pairs of fragment labels that were merged.
    zero_division : float, default=1.0
        Precision when nothing was merged, recall when nothing had to be.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (float) and ``tp``, ``fp``, ``fn``
        (int, counted in joins).

    Examples
    --------
    >>> from sklearn_overseg.metrics import merge_scores
    >>> truth = [(1, 2), (2, 3), (4, 5)]       # cells {1, 2, 3} and {4, 5}
    >>> predicted = [(3, 1), (5, 6)]           # one right join, one wrong
    >>> scores = merge_scores(truth, predicted)
    >>> scores["tp"], scores["fp"], scores["fn"]
    (1, 1, 2)
    >>> round(scores["f1"], 3)
    0.4
    """
    truth = _check_pairs(truth_pairs, "truth_pairs")
    predicted = _check_pairs(predicted_pairs, "predicted_pairs")
    nodes, codes = np.unique(
        np.concatenate([truth.ravel(), predicted.ravel()]), return_inverse=True
    )
    n = nodes.size
    true_cell = _components(codes[: truth.size].reshape(-1, 2), n)
    predicted_cell = _components(codes[truth.size :].reshape(-1, 2), n)
    n_meet = np.unique(true_cell.astype(np.int64) * n + predicted_cell).size
    true_joins = n - np.unique(true_cell).size
    predicted_joins = n - np.unique(predicted_cell).size
    tp = n - n_meet
    precision = _ratio(tp, predicted_joins, zero_division)
    recall = _ratio(tp, true_joins, zero_division)
    both = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / both if both else 0.0,
        "tp": int(tp),
        "fp": int(predicted_joins - tp),
        "fn": int(true_joins - tp),
    }


def _merged_pairs(table: OverlapTable) -> np.ndarray:
    """Pairs of flawed labels that the correction put into one label.

    Each flawed label goes to the corrected label covering most of its voxels
    (ties: the smaller label); labels going to background are not merged.
    Flawed labels going to the same corrected label are chained in label
    order, which spells out the group. ``table`` overlaps flawed labels
    (rows, background excluded) with corrected labels (columns).
    """
    by_best = np.lexsort((table.cols, -table.counts, table.rows))
    first = np.r_[True, np.diff(table.rows[by_best]) != 0]
    best = by_best[first]  # one entry per flawed label, in label order
    fragment = table.gt_labels[table.rows[best]]
    target = table.pred_labels[table.cols[best]]
    keep = target != 0
    fragment, target = fragment[keep], target[keep]
    order = np.lexsort((fragment, target))
    fragment, target = fragment[order], target[order]
    same_target = target[1:] == target[:-1]
    return np.stack([fragment[:-1][same_target], fragment[1:][same_target]], axis=1)


def merge_scores_from_volumes(
    flawed, corrected, truth_pairs, *, zero_division: float = 1.0
) -> dict:
    """Score the merges a correction made, reading them from the two volumes.

    Each label of ``flawed`` is assigned the label of ``corrected`` that
    covers most of its voxels (labels erased to background count as not
    merged; voxels the correction added, e.g. interpolated gaps, do not
    matter). Flawed labels that end up in the same corrected label were
    merged; they are scored with :func:`merge_scores`.

    Parameters
    ----------
    flawed : array-like of int
        Labels before correction (the fragments).
    corrected : array-like of int, same shape
        Labels after correction.
    truth_pairs : array-like of int, shape (n_true, 2)
        Pairs of flawed labels that belong to the same true cell; every
        label must occur in ``flawed``.
    zero_division : float, default=1.0
        As in :func:`merge_scores`.

    Returns
    -------
    dict
        As :func:`merge_scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import merge_scores_from_volumes
    >>> flawed = np.array([[[1, 1, 2, 2, 0, 3, 3]]])
    >>> corrected = np.array([[[1, 1, 1, 1, 0, 3, 3]]])
    >>> merge_scores_from_volumes(flawed, corrected, [(1, 2)])["f1"]
    1.0
    """
    flawed, corrected = check_label_pair(
        flawed, corrected, names=("flawed", "corrected")
    )
    truth = _check_pairs(truth_pairs, "truth_pairs")
    table = overlap_table(flawed, corrected, mask=flawed != 0)
    present = np.isin(truth, table.gt_labels)
    if not present.all():
        missing = np.unique(truth[~present])
        raise ValueError(
            f"truth_pairs name labels absent from flawed: {missing[:10].tolist()}"
            + (" ..." if missing.size > 10 else "")
        )
    return merge_scores(
        truth, _merged_pairs(table), zero_division=zero_division
    )

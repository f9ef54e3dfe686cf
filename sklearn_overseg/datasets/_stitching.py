"""IoU stitching of 2D masks along z, the way 2D-per-slice pipelines build 3D cells.

CellPose, StarDist and friends segment each z slice in 2D and join the 2D
masks into 3D cells with a greedy IoU rule against the previous layer only
(cellpose's ``stitch3D``). :func:`stitch_slices` does the same, written from
that description: it is the stitcher of :func:`slice_and_stitch` and the
fallback of the stitching benchmark when cellpose is not installed. Two other
matching rules that stitchers use are available for testing a pipeline
against them: a one-to-one matching that maximises the summed IoU of each
pair of layers, and a greedy match on the overlap over the smaller mask.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["dense_codes", "iou_matrix", "stitch_slices"]


def dense_codes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of ``image`` with background first, and each pixel's code."""
    labels, codes = np.unique(image, return_inverse=True)
    codes = codes.reshape(image.shape)
    if labels[0] != 0:
        labels, codes = np.concatenate(([0], labels)), codes + 1
    return labels, codes


def iou_matrix(codes_a: np.ndarray, n_a: int, codes_b: np.ndarray, n_b: int,
               *, over: str = "union"):
    """IoU of every foreground code of ``a`` with every one of ``b``.

    One contingency table (``bincount`` of the code pairs); returns an array of
    shape ``(n_a - 1, n_b - 1)``, background (code 0) left out. With
    ``over="smaller"`` the overlap is divided by the smaller mask's area
    instead of the union's.
    """
    table = np.bincount(
        (codes_a.ravel() * n_b + codes_b.ravel()).astype(np.int64),
        minlength=n_a * n_b,
    ).reshape(n_a, n_b)
    area_a, area_b = table.sum(axis=1), table.sum(axis=0)
    inter = table[1:, 1:].astype(float)
    if over == "smaller":
        return inter / np.maximum(np.minimum(area_a[1:, None], area_b[None, 1:]), 1)
    return inter / np.maximum(area_a[1:, None] + area_b[None, 1:] - inter, 1)


def _match(score: np.ndarray, threshold: float, match: str) -> np.ndarray:
    """Index of the matched previous label of each mask (-1: none)."""
    matched = np.full(score.shape[0], -1, dtype=np.int64)
    if match == "hungarian":
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-score)
        keep = score[rows, cols] >= threshold
        matched[rows[keep]] = cols[keep]
        return matched
    score = np.where(score < threshold, 0, score)
    score[score < score.max(axis=0, keepdims=True)] = 0  # best claimant only
    found = score.max(axis=1) > 0
    matched[found] = score.argmax(axis=1)[found]
    return matched


@validate_params(
    {
        "slices_2d": "no_validation",  # checked below: 3D, integer
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "match": [StrOptions({"greedy", "hungarian", "smaller"})],
    },
    prefer_skip_nested_validation=True,
)
def stitch_slices(
    slices_2d, threshold: float = 0.25, *, match: str = "greedy"
) -> np.ndarray:
    """Stitch independent 2D label slices into a 3D volume by IoU.

    Going down the stack, every 2D mask of slice ``z + 1`` takes the 3D label
    of the mask of slice ``z`` it overlaps best, if that IoU is at least
    ``threshold`` and no other mask of slice ``z + 1`` overlaps that same mask
    better; otherwise it starts a new 3D label. Only adjacent slices are
    compared, so a cell missing in one layer is split in two, and a small end
    cap whose IoU with the layer above is below ``threshold`` becomes its own
    label. Every foreground pixel of ``slices_2d`` gets a label (none is lost).

    Parameters
    ----------
    slices_2d : array-like of int, shape (z, y, x)
        Per-slice 2D instance labels (0 = background); label values of
        different slices are unrelated.
    threshold : float in (0, 1], default=0.25
        Smallest IoU to continue a cell into the next slice (cellpose's
        ``stitch_threshold``).
    match : {"greedy", "hungarian", "smaller"}, default="greedy"
        How masks are matched to the labels of the layer above.
        ``"greedy"``: as described above (cellpose's rule). ``"hungarian"``:
        a one-to-one matching maximising the summed IoU, pairs below
        ``threshold`` left unmatched. ``"smaller"``: as ``"greedy"``, with
        the overlap divided by the smaller mask's area instead of the union
        (a small cap inside the mask above it is joined).

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        3D instance labels ``1..n``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.datasets import stitch_slices
    >>> slices = np.zeros((4, 6, 6), dtype=int)
    >>> slices[:, 1:5, 1:5] = np.array([1, 7, 0, 3])[:, None, None]  # missing in z=2
    >>> stitched = stitch_slices(slices)
    >>> [int(stitched[z, 2, 2]) for z in range(4)]
    [1, 1, 0, 2]

    A 2 x 2 cap under a 4 x 4 mask (IoU 0.25, but inside it) starts its own
    label unless the overlap is measured over the smaller mask:

    >>> cap = np.zeros((2, 6, 6), dtype=int)
    >>> cap[0, 1:5, 1:5] = 1; cap[1, 2:4, 2:4] = 1
    >>> [int(stitch_slices(cap, 0.3, match=m).max()) for m in ("greedy", "smaller")]
    [2, 1]
    """
    slices_2d = np.asarray(slices_2d)
    if slices_2d.ndim != 3 or slices_2d.dtype.kind not in "iu":
        raise ValueError(
            "slices_2d must be a 3D integer array (z, y, x) of 2D labels, got "
            f"shape {slices_2d.shape} and dtype {slices_2d.dtype}."
        )
    out = np.zeros(slices_2d.shape, dtype=np.int32)
    next_label = 1
    for z in range(slices_2d.shape[0]):
        labels, codes = dense_codes(slices_2d[z])
        assigned = np.zeros(labels.size, dtype=np.int64)  # 3D label per code
        if labels.size == 1:
            continue  # background only
        if z > 0 and out[z - 1].any():
            prev_labels, prev_codes = dense_codes(out[z - 1])
            score = iou_matrix(
                codes, labels.size, prev_codes, prev_labels.size,
                over="smaller" if match == "smaller" else "union",
            )
            matched = _match(score, threshold, match)
            found = matched >= 0
            assigned[1:][found] = prev_labels[1:][matched[found]]
        fresh = np.flatnonzero(assigned == 0)[1:]
        assigned[fresh] = np.arange(next_label, next_label + fresh.size)
        next_label += fresh.size
        out[z] = assigned[codes]
    return out

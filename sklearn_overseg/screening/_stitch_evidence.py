"""Was a label volume stitched from 2D slices? Evidence from the volume alone.

An IoU stitcher (cellpose's ``stitch3D``, :func:`~sklearn_overseg.datasets.
stitch_slices`) walks down the stack and gives a 2D mask of layer ``z + 1``
the label of the mask of layer ``z`` it overlaps best, when that IoU reaches
its threshold ``t``; otherwise the mask starts a new label. That rule leaves
a fingerprint any later reader can check, whatever ``t`` was:

* every *link* of a label between two consecutive layers has IoU ``>= t``;
* every mask that *starts* a label right under another label overlaps it
  with IoU ``< t`` (unless a better claimant took that label: then it says
  nothing).

So one threshold separates the two sets. In a volume drawn in 3D (a 3D
segmenter, ground truth), cells thin out towards their ends and links of a
few percent IoU are common, while a cell starting under another one may
overlap it by much more: no threshold separates them. The evidence counts
the *violations* of the best threshold, relative to the number of starts
under another label (the pairs a gap-0 screen would propose).

Both sets come from consecutive layer pairs only (``_stitch_links.py``), so
counts over disjoint ranges of layer pairs add up (the block-wise path reads
the volume in z ranges that overlap by one layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from .._validation import check_label_volume
from ._stitch_links import join_links, layer_pairs, stitch_links

__all__ = [
    "StitchEvidence",
    "detect_stitched",
    "evidence_from_links",
    "join_links",
    "layer_pairs",
    "stitch_links",
]

#: The stitch thresholds considered start here: a link below it is never one
#: an IoU stitcher made (cellpose users choose 0.1-0.5).
MIN_THRESHOLD = 0.05
#: Fewest starts under another label that can show stitching: one or two
#: with no violation happen by chance in volumes drawn in 3D.
MIN_STARTS = 3
#: Largest share of violations, relative to the starts under another label,
#: of a volume called stitched (score ``>= 1 / (1 + MAX_VIOLATIONS)``).
MAX_VIOLATIONS = 0.25


@dataclass(frozen=True)
class StitchEvidence:
    """What a label volume tells about how its labels were linked across z.

    Attributes
    ----------
    stitched : bool
        Whether the volume looks stitched from 2D slices by IoU.
    score : float
        ``n_starts / (n_starts + n_violations)`` in ``[0, 1]``: the share of
        the evidence that one stitch threshold explains (``0`` without any
        start under another label).
    threshold : float or None
        The stitch threshold the volume implies (the smallest one with the
        fewest violations); ``None`` without evidence.
    n_links : int
        Links of a label between two consecutive layers.
    n_starts : int
        Labels that start right under another label and overlap it (the
        pairs a screen with ``min_gap=0`` proposes).
    n_violations : int
        Links below ``threshold`` plus starts at or above it.
    reasons : tuple of str
        The evidence in plain words.
    """

    stitched: bool
    score: float
    threshold: float | None
    n_links: int
    n_starts: int
    n_violations: int
    reasons: tuple[str, ...]



def evidence_from_links(links, starts, links_inside=None, starts_inside=None, *,
                        min_threshold: float = MIN_THRESHOLD,
                        max_violations: float = MAX_VIOLATIONS,
                        min_starts: int = MIN_STARTS) -> StitchEvidence:
    """The :class:`StitchEvidence` of the link and start IoUs of a volume.

    The decision of :func:`detect_stitched` from the output of
    :func:`stitch_links` (concatenated over z ranges, in any order): on the
    masks away from the (y, x) border when at least ``min_starts`` starts
    lie there, else on all of them.

    Examples
    --------
    >>> from sklearn_overseg.screening import evidence_from_links
    >>> evidence = evidence_from_links([0.9, 0.6, 0.7], [0.2, 0.3, 0.1])
    >>> evidence.stitched, evidence.n_starts, evidence.n_violations
    (True, 3, 0)
    >>> evidence_from_links([0.9, 0.02], [0.4]).stitched  # a 2% link
    False
    """
    if (links_inside is None) != (starts_inside is None):
        raise ValueError(
            "links_inside and starts_inside go together: pass both (the IoUs "
            "of the masks away from the border) or neither"
        )
    if starts_inside is not None and np.sum(np.asarray(starts_inside) > 0) >= (
            min_starts):
        links, starts = links_inside, starts_inside
    links = np.sort(np.asarray(links, dtype=float))
    starts = np.sort(np.asarray(starts, dtype=float))
    starts = starts[starts > 0]
    n_links, n_starts = int(links.size), int(starts.size)
    if n_starts == 0:
        return StitchEvidence(False, 0.0, None, n_links, 0, 0, (
            "no label starts right under another label, so there is no stitch "
            "split to repair: the volume is treated as not stitched",))
    # candidate thresholds: the bound, every link, just above every start
    candidates = np.concatenate([[min_threshold], links, np.nextafter(starts, 2)])
    candidates = np.unique(candidates[(candidates >= min_threshold)
                                      & (candidates <= 1)])
    violations = (np.searchsorted(links, candidates, side="left")
                  + n_starts - np.searchsorted(starts, candidates, side="left"))
    best = int(np.argmin(violations))
    n_bad = int(violations[best])
    low = int(np.searchsorted(links, candidates[best], side="left"))
    # the middle of the interval of thresholds with this many violations
    upper = float(links[low]) if low < n_links else 1.0
    threshold = (float(candidates[best]) + upper) / 2
    score = n_starts / (n_starts + n_bad)
    stitched = n_bad <= max_violations * n_starts and n_starts >= min_starts
    reasons = [
        f"{n_starts} label(s) start right under a label they overlap (the "
        f"pairs a stitch-split screen proposes); {n_links} links join a "
        "label's masks in consecutive layers",
        f"at the best stitch threshold, IoU {threshold:.2f}: {low} link(s) "
        "below it (an IoU stitcher keeps none) and "
        f"{n_bad - low} start(s) at or above it (a stitcher would have joined "
        f"them), {n_bad} violation(s)",
    ]
    reasons.append(
        "this is what stitching 2D slices by IoU leaves" if stitched else
        f"too few starts to tell (fewer than {min_starts}): treated as not "
        "stitched" if n_bad <= max_violations * n_starts else
        "no single stitch threshold explains the volume: its labels were not "
        "linked by an IoU stitcher (3D segmentation or ground truth)"
    )
    return StitchEvidence(bool(stitched), float(score), threshold, n_links,
                          n_starts, n_bad, tuple(reasons))


@validate_params(
    {
        "labels": "no_validation",  # check_label_volume
        "min_threshold": [Interval(Real, 0, 1, closed="neither")],
        "max_violations": [Interval(Real, 0, None, closed="left")],
        "min_starts": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def detect_stitched(
    labels,
    *,
    min_threshold: float = MIN_THRESHOLD,
    max_violations: float = MAX_VIOLATIONS,
    min_starts: int = MIN_STARTS,
) -> StitchEvidence:
    """Tell whether a 3D label volume was stitched from 2D slices by IoU.

    An IoU stitcher (cellpose's ``stitch3D``) keeps a label going into the
    next layer only when the two masks overlap with IoU at least its
    threshold, and starts a new label otherwise. So in a stitched volume one
    threshold separates the IoUs of every label's consecutive masks (all at
    or above it) from those of the labels that start right under another
    label (all below it, end caps and mid-cell cuts). A volume drawn in 3D
    (3D segmenter, ground truth) has cells that thin out with links of a few
    percent IoU and new cells under others that overlap them more: no
    threshold separates them. The volume is called stitched when the best
    threshold leaves at most ``max_violations`` violations per start under
    another label, and there are at least ``min_starts`` such starts
    (without any, there is no stitch split to repair). Masks that touch the
    (y, x) border are left out when the others hold ``min_starts`` starts: a
    region cropped from a larger volume has its border masks cut, which
    changes their IoUs. A volume whose layer pairs hold more
    than 16 million voxels is read every k-th pair (:func:`layer_pairs`).

    Parameters
    ----------
    labels : array-like of int, shape (z, y, x)
        A label volume, ``0`` background. All-background is valid.
    min_threshold : float in (0, 1), default=0.05
        Smallest stitch threshold considered: links below it count against
        stitching at any threshold.
    max_violations : float >= 0, default=0.25
        Violations allowed per start under another label. Chosen on
        synthetic volumes (``benchmarks/bench_detect_stitched.py``): the 552
        stitched ones (thresholds 0.1-0.7, z steps 1-2, 2D flaws) had none,
        the 69 others (ground truth, axis and tilted damage) at least 0.5.
    min_starts : int >= 1, default=3
        Fewest starts under another label to call a volume stitched: in
        volumes drawn in 3D, one or two may show no violation by chance.

    Returns
    -------
    StitchEvidence
        The decision, its score, the implied threshold, the counts and the
        reasons in plain words.

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_tissue, slice_and_stitch
    >>> from sklearn_overseg.screening import detect_stitched
    >>> truth = make_tissue((24, 64, 64), n_cells=30, random_state=0)
    >>> detect_stitched(truth).stitched
    False
    >>> stitched, _ = slice_and_stitch(truth, stitch_threshold=0.25,
    ...                                random_state=0)
    >>> evidence = detect_stitched(stitched)
    >>> evidence.stitched, round(evidence.threshold, 1)
    (True, 0.3)
    """
    volume = check_label_volume(labels, allow_background_only=True)
    return evidence_from_links(*stitch_links(volume, layer_pairs(volume.shape)),
                               min_threshold=min_threshold,
                               max_violations=max_violations,
                               min_starts=min_starts)

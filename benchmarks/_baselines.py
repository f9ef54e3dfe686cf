"""Simple-rule correctors to compare the learned MergeCorrector against.

All have the corrector's interface: ``fit(volumes)`` returns ``self`` (nothing
is learned), ``correct(volume)`` returns a corrected copy of one volume and
``transform(volumes)`` a list of them.

* :class:`NoCorrection`: the flawed volume unchanged (the floor).
* :class:`MergeAllCandidates`: merge every pair the screener proposes, through
  ``MergeCorrector``'s own merging and gap filling, so that the only
  difference with the learned corrector is the classifier (every pair gets
  probability 1; the z-extent rule of ``resolve_merges`` still applies).
* :class:`IoUStitchBaseline`: a second stitching pass that bridges one-layer
  gaps when the masks above and below overlap by IoU, with a lower threshold
  than the first stitcher; no learning, no look at the gap.
"""

from __future__ import annotations

import numpy as np
from _flawed_segmentation import _dense_codes, _iou_matrix
from sklearn.base import clone

from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg._validation import check_volumes
from sklearn_overseg.correction._merging import relabel_volume, resolve_merges

__all__ = ["IoUStitchBaseline", "MergeAllCandidates", "NoCorrection"]


class _RuleCorrector:
    """Shared ``fit`` and ``transform`` of the rule-based correctors."""

    def fit(self, X=None, y=None):
        """Nothing to learn; returns ``self``."""
        return self

    def transform(self, X) -> list[np.ndarray]:
        """Correct every volume of ``X``; returns a list of copies."""
        return [self.correct(v) for v in check_volumes(X)]


class NoCorrection(_RuleCorrector):
    """Return the volume unchanged (a copy).

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.ones((2, 2, 2), dtype=np.uint8)
    >>> NoCorrection().correct(vol) is vol
    False
    """

    def correct(self, volume) -> np.ndarray:
        """A copy of ``volume``."""
        (volume,) = check_volumes(volume)
        return volume.copy()


class MergeAllCandidates(_RuleCorrector):
    """Merge every screened candidate pair (no classifier).

    Parameters
    ----------
    screener : CandidateScreener or None, default=None
        Proposes the pairs; ``None`` uses ``CandidateScreener()``.
    interpolate : bool, default=True
        Rebuild the gap layers of merged axis pairs, as ``MergeCorrector``.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.zeros((7, 8, 8), dtype=np.uint16)
    >>> vol[:3, 2:6, 2:6] = 1
    >>> vol[4:, 2:6, 2:6] = 2
    >>> fixed = MergeAllCandidates().correct(vol)
    >>> np.unique(fixed).tolist(), int(fixed[3, 3, 3])
    ([0, 1], 1)
    """

    def __init__(self, screener=None, *, interpolate: bool = True):
        self.screener = screener
        self.interpolate = interpolate

    def correct(self, volume) -> np.ndarray:
        """Merge all candidate pairs of one volume; returns a copy."""
        from sklearn_overseg.correction._steps import apply_merges, decide_merges
        from sklearn_overseg.screening._screener import CandidateScreener

        (volume,) = check_volumes(volume)
        screener = clone(self.screener) if self.screener is not None else (
            CandidateScreener()
        )
        candidates = screener.fit_transform(volume)
        mapping, merged = decide_merges(
            volume, candidates, np.ones(len(candidates)), 0.5
        )
        accepted = [c for c, m in zip(candidates, merged) if m]
        return apply_merges(volume, accepted, mapping, interpolate=self.interpolate)


class IoUStitchBaseline(_RuleCorrector):
    """Bridge one-layer gaps by IoU of the masks above and below.

    For every layer ``z``, the labels whose last layer is ``z - 1`` are matched
    with the labels whose first layer is ``z + 1`` by the IoU of those two 2D
    masks, as the first stitcher matches adjacent layers: a lower label joins
    its best upper label when the IoU is at least ``threshold`` and no other
    lower label overlaps that upper label better. Merged pairs get the gap
    filled with the intersection of the two masks, in background voxels only.

    Parameters
    ----------
    threshold : float in (0, 1], default=0.1
        Smallest IoU to bridge a gap.
    fill_gap : bool, default=True
        Fill the bridged layer with the intersection of the facing masks.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.zeros((7, 8, 8), dtype=np.uint16)
    >>> vol[:3, 2:6, 2:6] = 1       # layer 3 missing
    >>> vol[4:, 2:6, 2:6] = 2
    >>> fixed = IoUStitchBaseline().correct(vol)
    >>> np.unique(fixed).tolist(), int(fixed[3, 3, 3])
    ([0, 1], 1)
    """

    def __init__(self, threshold: float = 0.1, *, fill_gap: bool = True):
        self.threshold = threshold
        self.fill_gap = fill_gap

    def _bridges(self, volume: np.ndarray, starts, stops, labels):
        """Pairs (upper, lower), their IoU and gap layer, over all layers."""
        pairs, scores, layers = [], [], []
        for z in range(1, volume.shape[0] - 1):
            ending = labels[stops == z]
            starting = labels[starts == z + 1]
            if ending.size == 0 or starting.size == 0:
                continue
            above = np.where(np.isin(volume[z - 1], ending), volume[z - 1], 0)
            below = np.where(np.isin(volume[z + 1], starting), volume[z + 1], 0)
            up_labels, up_codes = _dense_codes(above)
            low_labels, low_codes = _dense_codes(below)
            iou = _iou_matrix(low_codes, low_labels.size, up_codes, up_labels.size)
            iou[iou < self.threshold] = 0
            iou[iou < iou.max(axis=0, keepdims=True)] = 0
            lower = np.flatnonzero(iou.max(axis=1) > 0)
            upper = iou.argmax(axis=1)[lower]
            pairs += zip(up_labels[1:][upper].tolist(), low_labels[1:][lower].tolist())
            scores += iou[lower, upper].tolist()
            layers += [z] * lower.size
        return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), scores, layers

    def correct(self, volume) -> np.ndarray:
        """Bridge one-layer gaps in one volume; returns a copy."""
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must lie in (0, 1], got {self.threshold}.")
        (volume,) = check_volumes(volume)
        geometry = LabelGeometry.from_volume(volume)
        labels, starts, stops = geometry.labels, geometry.z_starts, geometry.z_stops
        pairs, scores, layers = self._bridges(volume, starts, stops, labels)
        extents = {
            int(lab): (int(a), int(b)) for lab, a, b in zip(labels, starts, stops)
        }
        mapping, merged = resolve_merges(
            pairs, np.asarray(scores, dtype=float), self.threshold, z_extents=extents
        )
        out = relabel_volume(volume, mapping)
        if self.fill_gap:
            for (up, low), z in zip(pairs[merged].tolist(), np.asarray(layers)[merged]):
                target = mapping.get(up, up)
                facing = (volume[z - 1] == up) & (volume[z + 1] == low)
                out[z][facing & (volume[z] == 0)] = target
        return out

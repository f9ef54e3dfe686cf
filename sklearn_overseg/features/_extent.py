"""Extent features of a candidate pair: how long each fragment is, how it ends.

An IoU stitcher cuts off short pieces: one- or two-layer end caps, whose
Geo-Wasserstein statistics are borrowed or extrapolated (a cap has no masks
two layers apart) and whose overlap curve is too short for a topology fit.
These features say so explicitly, and describe the two facing masks, so that
the classifier can tell an end cap or a mid-cell stitch cut from two
different cells stacked across a flat interface. All are scale-free.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._candidates import Candidate, CandidateSet, check_candidate_set, fragment_layers
from ._pair_features import PairFeaturesMixin

__all__ = ["FragmentExtentFeatures"]

_NAMES = (
    "upper_layers",
    "lower_layers",
    "gap_layers",
    "volume_ratio",
    "facing_cover_upper",
    "facing_cover_lower",
    "facing_iou",
    "upper_end_taper",
    "lower_start_taper",
)


def _extent_row(candidate: Candidate, max_layers: int) -> list[float]:
    """Raw extent features of one pair (see :class:`FragmentExtentFeatures`)."""
    upper, lower = fragment_layers(candidate)
    areas_up = np.count_nonzero(upper, axis=(1, 2)).astype(float)
    areas_lo = np.count_nonzero(lower, axis=(1, 2)).astype(float)
    last, first = upper[-1], lower[0]
    overlap = float(np.count_nonzero(last & first))
    a_last, a_first = areas_up[-1], areas_lo[0]
    volumes = areas_up.sum(), areas_lo.sum()
    return [
        float(min(len(upper), max_layers)),
        float(min(len(lower), max_layers)),
        float(candidate.n_gap_layers),
        min(volumes) / max(max(volumes), 1.0),
        overlap / max(a_last, 1.0),
        overlap / max(a_first, 1.0),
        overlap / max(a_last + a_first - overlap, 1.0),
        a_last / max(areas_up.max(), 1.0),
        a_first / max(areas_lo.max(), 1.0),
    ]


class FragmentExtentFeatures(PairFeaturesMixin, TransformerMixin, BaseEstimator):
    """Length of each fragment, gap size and the shape of the facing masks.

    Features, per candidate pair (gap closed as in
    :class:`~sklearn_overseg.TopologyFeatures`):

    * ``upper_layers``, ``lower_layers`` - non-empty layers of each fragment,
      capped at ``max_layers`` (a one-layer end cap reads 1);
    * ``gap_layers`` - missing layers between the fragments (0 for a stitch
      split, whose fragments touch across two consecutive layers);
    * ``volume_ratio`` - smaller over larger fragment volume (voxels);
    * ``facing_cover_upper``, ``facing_cover_lower`` - overlap of the two
      facing masks over the area of the upper's last and of the lower's first
      mask (a cap under its cell covers about 1 on its own side);
    * ``facing_iou`` - overlap over union of the facing masks;
    * ``upper_end_taper``, ``lower_start_taper`` - area of the facing mask
      over the fragment's largest mask (a cell narrows towards its ends, two
      cells cut by a flat interface do not).

    ``fit`` learns nothing; it records the output size.

    Parameters
    ----------
    max_layers : int, default=8
        Cap of the layer counts (longer fragments all look long).

    Attributes
    ----------
    n_features_out_ : int
        Number of output features (9).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate, CandidateSet, FragmentExtentFeatures
    >>> crop = np.zeros((5, 8, 8), dtype=np.uint8)
    >>> crop[:4, 1:7, 1:7] = 1          # a cell, layers 0-3
    >>> crop[4, 3:5, 3:5] = 2           # a one-layer cap below it, no gap
    >>> X = CandidateSet([Candidate(0, 1, 2, crop, gap=(4, 4))])
    >>> row = FragmentExtentFeatures().fit(X).transform(X)[0]
    >>> row[:3].tolist(), float(row[5])   # layers, gap, cap covered by the cell
    ([4.0, 1.0, 0.0], 1.0)
    """

    _parameter_constraints: dict = {
        "max_layers": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, max_layers: int = 8):
        self.max_layers = max_layers

    def _names(self) -> tuple[str, ...]:
        return _NAMES

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> FragmentExtentFeatures:
        """Check the candidates and record the output size.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with a gap (possibly of zero layers).
        y : ignored

        Returns
        -------
        self : FragmentExtentFeatures
        """
        check_candidate_set(X, type(self).__name__)
        self.n_features_out_ = len(_NAMES)
        return self

    def transform(self, X: CandidateSet) -> np.ndarray:
        """Extent features of each candidate pair.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with a gap.

        Returns
        -------
        ndarray of shape (n_candidates, 9), dtype float32
        """
        check_is_fitted(self)
        check_candidate_set(X, type(self).__name__)
        rows = [_extent_row(c, int(self.max_layers)) for c in X]
        return np.asarray(rows, dtype=np.float32).reshape(len(X), len(_NAMES))

"""Context features of a candidate pair: evidence from outside the pair.

A one-layer piece stitched onto a cell has no shape of its own, so the pair
alone cannot tell an end cap of the cell below from a cap cut off the cell
above. The labels around the pair can: whether the upper piece continues
upwards into another label, whether the lower fragment has another parent in
the facing layer, how long the merged cell would be against a typical cell of
the volume. The screener measures these values on the whole volume
(``meta["context"]`` of each axis candidate); this transformer turns them into
features of the pair pipeline.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._candidates import CONTEXT_NAMES, CandidateSet, check_candidate_set
from ._pair_features import PairFeaturesMixin

__all__ = ["PairContextFeatures"]


def _context_rows(X: CandidateSet, max_extent_ratio: float) -> np.ndarray:
    """The ``meta["context"]`` values of each pair, one row per pair."""
    rows = np.zeros((len(X), len(CONTEXT_NAMES)), dtype=np.float32)
    for i, c in enumerate(X):
        context = c.meta.get("context")
        if context is None:
            raise ValueError(
                f"candidate {c.key} carries no context (meta['context']); "
                "screen the volume with CandidateScreener (mode='axis' or "
                "'both'), which measures it, instead of building the pair by "
                "hand."
            )
        rows[i] = [context[name] for name in CONTEXT_NAMES]
    extent = CONTEXT_NAMES.index("merged_extent_ratio")
    rows[:, extent] = np.minimum(rows[:, extent], max_extent_ratio)
    return rows


class PairContextFeatures(PairFeaturesMixin, TransformerMixin, BaseEstimator):
    """What lies around each pair in its volume: neighbours above, below, beside.

    Features, per axis candidate ``(upper, lower)``, as measured by
    :class:`~sklearn_overseg.CandidateScreener` on the whole volume:

    * ``upper_above_cover``, ``upper_above_iou`` - the upper fragment's first
      mask against the label covering most of it in the layer above: share of
      the mask covered, and their IoU (the stitcher's own measure). A piece
      cut off the bottom of the cell above is covered nearly whole;
    * ``lower_below_cover``, ``lower_below_iou`` - the same for the lower
      fragment's last mask and the layer below;
    * ``lower_other_parent`` - share of the lower's first mask covered, in
      the upper's last layer, by the largest label other than the upper;
    * ``upper_other_child`` - share of the upper's last mask covered, in the
      lower's first layer, by the largest label other than the lower;
    * ``merged_extent_ratio`` - z-extent of the two fragments together over
      the volume's typical cell z-extent (the median z-extent of its labels
      weighted by their bounding-box volume), capped at
      ``max_extent_ratio``.

    ``fit`` learns nothing; it records the output size.

    Parameters
    ----------
    max_extent_ratio : float, default=4.0
        Cap of ``merged_extent_ratio``.

    Attributes
    ----------
    n_features_out_ : int
        Number of output features (7).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import CandidateScreener, PairContextFeatures
    >>> vol = np.zeros((6, 8, 8), dtype=np.uint16)
    >>> vol[:3, 1:7, 1:7] = 1     # a cell, layers 0-2
    >>> vol[3, 1:7, 2:7] = 2      # a one-layer piece under it ...
    >>> vol[4:, 1:7, 1:7] = 3     # ... on top of another cell
    >>> X = CandidateScreener(min_gap=0).fit_transform(vol)
    >>> X.pairs.tolist()
    [[1, 2], [2, 3]]
    >>> rows = PairContextFeatures().fit(X).transform(X)
    >>> [round(float(v), 2) for v in rows[1, :2]]  # piece 2 covered by cell 1
    [1.0, 0.83]
    """

    _parameter_constraints: dict = {
        "max_extent_ratio": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, max_extent_ratio: float = 4.0):
        self.max_extent_ratio = max_extent_ratio

    def _names(self) -> tuple[str, ...]:
        return CONTEXT_NAMES

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> PairContextFeatures:
        """Check the candidates and record the output size.

        Parameters
        ----------
        X : CandidateSet
            Axis candidates from :class:`~sklearn_overseg.CandidateScreener`.
        y : ignored

        Returns
        -------
        self : PairContextFeatures
        """
        check_candidate_set(X, type(self).__name__)
        self.n_features_out_ = len(CONTEXT_NAMES)
        return self

    def transform(self, X: CandidateSet) -> np.ndarray:
        """Context features of each candidate pair.

        Parameters
        ----------
        X : CandidateSet
            Axis candidates from :class:`~sklearn_overseg.CandidateScreener`.

        Returns
        -------
        ndarray of shape (n_candidates, 7), dtype float32
        """
        check_is_fitted(self)
        check_candidate_set(X, type(self).__name__)
        return _context_rows(X, float(self.max_extent_ratio))

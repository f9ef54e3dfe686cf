"""Topology features of a candidate pair (step 3 of the method).

:class:`TopologyFeatures` describes the overlap curve of each pair with its
gap closed (``_overlap_curve.py``): linear and quadratic fits give the
paper's topology score; the depth of the largest dip and the overlap at the
junction relative to its neighbours are extra, more direct evidence. It
standardises them robustly with statistics learned in ``fit``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet, check_candidate_set
from ._overlap_curve import _candidate_topology, curve_topology
from ._pair_features import PairFeaturesMixin

__all__ = ["TopologyFeatures", "curve_topology"]

_PAPER_FEATURES = ("topology_r2", "shape_index", "quadratic_won")
_EXTRA_FEATURES = ("unimodal", "dip_depth", "gap_overlap_ratio", "gap_area_ratio")
_BINARY_FEATURES = frozenset({"quadratic_won", "unimodal"})
_CLIP = 10.0  # robust z-scores are clipped to [-_CLIP, _CLIP]


class TopologyFeatures(PairFeaturesMixin, TransformerMixin, BaseEstimator):
    """Topology features of candidate pairs (the paper's Algorithm 3).

    Each pair is treated as one cell with the gap closed: the upper fragment's
    non-empty layers followed by the lower fragment's. The overlap area of
    consecutive layers forms a curve along the stack, scaled by its mean (so
    every feature is free of units and of cell size). Linear and quadratic
    fits are compared by adjusted R²; ``topology_r2`` is the better adjusted
    R², or 1 when the curve is unimodal (monotone, or rises then falls, up to
    ``tolerance``), as a real cell grows then shrinks.

    Features (``feature_set="paper"``):

    * ``topology_r2`` - the paper's score, in [0, 1];
    * ``shape_index`` - the quadratic coefficient of the scaled curve on
      t in [-1, 1] (negative: cap-shaped, positive: valley-shaped);
    * ``quadratic_won`` - 1 if the quadratic fit has the higher adjusted R².

    ``feature_set="extended"`` adds:

    * ``unimodal`` - 1 if the curve has no dip deeper than ``tolerance``;
    * ``dip_depth`` - depth of the largest dip (a point with higher points on
      both sides) relative to the curve's maximum;
    * ``gap_overlap_ratio`` - overlap across the closed gap over the mean of
      its neighbouring overlaps, ``(o + 1) / (mean + 1)`` in pixels (a split
      cell gives about 1, a junction of two cells much less);
    * ``gap_area_ratio`` - smaller over larger area of the two masks next to
      the gap.

    With ``normalize=True`` the non-binary features are robustly standardised
    with statistics learned in ``fit``: ``(value - center_) / scale_`` with
    the median and the interquartile range (the standard deviation, then 1,
    when that range is zero), clipped to [-10, 10] so that the odd extreme
    curve (a short or ragged pair) cannot dominate a neural network's input.
    Curves with fewer than three points (pairs with fewer than four layers)
    are trivially monotone: score 1, no curvature, no dip.

    Parameters
    ----------
    feature_set : {"paper", "extended"}, default="extended"
        The paper's three features, or those plus four gap-aware ones.
    tolerance : float, default=0.05
        Largest dip, relative to the curve's maximum, still called unimodal.
    normalize : bool, default=True
        Robustly standardise the non-binary features with learned statistics.
        Scaling belongs to the pipeline's scaler step: new pipelines can
        set ``normalize=False`` and use a scaler such as
        :class:`~sklearn.preprocessing.RobustScaler` or
        :class:`~sklearn_overseg.features.ClippedStandardScaler`. The default
        stays ``True`` because the shipped models were fitted on normalised
        values (the clip makes the two scalings differ, so they cannot be
        folded into one scaler without changing their decisions).
    units : {"absolute", "relative"}, default="absolute"
        The small constant that keeps ``gap_overlap_ratio`` finite: one
        pixel (``"absolute"``, the package's original), or 1% of the curve's
        mean overlap (``"relative"``), so that the ratio of a small cell
        reads like that of a large one. The other features are already free
        of units and of cell size.

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Median of each raw feature on the training pairs (0 for binary ones
        and when ``normalize=False``).
    scale_ : ndarray of shape (n_features,)
        Spread of each raw feature (1 for binary ones and when
        ``normalize=False``).
    n_features_out_ : int
        Number of output features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate, CandidateSet, TopologyFeatures
    >>> r = np.array([2, 3, 4, 4, 3, 2])
    >>> yy, xx = np.mgrid[:12, :12]
    >>> crop = np.zeros((7, 12, 12), dtype=np.uint8)
    >>> for z, radius in enumerate([2, 3, 4, 0, 4, 3, 2]):
    ...     crop[z][(yy - 6) ** 2 + (xx - 6) ** 2 <= radius**2] = 1 if z < 3 else 2
    >>> X = CandidateSet([Candidate(0, 1, 2, crop, gap=(3, 4))])
    >>> topo = TopologyFeatures(feature_set="paper", normalize=False).fit(X)
    >>> topo.transform(X)[0, 0]
    np.float32(1.0)
    """

    _parameter_constraints: dict = {
        "feature_set": [StrOptions({"paper", "extended"})],
        "tolerance": [Interval(numbers.Real, 0, 1, closed="both")],
        "normalize": ["boolean"],
        "units": [StrOptions({"absolute", "relative"})],
    }

    def __init__(
        self,
        feature_set: str = "extended",
        tolerance: float = 0.05,
        normalize: bool = True,
        units: str = "absolute",
    ):
        self.feature_set = feature_set
        self.tolerance = tolerance
        self.normalize = normalize
        self.units = units

    def _names(self) -> tuple[str, ...]:
        if self.feature_set == "paper":
            return _PAPER_FEATURES
        return _PAPER_FEATURES + _EXTRA_FEATURES

    def _raw_features(self, X: CandidateSet) -> np.ndarray:
        names = self._names()
        rows = [
            _candidate_topology(c, float(self.tolerance), self.units) for c in X
        ]
        out = np.array([[row[name] for name in names] for row in rows], dtype=float)
        return out.reshape(len(rows), len(names))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> TopologyFeatures:
        """Learn the normalisation statistics of the features.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with a gap (axis or resliced tilted candidates).
        y : ignored

        Returns
        -------
        self : TopologyFeatures
        """
        check_candidate_set(X, type(self).__name__)
        if len(X) == 0:
            raise ValueError("TopologyFeatures.fit needs at least one candidate.")
        names = self._names()
        raw = self._raw_features(X)
        center = np.zeros(len(names))
        scale = np.ones(len(names))
        if self.normalize:
            binary = np.array([name in _BINARY_FEATURES for name in names])
            q25, q50, q75 = np.percentile(raw, [25, 50, 75], axis=0)
            spread = q75 - q25
            std = raw.std(axis=0)
            spread = np.where(spread > 1e-9, spread, np.where(std > 1e-9, std, 1.0))
            center = np.where(binary, 0.0, q50)
            scale = np.where(binary, 1.0, spread)
        self.center_ = center
        self.scale_ = scale
        self.n_features_out_ = len(names)
        return self

    def transform(self, X: CandidateSet) -> np.ndarray:
        """Topology features of each candidate pair.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with a gap.

        Returns
        -------
        ndarray of shape (n_candidates, ``n_features_out_``), dtype float32
        """
        check_is_fitted(self)
        check_candidate_set(X, type(self).__name__)
        raw = self._raw_features(X)
        if raw.shape[1] != self.n_features_out_:
            raise ValueError("feature_set changed after fit; fit again.")
        if self.normalize:
            raw = np.clip((raw - self.center_) / self.scale_, -_CLIP, _CLIP)
        return raw.astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

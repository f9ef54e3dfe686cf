"""Topology features of a candidate pair (step 3 of the method).

The two fragments are stacked as if they were one cell with the gap closed:
the upper fragment's layers, then the lower fragment's. The overlap area of
consecutive layers traces the cell's shape along the stacking axis; a real
cell grows then shrinks, so its overlap curve is unimodal (monotone is a
special case). Two different cells stacked on each other usually leave a dip
at the junction. Linear and quadratic fits of the curve give the paper's
topology score; the depth of the largest dip and the overlap at the junction
relative to its neighbours are extra, more direct evidence.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import (
    Candidate,
    CandidateSet,
    check_candidate_set,
    fragment_layers,
)
from ._pair_features import PairFeaturesMixin

__all__ = ["TopologyFeatures"]

_PAPER_FEATURES = ("topology_r2", "shape_index", "quadratic_won")
_EXTRA_FEATURES = ("unimodal", "dip_depth", "gap_overlap_ratio", "gap_area_ratio")
_BINARY_FEATURES = frozenset({"quadratic_won", "unimodal"})
_CLIP = 10.0  # robust z-scores are clipped to [-_CLIP, _CLIP]


def _adjusted_r2(y: np.ndarray, degree: int) -> float:
    """Adjusted R² of a least-squares polynomial fit of ``y`` over [-1, 1].

    ``-inf`` when the fit has no residual degree of freedom; 1 for a flat
    curve.
    """
    n = len(y)
    if n <= degree + 1:
        return -np.inf
    design = np.vander(np.linspace(-1.0, 1.0, n), degree + 1)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    ss_res = float(np.sum((y - design @ coef) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot <= 1e-12 * float(np.sum(y**2)) + 1e-300:
        return 1.0
    r2 = 1.0 - ss_res / ss_tot
    return 1.0 - (1.0 - r2) * (n - 1) / (n - degree - 1)


def _dip_depth(y: np.ndarray) -> float:
    """Depth of the largest dip below the curve's running maxima, over its max.

    A point dips when both a higher point before it and a higher point after
    it exist; the curve is unimodal (rises then falls, or monotone) exactly
    when no point dips.
    """
    if len(y) < 3 or y.max() <= 0:
        return 0.0
    before = np.maximum.accumulate(y)[:-2]
    after = np.maximum.accumulate(y[::-1])[::-1][2:]
    return max(0.0, float(np.max(np.minimum(before, after) - y[1:-1]))) / y.max()


def curve_topology(overlaps: np.ndarray, tolerance: float = 0.05) -> dict:
    """Topology descriptors of one overlap curve (all scale-free).

    Curves with fewer than three points are trivially monotone: score 1,
    linear fit, no curvature, no dip.
    """
    y = np.asarray(overlaps, dtype=float)
    scale = y.mean() if len(y) and y.mean() > 0 else 1.0
    y = y / scale
    dip = _dip_depth(y)
    unimodal = dip <= tolerance
    r2_linear, r2_quadratic = _adjusted_r2(y, 1), _adjusted_r2(y, 2)
    best = max(r2_linear, r2_quadratic)
    score = 1.0 if unimodal or not np.isfinite(best) else min(1.0, max(0.0, best))
    # Curvature: the quadratic coefficient, also for three points (exact fit).
    curvature = np.polyfit(np.linspace(-1, 1, len(y)), y, 2)[0] if len(y) >= 3 else 0
    return {
        "topology_r2": score,
        "shape_index": float(curvature),
        "quadratic_won": float(r2_quadratic > r2_linear),
        "unimodal": float(unimodal),
        "dip_depth": dip,
    }


def _candidate_topology(
    candidate: Candidate, tolerance: float, units: str = "absolute"
) -> dict:
    """Raw topology features of one pair with its gap closed."""
    upper, lower = fragment_layers(candidate)
    stack = np.concatenate([upper, lower])
    overlaps = np.count_nonzero(stack[:-1] & stack[1:], axis=(1, 2)).astype(float)
    features = curve_topology(overlaps, tolerance)
    # The junction is curve point len(upper) - 1 (last upper vs first lower).
    junction = len(upper) - 1
    beside = [i for i in (junction - 1, junction + 1) if 0 <= i < len(overlaps)]
    neighbours = overlaps[beside]
    reference = neighbours.mean() if len(neighbours) else overlaps[junction]
    # one pixel keeps the ratio finite; "relative": 1% of the curve's mean
    eps = 1.0
    if units == "relative":
        eps = max(0.01 * float(overlaps.mean()), 1e-3) if len(overlaps) else 1.0
    features["gap_overlap_ratio"] = (overlaps[junction] + eps) / (reference + eps)
    areas = np.count_nonzero(upper[-1]), np.count_nonzero(lower[0])
    features["gap_area_ratio"] = min(areas) / max(areas)
    return features


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

"""The range of the training features, to spot pairs unlike any seen in training.

A network extrapolates confidently: a pair whose features lie far outside
those it was trained on gets a probability near 0 or 1 that means little.
:class:`FeatureRange` learns the box of the training features (per-feature
quantiles, widened by a margin); :meth:`MergeCorrector.decide` leaves the
pairs outside the box to a person instead of deciding them.

:func:`fit_with_features` fits a features-then-model pipeline step by step
(exactly as ``Pipeline.fit`` does) and returns the features on the way, so the
range costs no second feature pass; :func:`pipeline_features` gives the raw
and model-input features of a fitted pipeline.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["FeatureRange", "feature_stage", "fit_with_features", "pipeline_features"]


class FeatureRange(BaseEstimator):
    """Box of the training features; rows outside it are out of range.

    Parameters
    ----------
    quantile : float, default=0.0
        Per-feature quantiles ``quantile`` and ``1 - quantile`` bound the box
        (``0`` = minimum and maximum; ``0.001`` ignores the most extreme
        0.1% of training pairs on each side).
    margin : float, default=0.5
        The box is widened on each side by this share of its width. The
        rule is a guard against gross extrapolation (another voxel size,
        cells several times larger than any in training), not a detector of
        the model's usual errors: on the shared real volumes with simulated
        splits, none of the pretrained axis model's 44 wrong decisions lay
        outside the box widened by 5%, and this margin flagged 1 of 649
        pairs (``benchmarks/RESULTS.md``, section 8).

    Attributes
    ----------
    low_, high_ : ndarray of shape (n_features,)
        Bounds of the box.
    n_features_in_ : int
        Number of features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.models import FeatureRange
    >>> box = FeatureRange(margin=0).fit(np.array([[0.0, 1.0], [1.0, 3.0]]))
    >>> box.outside(np.array([[0.5, 2.0], [2.0, 2.0], [0.5, np.nan]])).tolist()
    [False, True, True]
    """

    _parameter_constraints: dict = {
        "quantile": [Interval(numbers.Real, 0, 0.5, closed="left")],
        "margin": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, quantile: float = 0.0, margin: float = 0.5):
        self.quantile = quantile
        self.margin = margin

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the box of ``X`` (non-finite values are ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features.
        y : ignored

        Returns
        -------
        self : FeatureRange
        """
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False)
        X = np.where(np.isfinite(X), X, np.nan)
        low = np.nanquantile(X, self.quantile, axis=0)
        high = np.nanquantile(X, 1.0 - self.quantile, axis=0)
        width = np.nan_to_num(high - low)
        self.low_ = np.nan_to_num(low - self.margin * width, nan=np.inf)
        self.high_ = np.nan_to_num(high + self.margin * width, nan=-np.inf)
        return self

    def extend(self, X) -> FeatureRange:
        """A copy whose box also covers the rows of ``X`` (same settings).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            More training features (for example of fine-tuning pairs).

        Returns
        -------
        FeatureRange
        """
        check_is_fitted(self)
        grown = clone(self).fit(X)
        if grown.n_features_in_ != self.n_features_in_:
            raise ValueError(
                f"X has {grown.n_features_in_} features, the range "
                f"{self.n_features_in_}"
            )
        grown.low_ = np.minimum(self.low_, grown.low_)
        grown.high_ = np.maximum(self.high_, grown.high_)
        return grown

    def outside(self, X) -> np.ndarray:
        """Whether each row has a feature outside the box (or not finite).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of bool, shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=np.float64, ensure_all_finite=False, reset=False
        )
        with np.errstate(invalid="ignore"):
            inside = (X >= self.low_) & (X <= self.high_)
        return ~inside.all(axis=1)


def feature_stage(classifier) -> int | None:
    """Index of a pipeline's (last) ``FeatureUnion`` step, or ``None``."""
    if not isinstance(classifier, Pipeline) or len(classifier) < 2:
        return None
    found = [
        i for i, (_, step) in enumerate(classifier.steps[:-1])
        if isinstance(step, FeatureUnion)
    ]
    return found[-1] if found else None


def _transformers(steps):
    return [s for _, s in steps if s not in (None, "passthrough")]


def fit_with_features(classifier, X, y, **fit_params) -> np.ndarray | None:
    """Fit ``classifier`` on ``(X, y)``; return the raw training features.

    A pipeline with a ``FeatureUnion`` is fitted step by step, as
    ``Pipeline.fit`` does, keeping the union's output; ``fit_params`` go to
    the final model. Any other classifier is fitted as it is and ``None`` is
    returned.
    """
    stage = feature_stage(classifier)
    if stage is None:
        classifier.fit(X, y, **fit_params)
        return None
    for step in _transformers(classifier.steps[: stage + 1]):
        X = step.fit_transform(X, y)
    features = X
    for step in _transformers(classifier.steps[stage + 1 : -1]):
        X = step.fit_transform(X, y)
    classifier.steps[-1][1].fit(X, y, **fit_params)
    return features


def pipeline_features(classifier, X) -> tuple[np.ndarray, np.ndarray]:
    """Raw features and final-model input of a fitted features pipeline.

    Raises
    ------
    TypeError
        If ``classifier`` is not a pipeline with a ``FeatureUnion`` step.
    """
    stage = feature_stage(classifier)
    if stage is None:
        raise TypeError(
            "the classifier must be a pair pipeline (features, then a model), "
            f"as make_pair_pipeline builds; got a {type(classifier).__name__}"
        )
    for step in _transformers(classifier.steps[: stage + 1]):
        X = step.transform(X)
    features = X
    for step in _transformers(classifier.steps[stage + 1 : -1]):
        X = step.transform(X)
    return features, X

"""Honest merge probabilities: calibrating the pair classifier.

A network trained with a log loss on synthetic pairs is confident far from
its training data. Calibration maps its scores to observed frequencies with
scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV`, around
the final model of the pair pipeline (the features are computed once):

* at training (``MergeCorrector(calibration=...)``): ``ensemble=False``, the
  calibrator learns from out-of-fold predictions whose folds are whole
  volumes (``GroupKFold``), then the model is refitted on every pair. The
  folds are given as precomputed splits: scikit-learn 1.9 does not route
  ``groups`` to the splitter when ``ensemble=False``;
* afterwards (:meth:`MergeCorrector.calibrate`): the fitted model is frozen
  (:class:`~sklearn.frozen.FrozenEstimator`) and the calibrator learns from
  held-out labelled volumes; this is how a pretrained model is calibrated
  without retraining it.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GroupKFold

from .._warnings import warn_user
from ..models import (
    GapRoutedClassifier,
    feature_stage,
    fit_with_features,
    pipeline_features,
    split_by_route,
)

__all__ = ["calibrate_classifier", "fit_calibrated", "uncalibrated"]


def uncalibrated(model):
    """The fitted model inside a calibration wrapper (``model`` itself if none)."""
    if isinstance(model, CalibratedClassifierCV) and hasattr(
        model, "calibrated_classifiers_"
    ) and len(model.calibrated_classifiers_) == 1:
        model = model.calibrated_classifiers_[0].estimator
    if isinstance(model, FrozenEstimator):
        model = model.estimator
    return model


def fit_calibrated(classifier, candidates, labels, method: str, n_splits: int):
    """Fit a pair pipeline with its final model calibrated, folds by volume.

    Replaces the pipeline's final step by a ``CalibratedClassifierCV`` around
    it and fits the pipeline; returns the raw training features (see
    :func:`fit_with_features`).
    """
    if feature_stage(classifier) is None:
        raise TypeError(
            "calibration needs a pair pipeline (features, then a model), as "
            f"make_pair_pipeline builds; got a {type(classifier).__name__}"
        )
    groups = np.asarray(candidates.volume_index)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(
            "calibration needs pairs from at least two training volumes (the "
            "calibrator learns on volumes the model was not trained on); got "
            f"{n_groups}"
        )
    name, model = classifier.steps[-1]
    folds = GroupKFold(min(n_splits, n_groups))
    splits = list(folds.split(groups, labels, groups))
    calibrated = CalibratedClassifierCV(
        model, method=method, cv=splits, ensemble=False
    )
    classifier.steps[-1] = (name, calibrated)
    features = fit_with_features(classifier, candidates, labels)
    # the splits were those of this splitter on the training volumes; keep
    # the splitter, not the per-pair index lists, as the description
    calibrated.set_params(cv=folds)
    return features


def calibrate_classifier(classifier, candidates, labels, method: str) -> None:
    """Calibrate a fitted pair pipeline in place on held-out labelled pairs.

    The final model (without a previous calibrator) is frozen and wrapped in
    a ``CalibratedClassifierCV`` fitted on the pairs' model inputs. A
    :class:`~sklearn_overseg.models.GapRoutedClassifier` calibrates each of
    its pipelines on the pairs it decides (``split_by_route``: with
    ``gapped="both"`` or ``"mean"`` the stitch pipeline on every pair, as it
    shapes the gapped pairs' probability too).
    """
    if isinstance(classifier, GapRoutedClassifier):
        routes = split_by_route(classifier, candidates, labels)
        usable = [r for r in routes if len(np.unique(r[2])) == 2]
        if not usable:
            calibrate_classifier(classifier.gaps_, candidates, labels, method)
        for model, pairs, truth in usable:
            calibrate_classifier(model, pairs, truth, method)
        if len(usable) < len(routes):
            warn_user(
                "a route of the classifier was left uncalibrated: its pairs "
                "in these volumes are all of one kind (only true splits or "
                "only distinct cells)",
            )
        return
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError(
            "calibration needs both true splits and distinct-cell pairs, got "
            f"{int(labels.sum())} positive and {int((labels == 0).sum())} "
            "negative candidate pairs; give more or larger volumes"
        )
    _, inputs = pipeline_features(classifier, candidates)
    name, model = classifier.steps[-1]
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(uncalibrated(model)), method=method
    )
    calibrated.fit(inputs, labels)
    classifier.steps[-1] = (name, calibrated)

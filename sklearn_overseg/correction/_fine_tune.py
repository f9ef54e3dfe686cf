"""Fine-tuning a fitted pair classifier on the user's own volumes.

The network (:class:`MergeNet`, a skorch net) continues training from its
fitted weights (``partial_fit``: a warm start), on the pairs of a few of the
user's volumes, seen through the model's own features and fitted scaler, so
that the input space does not move. A seed ensemble (a
``BaggingClassifier`` of networks) fine-tunes each network on the features
it uses. A calibrator around the model is dropped: its probabilities were
those of the network before fine-tuning.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import BaggingClassifier

from ..models import GapRoutedClassifier, pipeline_features, split_by_route
from ._calibration import uncalibrated

__all__ = ["fine_tune_classifier"]


def _tune(model, X, y, epochs: int, lr: float | None) -> None:
    if not hasattr(model, "partial_fit"):
        raise TypeError(
            f"cannot fine-tune a {type(model).__name__}: the pair classifier's "
            "model (or each model of a BaggingClassifier) needs partial_fit, "
            "as MergeNet has; train a new corrector with fit instead"
        )
    params = model.get_params(deep=False)
    changes = {}
    if "max_epochs" in params:
        changes["max_epochs"] = int(epochs)
    if "lr" in params:
        changes["lr"] = float(lr) if lr is not None else params["lr"] / 10
    model.set_params(**changes)
    try:
        for _ in range(1 if "max_epochs" in params else int(epochs)):
            model.partial_fit(X, y)
    finally:
        model.set_params(**{k: params[k] for k in changes})


def fine_tune_classifier(
    classifier, candidates, labels, *, epochs: int = 20, lr: float | None = None
) -> np.ndarray | None:
    """Warm-start training of a fitted pair pipeline's model, in place.

    Returns the raw features of the fine-tuning pairs (``None`` for a
    :class:`~sklearn_overseg.models.GapRoutedClassifier`, whose routes use
    different features). ``epochs`` and ``lr`` are checked by the caller
    (:meth:`MergeCorrector.fine_tune`).
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError(
            "no candidate pairs to fine-tune on: the volumes hold no split "
            "the screener finds; give volumes with oversegmented cells"
        )
    if isinstance(classifier, GapRoutedClassifier):
        # each route fine-tunes on its own pairs; their features differ
        for model, pairs, truth in split_by_route(classifier, candidates, labels):
            fine_tune_classifier(model, pairs, truth, epochs=epochs, lr=lr)
        return None
    features, inputs = pipeline_features(classifier, candidates)
    name, model = classifier.steps[-1]
    model = uncalibrated(model)
    if isinstance(model, BaggingClassifier):
        for net, columns in zip(model.estimators_, model.estimators_features_):
            _tune(net, inputs[:, columns], labels, epochs, lr)
    else:
        _tune(model, inputs, labels, epochs, lr)
    classifier.steps[-1] = (name, model)
    return features

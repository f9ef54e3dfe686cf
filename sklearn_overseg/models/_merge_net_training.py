"""Training MergeNet: targets, the network, its loss and seeded skorch training.

A mixin of :class:`~sklearn_overseg.MergeNet`: ``fit`` (from scratch) and
``partial_fit`` (more epochs) check the features, map any two class labels
to 0/1 targets (``_binary_targets``), weight the positive class in the loss,
build the network with the number of features seen, and train with skorch
on one torch thread, seeded from ``random_state`` without touching the
global torch random state (``_merge_mlp``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from skorch import NeuralNetBinaryClassifier

from ._binary_targets import (
    binary_classes,
    encode_binary_targets,
    positive_class_weight,
)
from ._merge_mlp import one_torch_thread, torch_seed

__all__ = ["MergeNetTrainingMixin"]


class MergeNetTrainingMixin:
    """``fit``, ``partial_fit`` and what they need, for a skorch classifier.

    The parameters are those of :class:`~sklearn_overseg.MergeNet`; put it
    before ``NeuralNetBinaryClassifier`` in the bases.
    """

    def _encode_targets(self, y: np.ndarray, *, reset: bool) -> np.ndarray:
        """Check binary targets and map them to 0/1 floats."""
        check_classification_targets(y)
        labels = np.unique(y)
        if reset:
            self.classes_ = binary_classes(labels)
            if labels.size < 2:
                raise ValueError(
                    "MergeNet needs samples of both classes to train, got one "
                    f"class: {labels.tolist()}"
                )
        return encode_binary_targets(y, labels, self.classes_)

    def _positive_weight(self, y01: np.ndarray) -> float | None:
        return positive_class_weight(self.class_weight, self.classes_, y01)

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_features", getattr(self, "n_features_in_", None))
        if kwargs["n_features"] is None:
            raise ValueError(
                "MergeNet needs the number of input features: call fit first "
                "or pass module__n_features."
            )
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        pos_weight = getattr(self, "pos_weight_", None)
        if pos_weight is not None and "pos_weight" not in kwargs:
            kwargs["pos_weight"] = torch.tensor(float(pos_weight))
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def _train(self, X, y01, *, restart: bool, **fit_params):
        """Skorch training on encoded targets, seeded without global effects."""
        seed = torch_seed(self.random_state)
        with one_torch_thread(), torch.random.fork_rng(
            devices=[], enabled=seed is not None
        ):
            if seed is not None:
                torch.manual_seed(seed)
            if restart and (not self.warm_start or not self.initialized_):
                self.initialize()
            # skorch's own partial_fit: initialise if needed, then train.
            NeuralNetBinaryClassifier.partial_fit(self, X, y01, **fit_params)
        return self

    def fit(self, X, y, **fit_params):
        """Train the network from scratch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite features (cast to float32).
        y : array-like of shape (n_samples,)
            Two class labels (``1`` = merge for 0/1 targets).
        **fit_params
            Passed to skorch's ``fit``.

        Returns
        -------
        self : MergeNet
        """
        X, y = validate_data(self, X, y, dtype=np.float32, reset=True)
        y01 = self._encode_targets(y, reset=True)
        self.pos_weight_ = self._positive_weight(y01)
        return self._train(X, y01, restart=True, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs (initialising on first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite features.
        y : array-like of shape (n_samples,)
            Labels; a batch may hold a single class.
        classes : array-like of shape (2,), default=None
            The two class labels, needed on the first call when they are not
            0 and 1.
        **fit_params
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self : MergeNet
        """
        first = not getattr(self, "initialized_", False)
        X, y = validate_data(self, X, y, dtype=np.float32, reset=first)
        if first:
            labels = np.unique(y if classes is None else classes)
            if classes is None and np.isin(labels, (0, 1)).all():
                labels = np.array([0, 1])
            self.classes_ = labels
            if labels.size != 2:
                raise ValueError(
                    "MergeNet is a binary classifier: pass classes with the two "
                    f"labels on the first partial_fit, got {labels.tolist()}"
                )
        y01 = self._encode_targets(y, reset=False)
        if first:
            self.pos_weight_ = self._positive_weight(y01)
        return self._train(X, y01, restart=False, **fit_params)

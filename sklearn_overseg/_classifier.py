"""The merge classifier: the paper's MLP as a skorch binary classifier.

:class:`MergeMLP` is the torch module (hidden layers 128-64-32, ReLU,
dropout 0.3, one logit whose sigmoid is the merge probability).
:class:`MergeNet` wraps it as a scikit-learn classifier with skorch: it infers
the number of input features in ``fit``, casts features and targets to
float32, seeds torch from ``random_state`` and supports class weighting.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from skorch import NeuralNetBinaryClassifier
from torch import nn

__all__ = ["MergeMLP", "MergeNet"]


class MergeMLP(nn.Module):
    """Multi-layer perceptron returning one merge logit per candidate pair.

    Parameters
    ----------
    n_features : int
        Number of input features.
    hidden : tuple of int, default=(128, 64, 32)
        Sizes of the hidden layers.
    dropout : float, default=0.3
        Dropout probability after each hidden layer.

    Examples
    --------
    >>> import torch
    >>> from sklearn_overseg import MergeMLP
    >>> MergeMLP(11)(torch.zeros(4, 11)).shape
    torch.Size([4])
    """

    def __init__(self, n_features: int, hidden=(128, 64, 32), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        width = int(n_features)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(dropout)]
            width = int(size)
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X).squeeze(-1)


class MergeNet(NeuralNetBinaryClassifier):
    """Skorch binary classifier for candidate pairs (the paper's MLP).

    Hidden sizes, dropout, learning rate, epochs and batch size are skorch
    parameters (``module__hidden``, ``module__dropout``, ``lr``,
    ``max_epochs``, ``batch_size``). The number of input features is taken
    from the data in ``fit``. ``predict_proba`` returns the sigmoid of the
    logit, so the output layer is the paper's sigmoid unit.

    Parameters
    ----------
    module : type of torch.nn.Module, default=MergeMLP
        The network; it must accept ``n_features`` as first argument.
    random_state : int or None, default=0
        Seed for torch (weight initialisation, dropout and shuffling), so that
        ``fit`` is deterministic.
    class_weight : None, "balanced" or float, default=None
        Weight of the positive class in the loss (``pos_weight`` of
        ``BCEWithLogitsLoss``); ``"balanced"`` uses ``n_negative /
        n_positive`` of the training targets.
    **kwargs
        Any other skorch parameter (``max_epochs``, ``lr``, ``batch_size``,
        ``optimizer``, ``module__hidden``, ``train_split``, ...). Defaults:
        Adam, ``lr=1e-3``, ``max_epochs=60``, ``batch_size=64``,
        ``train_split=None``, ``verbose=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import MergeNet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 5)); y = (X[:, 0] > 0).astype(int)
    >>> net = MergeNet(max_epochs=5, random_state=0).fit(X, y)
    >>> net.predict_proba(X).shape
    (64, 2)
    """

    def __init__(
        self,
        module=MergeMLP,
        *args,
        random_state: int | None = 0,
        class_weight=None,
        criterion=nn.BCEWithLogitsLoss,
        optimizer=torch.optim.Adam,
        lr: float = 1e-3,
        max_epochs: int = 60,
        batch_size: int = 64,
        train_split=None,
        verbose: int = 0,
        **kwargs,
    ):
        self.random_state = random_state
        self.class_weight = class_weight
        super().__init__(
            module,
            *args,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            **kwargs,
        )

    def _seed(self) -> None:
        if self.random_state is not None:
            torch.manual_seed(int(self.random_state))

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

    def _positive_weight(self, y: np.ndarray) -> float | None:
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(f"class_weight must be None, 'balanced' or a number, "
                                 f"got {cw!r}")
            n_pos = float(np.sum(y == 1))
            n_neg = float(np.sum(y == 0))
            return n_neg / n_pos if n_pos > 0 else 1.0
        if isinstance(cw, numbers.Real) and cw > 0:
            return float(cw)
        raise ValueError(f"class_weight must be None, 'balanced' or a positive "
                         f"number, got {cw!r}")

    def fit(self, X, y, **fit_params):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"MergeNet expects a 2D feature matrix, got {X.ndim}D")
        if not np.all(np.isfinite(X)):
            raise ValueError("MergeNet features contain NaN or infinite values")
        y = np.asarray(y)
        labels = np.unique(y)
        if not np.all(np.isin(labels, (0, 1))):
            raise ValueError(
                f"MergeNet is a binary classifier: y must hold 0 and 1, got {labels}"
            )
        self.n_features_in_ = X.shape[1]
        self.pos_weight_ = self._positive_weight(y)
        self._seed()
        return super().fit(X, y.astype(np.float32), **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        X = np.asarray(X, dtype=np.float32)
        if not getattr(self, "initialized_", False):
            self.n_features_in_ = X.shape[1]
            self.pos_weight_ = self._positive_weight(np.asarray(y))
            self._seed()
        return super().partial_fit(X, np.asarray(y, dtype=np.float32), classes,
                                   **fit_params)

    def predict_proba(self, X):
        return super().predict_proba(np.asarray(X, dtype=np.float32))

    def decision_function(self, X):
        """Logit of the merge probability, shape (n_samples,)."""
        proba = self.predict_proba(X)[:, 1].astype(np.float64)
        proba = np.clip(proba, 1e-12, 1 - 1e-12)
        return np.log(proba) - np.log1p(-proba)

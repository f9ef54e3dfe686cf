"""The merge classifier: the paper's MLP as a skorch binary classifier.

:class:`MergeNet` wraps the torch module :class:`MergeMLP` (``_merge_mlp``)
as a scikit-learn classifier with skorch: it infers the number of input
features in ``fit``, casts features and targets to float32, seeds torch from
``random_state`` (without touching the global torch random state) and
supports class weighting (``_binary_targets``). It follows scikit-learn's
classifier contract: validated input, any two class labels, ``classes_``,
``n_features_in_`` and a clear ``NotFittedError`` before ``fit``.

This module holds the class, its parameters, the contract and the
predictions; training (``fit``, ``partial_fit``, targets, the network and
its loss) comes from a mixin (``_merge_net_training``). The class stays
here: pickles name this module.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetBinaryClassifier
from torch import nn

from ._merge_mlp import MergeMLP, one_torch_thread
from ._merge_net_training import MergeNetTrainingMixin

# MergeMLP is named here too: pickles of the earlier layout refer to
# ``sklearn_overseg.models._classifier.MergeMLP``.
__all__ = ["MergeMLP", "MergeNet"]


class MergeNet(MergeNetTrainingMixin, NeuralNetBinaryClassifier):
    """Skorch binary classifier for candidate pairs (the paper's MLP).

    Hidden sizes, dropout, learning rate, epochs and batch size are skorch
    parameters (``module__hidden``, ``module__dropout``, ``lr``,
    ``max_epochs``, ``batch_size``). The number of input features is taken
    from the data in ``fit``. ``predict_proba`` returns the sigmoid of the
    logit, so the output layer is the paper's sigmoid unit. Targets may be
    any two labels; ``0``/``1`` targets (or a single one of them) keep
    ``classes_ = [0, 1]`` so that column 1 of ``predict_proba`` is always the
    merge probability.

    Parameters
    ----------
    module : type of torch.nn.Module, default=MergeMLP
        The network; it must accept ``n_features`` as first argument.
    random_state : int, RandomState instance or None, default=0
        Seed for torch (weight initialisation, dropout and shuffling), so that
        ``fit`` is deterministic. The global torch random state is left as it
        was. ``None`` uses (and advances) the global torch random state.
    class_weight : None, "balanced", float or dict, default=None
        Weight of the positive class in the loss (``pos_weight`` of
        ``BCEWithLogitsLoss``): ``"balanced"`` uses ``n_negative /
        n_positive`` of the training targets, a float is used as is, and a
        dict ``{label: weight}`` gives ``weight[positive] / weight[negative]``.
    **kwargs
        Any other skorch parameter (``max_epochs``, ``lr``, ``batch_size``,
        ``optimizer``, ``module__hidden``, ``train_split``, ...). Defaults:
        Adam, ``lr=1e-3``, ``max_epochs=60``, ``batch_size=64``,
        ``train_split=None``, ``verbose=0``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; the second is the positive (merge) class.
    n_features_in_ : int
        Number of input features.
    pos_weight_ : float or None
        Weight of the positive class used in the loss.

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

    # ------------------------------------------------ scikit-learn contract
    def _get_param_names(self):
        # skorch lists every public attribute; its private bookkeeping
        # (``_params_to_validate``) must not travel through clone/set_params.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False)) and (
            "n_features_in_" in vars(self)
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    @property
    def classes_(self) -> np.ndarray:
        """The two class labels (``[0, 1]`` for 0/1 targets)."""
        try:
            return self.__dict__["classes_"]
        except KeyError:
            raise AttributeError(
                "MergeNet has no attribute 'classes_' before fit"
            ) from None

    @classes_.setter
    def classes_(self, value) -> None:
        self.__dict__["classes_"] = np.asarray(value)

    # ---------------------------------------------------------- prediction
    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class for each candidate pair.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Pair features.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_``; column 1 is the merge probability
            (the sigmoid of the network's logit).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        # skorch's data loader draws a seed from torch's global generator even
        # without shuffling: keep the caller's random state untouched.
        with one_torch_thread(), torch.random.fork_rng(devices=[]):
            return super().predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Predicted class of each candidate pair.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Pair features.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[1]`` where its probability exceeds ``threshold``, else
            ``classes_[0]``.
        """
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > self.threshold).astype(np.intp)]

    def decision_function(self, X) -> np.ndarray:
        """Logit of the merge probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Pair features.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``log(p / (1 - p))`` of the merge probability ``p``.
        """
        proba = self.predict_proba(X)[:, 1].astype(np.float64)
        proba = np.clip(proba, 1e-12, 1 - 1e-12)
        return np.log(proba) - np.log1p(-proba)

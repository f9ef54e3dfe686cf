"""The paper's network as a torch module, and how the package runs torch.

:class:`MergeMLP` is the multi-layer perceptron (hidden layers 128-64-32,
ReLU, dropout 0.3, one logit whose sigmoid is the merge probability).
:func:`one_torch_thread` and :func:`torch_seed` are how :class:`MergeNet`
trains and predicts with it: on one CPU thread, seeded from its
``random_state`` without touching the global torch random state.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from sklearn.utils import check_random_state
from torch import nn

__all__ = ["MergeMLP", "one_torch_thread", "torch_seed"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one CPU thread, then restore the previous setting.

    The network is tiny (batches of 64 rows, at most 128 units): spreading its
    matrix products over threads costs more than it saves, and on a busy
    machine the threads' spin-waiting made training some 50 times slower.
    """
    previous = torch.get_num_threads()
    if previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous > 1:
            torch.set_num_threads(previous)


def torch_seed(random_state) -> int | None:
    """The torch seed of a scikit-learn ``random_state`` (``None`` stays ``None``)."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return int(random_state)
    return int(check_random_state(random_state).randint(2**31 - 1))


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

"""Standardisation with bounded output, for the pair classifier's input.

A pair whose shape the training data never showed (a fragment one layer
thin, a tiny cell against a huge one) can give features tens or hundreds of
standard deviations from the training mean. A neural network extrapolates
such inputs arbitrarily, often to a confident merge. Clipping the
standardised features to a few standard deviations keeps every input inside
the range the network was trained on.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval

__all__ = ["ClippedStandardScaler"]


class ClippedStandardScaler(StandardScaler):
    """``StandardScaler`` whose output is clipped to ``[-clip, clip]``.

    Parameters
    ----------
    clip : float, default=5.0
        Largest absolute standardised value let through.
    copy, with_mean, with_std : bool, default=True
        As for :class:`sklearn.preprocessing.StandardScaler`.

    Attributes
    ----------
    mean_, var_, scale_, n_samples_seen_, n_features_in_
        As for :class:`sklearn.preprocessing.StandardScaler`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import ClippedStandardScaler
    >>> X = np.r_[np.zeros(99), 1.0][:, None]      # a rare binary feature
    >>> ClippedStandardScaler(clip=5).fit(X).transform([[1.0]]).tolist()
    [[5.0]]
    """

    _parameter_constraints: dict = {
        **StandardScaler._parameter_constraints,
        "clip": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        clip: float = 5.0,
        copy: bool = True,
        with_mean: bool = True,
        with_std: bool = True,
    ):
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.clip = clip

    def transform(self, X, copy=None):
        """Standardise ``X`` and clip it to ``[-clip, clip]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        copy : bool, default=None
            Copy the input (see ``StandardScaler.transform``).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        scaled = super().transform(X, copy=copy)
        return np.clip(scaled, -self.clip, self.clip)

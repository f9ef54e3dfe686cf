"""What every pair feature transformer shares: feature names and tags.

The pair transformers (:class:`~sklearn_overseg.GeoWassersteinFeatures`,
:class:`~sklearn_overseg.TopologyFeatures`) take a
:class:`~sklearn_overseg.CandidateSet`, not a 2D array, and name their output
columns with a ``_names()`` method of their own.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["PairFeaturesMixin"]


class PairFeaturesMixin:
    """``get_feature_names_out`` and tags of a transformer of candidate pairs.

    Put it before ``TransformerMixin`` and ``BaseEstimator`` in the bases; the
    class must define ``_names()``, the names of its output columns.
    """

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features.

        Parameters
        ----------
        input_features : ignored
            Pairs have no input features; accepted for scikit-learn's API.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(self._names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags

"""Estimators unpickled from before a parameter existed get its default."""

from __future__ import annotations

import inspect

__all__ = ["DefaultsForNewParams"]


class DefaultsForNewParams:
    """Mixin: an estimator pickled before a parameter existed gets its default.

    The default is the behaviour of that time, as for a saved model file
    without the value, so old pickles keep working. Put it before
    ``BaseEstimator`` in the bases.
    """

    def __setstate__(self, state):
        super().__setstate__(state)
        defaults = inspect.signature(type(self).__init__).parameters
        for name in self._get_param_names():
            if name not in self.__dict__:
                setattr(self, name, defaults[name].default)

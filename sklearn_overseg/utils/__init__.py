"""Utilities for developers of volume estimators.

* :mod:`sklearn_overseg.utils.estimator_checks`: checks that screeners,
  candidate-set transformers and correctors keep the package's contract (no
  foreground lost, labels only merged, input untouched, dtype kept, ...), and
  :func:`~sklearn_overseg.utils.estimator_checks.parametrize_with_volume_checks`
  to run them with pytest.
"""

from . import estimator_checks

__all__ = ["estimator_checks"]

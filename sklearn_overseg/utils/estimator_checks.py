"""Checks that volume estimators keep the package's contract.

scikit-learn's :func:`~sklearn.utils.estimator_checks.check_estimator` feeds
tabular data, but screeners and correctors take 3D label volumes and the pair
transformers take a :class:`~sklearn_overseg.CandidateSet`. The checks here
build small synthetic volumes with :mod:`sklearn_overseg.datasets` and test
the domain's promises: no foreground voxel is lost, labels are only merged,
new voxels only fill the gaps of merged pairs, the caller's array is never
modified, the dtype is kept, bad input gets a clear error.

Every check has the signature ``check(name, estimator)`` and raises an
``AssertionError`` that names the broken property. Which checks apply depends
on the estimator:

* a **corrector** (it has ``correct`` and ``predict_merges``, like
  :class:`~sklearn_overseg.MergeCorrector`): volume checks and corrector
  checks. A corrector that is not fitted yet is fitted (a clone) on small
  synthetic tissue first, once per object; pass a fitted one to skip that.
* a **screener** (tag ``input_tags.three_d_array``, returns a
  ``CandidateSet``, like :class:`~sklearn_overseg.CandidateScreener`): volume
  checks and :func:`check_screener_recovers_splits`.
* a **candidate-set transformer** (any other estimator, e.g.
  :class:`~sklearn_overseg.GeoWassersteinFeatures`):
  :func:`check_transformer_accepts_candidate_set`.

Use :func:`parametrize_with_volume_checks` in a test module, or
:func:`check_volume_estimator` to run everything at once.

Examples
--------
>>> from sklearn_overseg import CandidateScreener
>>> from sklearn_overseg.utils.estimator_checks import check_volume_estimator
>>> check_volume_estimator(CandidateScreener(max_gap=2))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial

from ._corrector_checks import (
    check_corrector_does_not_modify_input,
    check_corrector_fills_only_gaps,
    check_corrector_keeps_dtype,
    check_corrector_keeps_foreground,
    check_corrector_only_merges,
    check_corrector_requires_fit,
    check_corrector_transform_returns_list,
)
from ._input_checks import (
    check_screener_recovers_splits,
    check_transformer_accepts_candidate_set,
    check_volume_estimator_rejects_bad_input,
)

__all__ = [
    "check_corrector_does_not_modify_input",
    "check_corrector_fills_only_gaps",
    "check_corrector_keeps_dtype",
    "check_corrector_keeps_foreground",
    "check_corrector_only_merges",
    "check_corrector_requires_fit",
    "check_corrector_transform_returns_list",
    "check_screener_recovers_splits",
    "check_transformer_accepts_candidate_set",
    "check_volume_estimator",
    "check_volume_estimator_rejects_bad_input",
    "parametrize_with_volume_checks",
]


# ---------------------------------------------------------------- drivers
_CORRECTOR_CHECKS = (
    check_corrector_requires_fit,
    check_corrector_keeps_foreground,
    check_corrector_only_merges,
    check_corrector_fills_only_gaps,
    check_corrector_does_not_modify_input,
    check_corrector_keeps_dtype,
    check_corrector_transform_returns_list,
    check_volume_estimator_rejects_bad_input,
)
_SCREENER_CHECKS = (
    check_screener_recovers_splits,
    check_volume_estimator_rejects_bad_input,
)
_TRANSFORMER_CHECKS = (check_transformer_accepts_candidate_set,)


def _kind(estimator) -> str:
    if hasattr(estimator, "correct") and hasattr(estimator, "predict_merges"):
        return "corrector"
    tags = estimator.__sklearn_tags__()
    if getattr(tags.input_tags, "three_d_array", False):
        return "screener"
    return "transformer"


def _yield_volume_checks(estimator) -> Iterator[Callable]:
    checks = {
        "corrector": _CORRECTOR_CHECKS,
        "screener": _SCREENER_CHECKS,
        "transformer": _TRANSFORMER_CHECKS,
    }[_kind(estimator)]
    name = type(estimator).__name__
    for check in checks:
        yield partial(check, name)


def check_volume_estimator(estimator) -> None:
    """Run every applicable volume check on one estimator.

    Parameters
    ----------
    estimator : estimator
        A corrector, screener or candidate-set transformer.

    Raises
    ------
    AssertionError
        From the first check that fails.

    Examples
    --------
    >>> from sklearn_overseg import TopologyFeatures
    >>> from sklearn_overseg.utils.estimator_checks import check_volume_estimator
    >>> check_volume_estimator(TopologyFeatures())
    """
    for check in _yield_volume_checks(estimator):
        check(estimator)


def _check_id(obj) -> str:
    if isinstance(obj, partial):
        return obj.func.__name__
    return type(obj).__name__


def parametrize_with_volume_checks(estimators: Iterable):
    """A pytest ``parametrize`` decorator over estimators and their checks.

    Parameters
    ----------
    estimators : iterable of estimators
        Correctors, screeners and candidate-set transformers. A fitted
        corrector is used as is; an unfitted one is fitted once on small
        synthetic tissue.

    Returns
    -------
    decorator
        ``pytest.mark.parametrize("estimator, check", ...)``; the test calls
        ``check(estimator)``.

    Examples
    --------
    >>> from sklearn_overseg import CandidateScreener
    >>> from sklearn_overseg.utils.estimator_checks import (
    ...     parametrize_with_volume_checks)
    >>> @parametrize_with_volume_checks([CandidateScreener()])
    ... def test_volume_checks(estimator, check):
    ...     check(estimator)
    """
    import pytest

    params = [
        (estimator, check)
        for estimator in estimators
        for check in _yield_volume_checks(estimator)
    ]
    ids = [f"{type(est).__name__}-{_check_id(check)}" for est, check in params]
    return pytest.mark.parametrize("estimator, check", params, ids=ids)

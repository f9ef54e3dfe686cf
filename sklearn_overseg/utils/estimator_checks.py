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

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._candidates import LOWER, UPPER, CandidateSet
from ..datasets import make_tissue, make_tissue_image, oversegment

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

_SHAPE = (24, 64, 64)
_N_CELLS = 20


# --------------------------------------------------------------------- data
@dataclass(frozen=True)
class _Example:
    """A flawed volume, its ground truth and what the simulator did."""

    flawed: np.ndarray
    truth: np.ndarray
    pairs: np.ndarray
    gap_layers: int


@cache
def _tissue(mode: str, seed: int) -> np.ndarray:
    volume = make_tissue(_SHAPE, n_cells=_N_CELLS, mode=mode, random_state=seed)
    volume.setflags(write=False)
    return volume


@cache
def _axis_examples(gap_layers: int) -> tuple[_Example, ...]:
    """Dense and loose tissue with axis splits, shrunk masks and noise masks."""
    examples = []
    for mode, seed in (("dense", 11), ("loose", 12)):
        truth = _tissue(mode, seed)
        flawed, pairs = oversegment(
            truth,
            n_splits=4,
            gap_layers=gap_layers,
            shrink=1,
            n_noise_masks=2,
            random_state=seed + gap_layers,
        )
        flawed.setflags(write=False)
        examples.append(_Example(flawed, truth, pairs, gap_layers))
    return tuple(examples)


def _max_gap(estimator) -> int:
    screener = getattr(estimator, "screener_", None) or getattr(
        estimator, "screener", None
    )
    return int(getattr(screener if screener is not None else estimator, "max_gap", 1))


def _corrector_examples(corrector) -> list[_Example]:
    return [
        example
        for gap in range(1, min(_max_gap(corrector), 2) + 1)
        for example in _axis_examples(gap)
    ]


_FITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fitted(corrector):
    """``corrector`` if fitted, else a clone fitted on synthetic tissue (cached)."""
    try:
        check_is_fitted(corrector)
        return corrector
    except NotFittedError:
        pass
    if corrector not in _FITTED:
        training = [_tissue("dense", seed) for seed in (0, 1)]
        fresh = clone(corrector)
        if fresh.get_params().get("damage", "") is None:
            fresh.set_params(damage="axis")  # a MergeCorrector: train from truth
        _FITTED[corrector] = fresh.fit(training)
    return _FITTED[corrector]


def _label_mapping(name: str, before: np.ndarray, after: np.ndarray) -> dict:
    """``input label -> output label``; fails if a label was split or erased."""
    foreground = before > 0
    pairs = np.unique(
        np.stack(
            [before[foreground].astype(np.int64), after[foreground].astype(np.int64)]
        ),
        axis=1,
    )
    labels, counts = np.unique(pairs[0], return_counts=True)
    split = labels[counts > 1]
    assert split.size == 0, (
        f"{name} split input labels {split[:5].tolist()} over several output labels"
    )
    assert np.all(pairs[1] > 0), f"{name} erased voxels of some input labels"
    return dict(zip(pairs[0].tolist(), pairs[1].tolist()))


def _corrections(corrector) -> Iterator[tuple[object, _Example, np.ndarray]]:
    """``(fitted corrector, example, corrected volume)`` for each example."""
    fitted = _fitted(corrector)
    for example in _corrector_examples(fitted):
        yield fitted, example, fitted.correct(example.flawed)


def _raises(name: str, what: str, errors, call: Callable) -> None:
    errors = errors if isinstance(errors, tuple) else (errors,)
    try:
        call()
    except errors as exc:
        assert str(exc), f"{name} raised {type(exc).__name__} without a message"
    except Exception as exc:  # noqa: BLE001 - report the wrong exception type
        raise AssertionError(
            f"{name} raised {type(exc).__name__} ({exc}) for {what}; expected "
            f"{' or '.join(e.__name__ for e in errors)}"
        ) from exc
    else:
        raise AssertionError(f"{name} accepted {what} without an error")


# --------------------------------------------------------- corrector checks
def check_corrector_keeps_foreground(name: str, corrector) -> None:
    """Every foreground voxel of the input stays foreground.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    for _, example, out in _corrections(corrector):
        lost = np.count_nonzero((example.flawed > 0) & (out == 0))
        assert lost == 0, f"{name} turned {lost} foreground voxels into background"


def check_corrector_does_not_modify_input(name: str, corrector) -> None:
    """The caller's array is never modified; read-only input is accepted.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    fitted = _fitted(corrector)
    for example in _corrector_examples(fitted):
        volume = np.array(example.flawed)  # writeable copy
        before = volume.copy()
        out = fitted.correct(volume)
        fitted.transform([volume])
        fitted.predict_merges(volume)
        assert np.array_equal(volume, before), f"{name} modified its input array"
        assert not np.shares_memory(out, volume), f"{name} returned a view of input"
        readonly = before.copy()
        readonly.setflags(write=False)
        out_readonly = fitted.correct(readonly)
        assert np.array_equal(out_readonly, out), (
            f"{name} gives a different result on a read-only copy of the input"
        )
        assert out_readonly.flags.writeable, f"{name} returned a read-only array"


def check_corrector_keeps_dtype(name: str, corrector) -> None:
    """The output has the input's integer dtype and does not depend on it.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    fitted = _fitted(corrector)
    flawed = _corrector_examples(fitted)[0].flawed
    reference = fitted.correct(flawed.astype(np.int64))
    for dtype in (np.uint8, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        if flawed.max() > np.iinfo(dtype).max:
            continue
        out = fitted.correct(flawed.astype(dtype))
        assert out.dtype == dtype, f"{name} turned {np.dtype(dtype)} into {out.dtype}"
        assert np.array_equal(out.astype(np.int64), reference), (
            f"{name} corrects a {np.dtype(dtype)} volume differently from int64"
        )


def check_corrector_only_merges(name: str, corrector) -> None:
    """Labels are merged, never split, and no new label value appears.

    For every input label, all its voxels share one output label, which is
    one of the input labels.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    for fitted, example, out in _corrections(corrector):
        mapping = _label_mapping(name, example.flawed, out)
        new = np.setdiff1d(np.unique(out), np.unique(example.flawed))
        assert new.size == 0, f"{name} made new label values {new[:5].tolist()}"
        records = fitted.predict_merges(example.flawed)
        for record in records:
            if record["merged"]:
                assert mapping[record["upper"]] == mapping[record["lower"]], (
                    f"{name} reports pair {record['upper']}-{record['lower']} "
                    "merged but kept two labels"
                )


def check_corrector_fills_only_gaps(name: str, corrector) -> None:
    """Voxels are added only in the gap layers of merged pairs.

    Apart from relabelling, a voxel may change only from background to the
    merged label of a pair whose gap layers hold it (noisy partial masks in
    a gap are relabelled as a whole).

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    from ..correction import relabel_volume

    for fitted, example, out in _corrections(corrector):
        flawed = example.flawed
        mapping = _label_mapping(name, flawed, out)
        added = out != relabel_volume(flawed, mapping)
        assert np.all(flawed[added] == 0), (
            f"{name} overwrote foreground voxels of other labels"
        )
        allowed = np.zeros(flawed.shape, dtype=bool)
        for record in fitted.predict_merges(flawed):
            if record["merged"] and record["gap_start"] is not None:
                gap = slice(record["gap_start"], record["gap_stop"])
                allowed[gap] |= out[gap] == mapping[record["upper"]]
        outside = np.count_nonzero(added & ~allowed)
        assert outside == 0, (
            f"{name} added {outside} voxels outside the gap layers of merged pairs"
        )


def check_corrector_transform_returns_list(name: str, corrector) -> None:
    """``transform`` returns one corrected volume per input, as ``correct`` does.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    fitted = _fitted(corrector)
    volumes = [example.flawed for example in _axis_examples(1)]
    out = fitted.transform(volumes)
    assert isinstance(out, list) and len(out) == len(volumes), (
        f"{name}.transform must return a list of {len(volumes)} volumes"
    )
    for volume, corrected in zip(volumes, out):
        assert corrected.shape == volume.shape
        assert np.array_equal(corrected, fitted.correct(volume)), (
            f"{name}.transform and {name}.correct disagree"
        )
    single = fitted.transform(volumes[0])
    assert isinstance(single, list) and len(single) == 1, (
        f"{name}.transform of one 3D array must return a list of one volume"
    )


def check_corrector_requires_fit(name: str, corrector) -> None:
    """An unfitted corrector raises ``NotFittedError``.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not; a clone is used).
    """
    unfitted = clone(corrector)
    volume = _axis_examples(1)[0].flawed
    for method in ("correct", "transform", "predict_merges"):
        _raises(
            name,
            f"{method} before fit",
            NotFittedError,
            partial(getattr(unfitted, method), volume),
        )


# ------------------------------------------------------------ volume checks
def _volume_method(estimator) -> Callable:
    if hasattr(estimator, "correct"):
        return _fitted(estimator).transform
    return clone(estimator).transform


def check_volume_estimator_rejects_bad_input(name: str, estimator) -> None:
    """Bad volumes get a ``TypeError`` or ``ValueError`` with a message.

    2D arrays, boolean masks, NaN, negative labels, an empty list and a
    string are refused.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    estimator : estimator
        A screener or corrector.
    """
    method = _volume_method(estimator)
    good = _tissue("dense", 0)
    cases = [
        ("a 2D array", good[0], ValueError),
        ("a boolean mask", good > 0, TypeError),
        ("NaN labels", np.where(good > 1, good, np.nan), ValueError),
        ("negative labels", -good.astype(np.int64), ValueError),
        ("an empty list", [], ValueError),
        ("a file name", "volume.tif", TypeError),
    ]
    for what, bad, error in cases:
        _raises(name, what, error, partial(method, bad))


# ---------------------------------------------------------- screener checks
def _check_axis_candidate(name: str, cand, volume: np.ndarray, gap: int) -> None:
    assert cand.n_gap_layers == gap, (
        f"{name} reports {cand.n_gap_layers} gap layers for a {gap}-layer gap"
    )
    g0, g1 = cand.gap
    assert not np.isin(cand.crop[g0:g1], (UPPER, LOWER)).any(), (
        f"{name} put fragment voxels inside the gap of {cand.key}"
    )
    z0, y0, x0 = cand.origin
    depth, height, width = cand.crop.shape
    region = volume[z0 : z0 + depth, y0 : y0 + height, x0 : x0 + width]
    assert np.array_equal(cand.crop[:g0] == UPPER, region[:g0] == cand.upper), (
        f"{name}: the crop of {cand.key} does not match the upper fragment"
    )
    assert np.array_equal(cand.crop[g1:] == LOWER, region[g1:] == cand.lower), (
        f"{name}: the crop of {cand.key} does not match the lower fragment"
    )


def check_screener_recovers_splits(name: str, screener) -> None:
    """Every simulated split is found, with a faithful crop.

    Axis screeners must find each axis split across 1 to ``max_gap`` missing
    layers (as ``(upper, lower)`` with the right gap); contact screeners each
    tilted split (in either order).

    Parameters
    ----------
    name : str
        Name used in failure messages.
    screener : estimator
        A screener.
    """
    mode = getattr(screener, "mode", "axis")
    truth = _tissue("dense", 21)
    if mode in ("axis", "both"):
        for gap in range(1, _max_gap(screener) + 1):
            flawed, pairs = oversegment(
                truth, n_splits=4, gap_layers=gap, random_state=gap
            )
            cands = clone(screener).fit_transform(flawed)
            assert isinstance(cands, CandidateSet), (
                f"{name} must return a CandidateSet, got {type(cands).__name__}"
            )
            found = {(c.upper, c.lower): c for c in cands if c.kind == "axis"}
            for upper, lower in pairs.tolist():
                assert (upper, lower) in found, (
                    f"{name} missed the split {upper}-{lower} across {gap} layer(s)"
                )
                _check_axis_candidate(name, found[upper, lower], flawed, gap)
    if mode in ("contact", "both"):
        flawed, pairs = oversegment(truth, n_splits=4, mode="tilted", random_state=0)
        cands = clone(screener).fit_transform(flawed)
        found = {frozenset((c.upper, c.lower)) for c in cands}
        for upper, lower in pairs.tolist():
            assert frozenset((upper, lower)) in found, (
                f"{name} missed the tilted split {upper}-{lower}"
            )


# ------------------------------------------------------- transformer checks
@cache
def _candidate_sets(image: bool = False) -> tuple[CandidateSet, CandidateSet]:
    """Axis candidates and contact candidates of small synthetic volumes.

    With ``image``, every candidate carries the crop of a synthetic membrane
    image drawn from the true labels (for transformers of the raw image).
    """
    from ..correction import attach_images
    from ..screening import CandidateScreener

    examples = [example for gap in (1, 2) for example in _axis_examples(gap)]
    axis = CandidateScreener(max_gap=2).transform([e.flawed for e in examples])
    truth = _tissue("dense", 31)
    tilted, _ = oversegment(truth, n_splits=4, mode="tilted", random_state=0)
    contact = CandidateScreener(mode="contact").transform(tilted)[:12]
    if image:
        axis = attach_images(axis, [e.flawed for e in examples], [
            make_tissue_image(e.truth, random_state=i) for i, e in enumerate(examples)
        ])
        contact = attach_images(
            contact, [tilted], [make_tissue_image(truth, random_state=0)]
        )
    return axis, contact


def check_transformer_accepts_candidate_set(name: str, transformer) -> None:
    """A pair transformer takes a CandidateSet, row by row, without side effects.

    Features: one finite row per candidate, the same for a candidate whatever
    the other candidates (subset invariance), ``get_feature_names_out``
    matching the columns, an empty set gives zero rows. Transformers that
    return a ``CandidateSet`` (reslicers) keep the length and accept contact
    candidates. Crops are never modified, and a plain array is refused with
    a ``TypeError`` or ``ValueError``.

    A transformer that takes only some kinds of candidates says so in a
    class attribute ``_candidate_kinds`` (for example ``("contact",
    "tilted")``); it is checked on those and must refuse the others with a
    ``ValueError``. One that reads the raw image says so with a class
    attribute ``_requires_image = True``; it gets candidates that carry
    image crops.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    transformer : estimator
        A transformer of candidate sets.
    """
    axis, contact = _candidate_sets(getattr(transformer, "_requires_image", False))
    kinds = getattr(transformer, "_candidate_kinds", ("axis", "contact", "tilted"))
    if "axis" not in kinds:
        _raises(name, "axis candidates", ValueError,
                partial(clone(transformer).fit_transform, axis))
    cands = axis if "axis" in kinds else contact
    crops = [c.crop.copy() for c in cands]
    est = clone(transformer).fit(cands)
    out = est.transform(cands)
    if isinstance(out, CandidateSet):
        assert len(out) == len(cands), f"{name} changed the number of candidates"
        resliced = est.transform(contact)
        assert len(resliced) == len(contact)
        assert all(c.gap is not None for c in resliced), (
            f"{name} left contact candidates without a gap"
        )
        assert len(est.transform(cands[:0])) == 0
    else:
        out = np.asarray(out)
        assert out.ndim == 2 and out.shape[0] == len(cands), (
            f"{name} must return one row per candidate, got shape {out.shape}"
        )
        assert np.all(np.isfinite(out)), f"{name} returned NaN or infinite features"
        rows = np.arange(0, len(cands), 3)
        np.testing.assert_allclose(
            est.transform(cands[rows]),
            out[rows],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{name}: a candidate's features depend on the other candidates",
        )
        if hasattr(est, "get_feature_names_out"):
            assert len(est.get_feature_names_out()) == out.shape[1]
        assert np.asarray(est.transform(cands[:0])).shape == (0, out.shape[1])
    for cand, crop in zip(cands, crops):
        assert np.array_equal(cand.crop, crop), f"{name} modified a candidate crop"
    _raises(
        name,
        "a plain 2D array",
        (TypeError, ValueError),
        partial(clone(transformer).fit, np.zeros((4, 3))),
    )


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

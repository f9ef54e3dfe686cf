"""Checks of the stages before the corrector: screeners and pair transformers.

A screener must refuse bad volumes with a clear error and find every
simulated split with a faithful crop; a candidate-set transformer must give
one finite row per candidate, whatever the other candidates, without touching
the crops.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from sklearn.base import clone

from .._candidates import LOWER, UPPER, CandidateSet
from ..datasets import oversegment
from ._check_examples import (
    assert_raises,
    candidate_sets,
    fitted_corrector,
    max_gap,
    tissue,
)

__all__ = [
    "check_screener_recovers_splits",
    "check_transformer_accepts_candidate_set",
    "check_volume_estimator_rejects_bad_input",
]


def _volume_method(estimator) -> Callable:
    if hasattr(estimator, "correct"):
        return fitted_corrector(estimator).transform
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
    good = tissue("dense", 0)
    cases = [
        ("a 2D array", good[0], ValueError),
        ("a boolean mask", good > 0, TypeError),
        ("NaN labels", np.where(good > 1, good, np.nan), ValueError),
        ("negative labels", -good.astype(np.int64), ValueError),
        ("an empty list", [], ValueError),
        ("a file name", "volume.tif", TypeError),
    ]
    for what, bad, error in cases:
        assert_raises(name, what, error, partial(method, bad))


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
    truth = tissue("dense", 21)
    if mode in ("axis", "both"):
        for gap in range(1, max_gap(screener) + 1):
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
    axis, contact = candidate_sets(getattr(transformer, "_requires_image", False))
    kinds = getattr(transformer, "_candidate_kinds", ("axis", "contact", "tilted"))
    if "axis" not in kinds:
        assert_raises(name, "axis candidates", ValueError,
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
    assert_raises(
        name,
        "a plain 2D array",
        (TypeError, ValueError),
        partial(clone(transformer).fit, np.zeros((4, 3))),
    )

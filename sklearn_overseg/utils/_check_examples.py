"""The synthetic examples the volume checks run on, and their assertion helpers.

Small dense and loose tissue from :mod:`sklearn_overseg.datasets`, flawed with
axis splits, shrunk masks and noise masks; candidate sets screened from them
(optionally with a synthetic image); and correctors fitted once on synthetic
tissue. Everything is cached and read-only, so that the checks of one
estimator share their data.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from ..datasets import make_tissue, make_tissue_image, oversegment

__all__ = [
    "CheckExample",
    "assert_raises",
    "axis_examples",
    "candidate_sets",
    "corrections",
    "corrector_examples",
    "fitted_corrector",
    "label_mapping",
    "max_gap",
    "tissue",
]

_SHAPE = (24, 64, 64)
_N_CELLS = 20


@dataclass(frozen=True)
class CheckExample:
    """A flawed volume, its ground truth and what the simulator did."""

    flawed: np.ndarray
    truth: np.ndarray
    pairs: np.ndarray
    gap_layers: int


@cache
def tissue(mode: str, seed: int) -> np.ndarray:
    """Read-only synthetic tissue (``mode`` "dense" or "loose"), cached."""
    volume = make_tissue(_SHAPE, n_cells=_N_CELLS, mode=mode, random_state=seed)
    volume.setflags(write=False)
    return volume


@cache
def axis_examples(gap_layers: int) -> tuple[CheckExample, ...]:
    """Dense and loose tissue with axis splits, shrunk masks and noise masks."""
    examples = []
    for mode, seed in (("dense", 11), ("loose", 12)):
        truth = tissue(mode, seed)
        flawed, pairs = oversegment(
            truth,
            n_splits=4,
            gap_layers=gap_layers,
            shrink=1,
            n_noise_masks=2,
            random_state=seed + gap_layers,
        )
        flawed.setflags(write=False)
        examples.append(CheckExample(flawed, truth, pairs, gap_layers))
    return tuple(examples)


def max_gap(estimator) -> int:
    """The largest gap the estimator (or its screener) bridges; 1 by default."""
    screener = getattr(estimator, "screener_", None) or getattr(
        estimator, "screener", None
    )
    return int(getattr(screener if screener is not None else estimator, "max_gap", 1))


def corrector_examples(corrector) -> list[CheckExample]:
    """The axis examples of gaps 1 and 2 that ``corrector`` can bridge."""
    return [
        example
        for gap in range(1, min(max_gap(corrector), 2) + 1)
        for example in axis_examples(gap)
    ]


_FITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fitted_corrector(corrector):
    """``corrector`` if fitted, else a clone fitted on synthetic tissue (cached)."""
    try:
        check_is_fitted(corrector)
        return corrector
    except NotFittedError:
        pass
    if corrector not in _FITTED:
        training = [tissue("dense", seed) for seed in (0, 1)]
        fresh = clone(corrector)
        if fresh.get_params().get("damage", "") is None:
            fresh.set_params(damage="axis")  # a MergeCorrector: train from truth
        _FITTED[corrector] = fresh.fit(training)
    return _FITTED[corrector]


def label_mapping(name: str, before: np.ndarray, after: np.ndarray) -> dict:
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


def corrections(corrector) -> Iterator[tuple[object, CheckExample, np.ndarray]]:
    """``(fitted corrector, example, corrected volume)`` for each example."""
    fitted = fitted_corrector(corrector)
    for example in corrector_examples(fitted):
        yield fitted, example, fitted.correct(example.flawed)


def assert_raises(name: str, what: str, errors, call: Callable) -> None:
    """``call()`` must raise one of ``errors``, with a message."""
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


@cache
def candidate_sets(image: bool = False) -> tuple[CandidateSet, CandidateSet]:
    """Axis candidates and contact candidates of small synthetic volumes.

    With ``image``, every candidate carries the crop of a synthetic membrane
    image drawn from the true labels (for transformers of the raw image).
    """
    from ..correction import attach_images
    from ..screening import CandidateScreener

    examples = [example for gap in (1, 2) for example in axis_examples(gap)]
    axis = CandidateScreener(max_gap=2).transform([e.flawed for e in examples])
    truth = tissue("dense", 31)
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

"""Checks of correctors: they only merge labels and only fill the gaps.

A corrector (it has ``correct`` and ``predict_merges``, like
:class:`~sklearn_overseg.MergeCorrector`) must keep every foreground voxel,
never split a label nor make a new one, add voxels only in the gap layers of
the pairs it merged, leave the caller's array untouched, keep its dtype and
refuse to work before ``fit``. An unfitted corrector is checked through a
clone fitted on small synthetic tissue.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ._check_examples import (
    assert_raises,
    axis_examples,
    corrections,
    corrector_examples,
    fitted_corrector,
    label_mapping,
)

__all__ = [
    "check_corrector_does_not_modify_input",
    "check_corrector_fills_only_gaps",
    "check_corrector_keeps_dtype",
    "check_corrector_keeps_foreground",
    "check_corrector_only_merges",
    "check_corrector_requires_fit",
    "check_corrector_transform_returns_list",
]


def check_corrector_keeps_foreground(name: str, corrector) -> None:
    """Every foreground voxel of the input stays foreground.

    Parameters
    ----------
    name : str
        Name used in failure messages.
    corrector : estimator
        A corrector (fitted or not).
    """
    for _, example, out in corrections(corrector):
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
    fitted = fitted_corrector(corrector)
    for example in corrector_examples(fitted):
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
    fitted = fitted_corrector(corrector)
    flawed = corrector_examples(fitted)[0].flawed
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
    for fitted, example, out in corrections(corrector):
        mapping = label_mapping(name, example.flawed, out)
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

    for fitted, example, out in corrections(corrector):
        flawed = example.flawed
        mapping = label_mapping(name, flawed, out)
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
    fitted = fitted_corrector(corrector)
    volumes = [example.flawed for example in axis_examples(1)]
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
    volume = axis_examples(1)[0].flawed
    for method in ("correct", "transform", "predict_merges"):
        assert_raises(
            name,
            f"{method} before fit",
            NotFittedError,
            partial(getattr(unfitted, method), volume),
        )

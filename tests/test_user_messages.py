"""Errors that say what to do, in the user's terms."""

from __future__ import annotations

import warnings

import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import MergeCorrector, make_pair_pipeline
from sklearn_overseg.datasets import make_tissue, oversegment


def test_training_without_distinct_cell_pairs_says_to_add_confounders():
    truths = [make_tissue((24, 64, 64), 20, random_state=s) for s in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed = [oversegment(t, n_splits=3, random_state=0)[0] for t in truths]
    corrector = MergeCorrector(classifier=make_pair_pipeline(LogisticRegression()))
    with pytest.raises(ValueError) as info:
        corrector.fit(flawed, y=truths)
    message = str(info.value)
    assert "distinct-cell pairs (two different cells stacked across a gap)" in message
    assert "n_stacked_confounders=" in message and "oversegment(" in message
    assert "fit(truths)" in message
    # with confounders, the same volumes train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed = [oversegment(t, n_splits=3, n_stacked_confounders=5,
                              random_state=0)[0] for t in truths]
    assert corrector.fit(flawed, y=truths).n_training_pairs_ > 0

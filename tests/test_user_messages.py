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


@pytest.mark.parametrize("command", [
    ["correct", "in.tif", "-o", "out.tif"],
    ["apply-decisions", "in.tif", "d.csv", "-o", "out.tif"],
    ["train", "truth.tif", "-o", "model.json"],
])
def test_jobs_zero_is_a_usage_error(command, tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", *command, "--jobs", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "overseg: error: argument --jobs: 0 jobs cannot run anything; give 1 "
        "(the default), a number of cores, or -1 for every core (see 'overseg "
        f"{command[0]} --help')"
    )
    assert not (tmp_path / "out.tif").exists()


def test_help_states_the_jobs_rule():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", "correct", "--help"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "On a small machine keep 1" in text
    assert "-1 was slower than 1 for a 24 x 128 x 128 volume" in text

"""Every front end goes through the corrector's four steps, to the same voxels.

``correct``, the steps called one by one, ``overseg correct``,
``distributed.correct_zarr`` and ``apply_decisions`` with the unedited
decisions of the review must all give the same corrected volume.
"""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_overseg import apply_decisions, load_pretrained
from sklearn_overseg.cli import main
from sklearn_overseg.correction import MergeDecisions, PairScores
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import read_labels, write_labels


@pytest.fixture(scope="module")
def case():
    truth = make_tissue((20, 64, 64), n_cells=24, random_state=5)
    flawed, _ = oversegment(truth, n_splits=4, gap_layers=1, n_noise_masks=1,
                            n_stacked_confounders=2, random_state=2)
    corrector = load_pretrained("axis")
    return flawed, corrector, corrector.correct(flawed)


def test_steps_one_by_one_equal_correct(case):
    flawed, corrector, expected = case
    before = flawed.copy()
    candidates = corrector.screen(flawed)
    scores = corrector.score_pairs(candidates, return_features=True)
    assert isinstance(scores, PairScores)
    assert scores.features.shape[0] == len(candidates)
    np.testing.assert_allclose(scores.probabilities,
                               corrector.score_pairs(candidates), atol=1e-6)
    decisions = corrector.decide(flawed, candidates, scores.probabilities)
    assert isinstance(decisions, MergeDecisions)
    assert decisions.records() == corrector.predict_merges(flawed)
    assert decisions.merged.any()
    np.testing.assert_array_equal(corrector.apply(flawed, decisions), expected)
    np.testing.assert_array_equal(flawed, before)  # the input is untouched


def test_cli_equals_correct(case, tmp_path):
    flawed, _, expected = case
    write_labels(tmp_path / "in.tif", flawed)
    assert main(["correct", str(tmp_path / "in.tif"), "-o",
                 str(tmp_path / "out.tif"), "--quiet"]) == 0
    np.testing.assert_array_equal(read_labels(tmp_path / "out.tif"), expected)


def test_blockwise_equals_correct(case, tmp_path):
    pytest.importorskip("zarr")
    pytest.importorskip("dask")
    from sklearn_overseg.distributed import correct_zarr

    flawed, corrector, expected = case
    out = correct_zarr(flawed, tmp_path / "out.zarr", corrector, chunks=(8, 32, 32),
                       target_chunks=(8, 32, 32))
    np.testing.assert_array_equal(out[...], expected)


def test_unedited_review_equals_correct(case):
    flawed, corrector, expected = case
    records = corrector.predict_merges(flawed)
    rows = [dict(r) for r in records if r["merged"]]
    np.testing.assert_array_equal(
        apply_decisions(flawed, rows, corrector=corrector), expected
    )
    # rejecting every pair leaves the volume as it was
    rejected = [dict(r, merged=False) for r in rows]
    np.testing.assert_array_equal(
        apply_decisions(flawed, rejected, corrector=corrector), flawed
    )

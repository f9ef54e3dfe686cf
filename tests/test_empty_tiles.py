"""An all-background volume (an empty tile of a large stack) is valid."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import MergeCorrector, load_pretrained, make_pair_pipeline
from sklearn_overseg.datasets import make_tissue
from sklearn_overseg.io import read_labels, write_labels


@pytest.fixture(scope="module")
def corrector():
    return load_pretrained("axis")


def test_correct_returns_an_unchanged_copy(corrector):
    empty = np.zeros((6, 20, 20), dtype=np.uint16)
    corrected = corrector.correct(empty)
    assert corrected is not empty and corrected.dtype == np.uint16
    assert not corrected.any()
    assert corrector.predict_merges(empty) == []
    assert [v.any() for v in corrector.transform([empty, empty])] == [False, False]
    assert corrector.correct(empty, out=empty) is empty


def test_tilted_corrector_accepts_an_empty_tile():
    tilted = load_pretrained("tilted")
    empty = np.zeros((6, 20, 20), dtype=np.uint8)
    assert not tilted.correct(empty).any()
    assert tilted.predict_merges(empty) == []


def test_training_skips_empty_tiles():
    tissue = make_tissue((24, 64, 64), 20, random_state=0)
    empty = np.zeros_like(tissue)
    classifier = make_pair_pipeline(LogisticRegression())
    settings = dict(classifier=classifier, damage="axis", n_rounds=1)
    with_empty = MergeCorrector(**settings).fit([empty, tissue])
    alone = MergeCorrector(**settings).fit([tissue])
    assert with_empty.n_training_pairs_ == alone.n_training_pairs_ > 0
    with pytest.raises(ValueError, match="no candidate pairs"):
        MergeCorrector(classifier=classifier, damage="axis").fit([empty])


def test_bad_volume_in_a_list_is_named_in_words(corrector):
    good = np.zeros((6, 20, 20), dtype=np.uint16)
    with pytest.raises(ValueError, match="^volume 2 of 2 contains NaN") as info:
        corrector.transform([good, np.full((6, 20, 20), np.nan)])
    assert "volumes[" not in str(info.value)
    with pytest.raises(ValueError, match="^volume contains negative"):
        corrector.correct(-np.ones((6, 20, 20), dtype=int))


def test_cli_says_no_cells_and_writes_the_copy(tmp_path):
    write_labels(tmp_path / "empty.tif", np.zeros((6, 20, 20), dtype=np.uint16),
                 voxel_size=(2, 1, 1))
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", "correct", "empty.tif", "-o",
         "out.tif", "-q"], cwd=tmp_path, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no cells, nothing to correct; wrote out.tif")
    out, voxel_size = read_labels(tmp_path / "out.tif", return_voxel_size=True)
    assert out.shape == (6, 20, 20) and out.dtype == np.uint16 and not out.any()
    assert voxel_size == (2.0, 1.0, 1.0)

"""Warnings name the user's own line, not a line inside the package or sklearn."""

import warnings

import numpy as np

from sklearn_overseg import load_pretrained
from sklearn_overseg._warnings import warn_user
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import write_labels


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "expected a warning"
    return caught


def _assert_here(caught):
    for warning in caught:
        assert warning.filename == __file__, (warning.filename, str(warning.message))


def test_oversegment_warning_behind_validate_params_names_the_caller():
    truth = make_tissue((4, 32, 32), 3, random_state=0)
    caught = _caught(lambda: oversegment(truth, n_splits=3, random_state=0))
    assert "could not split any cell" in str(caught[0].message)
    _assert_here(caught)


def test_correct_with_a_label_volume_as_image_names_the_caller():
    truth = make_tissue((12, 48, 48), 6, random_state=0)
    corrector = load_pretrained()
    caught = _caught(lambda: corrector.correct(truth, image=truth.astype(float)))
    assert any("looks like a label volume" in str(w.message) for w in caught)
    _assert_here(caught)


def test_single_layer_volume_warning_names_the_caller():
    labels = np.zeros((1, 16, 16), dtype=np.int32)
    labels[0, 2:8, 2:8] = 1
    corrector = load_pretrained()
    caught = _caught(lambda: corrector.correct(labels))
    assert any("single z layer" in str(w.message) for w in caught)
    _assert_here(caught)


def test_npy_voxel_size_warning_names_the_caller(tmp_path):
    labels = np.ones((2, 4, 4), dtype=np.uint8)
    path = tmp_path / "labels.npy"
    caught = _caught(lambda: write_labels(path, labels, voxel_size=(2.0, 1.0, 1.0)))
    assert "cannot store a voxel size" in str(caught[0].message)
    _assert_here(caught)


def test_warn_user_called_from_user_code_names_that_line():
    caught = _caught(lambda: warn_user("old", FutureWarning))
    assert caught[0].category is FutureWarning
    _assert_here(caught)

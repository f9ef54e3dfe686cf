"""The recipes of the pretrained models (``sklearn_overseg.pretrained.train``).

Training the shipped models takes minutes; these tests check the recipes'
pieces and train each recipe on a tiny volume.
"""

import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn.base import clone
from sklearn.ensemble import BaggingClassifier

from sklearn_overseg import (
    CandidateSet,
    ClippedStandardScaler,
    ContactFeatures,
    FragmentExtentFeatures,
    GapRoutedClassifier,
    MergeNet,
    load_model,
    make_training_candidates,
    save_model,
)
from sklearn_overseg.datasets import make_tissue, slice_and_stitch
from sklearn_overseg.metrics import jaccard_index
from sklearn_overseg.pretrained import _tilted_recipe, stitch_candidates, train


def one_piece_per_label(volume: np.ndarray) -> bool:
    for lab, box in enumerate(ndi.find_objects(volume), start=1):
        if box is not None and ndi.label(volume[box] == lab)[1] != 1:
            return False
    return True


@pytest.fixture(scope="module")
def dense():
    return make_tissue((24, 64, 64), 20, random_state=3)


def test_bend_tissue_curves_walls_and_keeps_dense_tissue_dense(dense):
    match = []
    for amplitude in (3.0, 9.0):
        rng = np.random.RandomState(0)
        bent = _tilted_recipe.bend_tissue(dense, 2.0, amplitude, rng)
        assert bent.shape == dense.shape
        assert (bent > 0).all()
        labels = np.unique(bent)
        assert labels.tolist() == list(range(1, len(labels) + 1))
        assert one_piece_per_label(bent)
        match.append(jaccard_index(dense, bent))
    assert 1.0 > match[0] > match[1] > 0.1  # a stronger warp moves more


def test_crop_tissue_truncates_cells_like_a_small_crop(dense):
    rng = np.random.RandomState(1)
    low, high = _tilted_recipe.CROP_FRACTION
    for _ in range(5):
        crop = _tilted_recipe.crop_tissue(dense, rng)
        for n, side in zip(dense.shape[:2], crop.shape[:2]):  # x may copy y
            assert side == 8 or round(low * n) <= side <= round(high * n)
        labels = np.unique(crop)
        assert labels.tolist() == list(range(1, len(labels) + 1))
        assert one_piece_per_label(crop)
        faces = [crop[[0, -1]], crop[:, [0, -1]], crop[:, :, [0, -1]]]
        on_border = np.unique(np.concatenate([f.ravel() for f in faces]))
        assert len(on_border) >= 0.5 * len(labels)


def test_recipes():
    axis = train.build_corrector("axis")
    assert axis.screener.mode == "axis" and axis.screener.max_gap == 2
    assert axis.screener.min_gap == 0  # stitch splits too
    assert isinstance(axis.classifier, GapRoutedClassifier)
    for part in (axis.classifier.stitch, axis.classifier.gaps):
        ensemble = part.named_steps["clf"]
        assert isinstance(ensemble, BaggingClassifier)
        assert isinstance(ensemble.estimator, MergeNet)
        assert ensemble.n_estimators == train.AXIS_ENSEMBLE_SIZE
        assert not ensemble.bootstrap and ensemble.max_samples == 1.0
    stitch_features = dict(
        axis.classifier.stitch.named_steps["features"].transformer_list
    )
    assert isinstance(stitch_features["extent"], FragmentExtentFeatures)
    assert "extent" not in dict(
        axis.classifier.gaps.named_steps["features"].transformer_list
    )

    tilted = train.build_corrector("tilted")
    assert tilted.screener.mode == "contact" and tilted.screener.min_contact == 10
    assert tilted.threshold == 0.7
    steps = tilted.classifier.named_steps
    assert "reslice" in steps and isinstance(steps["scale"], ClippedStandardScaler)
    assert isinstance(dict(steps["features"].transformer_list)["contact"],
                      ContactFeatures)
    with pytest.raises(ValueError, match="unknown model"):
        train.build_corrector("sideways")


@pytest.mark.parametrize("model", ["axis", "tilted"])
def test_each_recipe_trains_on_a_tiny_volume(model, tmp_path, dense):
    corrector = train.build_corrector(model)
    parts = ["classifier__"] if model == "tilted" else [
        "classifier__stitch__", "classifier__gaps__"
    ]
    for part in parts:
        corrector.set_params(**{
            f"{part}clf__n_estimators": 2,
            f"{part}clf__estimator__max_epochs": 3,
        })
    if model == "tilted":
        flawed = _tilted_recipe._tilted_damage(dense, np.random.RandomState(0))
        corrector.fit([flawed], [dense])
        ensembles = [corrector.classifier_.named_steps["clf"]]
    else:
        gap_screener = clone(corrector.screener).set_params(min_gap=1)
        X, y, _ = make_training_candidates(
            [dense], screener=gap_screener, n_rounds=1, random_state=0
        )
        S, t = stitch_candidates(
            [dense], corrector.screener, settings=((0.5, 1, "mild"),)
        )
        train.fit_from_candidates(
            corrector, CandidateSet.concatenate([X, S]), np.concatenate([y, t])
        )
        flawed, _ = slice_and_stitch(dense, stitch_threshold=0.5, random_state=1)
        routed = corrector.classifier_
        ensembles = [p.named_steps["clf"] for p in (routed.stitch_, routed.gaps_)]
    assert all(len(e.estimators_) == 2 for e in ensembles)
    loaded = load_model(save_model(corrector, tmp_path / f"{model}.json"))
    assert loaded.predict_merges(flawed) == corrector.predict_merges(flawed)

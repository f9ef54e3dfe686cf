"""Calibrated probabilities and fine-tuning: fit, calibrate, fine_tune, files."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

from sklearn_overseg import (
    MergeCorrector,
    MergeNet,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.correction import _corrector_fit
from sklearn_overseg.datasets import make_tissue
from sklearn_overseg.metrics import expected_calibration_error


def _tissues(seeds, mode="loose", anisotropy=2.0, shape=(24, 64, 64), n=20):
    return [make_tissue(shape, n_cells=n, mode=mode, anisotropy=anisotropy,
                        random_state=s) for s in seeds]


@pytest.fixture(scope="module")
def truth():
    return _tissues(range(3))


@pytest.fixture(scope="module")
def net_corrector():
    """A small MergeNet corrector trained on loosely packed tissue."""
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore", UserWarning)
        # a small training set: learn the training range all the same
        patch.setattr(_corrector_fit, "MIN_PAIRS_FOR_RANGE", 0)
        return MergeCorrector(
            classifier=make_pair_pipeline(MergeNet(max_epochs=30)), n_rounds=2,
            damage="axis",
        ).fit(_tissues(range(2)))


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrated_fit_round_trips_through_model_files(truth, method, tmp_path):
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), calibration=method
    ).fit(truth)
    final = corrector.classifier_[-1]
    assert isinstance(final, CalibratedClassifierCV)
    assert final.method == method and final.ensemble is False
    assert isinstance(final.cv, GroupKFold) and final.cv.n_splits == 3
    assert len(final.calibrated_classifiers_) == 1
    loaded = load_model(save_model(corrector, tmp_path / "cal.json"))
    assert type(loaded.classifier_[-1].calibrated_classifiers_[0].calibrators[0]) \
        is type(final.calibrated_classifiers_[0].calibrators[0])
    candidates = corrector.screen(truth[0])
    held_out = _tissues([40])[0]
    for volume in (truth[0], held_out):
        candidates = corrector.screen(volume)
        np.testing.assert_allclose(
            loaded.score_pairs(candidates), corrector.score_pairs(candidates),
            atol=1e-6,
        )
    assert loaded.predict_merges(held_out) == corrector.predict_merges(held_out)


def test_calibration_needs_two_volumes_and_a_pair_pipeline(truth):
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), calibration="sigmoid"
    )
    with pytest.raises(ValueError, match="at least two training volumes"):
        corrector.fit(truth[:1])
    bare = make_pair_pipeline(LogisticRegression())
    bare.steps = bare.steps[-1:]  # a classifier without feature steps
    with pytest.raises(TypeError, match="pair pipeline"):
        corrector.set_params(classifier=bare).fit(truth)


def test_calibrate_a_fitted_net_on_held_out_volumes(net_corrector, tmp_path):
    corrector = copy.deepcopy(net_corrector)
    held_out = _tissues([30, 31, 32], mode="dense", anisotropy=4.0)
    cands, y = corrector._labelled_pairs(held_out, None, "axis")
    before = corrector.score_pairs(cands)
    corrector.calibrate(held_out, method="isotonic")
    after = corrector.score_pairs(cands)
    final = corrector.classifier_[-1]
    assert type(final.estimator).__name__ == "FrozenEstimator"
    # on its own pairs isotonic calibration matches every bin's frequency
    assert expected_calibration_error(y, after) < 0.02
    assert expected_calibration_error(y, after) < expected_calibration_error(
        y, before
    )
    # calibrating again replaces the calibrator, it does not stack them
    corrector.calibrate(held_out, method="sigmoid")
    assert type(corrector.classifier_[-1].estimator.estimator).__name__ == (
        "MergeNet"
    )
    loaded = load_model(save_model(corrector, tmp_path / "c.json"))
    np.testing.assert_allclose(loaded.score_pairs(cands),
                               corrector.score_pairs(cands), atol=1e-6)
    one_cell = np.zeros((8, 16, 16), np.uint8)
    one_cell[2:6, 4:12, 4:12] = 1
    with pytest.raises(ValueError, match="both true splits"):
        corrector.calibrate([one_cell], [one_cell])


def test_fine_tune_improves_on_a_shifted_domain(net_corrector):
    """Trained on small loose cells; the user's cells are dense and 3x larger."""
    def shifted(seed):
        v = make_tissue((16, 48, 48), n_cells=14, mode="dense", anisotropy=3,
                        random_state=seed)
        return np.repeat(np.repeat(v, 3, axis=1), 3, axis=2)

    corrector = copy.deepcopy(net_corrector)
    test = [shifted(s) for s in (20, 21, 22)]
    cands, y = corrector._labelled_pairs(test, None, "axis")
    assert 0 < y.mean() < 1
    before = log_loss(y, corrector.score_pairs(cands), labels=[0, 1])
    low = corrector.feature_range_.low_.copy()
    corrector.fine_tune([shifted(10), shifted(11)], epochs=20)
    after = log_loss(y, corrector.score_pairs(cands), labels=[0, 1])
    assert after < 0.85 * before
    assert corrector.n_fine_tuning_pairs_ > 0
    # the training range now covers the fine-tuning pairs
    assert (corrector.feature_range_.low_ <= low).all()
    assert (corrector.feature_range_.low_ < low).any() or (
        corrector.feature_range_.high_ > net_corrector.feature_range_.high_
    ).any()
    # the network's own settings are restored after fine-tuning
    assert corrector.classifier_[-1].max_epochs == 30
    assert corrector.classifier_[-1].lr == net_corrector.classifier_[-1].lr


def test_fine_tune_every_network_of_the_pretrained_ensemble():
    corrector = load_pretrained("axis")
    # the default model routes gapped pairs to their own seed ensemble
    gaps = corrector.classifier_.gaps_
    old = [copy.deepcopy(net.module_.state_dict()) for net in gaps[-1].estimators_]
    mine = _tissues([60], mode="nuclei")
    corrector.calibrate(_tissues([61, 62], mode="dense"))
    assert type(gaps[-1]).__name__ == "CalibratedClassifierCV"
    before = corrector.feature_range_
    corrector.fine_tune(mine, epochs=1)
    # the training range grows to cover the fine-tuning pairs
    after = corrector.feature_range_
    assert after is not before and after.n_features_in_ == before.n_features_in_
    assert (after.low_ <= before.low_).all() and (after.high_ >= before.high_).all()
    final = gaps[-1]
    assert type(final).__name__ == "BaggingClassifier"  # calibrator dropped
    for net, state in zip(final.estimators_, old):
        moved = [not np.array_equal(state[k].numpy(), v.numpy())
                 for k, v in net.module_.state_dict().items()]
        assert any(moved)
        assert net.max_epochs == 60


def test_fine_tune_rejects_models_without_partial_fit(truth):
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression())
    ).fit(truth[:2])
    with pytest.raises(TypeError, match="partial_fit"):
        corrector.fine_tune(truth[2:])
    with pytest.raises(ValueError, match=r"'epochs' parameter of MergeCorrector"
                       r".fine_tune must be an int in the range \[1, inf\)"):
        corrector.fine_tune(truth[2:], epochs=0)
    with pytest.raises(ValueError, match=r"'lr' parameter of MergeCorrector"
                       r".fine_tune must be a float in the range \(0.0, inf\)"
                       r" or None. Got -0.1"):
        corrector.fine_tune(truth[2:], lr=-0.1)
    with pytest.raises(ValueError, match=r"'method' parameter of MergeCorrector"
                       r".calibrate must be a str among .*'isotonic'"):
        corrector.calibrate(truth[2:], method="platt")

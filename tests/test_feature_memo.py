"""Features shared by the two parts of a routed classifier are computed once."""

import numpy as np
import pytest

from sklearn_overseg import GeoWassersteinFeatures, load_pretrained
from sklearn_overseg.correction import _scoring
from sklearn_overseg.correction._feature_memo import FeatureMemo, same_transformer
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.features import TopologyFeatures


@pytest.fixture(scope="module")
def model_and_pairs():
    tissue = make_tissue((30, 64, 64), 25, random_state=3)
    volume, _ = oversegment(tissue, 6, n_noise_masks=4, random_state=2)
    model = load_pretrained("axis", stitch_splits=True)  # gap-0 pairs too
    pairs = model.screen(volume)
    touching = model.classifier_.route(pairs)
    assert touching.any() and (~touching).any()
    assert model.classifier_.gapped == "both"
    return model, pairs


def test_routed_scores_equal_predict_proba_with_geo_features_once(
    model_and_pairs, monkeypatch
):
    model, pairs = model_and_pairs
    expected = model.classifier_.predict_proba(pairs)[:, 1]
    calls = []
    transform = GeoWassersteinFeatures.transform

    def counted(self, X):
        calls.append(len(X))
        return transform(self, X)

    monkeypatch.setattr(GeoWassersteinFeatures, "transform", counted)
    scores = _scoring.score_pairs(model.classifier_, pairs)
    np.testing.assert_array_equal(scores.probabilities, expected)
    # touching pairs once, gapped pairs once (not once per part)
    assert sorted(calls) == sorted([
        int(model.classifier_.route(pairs).sum()),
        int((~model.classifier_.route(pairs)).sum()),
    ])
    # with the features kept (the batch path)
    with_features = _scoring.score_pairs(
        model.classifier_, pairs, return_features=True
    )
    np.testing.assert_array_equal(with_features.probabilities, expected)


def test_only_identical_fitted_transformers_share(model_and_pairs):
    model, pairs = model_and_pairs
    stitch = model.classifier_.stitch_.steps[0][1].transformer_list
    gaps = model.classifier_.gaps_.steps[0][1].transformer_list
    assert same_transformer(stitch[0][1], gaps[0][1])  # geo: nothing learnt
    assert isinstance(gaps[1][1], TopologyFeatures)
    assert not same_transformer(stitch[1][1], gaps[1][1])  # learnt scalings
    memo = FeatureMemo()
    first = memo.transform(gaps[1][1], pairs)
    second = memo.transform(stitch[1][1], pairs)
    np.testing.assert_array_equal(second, stitch[1][1].transform(pairs))
    assert not np.array_equal(first, second)
    # a copy of the pairs is another set: computed again, same values
    again = memo.transform(gaps[0][1], pairs[np.arange(len(pairs))])
    np.testing.assert_array_equal(again, gaps[0][1].transform(pairs))
    unseeded = GeoWassersteinFeatures(random_state=None)
    assert not same_transformer(unseeded, GeoWassersteinFeatures(random_state=None))


def test_union_parts_side_by_side_when_workers_are_up(model_and_pairs, monkeypatch):
    import threading

    from joblib import parallel_config

    from sklearn_overseg.correction import _feature_memo

    model, pairs = model_and_pairs
    expected = model.classifier_.predict_proba(pairs)[:, 1]
    threads = set()
    transform = GeoWassersteinFeatures.transform

    def spied(self, X):
        threads.add(threading.get_ident())
        return transform(self, X)

    monkeypatch.setattr(GeoWassersteinFeatures, "transform", spied)
    monkeypatch.setattr(_feature_memo, "started_workers", lambda: 1)
    with parallel_config(backend="threading", n_jobs=2):
        scores = _scoring.score_pairs(model.classifier_, pairs)
    np.testing.assert_array_equal(scores.probabilities, expected)
    assert threads and threading.get_ident() not in threads
    # one job: in this thread, one part after the other
    threads.clear()
    scores = _scoring.score_pairs(model.classifier_, pairs)
    np.testing.assert_array_equal(scores.probabilities, expected)
    assert threads == {threading.get_ident()}

"""FragmentExtentFeatures and GapRoutedClassifier: contract and behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    Candidate,
    CandidateScreener,
    CandidateSet,
    FragmentExtentFeatures,
    GapRoutedClassifier,
    GeoWassersteinFeatures,
    TopologyFeatures,
    label_candidates,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.correction import _corrector_fit, fit_feature_range
from sklearn_overseg.correction._scoring import score_pairs
from sklearn_overseg.datasets import make_tissue, oversegment, slice_and_stitch


def cap_pair(n_upper=4, cap=(4, 4)) -> CandidateSet:
    crop = np.zeros((n_upper + 1, 10, 10), dtype=np.uint8)
    crop[:n_upper, 1:9, 1:9] = 1
    crop[n_upper, 3 : 3 + cap[0], 3 : 3 + cap[1]] = 2
    return CandidateSet([Candidate(0, 1, 2, crop, gap=(n_upper, n_upper))])


def test_extent_features_of_a_one_layer_cap():
    X = cap_pair()
    row = FragmentExtentFeatures().fit(X).transform(X)[0]
    names = FragmentExtentFeatures().fit(X).get_feature_names_out().tolist()
    values = dict(zip(names, row.tolist()))
    assert values["upper_layers"] == 4 and values["lower_layers"] == 1
    assert values["gap_layers"] == 0
    assert values["facing_cover_lower"] == 1.0  # the cap lies under the cell
    assert values["facing_cover_upper"] == pytest.approx(16 / 64)
    assert values["volume_ratio"] == pytest.approx(16 / 256)


def test_gap_0_features_are_finite_for_one_layer_fragments():
    crop = np.zeros((2, 6, 6), dtype=np.uint8)
    crop[0, 1:4, 1:4], crop[1, 2:5, 2:5] = 1, 2  # both fragments one layer
    X = CandidateSet([Candidate(0, 1, 2, crop, gap=(1, 1))])
    for features in (GeoWassersteinFeatures(), TopologyFeatures(),
                     FragmentExtentFeatures()):
        assert np.isfinite(features.fit(X).transform(X)).all()


@pytest.fixture(scope="module")
def stitched_pairs():
    truth = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    flawed, _ = slice_and_stitch(truth, stitch_threshold=0.5, random_state=0)
    # the stitched volume's gapped pairs are nearly all true splits (its near
    # misses are matched first): axis damage with stacked different cells adds
    # gapped pairs of both classes
    axis, _ = oversegment(truth, n_splits=2, n_stacked_confounders=2,
                          random_state=0)
    X = CandidateScreener(min_gap=0, max_gap=2).fit_transform([flawed, axis])
    return X, label_candidates(X, [flawed, axis], [truth, truth])


def logistic_routing(**params) -> GapRoutedClassifier:
    """A routed classifier of two logistic pair pipelines (fast to fit)."""
    return GapRoutedClassifier(
        stitch=make_pair_pipeline(
            LogisticRegression(), extent=FragmentExtentFeatures()
        ),
        gaps=make_pair_pipeline(LogisticRegression()),
        **params,
    )


def test_routing_sends_each_kind_to_its_classifier(stitched_pairs, tmp_path):
    X, y = stitched_pairs
    clf = logistic_routing().fit(X, y)
    touching = np.array([c.n_gap_layers == 0 for c in X])
    assert 0 < touching.sum() < len(X)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[touching], clf.stitch_.predict_proba(X[touching]))
    np.testing.assert_allclose(proba[~touching], clf.gaps_.predict_proba(X[~touching]))
    assert set(clf.predict(X).tolist()) <= {0, 1}
    save_model(clf, tmp_path / "routed.json")
    np.testing.assert_allclose(load_model(tmp_path / "routed.json").predict_proba(X),
                               proba)


def test_a_routed_classifier_gets_the_training_range_of_its_scored_features(
    stitched_pairs, monkeypatch
):
    X, y = stitched_pairs
    clf = logistic_routing().fit(X, y)
    assert len(X) < 100 and fit_feature_range(clf, X) is None  # too few pairs
    monkeypatch.setattr(_corrector_fit, "MIN_PAIRS_FOR_RANGE", 0)
    box = fit_feature_range(clf, X)
    features = score_pairs(clf, X, return_features=True).features
    # the box has the columns scoring returns for the pairs of both routes
    assert box.low_.shape == (features.shape[1],)
    assert not box.outside(features).any()
    far = features.copy()
    far[0] = box.high_ + 1.0
    assert box.outside(far)[0] and not box.outside(far)[1:].any()
    # a batch of one route's pairs only has the same columns, in the same order
    touching = clf.route(X)
    for rows in (touching, ~touching):
        alone = score_pairs(clf, X[rows], return_features=True)
        np.testing.assert_array_equal(alone.features, features[rows])
        assert not box.outside(alone.features).any()


@pytest.mark.parametrize("gapped, combine", [
    ("both", np.minimum),  # a merge needs both to agree
    ("mean", lambda gaps, stitch: (gaps + stitch) / 2),
])
def test_gapped_pairs_decided_by_both_classifiers(stitched_pairs, gapped, combine):
    X, y = stitched_pairs
    routed = logistic_routing(stitch_pairs="all").fit(X, y)
    joint = clone(routed).set_params(gapped=gapped).fit(X, y)
    touching = routed.route(X)
    alone, decided = routed.predict_proba(X)[:, 1], joint.predict_proba(X)[:, 1]
    np.testing.assert_allclose(decided[touching], alone[touching])
    stitch_says = joint.stitch_.predict_proba(X[~touching])[:, 1]
    np.testing.assert_allclose(decided[~touching],
                               combine(alone[~touching], stitch_says))
    if gapped == "both":
        assert (decided[~touching] < alone[~touching]).any()
    # the corrector's scoring step (features shared by both parts) agrees
    np.testing.assert_allclose(score_pairs(joint, X).probabilities, decided)


class _Says(ClassifierMixin, BaseEstimator):
    """A pair classifier that gives every pair the same split probability."""

    def __init__(self, p=0.5):
        self.p = p

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return np.tile([1.0 - self.p, self.p], (len(X), 1))


@pytest.mark.parametrize("gapped, decision", [("both", "kept apart"),
                                               ("mean", "unsure")])
def test_gapped_pairs_the_two_classifiers_disagree_on(gapped, decision):
    """A gap classifier sure of a split against a stitch classifier sure of
    two cells: with ``"both"`` the confident "no" decides (kept apart, p =
    0.05), with ``"mean"`` the pair lands in the review band (p = 0.5) and is
    left to a person; neither merges it (benchmarks/RESULTS.md section 7)."""
    truth = make_tissue((20, 48, 48), n_cells=12, random_state=1)
    flawed, _ = oversegment(truth, n_splits=3, random_state=1)
    corrector = load_pretrained("axis", stitch_splits=False)
    pairs = corrector.screen(flawed)
    y = np.arange(len(pairs)) % 2  # both classes in each part
    assert len(pairs) and not corrector.classifier_.route(pairs).any()
    X = CandidateSet.concatenate([pairs, cap_pair(), cap_pair(n_upper=3)])
    corrector.classifier_ = GapRoutedClassifier(
        stitch=_Says(0.05), gaps=_Says(0.95), stitch_pairs="all", gapped=gapped,
    ).fit(X, np.r_[y, 0, 1])
    corrector.feature_range_ = None
    decisions = corrector.decide(flawed, pairs, corrector.score_pairs(pairs))
    expected = 0.05 if gapped == "both" else 0.5
    np.testing.assert_allclose(decisions.probabilities, expected)
    assert set(decisions.decision.tolist()) == {decision}
    assert not decisions.merged.any()


def test_routing_needs_both_classes_in_both_parts(stitched_pairs):
    X, y = stitched_pairs
    touching = np.array([c.n_gap_layers == 0 for c in X])
    with pytest.raises(ValueError, match="'stitch' classifier"):
        GapRoutedClassifier(gaps=make_pair_pipeline(LogisticRegression())).fit(
            X, np.where(touching, 1, y)
        )


@pytest.mark.parametrize("stitch_pairs", ["touching", "all"])
def test_the_stitch_classifier_learns_from_the_chosen_pairs(stitched_pairs,
                                                           stitch_pairs):
    X, y = stitched_pairs
    clf = GapRoutedClassifier(
        stitch=make_pair_pipeline(LogisticRegression()),
        gaps=make_pair_pipeline(LogisticRegression()),
        stitch_pairs=stitch_pairs,
    ).fit(X, y)
    touching = np.array([c.n_gap_layers == 0 for c in X])
    seen = clf.stitch_.named_steps["scale"].n_samples_seen_
    assert seen == (touching.sum() if stitch_pairs == "touching" else len(X))
    assert clf.gaps_.named_steps["scale"].n_samples_seen_ == (~touching).sum()


@pytest.mark.parametrize("gapped", ["gaps", "both", "mean"])
def test_the_stitch_route_is_calibrated_on_the_pairs_it_judges(stitched_pairs,
                                                               gapped):
    """With gapped='both' the stitch route bounds the gapped pairs too: it is
    calibrated on every pair, so volumes without a gap-0 pair still
    calibrate it (a calibrator fit on a handful of gap-0 pairs vetoed every
    gapped pair of held-out tissue, benchmarks/RESULTS.md section 7)."""
    import warnings

    from sklearn_overseg.correction._calibration import calibrate_classifier
    from sklearn_overseg.models import split_by_route

    X, y = stitched_pairs
    clf = logistic_routing(stitch_pairs="all", gapped=gapped).fit(X, y)
    touching = clf.route(X)
    routes = split_by_route(clf, X, y)
    assert [model for model, _, _ in routes] == [clf.stitch_, clf.gaps_]
    judged = len(X) if gapped != "gaps" else touching.sum()
    assert [len(p) for _, p, _ in routes] == [judged, (~touching).sum()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calibrate_classifier(clf, X[~touching], y[~touching], "sigmoid")
    assert not [w for w in caught if "uncalibrated" in str(w.message)]
    stitch_model = type(clf.stitch_[-1]).__name__
    # a stitch route that judges no gapped pair has nothing to learn from them
    assert stitch_model == ("CalibratedClassifierCV" if gapped != "gaps"
                            else "LogisticRegression")
    assert type(clf.gaps_[-1]).__name__ == "CalibratedClassifierCV"

"""The review band and the out-of-range rule: decisions, records, CSV, report."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    MergeCorrector,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.correction import PairScores, _corrector_fit
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.models import FeatureRange
from sklearn_overseg.review import read_decisions, write_decisions


@pytest.fixture(scope="module")
def corrector():
    truth = [make_tissue((24, 64, 64), n_cells=20, random_state=s) for s in range(2)]
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), damage="axis"
    )
    # a small training set: learn the training range all the same
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_corrector_fit, "MIN_PAIRS_FOR_RANGE", 0)
        return corrector.fit(truth)


@pytest.fixture(scope="module")
def flawed():
    truth = make_tissue((24, 64, 64), n_cells=20, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        volume, pairs = oversegment(truth, n_splits=4, random_state=1)
    return volume


def test_band_decisions_and_records(corrector, flawed):
    cands = corrector.screen(flawed)
    n = len(cands)
    assert n >= 3
    proba = np.linspace(0.05, 0.95, n)
    proba[0], proba[1], proba[2] = 0.45, 0.58, 0.75
    band = corrector.set_params(abstain=0.1).decide(flawed, cands, proba)
    assert band.decision[0] == "unsure" and band.decision[1] == "unsure"
    assert not band.merged[:2].any()
    assert band.decision[2] == "merged" and band.merged[2]
    assert set(band.decision) <= {"merged", "kept apart", "unsure"}
    assert (band.merged == (band.decision == "merged")).all()
    assert (band.unsure == (np.abs(proba - 0.5) < 0.1)).all()
    # abstain=0: every pair at or above the threshold is decided as before
    plain = corrector.set_params(abstain=0.0).decide(flawed, cands, proba)
    assert not plain.unsure.any() and plain.merged[1]
    records = band.records()
    assert [r["decision"] for r in records] == band.decision.tolist()
    assert all(r["merged"] == (r["decision"] == "merged") for r in records)
    corrector.set_params(abstain=0.1)


def test_out_of_range_pairs_are_unsure_not_merged(corrector, flawed):
    box = corrector.feature_range_
    assert isinstance(box, FeatureRange)
    assert box.low_.shape == (corrector.classifier_[-1].n_features_in_,)
    assert not any(r["out_of_range"] for r in corrector.predict_merges(flawed))
    # three times larger in xy: sizes and distances the training never saw
    large = np.repeat(np.repeat(flawed, 3, axis=1), 3, axis=2)
    corrector.set_params(out_of_range="box")
    try:
        records = corrector.predict_merges(large)
    finally:
        corrector.set_params(out_of_range="unsure")
    outside = [r for r in records if r["out_of_range"]]
    assert outside and all(r["decision"] == "unsure" for r in outside)
    assert not any(r["merged"] for r in outside)
    assert max(r["probability"] for r in outside) > 0.6  # confident, yet unsure
    # the default flags only those whose decision changes inside the box
    cands = corrector.screen(large)
    scores = corrector.score_pairs(cands, return_features=True)
    flagged = scores.out_of_range
    assert not (flagged & ~box.outside(scores.features)).any()
    default = corrector.predict_merges(large)
    assert sum(r["merged"] for r in default) >= sum(r["merged"] for r in records)
    corrector.set_params(out_of_range="ignore")
    try:
        ignored = corrector.predict_merges(large)
    finally:
        corrector.set_params(out_of_range="unsure")
    assert not any(r["out_of_range"] for r in ignored)
    assert sum(r["merged"] for r in ignored) > sum(r["merged"] for r in records)


@pytest.fixture(scope="module")
def shipped_scores():
    """The shipped axis model on a damaged synthetic volume (splits and
    stacked distinct cells): some pairs merged with p near 1, some kept
    apart with p near 0, none outside the training range."""
    truth = make_tissue((24, 64, 64), n_cells=20, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        volume, _ = oversegment(truth, n_splits=4, n_stacked_confounders=3,
                                random_state=1)
    model = load_pretrained("axis", stitch_splits=False)
    cands = model.screen(volume)
    scores = model.score_pairs(cands, return_features=True)
    p = scores.probabilities
    assert not scores.out_of_range.any()
    assert (p > 0.9).sum() >= 2 and (p < 0.1).sum() >= 2
    return model, volume, cands, scores


def _box(low, high):
    box = FeatureRange()
    box.low_, box.high_ = np.array(low, float), np.array(high, float)
    box.n_features_in_ = len(box.low_)
    return box


@pytest.mark.parametrize("rule", ["unsure", "box"])
def test_a_pair_just_outside_the_range_keeps_its_decision(shipped_scores, rule):
    """A sure split whose features leave the training box by a hair (as the
    overlap ratio of small or flat cells does, benchmarks/RESULTS.md
    section 7) says the same at the box's edge: decided by its
    probability under the default rule, unsure under the strict box."""
    model, volume, cands, scores = shipped_scores
    model = copy.deepcopy(model).set_params(out_of_range=rule)
    features, p = scores.features, scores.probabilities
    k = int(np.argmax(p))
    column = int(np.argmax(np.abs(features[k])))
    high = np.maximum(features.max(axis=0), model.feature_range_.high_)
    low = np.minimum(features.min(axis=0), model.feature_range_.low_)
    high[column] = features[k, column] - 1e-3 * (1 + abs(features[k, column]))
    low[column] = min(low[column], high[column])
    model.feature_range_ = _box(low, high)
    rescored = model.score_pairs(cands, return_features=True)
    decided = model.decide(volume, cands, rescored)
    if rule == "unsure":
        assert not rescored.out_of_range[k]
        assert decided.decision[k] == "merged"
    else:
        assert rescored.out_of_range[k] and decided.decision[k] == "unsure"


def test_a_decision_that_rests_on_extrapolation_is_unsure(shipped_scores):
    """A box holding only a pair the model keeps apart: a sure split, brought
    back into that box, is kept apart too, so its merge rests on features
    the model never saw and it is left to a person; pairs kept apart stay
    kept apart."""
    model, volume, cands, scores = shipped_scores
    model = copy.deepcopy(model)
    p = scores.probabilities
    apart = int(np.argmin(p))
    model.feature_range_ = _box(scores.features[apart], scores.features[apart])
    rescored = model.score_pairs(cands, return_features=True)
    np.testing.assert_array_equal(rescored.probabilities, p)
    decided = model.decide(volume, cands, rescored)
    sure = p > 0.9
    assert rescored.out_of_range[sure].all()
    assert (decided.decision[sure] == "unsure").all() and not decided.merged.any()
    assert (decided.decision[p < 0.1] == "kept apart").all()


def test_decide_takes_pair_scores_and_checks_lengths(corrector, flawed):
    cands = corrector.screen(flawed)
    scores = corrector.score_pairs(cands, return_features=True)
    assert scores.out_of_range is not None
    flags = np.zeros(len(cands), bool)
    flags[0] = True
    forced = PairScores(np.full(len(cands), 0.99), out_of_range=flags)
    decisions = corrector.decide(flawed, cands, forced)
    assert decisions.decision[0] == "unsure" and decisions.out_of_range[0]
    assert decisions.merged[1:].any() and not decisions.merged[0]
    with pytest.raises(ValueError, match="entries for"):
        corrector.decide(flawed, cands, forced.probabilities, out_of_range=[True])


def test_feature_range_round_trips_and_old_models_skip_the_rule(
    corrector, flawed, tmp_path
):
    loaded = load_model(save_model(corrector, tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.feature_range_.low_,
                                  corrector.feature_range_.low_)
    np.testing.assert_array_equal(loaded.feature_range_.high_,
                                  corrector.feature_range_.high_)
    large = np.repeat(np.repeat(flawed, 3, axis=1), 3, axis=2)
    assert loaded.predict_merges(large) == corrector.predict_merges(large)
    shipped = load_pretrained("axis")  # saved before training ranges existed
    if getattr(shipped, "feature_range_", None) is None:
        assert not any(r["out_of_range"] for r in shipped.predict_merges(large))


def test_feature_range_quantiles_margin_and_nan():
    X = np.arange(101, dtype=float)[:, None] * np.array([[1.0, 0.0]])
    box = FeatureRange(quantile=0.1, margin=0.0).fit(X)
    np.testing.assert_allclose(box.low_, [10, 0])
    np.testing.assert_allclose(box.high_, [90, 0])
    assert box.outside([[5, 0], [50, 0], [50, 1e-3], [np.nan, 0]]).tolist() == [
        True, False, True, True,
    ]
    wide = FeatureRange(margin=0.5).fit(X)
    assert not wide.outside([[-40, 0], [140, 0]]).any()
    with pytest.raises(ValueError, match="features"):
        wide.outside([[1.0, 2.0, 3.0]])


def _record(upper, lower, p, decision, out_of_range=False):
    return dict(upper=upper, lower=lower, probability=p,
                merged=decision == "merged", decision=decision,
                out_of_range=out_of_range, kind="axis", gap_start=3, gap_stop=4)


def test_csv_lists_unsure_first_and_stays_readable(tmp_path):
    records = [
        _record(1, 2, 0.99, "merged"),
        _record(3, 4, 0.57, "unsure"),
        _record(5, 6, 0.98, "unsure", out_of_range=True),
        _record(7, 8, 0.02, "kept apart"),
        _record(9, 10, 0.65, "merged"),
    ]
    path = write_decisions(records, tmp_path / "d.csv", borderline=0.2)
    header = path.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["decision", "out_of_range"]
    rows = read_decisions(path)
    assert [(r["upper"], r["lower"]) for r in rows] == [(3, 4), (5, 6), (9, 10),
                                                        (1, 2)]
    assert [r["merged"] for r in rows] == [False, False, True, True]
    text = path.read_text().splitlines()
    assert text[2].endswith("unsure,yes")
    # a file written before the decision column existed still reads
    old = tmp_path / "old.csv"
    old.write_text("upper,lower,probability,merged,gap_start,gap_stop,kind,"
                   "borderline\n1,2,0.9000,yes,3,4,axis,no\n")
    assert read_decisions(old)[0]["merged"] is True


def test_report_lists_left_unsure_pairs_first(tmp_path):
    from sklearn_overseg.review._report import write_review_report

    truth = make_tissue((20, 48, 48), 10, mode="loose", random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        volume, splits = oversegment(truth, n_splits=3, random_state=2)
    a, b, c = [tuple(sorted(map(int, s))) for s in splits[:3]]
    records = [_record(*a, 0.99, "merged"), _record(*b, 0.62, "merged"),
               _record(*c, 0.97, "unsure", out_of_range=True)]
    page = write_review_report(volume, volume, records, tmp_path).read_text()
    first = page.index(f"Cells {c[0]} + {c[1]}")
    assert first < page.index(f"Cells {b[0]} + {b[1]}")
    assert first < page.index(f"Cells {a[0]} + {a[1]}")
    assert "unsure: left to you" in page and "unlike the training pairs" in page
    assert "unsure pairs left to you (not merged)</th><td class=num>1" in page

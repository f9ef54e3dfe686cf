"""MergeCorrector: invariants of the correction, repair quality, errors."""

import copy

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_overseg import (
    CandidateScreener,
    MergeCorrector,
    MergeNet,
    make_pair_pipeline,
)
from sklearn_overseg.correction._training import _damage
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import mean_average_precision, merge_scores
from sklearn_overseg.utils import estimator_checks as checks

SHAPE, N_CELLS = (32, 96, 96), 40
RECORD_KEYS = {
    "upper", "lower", "probability", "merged", "decision", "out_of_range", "kind",
    "score", "gap_start", "gap_stop",
}


@pytest.fixture(scope="module")
def training():
    return [make_tissue(SHAPE, n_cells=N_CELLS, random_state=s) for s in (0, 1)]


@pytest.fixture(scope="module")
def corrector(training):
    """The paper's pipeline (MergeNet), trained briefly."""
    pipe = make_pair_pipeline(MergeNet(max_epochs=30))
    return MergeCorrector(classifier=pipe, damage="axis", n_rounds=2).fit(training)


@pytest.fixture(scope="module")
def gap2_corrector(training):
    """Logistic regression on pairs across one or two missing layers."""
    return MergeCorrector(
        CandidateScreener(max_gap=2),
        classifier=make_pair_pipeline(LogisticRegression(max_iter=500)),
        damage="axis",
        n_rounds=2,
    ).fit(training)


@pytest.fixture(scope="module")
def held_out():
    """Unseen tissue with splits, noise masks and stacked hard negatives."""
    cases = []
    for seed in (10, 11, 12):
        truth = make_tissue(SHAPE, n_cells=N_CELLS, random_state=seed)
        flawed, pairs = _damage(truth, "axis", 8, 1, 1, 5, 2, seed=seed)
        cases.append((truth, flawed, pairs))
    return cases


def _relabel(volume, mapping):
    out = volume.copy()
    for src, dst in mapping.items():
        out[volume == src] = dst
    return out


def assert_correction_invariants(flawed, out, records):
    """Foreground kept, labels only merged, voxels added only in merged gaps."""
    assert out.shape == flawed.shape and out.dtype == flawed.dtype
    fg = flawed > 0
    assert np.all(out[fg] > 0), "a foreground voxel became background"
    pairs = np.unique(np.stack([flawed[fg], out[fg]]).astype(np.int64), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1], "an input label was split"
    assert set(np.unique(out).tolist()) <= set(np.unique(flawed).tolist())
    mapping = {a: b for a, b in pairs.T.tolist() if a != b}
    added = out != _relabel(flawed, mapping)
    assert np.all(flawed[added] == 0), "a voxel of another label was overwritten"
    allowed = np.zeros(flawed.shape, dtype=bool)
    for r in records:
        if r["merged"] and r["gap_start"] is not None:
            target = mapping.get(r["upper"], r["upper"])
            assert mapping.get(r["lower"], r["lower"]) == target
            gap = slice(r["gap_start"], r["gap_stop"])
            allowed[gap] |= out[gap] == target
    assert not np.any(added & ~allowed), "voxels added outside merged gaps"
    return mapping, added


# --------------------------------------------------------------- invariants
SETTINGS = {
    "plain": dict(gap_layers=1),
    "noise_shrink": dict(gap_layers=1, shrink=1, n_noise_masks=3),
    "two_layer_gaps": dict(gap_layers=2, shrink=1, n_noise_masks=2),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("mode", ["dense", "loose"])
@pytest.mark.parametrize("seed", [3, 4])
def test_correction_invariants(corrector, gap2_corrector, mode, setting, seed):
    truth = make_tissue(SHAPE, n_cells=N_CELLS, mode=mode, random_state=20 + seed)
    kwargs = SETTINGS[setting]
    flawed, pairs = oversegment(truth, n_splits=6, random_state=seed, **kwargs)
    model = gap2_corrector if kwargs["gap_layers"] == 2 else corrector
    before = flawed.copy()
    out = model.correct(flawed)
    np.testing.assert_array_equal(flawed, before)
    records = model.predict_merges(flawed)
    mapping, added = assert_correction_invariants(flawed, out, records)
    assert added.any(), "merged splits get their missing layers back"
    merged = {(r["upper"], r["lower"]) for r in records if r["merged"]}
    assert len(merged & {tuple(p) for p in pairs.tolist()}) >= len(pairs) - 1


@pytest.mark.parametrize(
    "check",
    [
        checks.check_corrector_keeps_foreground,
        checks.check_corrector_only_merges,
        checks.check_corrector_fills_only_gaps,
        checks.check_corrector_does_not_modify_input,
        checks.check_corrector_keeps_dtype,
        checks.check_corrector_transform_returns_list,
        checks.check_corrector_requires_fit,
        checks.check_volume_estimator_rejects_bad_input,
    ],
    ids=lambda check: check.__name__,
)
def test_volume_checks_on_the_trained_corrector(gap2_corrector, check):
    check("MergeCorrector", gap2_corrector)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64])
def test_dtype_is_kept_and_read_only_input_accepted(corrector, held_out, dtype):
    _, flawed, _ = held_out[0]
    volume = flawed.astype(dtype)
    volume.setflags(write=False)
    out = corrector.correct(volume)
    assert out.dtype == dtype and out.flags.writeable
    np.testing.assert_array_equal(out, corrector.correct(flawed).astype(dtype))


def test_noise_masks_in_a_merged_gap_join_the_cell(corrector, training):
    flawed, pairs, info = oversegment(
        training[0], n_splits=6, n_noise_masks=6, return_info=True, random_state=8
    )
    out = corrector.correct(flawed)
    noise_in_merged = 0
    for noise, pair in zip(info["noise_labels"], info["noise_pairs"].tolist()):
        cell = out[flawed == pair[0]][0]
        if out[flawed == pair[1]][0] == cell:  # the split was repaired
            noise_in_merged += 1
            assert np.all(out[flawed == noise] > 0)
    assert noise_in_merged > 0


# ------------------------------------------------------------------ quality
def test_interpolated_layers_match_the_missing_layers(corrector, training):
    truth = make_tissue(SHAPE, n_cells=N_CELLS, random_state=30)
    flawed, pairs, info = oversegment(truth, n_splits=8, return_info=True,
                                      random_state=0)
    out = corrector.correct(flawed)
    ious = []
    for (upper, lower), layers, source in zip(
        pairs.tolist(), info["gap_layers"], info["source_labels"]
    ):
        cell = out[flawed == upper][0]
        if out[flawed == lower][0] != cell:
            continue
        for z in layers:
            true_mask, rebuilt = truth[z] == source, out[z] == cell
            ious.append((true_mask & rebuilt).sum() / (true_mask | rebuilt).sum())
    assert len(ious) >= 6
    assert np.median(ious) >= 0.85


def test_merge_f1_on_held_out_tissue(corrector, held_out):
    tp = fp = fn = 0
    n_negatives = 0
    for _, flawed, pairs in held_out:
        records = corrector.predict_merges(flawed)
        predicted = [(r["upper"], r["lower"]) for r in records if r["merged"]]
        truth_keys = {tuple(p) for p in pairs.tolist()}
        n_negatives += sum((r["upper"], r["lower"]) not in truth_keys for r in records)
        scores = merge_scores(pairs, predicted)
        tp, fp, fn = tp + scores["tp"], fp + scores["fp"], fn + scores["fn"]
    assert n_negatives >= 6, "the held-out data must hold hard negatives"
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.9


def test_fit_on_flawed_volumes_with_ground_truth(held_out):
    truth = [t for t, _, _ in held_out[:2]]
    flawed = [f for _, f, _ in held_out[:2]]
    model = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=500))
    ).fit(flawed, truth)
    n_screened = len(CandidateScreener().transform(flawed))
    assert model.n_training_pairs_ == n_screened
    test_truth, test_flawed, _ = held_out[2]
    before = mean_average_precision(test_truth, test_flawed, thresholds=(0.5, 0.75))
    assert model.score([test_flawed], [test_truth]) > before


# ----------------------------------------------------------------- outputs
def test_predict_merges_records(corrector, held_out):
    _, flawed, _ = held_out[0]
    records = corrector.predict_merges(flawed)
    assert records and all(set(r) == RECORD_KEYS for r in records)
    for r in records:
        assert 0 <= r["probability"] <= 1
        assert r["kind"] == "axis" and r["gap_stop"] > r["gap_start"]
        if r["merged"]:
            assert r["probability"] >= corrector.threshold + corrector.abstain
        assert r["merged"] == (r["decision"] == "merged")
    proba = corrector.predict_proba(corrector.screener_.transform(flawed))
    np.testing.assert_allclose(proba, [r["probability"] for r in records], rtol=1e-6)


def test_transform_returns_a_list_and_score_a_float(corrector, held_out):
    truth = [t for t, _, _ in held_out]
    flawed = [f for _, f, _ in held_out]
    out = corrector.transform(flawed)
    assert isinstance(out, list) and len(out) == len(flawed)
    np.testing.assert_array_equal(out[1], corrector.correct(flawed[1]))
    assert isinstance(corrector.transform(flawed[0]), list)
    score = corrector.score(flawed, truth)
    assert isinstance(score, float) and 0 <= score <= 1
    before = np.mean([
        mean_average_precision(t, f, thresholds=(0.5, 0.75))
        for t, f in zip(truth, flawed)
    ])
    assert score > before


def test_threshold_and_interpolation_switches(corrector, held_out):
    _, flawed, _ = held_out[0]
    strict = copy.deepcopy(corrector).set_params(threshold=1.0)
    records = strict.predict_merges(flawed)
    assert all(r["probability"] >= 1.0 for r in records if r["merged"])
    strict.set_params(threshold=0.5, interpolate=False)
    out = strict.correct(flawed)
    mapping, added = assert_correction_invariants(
        flawed, out, strict.predict_merges(flawed)
    )
    assert mapping and not added.any(), "interpolate=False only relabels"


# ------------------------------------------------------------------ errors
def test_unfitted_corrector_raises(held_out):
    _, flawed, _ = held_out[0]
    for method in ("correct", "transform", "predict_merges"):
        with pytest.raises(NotFittedError):
            getattr(MergeCorrector(), method)(flawed)


def test_bad_input_is_refused_clearly(corrector, held_out):
    _, flawed, _ = held_out[0]
    with pytest.raises(ValueError, match="3D"):
        corrector.correct(flawed[0])
    with pytest.raises(TypeError, match="boolean"):
        corrector.correct(flawed > 0)
    with pytest.raises(ValueError, match="negative"):
        corrector.correct(-flawed.astype(np.int64))
    with pytest.raises(ValueError, match="one 3D label volume"):
        corrector.correct([flawed, flawed])
    with pytest.raises(ValueError, match="ground truths"):
        corrector.score([flawed, flawed], [flawed])
    with pytest.raises(ValueError, match="threshold"):
        MergeCorrector(threshold=1.5).fit([flawed])


def test_training_without_negatives_is_refused():
    column = np.zeros((12, 10, 10), dtype=np.uint16)
    column[:, 2:8, 2:8] = 1
    flawed = column.copy()
    flawed[5] = 0
    flawed[6:][flawed[6:] == 1] = 2
    with pytest.raises(ValueError, match="n_stacked_confounders="):
        MergeCorrector(
            classifier=make_pair_pipeline(LogisticRegression())
        ).fit([flawed], [column])


def test_n_jobs_reaches_the_pair_pipeline(monkeypatch):
    """Steps left at n_jobs=None run with the corrector's n_jobs."""
    import joblib

    from sklearn_overseg.correction import _corrector, _corrector_steps

    seen = []
    real = _corrector_steps.score_pairs

    def spy(*args, **kwargs):
        seen.append(joblib.effective_n_jobs(None))
        return real(*args, **kwargs)

    monkeypatch.setattr(_corrector_steps, "score_pairs", spy)
    truth = make_tissue((16, 48, 48), 8, random_state=0)
    corrector = _corrector.MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), damage="axis", n_rounds=1
    )
    corrector.fit([truth])
    corrector.set_params(n_jobs=2).predict_merges(truth)
    corrector.set_params(n_jobs=None).predict_merges(truth)
    assert seen == [2, 1]


# ---------------------------------------------------------- the two routes
def _logistic(**kwargs):
    return make_pair_pipeline(LogisticRegression(max_iter=500), **kwargs)


@pytest.fixture(scope="module")
def small_truths():
    return [make_tissue((16, 48, 48), 10, random_state=s) for s in range(3)]


def test_fit_without_y_is_deprecated_and_means_damage_axis(small_truths):
    volume = small_truths[2]
    new = MergeCorrector(classifier=_logistic(), damage="axis", n_rounds=1)
    new.fit(small_truths[:2])
    with pytest.warns(FutureWarning, match="damage='axis'"):
        old = MergeCorrector(classifier=_logistic(), n_rounds=1)
        old.fit(small_truths[:2])
    assert old.n_training_pairs_ == new.n_training_pairs_
    flawed, _ = oversegment(volume, n_splits=3, random_state=0)
    assert old.predict_merges(flawed) == new.predict_merges(flawed)
    with pytest.raises(ValueError, match="without y"):
        MergeCorrector(classifier=_logistic(), damage="axis").fit(
            small_truths, small_truths
        )


def test_tilted_damage_is_a_deprecated_alias_of_contact(small_truths):
    from sklearn_overseg.tilted import TiltedReslicer

    def corrector(damage):
        return MergeCorrector(
            CandidateScreener(mode="contact"), _logistic(reslicer=TiltedReslicer()),
            damage=damage, n_rounds=1,
        )

    with pytest.warns(FutureWarning, match="'contact'"):
        old = corrector("tilted").fit(small_truths[:1])
    new = corrector("contact").fit(small_truths[:1])
    assert old.n_training_pairs_ == new.n_training_pairs_


def test_score_on_ground_truth_is_a_deterministic_merge_f1(small_truths):
    corrector = MergeCorrector(classifier=_logistic(), damage="axis", n_rounds=1)
    corrector.fit(small_truths[:2])
    score = corrector.score(small_truths[2:])
    assert 0 < score <= 1 and score == corrector.score(small_truths[2:])
    # merging nothing finds none of the splits
    assert corrector.set_params(threshold=1.0).score(small_truths[2:]) < score


def test_grid_search_from_ground_truth_gives_finite_scores(small_truths):
    grid = GridSearchCV(
        MergeCorrector(classifier=_logistic(), damage="axis", n_rounds=1),
        {"threshold": [0.5, 1.0]},
        cv=GroupKFold(n_splits=3),
    ).fit(small_truths, groups=[0, 1, 2])
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and len(set(scores.tolist())) == 2
    assert grid.best_params_ == {"threshold": 0.5}


def test_random_state_accepts_a_random_state(small_truths):
    seeded = MergeCorrector(
        classifier=_logistic(), damage="axis", n_rounds=1, random_state=5
    )
    drawn = clone(seeded).set_params(random_state=np.random.RandomState(5))
    seeded.fit(small_truths[:2])
    drawn.fit(small_truths[:2])
    flawed, _ = oversegment(small_truths[2], n_splits=3, random_state=0)
    assert seeded.predict_merges(flawed) == drawn.predict_merges(flawed)
    other = clone(seeded).set_params(random_state=np.random.RandomState(6))
    cands = seeded.screen(flawed)
    assert not np.allclose(
        other.fit(small_truths[:2]).score_pairs(cands), seeded.score_pairs(cands)
    )


def test_voxel_size_is_data_and_the_model_keeps_its_units(small_truths):
    flawed, _ = oversegment(small_truths[2], n_splits=3, random_state=0)
    in_voxels = MergeCorrector(classifier=_logistic(), damage="axis", n_rounds=1)
    in_voxels.fit(small_truths[:2])
    assert in_voxels.voxel_size_ is None
    cands = in_voxels.screen(flawed, voxel_size=(2.0, 0.5, 0.5))
    assert {c.voxel_size for c in cands} == {(1.0, 1.0, 1.0)}
    physical = clone(in_voxels).fit(small_truths[:2], voxel_size=(2.0, 0.5, 0.5))
    assert physical.voxel_size_ == (4.0, 1.0, 1.0)
    assert {c.voxel_size for c in physical.screen(flawed)} == {(4.0, 1.0, 1.0)}
    cands = physical.screen(flawed, voxel_size=(3.0, 2.0, 2.0))
    assert {c.voxel_size for c in cands} == {(1.5, 1.0, 1.0)}
    np.testing.assert_array_equal(
        physical.correct(flawed, voxel_size=(3.0, 2.0, 2.0)),
        physical.transform([flawed], voxel_size=(3.0, 2.0, 2.0))[0],
    )
    # the deprecated screener parameter still trains in those units
    old = MergeCorrector(
        CandidateScreener(voxel_size=(4.0, 1.0, 1.0)), _logistic(), damage="axis",
        n_rounds=1,
    )
    with pytest.warns(FutureWarning, match="voxel_size"):
        old.fit(small_truths[:2])
    assert old.voxel_size_ == (4.0, 1.0, 1.0)
    assert old.predict_merges(flawed) == physical.predict_merges(flawed)
    # a 0.1 model file kept it in the fitted screener: still used
    del old.voxel_size_
    old.screener_.set_params(voxel_size=(4.0, 1.0, 1.0))
    assert old.working_voxel_size() == (4.0, 1.0, 1.0)


def test_sample_weight_is_routed_to_the_classifier(small_truths):
    """Metadata per volume reach the classifier's fit, per training pair."""
    from sklearn import config_context
    from sklearn.preprocessing import StandardScaler

    def corrector(request: bool):
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = _logistic(scaler=scaler)
        if request:
            pipe.named_steps["clf"].set_fit_request(sample_weight=True)
        return MergeCorrector(classifier=pipe, damage="axis", n_rounds=1)

    with pytest.raises(ValueError, match="sample_weight"):  # routing is off
        MergeCorrector(classifier=_logistic(), damage="axis").fit(
            small_truths[:2], sample_weight=[1.0, 0.0]
        )
    with config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match="sample_weight"):  # not requested
            corrector(False).fit(small_truths[:2], sample_weight=[1.0, 0.0])
        with pytest.raises(ValueError, match="one value per training volume"):
            corrector(True).fit(small_truths[:2], sample_weight=[1.0])
        coef = {
            str(w): corrector(True).fit(
                small_truths[:2], **({} if w is None else {"sample_weight": w})
            ).classifier_.named_steps["clf"].coef_
            for w in ([1.0, 1.0], [1.0, 0.0], None)
        }
    np.testing.assert_allclose(coef["[1.0, 1.0]"], coef["None"])
    assert not np.allclose(coef["[1.0, 0.0]"], coef["None"])

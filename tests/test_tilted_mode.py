"""Tilted mode end to end: pair pipeline with contact features, pretrained model."""

import numpy as np
import pytest
from sklearn.ensemble import BaggingClassifier
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    CandidateScreener,
    MergeNet,
    TiltedReslicer,
    available_pretrained,
    label_candidates,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.features._scaling import ClippedStandardScaler
from sklearn_overseg.tilted._contact_features import FEATURES, ContactFeatures


@pytest.fixture(scope="module")
def tilted():
    return load_pretrained("tilted")


def merged(corrector, volume) -> bool:
    records = corrector.predict_merges(volume)
    assert [(r["upper"], r["lower"]) for r in records] == [(1, 2)]
    return records[0]["merged"]


def cut_cube(normal):
    """A 16-voxel cube cut through its centre by a plane: one cell, two labels."""
    zz, yy, xx = np.mgrid[:24, :24, :24]
    cube = np.ones((24, 24, 24), dtype=bool)
    cube[:4] = cube[20:] = cube[:, :4] = cube[:, 20:] = False
    cube[:, :, :4] = cube[:, :, 20:] = False
    normal = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    side = (np.stack([zz, yy, xx], axis=-1) - 11.5) @ normal > 0.3
    return np.where(cube, np.where(side, 2, 1), 0).astype(np.uint16)


def test_tilted_model_is_shipped(tilted):
    assert "tilted" in available_pretrained()
    assert tilted.screener_.mode == "contact"
    union = tilted.classifier_.named_steps["features"]
    assert "contact" in dict(union.transformer_list)


@pytest.mark.parametrize("normal", [(1, 1, 1), (1, 0, 1), (1, 2, 0.6)])
def test_cube_cut_by_a_tilted_plane_is_merged(tilted, normal):
    volume = cut_cube(normal)
    assert merged(tilted, volume)
    assert np.unique(tilted.correct(volume)).tolist() == [0, 1]


@pytest.mark.parametrize("axis", [0, 2])
def test_distinct_cubes_touching_on_a_face_are_not_merged(tilted, axis):
    volume = np.zeros((32, 32, 32), dtype=np.uint16)
    first = [slice(4, 16), slice(10, 22), slice(10, 22)]
    second = list(first)
    second[axis] = slice(16, 28)
    volume[tuple(first)] = 1
    volume[tuple(second)] = 2
    assert not merged(tilted, volume)
    assert np.array_equal(tilted.correct(volume), volume)


def test_offset_cubes_are_not_merged(tilted):
    volume = np.zeros((20, 40, 40), dtype=np.uint16)
    volume[4:16, 10:22, 6:18] = 1
    volume[4:16, 16:28, 18:30] = 2
    assert not merged(tilted, volume)


def test_pipeline_with_contact_features_round_trips(tmp_path):
    truth = make_tissue((24, 64, 64), 20, random_state=4)
    flawed, _ = oversegment(truth, 5, mode="tilted", random_state=1)
    cands = CandidateScreener(mode="contact", min_contact=10).transform(flawed)
    y = label_candidates(cands, [flawed], [truth])
    pipe = make_pair_pipeline(
        LogisticRegression(max_iter=500),
        reslicer=TiltedReslicer(),
        contact=ContactFeatures(),
        scaler=ClippedStandardScaler(clip=4.0),
    ).fit(cands, y)
    names = pipe.named_steps["features"].get_feature_names_out()
    assert [n for n in names if n.startswith("contact__")] == [
        f"contact__{n}" for n in FEATURES
    ]
    assert np.abs(pipe[:-1].transform(cands)).max() <= 4.0
    loaded = load_model(save_model(pipe, tmp_path / "pipe.json"))
    assert np.allclose(loaded.predict_proba(cands), pipe.predict_proba(cands))


def test_seed_ensemble_of_merge_nets_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    ensemble = BaggingClassifier(
        MergeNet(max_epochs=3, class_weight=2.0),
        n_estimators=3,
        bootstrap=False,
        max_samples=1.0,
        random_state=0,
    ).fit(X, y)
    seeds = [net.random_state for net in ensemble.estimators_]
    assert len(set(seeds)) == 3
    members = np.stack([net.predict_proba(X)[:, 1] for net in ensemble.estimators_])
    assert np.allclose(ensemble.predict_proba(X)[:, 1], members.mean(axis=0))
    loaded = load_model(save_model(ensemble, tmp_path / "ensemble.json"))
    assert isinstance(loaded, BaggingClassifier)
    assert [net.random_state for net in loaded.estimators_] == seeds
    assert np.allclose(loaded.predict_proba(X), ensemble.predict_proba(X), atol=1e-6)
    assert np.array_equal(loaded.predict(X), ensemble.predict(X))


def test_without_contact_the_pipeline_is_unchanged():
    pipe = make_pair_pipeline(LogisticRegression())
    parts = [name for name, _ in pipe.named_steps["features"].transformer_list]
    assert parts == ["geo", "topology"]


def test_clipped_scaler_bounds_rare_values():
    X = np.r_[np.zeros(199), 1.0][:, None]
    scaler = ClippedStandardScaler(clip=3.0).fit(X)
    assert scaler.transform([[1.0]]).tolist() == [[3.0]]
    assert scaler.transform([[-50.0]]).tolist() == [[-3.0]]
    with pytest.raises(ValueError, match="clip"):
        ClippedStandardScaler(clip=-1.0).fit(X)

"""Contact features of touching fragments (ContactFeatures)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_overseg import CandidateScreener, TiltedReslicer
from sklearn_overseg._candidates import LOWER, UPPER, Candidate, CandidateSet
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.tilted._contact_features import FEATURES, ContactFeatures
from sklearn_overseg.tilted._contact_geometry import _hull


def column(name):
    return FEATURES.index(name)


def cut_ball(normal=(1.0, 0.0, 1.0), radius=9):
    """A ball cut through its centre by a tilted plane: one cell, two labels."""
    size = 2 * radius + 4
    zz, yy, xx = np.mgrid[:size, :size, :size] - (size - 1) / 2
    ball = zz**2 + yy**2 + xx**2 <= radius**2
    side = zz * normal[0] + yy * normal[1] + xx * normal[2] > 0.3
    return np.where(ball, np.where(side, LOWER, UPPER), 0).astype(np.uint8)


def two_balls(radius=9, overlap=4):
    """Two balls pressed together: two cells sharing a flat wall (a crease)."""
    size = 2 * radius + 4
    zz, yy, xx = np.mgrid[:size, :size, : 2 * size - overlap]
    centres = ((size - 1) / 2, size - 1 - overlap + (size - 1) / 2)
    dist = [
        (zz - (size - 1) / 2) ** 2 + (yy - (size - 1) / 2) ** 2 + (xx - c) ** 2
        for c in centres
    ]
    inside = np.minimum(*dist) <= radius**2
    return np.where(inside, np.where(dist[0] <= dist[1], UPPER, LOWER), 0).astype(
        np.uint8
    )


def contact(crop, voxel_size=(1.0, 1.0, 1.0)):
    return Candidate(0, 1, 2, crop, voxel_size=voxel_size, kind="contact", score=1.0)


def features(crop, **kwargs):
    X = CandidateSet([contact(crop, **kwargs)])
    return ContactFeatures().fit_transform(X)[0]


@pytest.fixture(scope="module")
def tilted_candidates():
    tissue = make_tissue((24, 64, 64), 20, random_state=2)
    flawed, _ = oversegment(tissue, 4, mode="tilted", random_state=0)
    cands = CandidateScreener(mode="contact", min_contact=10).transform(flawed)
    return cands, TiltedReslicer().transform(cands)


def test_cut_cell_looks_convex_and_smooth():
    f = features(cut_ball())
    # The parts' hulls include the staircase of the cut: slightly negative.
    assert -0.1 < f[column("hull_excess")] < 0.05
    assert -0.1 < f[column("slab_hull_excess")] < 0.05
    assert f[column("kink_near")] > -0.1
    assert f[column("smaller_section_share")] > 0.9
    assert f[column("volume_log_ratio")] < 0.2


def test_two_cells_show_a_crease():
    cut, pair = features(cut_ball((0.0, 0.0, 1.0))), features(two_balls())
    for name in ("hull_excess", "slab_hull_excess"):
        assert pair[column(name)] > cut[column(name)] + 0.05
    for name in ("kink_near", "kink_mid", "smaller_section_share", "union_solidity"):
        assert pair[column(name)] < cut[column(name)] - 0.05


def test_hull_of_voxel_cubes_is_exact_for_boxes():
    points = np.argwhere(np.ones((3, 4, 5), dtype=bool))
    assert _hull(points, np.array([2.0, 1.0, 0.5]))[0] == pytest.approx(60 * 1.0)
    assert _hull(points[:1], np.ones(3))[0] == pytest.approx(1.0)  # one voxel


def test_features_are_free_of_units():
    crop = cut_ball()
    assert np.allclose(
        features(crop), features(crop, voxel_size=(2.5, 2.5, 2.5)), atol=1e-4
    )


def test_fragment_order_does_not_matter():
    crop = cut_ball((1.0, 0.5, 1.0))
    swapped = np.where(crop == UPPER, LOWER, np.where(crop == LOWER, UPPER, 0))
    a, b = features(crop), features(swapped.astype(np.uint8))
    assert np.allclose(a, b, atol=1e-5)


def test_raw_and_resliced_candidates_agree(tilted_candidates):
    raw, resliced = tilted_candidates
    transformer = ContactFeatures().fit(resliced)
    assert np.array_equal(transformer.transform(raw), transformer.transform(resliced))


def test_output_shape_names_and_bounds(tilted_candidates):
    _, resliced = tilted_candidates
    transformer = ContactFeatures(clip=3.0)
    out = transformer.fit_transform(resliced)
    assert out.shape == (len(resliced), len(FEATURES)) and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() <= 3.0
    assert list(transformer.get_feature_names_out()) == list(FEATURES)
    assert transformer.n_features_out_ == 16


def test_parallel_and_pickle_give_the_same_features(tilted_candidates):
    _, resliced = tilted_candidates
    serial = ContactFeatures().fit_transform(resliced)
    parallel = ContactFeatures(n_jobs=2).fit_transform(resliced)
    copy = pickle.loads(pickle.dumps(clone(ContactFeatures()).fit(resliced)))
    assert np.array_equal(serial, parallel)
    assert np.array_equal(serial, copy.transform(resliced))


def test_input_is_not_modified(tilted_candidates):
    raw, _ = tilted_candidates
    before = [c.crop.copy() for c in raw]
    ContactFeatures().fit_transform(raw)
    assert all(np.array_equal(a, c.crop) for a, c in zip(before, raw))


def test_bad_input_is_refused():
    axis = Candidate(0, 1, 2, np.ones((3, 2, 2), np.uint8), gap=(1, 2))
    with pytest.raises(ValueError, match="tilted candidates"):
        ContactFeatures().fit(CandidateSet([axis]))
    with pytest.raises(TypeError, match="CandidateSet"):
        ContactFeatures().fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="clip"):
        ContactFeatures(clip=0).fit(CandidateSet([contact(cut_ball())]))

"""Tests of the topology features (gap closed, overlap curve, fits)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklearn_overseg._candidates import Candidate, CandidateSet
from sklearn_overseg.features._topology import TopologyFeatures, curve_topology


def disc_stack(radii, centers=None, size=40):
    """Boolean stack of discs, one per layer (negative radius: an empty layer)."""
    yy, xx = np.mgrid[:size, :size]
    if centers is None:
        centers = [(size / 2, size / 2)] * len(radii)
    return np.stack(
        [
            (yy - cy) ** 2 + (xx - cx) ** 2 <= r * abs(r)
            for r, (cy, cx) in zip(radii, centers)
        ]
    )


def pair(upper, lower, n_gap=1, key=(0, 1, 2)):
    """Candidate from two boolean stacks separated by ``n_gap`` blank layers."""
    blank = np.zeros((n_gap,) + upper.shape[1:], dtype=np.uint8)
    crop = np.concatenate([upper.astype(np.uint8), blank, 2 * lower.astype(np.uint8)])
    start = len(upper)
    return Candidate(*key, crop, gap=(start, start + n_gap))


def ellipsoid_radii(n_layers, radius):
    z = (np.arange(n_layers) + 0.5) / n_layers * 2 - 1
    return radius * np.sqrt(1 - z**2)


def split_cell(n_layers=24, radius=14.0, gap_layer=11, n_gap=1):
    radii = ellipsoid_radii(n_layers, radius)
    stack = disc_stack(radii)
    return pair(stack[:gap_layer], stack[gap_layer + n_gap :], n_gap)


def two_cells():
    """A large cell's lower half stacked on a small, shifted cell's upper half."""
    big = disc_stack(ellipsoid_radii(20, 15.0)[10:])
    small = disc_stack(ellipsoid_radii(16, 8.0)[:8], [(14, 25)] * 8)
    return pair(big, small)


def raw(X, **params):
    return TopologyFeatures(normalize=False, **params).fit(X).transform(X)


@pytest.mark.parametrize("feature_set, n", [("paper", 3), ("extended", 7)])
def test_names_shape_dtype(feature_set, n):
    X = CandidateSet([split_cell(), two_cells(), split_cell(16, 9.0, 5)])
    topo = TopologyFeatures(feature_set=feature_set).fit(X)
    out = topo.transform(X)
    assert out.shape == (3, n) and out.dtype == np.float32
    names = topo.get_feature_names_out()
    assert len(names) == n == topo.n_features_out_
    assert names[0] == "topology_r2"
    assert np.all(np.isfinite(out))


def test_unimodal_curve_scores_one():
    assert curve_topology([1, 3, 5, 6, 4, 2])["topology_r2"] == 1.0
    assert curve_topology([6, 5, 3, 1])["topology_r2"] == 1.0  # monotone
    X = CandidateSet([split_cell()])
    topo = TopologyFeatures(normalize=False).fit(X)
    feats = dict(zip(topo.get_feature_names_out(), topo.transform(X)[0]))
    assert feats["topology_r2"] == 1.0 and feats["unimodal"] == 1.0
    assert feats["dip_depth"] == 0.0
    assert feats["shape_index"] < 0  # cap-shaped
    assert 0.8 < feats["gap_overlap_ratio"] <= 1.2


def test_dip_lowers_score():
    dipped = curve_topology([1, 3, 5, 2, 5, 3, 1])
    assert dipped["topology_r2"] < 1.0 and dipped["unimodal"] == 0.0
    assert dipped["dip_depth"] == pytest.approx(0.6)
    out = raw(CandidateSet([split_cell(), two_cells()]))
    assert out[1, 0] < out[0, 0] == 1.0  # topology_r2
    assert out[1, 4] > out[0, 4]  # dip_depth
    assert out[1, 5] < 0.5 * out[0, 5]  # overlap across the junction collapses


def test_tolerance_accepts_small_wiggles():
    curve = [1, 3, 5, 4.9, 5.5, 3, 1]
    assert curve_topology(curve, tolerance=0.05)["unimodal"] == 1.0
    assert curve_topology(curve, tolerance=0.0)["unimodal"] == 0.0


@pytest.mark.parametrize("n_upper, n_lower", [(1, 1), (1, 2), (2, 1), (1, 5)])
def test_short_pairs_are_defined(n_upper, n_lower):
    stack = disc_stack(np.full(n_upper + n_lower, 5.0))
    X = CandidateSet([pair(stack[:n_upper], stack[n_upper:])])
    out = raw(X)
    assert np.all(np.isfinite(out))
    if n_upper + n_lower <= 3:  # at most two overlap points: trivially monotone
        assert out[0, 0] == 1.0 and out[0, 1] == 0.0


def test_empty_layers_are_ignored():
    radii = ellipsoid_radii(12, 8.0)
    upper = disc_stack(np.r_[-1, radii[:5]])  # a leading empty layer
    lower = disc_stack(np.r_[radii[6:], -1, -1])
    with_empty = raw(CandidateSet([pair(upper, lower)]))
    without = raw(CandidateSet([pair(upper[1:], lower[:-2])]))
    np.testing.assert_array_equal(with_empty, without)


def test_normalisation_is_learned():
    X = CandidateSet([split_cell(), two_cells(), split_cell(16, 9.0, 5), two_cells()])
    topo = TopologyFeatures().fit(X)
    names = list(topo.get_feature_names_out())
    binary = [names.index("quadratic_won"), names.index("unimodal")]
    assert np.all(topo.center_[binary] == 0) and np.all(topo.scale_[binary] == 1)
    assert np.all(topo.scale_ > 0)
    raw_out = raw(X)
    expected = np.clip((raw_out - topo.center_) / topo.scale_, -10, 10)
    np.testing.assert_allclose(topo.transform(X), expected, rtol=1e-5, atol=1e-6)
    other = TopologyFeatures().fit(X[:2])
    assert not np.allclose(other.center_, topo.center_)


def test_bad_input():
    topo = TopologyFeatures()
    with pytest.raises(TypeError, match="CandidateSet"):
        topo.fit([split_cell()])
    with pytest.raises(NotFittedError):
        topo.transform(CandidateSet([split_cell()]))
    contact = Candidate(0, 1, 2, split_cell().crop, gap=None, kind="contact")
    with pytest.raises(ValueError, match="TiltedReslicer"):
        topo.fit(CandidateSet([contact]))
    with pytest.raises(ValueError, match="at least one"):
        topo.fit(CandidateSet())
    c = split_cell()
    empty = Candidate(0, 1, 2, np.where(c.crop == 1, 0, c.crop), gap=c.gap)
    with pytest.raises(ValueError, match="upper fragment has no pixel"):
        topo.fit(CandidateSet([empty]))
    with pytest.raises(ValueError, match="feature_set"):
        TopologyFeatures(feature_set="nope").fit(CandidateSet([c]))


def test_does_not_modify_input_and_empty_transform():
    X = CandidateSet([split_cell(), two_cells()])
    before = [c.crop.copy() for c in X]
    topo = TopologyFeatures().fit(X)
    assert topo.transform(X[:0]).shape == (0, 7)
    for c, crop in zip(X, before):
        np.testing.assert_array_equal(c.crop, crop)


def test_clone_and_pickle():
    X = CandidateSet([split_cell(), two_cells()])
    topo = TopologyFeatures(feature_set="paper", tolerance=0.1).fit(X)
    assert clone(topo).get_params() == topo.get_params()
    restored = pickle.loads(pickle.dumps(topo))
    np.testing.assert_array_equal(restored.transform(X), topo.transform(X))
    assert topo.__sklearn_tags__().input_tags.two_d_array is False

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
from sklearn_overseg.tilted._contact_rows import SLAB_LAYERS


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


def features(crop, region="whole", **kwargs):
    X = CandidateSet([contact(crop, **kwargs)])
    return ContactFeatures(region=region).fit_transform(X)[0]


REGIONS = pytest.mark.parametrize("region", ["whole", "slab"])


@pytest.fixture(scope="module")
def tilted_candidates():
    tissue = make_tissue((24, 64, 64), 20, random_state=2)
    flawed, _ = oversegment(tissue, 4, mode="tilted", random_state=0)
    cands = CandidateScreener(mode="contact", min_contact=10).transform(flawed)
    return cands, TiltedReslicer().transform(cands)


@REGIONS
def test_cut_cell_looks_convex_and_smooth(region):
    f = features(cut_ball(), region)
    # The parts' hulls include the staircase of the cut: slightly negative.
    assert -0.1 < f[column("hull_excess")] < 0.05
    assert -0.1 < f[column("slab_hull_excess")] < 0.05
    assert f[column("kink_near")] > -0.1
    assert f[column("smaller_section_share")] > 0.9
    assert f[column("volume_log_ratio")] < 0.2


@REGIONS
def test_two_cells_show_a_crease(region):
    cut = features(cut_ball((0.0, 0.0, 1.0)), region)
    pair = features(two_balls(), region)
    for name in ("hull_excess", "slab_hull_excess"):
        assert pair[column(name)] > cut[column(name)] + 0.05
    for name in ("kink_near", "kink_mid", "smaller_section_share", "union_solidity"):
        assert pair[column(name)] < cut[column(name)] - 0.05


def test_hull_of_voxel_cubes_is_exact_for_boxes():
    points = np.argwhere(np.ones((3, 4, 5), dtype=bool))
    assert _hull(points, np.array([2.0, 1.0, 0.5]))[0] == pytest.approx(60 * 1.0)
    assert _hull(points[:1], np.ones(3))[0] == pytest.approx(1.0)  # one voxel


@REGIONS
def test_features_are_free_of_units(region):
    crop = cut_ball()
    assert np.allclose(
        features(crop, region),
        features(crop, region, voxel_size=(2.5, 2.5, 2.5)),
        atol=1e-4,
    )


@REGIONS
def test_fragment_order_does_not_matter(region):
    crop = cut_ball((1.0, 0.5, 1.0))
    swapped = np.where(crop == UPPER, LOWER, np.where(crop == LOWER, UPPER, 0))
    a, b = features(crop, region), features(swapped.astype(np.uint8), region)
    # the slab's hulls come from the reslice, whose grid is not symmetric
    # (the tie-break shift): equal to about a thousandth
    assert np.allclose(a, b, atol=1e-5 if region == "whole" else 2e-3)


def test_raw_and_resliced_candidates_agree(tilted_candidates):
    raw, resliced = tilted_candidates
    transformer = ContactFeatures().fit(resliced)
    assert np.array_equal(transformer.transform(raw), transformer.transform(resliced))
    # region="slab" reslices raw pairs with the layers of the shipped model
    slab = ContactFeatures(region="slab").fit(resliced)
    thin = TiltedReslicer(max_layers=SLAB_LAYERS).transform(raw)
    assert np.array_equal(slab.transform(raw), slab.transform(thin))


def test_slab_region_changes_only_the_slab_features():
    # a ball of radius 6 lies within 8 layers of its cut: both slabs hold
    # the whole cell (less the blanked layer on the plane in the reslice)
    crop = cut_ball((1.0, 0.0, 1.0), radius=6)
    whole, slab = features(crop), features(crop, "slab")
    same = [column(n) for n in FEATURES if not n.startswith("slab_")]
    assert np.array_equal(slab[same], whole[same])
    i = column("slab_solidity")
    assert slab[i] == pytest.approx(whole[i], abs=0.06)
    # the resliced parts meet along a flat face (no staircase): excess ~ 0
    i = column("slab_hull_excess")
    assert abs(slab[i]) < 0.05 and abs(whole[i]) < 0.1


def test_slab_region_reads_only_the_resliced_layers():
    # rods of 24 x 24 voxels cut across: the slab's half-width is 12 voxels,
    # more than the 8 layers kept; a bulge 9-11 layers from the contact is
    # in the whole crop's slab, not in the reslice's
    crop = np.zeros((60, 30, 30), dtype=np.uint8)
    crop[2:30, 3:27, 3:27] = UPPER
    crop[30:58, 3:27, 3:27] = LOWER
    bulged = crop.copy()
    bulged[39:42, 1:29, 1:29] = LOWER
    for name in ("slab_solidity", "slab_hull_excess"):
        i = column(name)
        assert features(bulged, "slab")[i] == features(crop, "slab")[i]
        assert features(bulged)[i] != pytest.approx(features(crop)[i], abs=1e-3)


def test_pickle_without_region_keeps_whole_fragments(tilted_candidates):
    # a ContactFeatures pickled before ``region`` existed computes as then
    _, resliced = tilted_candidates
    old = ContactFeatures().fit(resliced)
    expected = old.transform(resliced)
    del old.__dict__["region"]
    copy = pickle.loads(pickle.dumps(old))
    assert copy.region == "whole"
    assert np.array_equal(copy.transform(resliced), expected)


def test_output_shape_names_and_bounds(tilted_candidates):
    _, resliced = tilted_candidates
    transformer = ContactFeatures(clip=3.0)
    out = transformer.fit_transform(resliced)
    assert out.shape == (len(resliced), len(FEATURES)) and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() <= 3.0
    assert list(transformer.get_feature_names_out()) == list(FEATURES)
    assert transformer.n_features_out_ == 16


@REGIONS
def test_parallel_and_pickle_give_the_same_features(tilted_candidates, region):
    _, resliced = tilted_candidates
    serial = ContactFeatures(region=region).fit_transform(resliced)
    parallel = ContactFeatures(n_jobs=2, region=region).fit_transform(resliced)
    copy = pickle.loads(
        pickle.dumps(clone(ContactFeatures(region=region)).fit(resliced))
    )
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
    with pytest.raises(ValueError, match="region"):
        ContactFeatures(region="half").fit(CandidateSet([contact(cut_ball())]))

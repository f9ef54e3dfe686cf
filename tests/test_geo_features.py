"""Tests of the Geo-Wasserstein features of candidate pairs."""

import pickle

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg._candidates import Candidate, CandidateSet
from sklearn_overseg.features._geo_features import GeoWassersteinFeatures
from sklearn_overseg.features._topology import TopologyFeatures


def ellipse_stack(radii, centers, size=48, aspect=1.0):
    """Boolean stack of ellipses (negative radius: an empty layer)."""
    yy, xx = np.mgrid[:size, :size]
    return np.stack(
        [
            ((yy - cy) / aspect) ** 2 + (xx - cx) ** 2 <= r * abs(r)
            for r, (cy, cx) in zip(radii, centers)
        ]
    )


def pair(upper, lower, n_gap=1, key=(0, 1, 2), voxel_size=(1.0, 1.0, 1.0)):
    """Candidate from two boolean stacks separated by ``n_gap`` blank layers."""
    blank = np.zeros((n_gap,) + upper.shape[1:], dtype=np.uint8)
    crop = np.concatenate([upper.astype(np.uint8), blank, 2 * lower.astype(np.uint8)])
    start = len(upper)
    return Candidate(*key, crop, gap=(start, start + n_gap), voxel_size=voxel_size)


def cell(n_layers=24, radius=16.0, center=(24, 24), drift=(0.0, 0.0), aspect=1.0):
    z = (np.arange(n_layers) + 0.5) / n_layers * 2 - 1
    centers = np.array(center) + np.outer(np.arange(n_layers), drift)
    return ellipse_stack(radius * (1 - z**2) ** 0.35, centers, aspect=aspect)


def split_cell(cut=11, n_gap=1, key=(0, 1, 2), **kwargs):
    stack = cell(**kwargs)
    return pair(stack[:cut], stack[cut + n_gap :], n_gap, key)


def two_cells(key=(0, 3, 4)):
    """A cell's upper part on a different, shifted and elongated cell."""
    upper = cell(radius=16.0)[:11]
    lower = cell(radius=11.0, center=(28, 19), aspect=1.4)[12:]
    return pair(upper, lower, key=key)


def features(X, **params):
    geo = GeoWassersteinFeatures(**params).fit(X)
    return dict(zip(geo.get_feature_names_out(), geo.transform(X).T))


@pytest.mark.parametrize(
    "statistics, n_stats",
    [("quantiles", 5), ("range_free", 3), ("deciles", 9), ("shifted", 5)],
)
@pytest.mark.parametrize("feature_set, n_extra", [("paper", 0), ("extended", 5)])
def test_names_shape_dtype(statistics, n_stats, feature_set, n_extra):
    X = CandidateSet([split_cell(), two_cells()])
    geo = GeoWassersteinFeatures(statistics=statistics, feature_set=feature_set)
    out = geo.fit(X).transform(X)
    n = 2 * n_stats + 1 + n_extra
    assert out.shape == (2, n) and out.dtype == np.float32
    names = list(geo.get_feature_names_out())
    assert len(names) == len(set(names)) == n == geo.n_features_out_
    assert names[2 * n_stats] == "gap_emd"
    assert ("upper_emd_min" in names) == (statistics == "quantiles")
    assert ("upper_emd_q25" in names) == (statistics in ("quantiles", "range_free"))
    assert np.all(np.isfinite(out))


def test_paper_default_names():
    X = CandidateSet([split_cell()])
    names = GeoWassersteinFeatures(feature_set="paper").fit(X).get_feature_names_out()
    assert list(names[:5]) == [
        "upper_emd_min",
        "upper_emd_q25",
        "upper_emd_median",
        "upper_emd_q75",
        "upper_emd_max",
    ]


@pytest.mark.parametrize("method", ["sliced", "exact"])
def test_translated_copy_gives_translation_distance(method):
    square = np.zeros((6, 30, 30), dtype=bool)
    square[:, 8:16, 8:16] = True
    moved = np.roll(square, (3, 4), axis=(1, 2))
    c = pair(square, moved, voxel_size=(3.0, 1.0, 1.0))
    feats = features(CandidateSet([c]), method=method)
    assert feats["gap_emd"][0] == pytest.approx(5.0, rel=0.01)
    assert feats["upper_emd_max"][0] == pytest.approx(0.0, abs=1e-6)
    # Physical units: pixels of 0.5 along y and x halve the distance.
    c = pair(square, moved, voxel_size=(3.0, 0.5, 0.5))
    assert features(CandidateSet([c]))["gap_emd"][0] == pytest.approx(2.5, rel=0.01)
    pixels = features(CandidateSet([c]), use_physical_units=False)
    assert pixels["gap_emd"][0] == pytest.approx(5.0, rel=0.01)


def test_default_spacing_matches_the_gap():
    # A square drifting one pixel per layer: masks two layers apart (one gap
    # layer) are 2 px apart, inside the fragments and across the gap alike.
    drifting = np.zeros((12, 30, 40), dtype=bool)
    for z in range(12):
        drifting[z, 10:18, 5 + z : 13 + z] = True
    c = pair(drifting[:5], drifting[6:])
    feats = features(CandidateSet([c]), feature_set="paper")
    for name, value in feats.items():
        assert value[0] == pytest.approx(2.0, rel=0.01), name
    spaced = features(CandidateSet([c]), spacing=1)
    assert spaced["upper_emd_median"][0] == pytest.approx(1.0, rel=0.01)


def test_gap_relative_to_within_separates_split_from_two_cells():
    X = CandidateSet([split_cell(), two_cells()])
    feats = features(X)
    within = (feats["upper_emd_median"] + feats["lower_emd_median"]) / 2
    relative = feats["gap_emd"] / within
    assert relative[1] > 3 * relative[0]
    # Mid-cell, the masks change slowest: a split's gap is at most typical.
    assert feats["gap_log_ratio_upper"][0] < 0.3
    assert feats["gap_log_ratio_upper"][1] > feats["gap_log_ratio_upper"][0] + 1
    assert feats["gap_emd_per_radius"][1] > 2 * feats["gap_emd_per_radius"][0]


@pytest.mark.parametrize(
    "n_upper, n_lower, n_gap", [(1, 1, 1), (1, 6, 1), (2, 6, 2), (6, 3, 2), (3, 1, 3)]
)
def test_short_fragments_are_defined(n_upper, n_lower, n_gap):
    stack = cell(n_layers=n_upper + n_gap + n_lower, drift=(0.5, 0.0))
    c = pair(stack[:n_upper], stack[n_upper + n_gap :], n_gap)
    feats = features(CandidateSet([c]))
    assert all(np.isfinite(v[0]) for v in feats.values())
    spacing = n_gap + 1
    assert feats["upper_short"][0] == float(n_upper < spacing + 1)
    assert feats["lower_short"][0] == float(n_lower < spacing + 1)
    if n_upper == 1 and n_lower == 1:  # nothing within: the gap stands in
        assert feats["upper_emd_median"][0] == feats["gap_emd"][0]
        assert feats["gap_log_ratio_lower"][0] == 0.0
    elif n_upper == 1:  # borrows the lower fragment's statistics
        assert feats["upper_emd_q25"][0] == feats["lower_emd_q25"][0]


def test_short_fragment_spacing_is_rescaled():
    # Drift 1 px per layer, gap of 2 (spacing 3): a 2-layer fragment's EMD at
    # spacing 1 is scaled up to spacing 3.
    drifting = np.zeros((10, 30, 40), dtype=bool)
    for z in range(10):
        drifting[z, 10:18, 5 + z : 13 + z] = True
    c = pair(drifting[:2], drifting[4:], n_gap=2)
    feats = features(CandidateSet([c]))
    assert feats["upper_emd_median"][0] == pytest.approx(3.0, rel=0.01)
    assert feats["upper_short"][0] == 1.0 and feats["lower_short"][0] == 0.0


def test_empty_layers_are_ignored():
    stack = cell(drift=(0.3, 0.2))
    blank = np.zeros((1,) + stack.shape[1:], dtype=bool)
    padded = pair(np.concatenate([blank, stack[:11]]), stack[12:])
    plain = pair(stack[:11], stack[12:])
    X = CandidateSet([padded, plain])
    out = GeoWassersteinFeatures().fit(X).transform(X)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_deterministic_and_independent_of_batching_and_jobs():
    X = CandidateSet(
        [split_cell(key=(0, 1, 2)), two_cells(), split_cell(9, 2, (1, 5, 6))]
    )
    geo = GeoWassersteinFeatures(n_projections=5, random_state=3).fit(X)
    first = geo.transform(X)
    np.testing.assert_array_equal(first, geo.transform(X))
    np.testing.assert_array_equal(first[1:2], geo.transform(X[1:2]))
    with parallel_config(backend="threading"):  # processes would be slow to start
        parallel = clone(geo).set_params(n_jobs=2).fit(X).transform(X)
    np.testing.assert_array_equal(first, parallel)


def test_bad_input():
    geo = GeoWassersteinFeatures()
    with pytest.raises(TypeError, match="CandidateSet"):
        geo.fit(np.zeros((3, 4)))
    with pytest.raises(NotFittedError):
        geo.transform(CandidateSet([split_cell()]))
    contact = Candidate(0, 1, 2, split_cell().crop, gap=None, kind="contact")
    with pytest.raises(ValueError, match="reslice contact candidates"):
        geo.fit(CandidateSet([contact])).transform(CandidateSet([contact]))
    with pytest.raises(ValueError, match="statistics"):
        GeoWassersteinFeatures(statistics="mean").fit(CandidateSet([split_cell()]))
    with pytest.raises(ValueError, match="spacing"):
        GeoWassersteinFeatures(spacing=0).fit(CandidateSet([split_cell()]))
    # the sliced estimate samples at most every pixel: refused at fit, before
    # any pair is measured
    with pytest.raises(ValueError, match=r"'bin_width' parameter of "
                       r"GeoWassersteinFeatures must be a float in the range "
                       r"\(0\.0, 1\.0\]"):
        GeoWassersteinFeatures(bin_width=1.5).fit(CandidateSet([split_cell()]))


def test_input_untouched_and_empty_set():
    X = CandidateSet([split_cell(), two_cells()])
    before = [c.crop.copy() for c in X]
    geo = GeoWassersteinFeatures().fit(X)
    geo.transform(X)
    for c, crop in zip(X, before):
        np.testing.assert_array_equal(c.crop, crop)
    assert geo.transform(X[:0]).shape == (0, 16)


def test_pickle_clone_and_tags():
    X = CandidateSet([split_cell(), two_cells()])
    geo = GeoWassersteinFeatures(statistics="deciles").fit(X)
    restored = pickle.loads(pickle.dumps(geo))
    np.testing.assert_array_equal(restored.transform(X), geo.transform(X))
    assert clone(geo).get_params() == geo.get_params()
    assert geo.__sklearn_tags__().input_tags.two_d_array is False


def test_feature_union_pipeline():
    splits = [split_cell(cut, key=(0, 10 + cut, 20 + cut)) for cut in range(8, 14)]
    others = [two_cells(key=(1, 30 + k, 40 + k)) for k in range(3)]
    others += [
        pair(
            cell(radius=15.0)[:10],
            cell(radius=9.0, center=(20, 30))[12:],
            key=(2, 50 + k, 60 + k),
        )
        for k in range(3)
    ]
    X = CandidateSet(splits + others)
    y = np.array([1] * len(splits) + [0] * len(others))
    union = FeatureUnion(
        [("geo", GeoWassersteinFeatures()), ("topology", TopologyFeatures())]
    )
    pipe = make_pipeline(union, StandardScaler(), LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) == 1.0
    names = pipe[0].get_feature_names_out()
    assert "geo__gap_emd" in names and "topology__topology_r2" in names
    assert pipe.predict_proba(X[:2]).shape == (2, 2)


def test_on_screened_synthetic_tissue():
    datasets = pytest.importorskip("sklearn_overseg.datasets")
    screening = pytest.importorskip("sklearn_overseg.screening._screener")
    volume = datasets.make_tissue((24, 64, 64), n_cells=20, random_state=0)
    flawed, _ = datasets.oversegment(volume, 4, n_noise_masks=3, random_state=0)
    X = screening.CandidateScreener().fit_transform(flawed)
    assert len(X) > 0
    union = FeatureUnion(
        [("geo", GeoWassersteinFeatures()), ("topology", TopologyFeatures())]
    )
    out = union.fit_transform(X)
    assert out.shape == (len(X), 23) and np.all(np.isfinite(out))


# ----------------------------------------------------------- relative units
def _upscaled(candidate, factor):
    """The same pair drawn ``factor`` times larger in y and x."""
    crop = candidate.crop.repeat(factor, axis=1).repeat(factor, axis=2)
    return Candidate(0, 1, 2, crop, gap=candidate.gap)


@pytest.mark.parametrize("make", [split_cell, two_cells])
def test_relative_units_are_free_of_cell_size(make):
    small = make()
    X = CandidateSet([small, _upscaled(small, 2)])
    absolute = GeoWassersteinFeatures().fit(X).transform(X)
    relative = GeoWassersteinFeatures(units="relative").fit(X).transform(X)
    emd = slice(0, 11)  # the quantiles and the gap EMD
    np.testing.assert_allclose(absolute[1, emd], 2 * absolute[0, emd], rtol=0.1,
                               atol=0.3)
    np.testing.assert_allclose(relative[1, emd], relative[0, emd], rtol=0.1,
                               atol=0.02)
    # the ratio features do not change with the units
    np.testing.assert_allclose(relative[:, 11:], absolute[:, 11:], rtol=1e-5)


def test_relative_units_divide_by_the_equivalent_radius_and_ignore_voxel_size():
    from sklearn_overseg.features._geo_rows import equivalent_radius

    stack = cell()
    X = CandidateSet([pair(stack[:11], stack[12:])])
    absolute = GeoWassersteinFeatures(use_physical_units=False).fit(X).transform(X)
    relative = GeoWassersteinFeatures(units="relative").fit(X).transform(X)
    radius = equivalent_radius(np.concatenate([stack[:11], stack[12:]]))
    np.testing.assert_allclose(relative[0, :11], absolute[0, :11] / radius,
                               rtol=1e-5)
    coarse = CandidateSet([pair(stack[:11], stack[12:], voxel_size=(2.0, 0.5, 0.5))])
    in_um = GeoWassersteinFeatures(units="relative").fit(coarse).transform(coarse)
    np.testing.assert_allclose(in_um, relative, rtol=1e-5)


def test_topology_relative_gap_ratio_is_free_of_cell_size():
    upper = cell(radius=6.0, center=(12, 12))[:11]
    lower = cell(radius=4.0, center=(13, 10), aspect=1.4)[12:]
    small = pair(upper[:, :24, :24], lower[:, :24, :24])
    X = CandidateSet([small, _upscaled(small, 4)])
    names = list(TopologyFeatures().fit(X).get_feature_names_out())
    col = names.index("gap_overlap_ratio")
    raw = dict(normalize=False)
    absolute = TopologyFeatures(**raw).fit(X).transform(X)[:, col]
    relative = TopologyFeatures(units="relative", **raw).fit(X).transform(X)[:, col]
    assert abs(relative[1] - relative[0]) < 0.01
    assert abs(relative[1] - relative[0]) < abs(absolute[1] - absolute[0])
    with pytest.raises(ValueError, match="units"):
        TopologyFeatures(units="microns").fit(X)

"""Numerical edge cases: earth mover's distances, interpolation, pair features.

Extremes the other test files do not reach: identical, one-pixel, far apart
and huge masks (the automatic switch to a pooled problem must keep memory
small), physical units, degenerate shapes; interpolation between masks that
touch the border, fill the frame or are one pixel wide; features of pairs
whose fragments have a single layer. Also regressions of bugs found by the
property tests (a noisy partial mask that is also a merged fragment) and of
joblib's worker pool being shut down after a volume with nothing to rebuild.
"""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import numpy as np
import pytest

from sklearn_overseg import (
    Candidate,
    CandidateScreener,
    CandidateSet,
    GeoWassersteinFeatures,
    TiltedReslicer,
    TopologyFeatures,
    apply_decisions,
    geo_wasserstein,
    interpolate_masks,
    load_pretrained,
)
from sklearn_overseg.correction._steps import apply_merges
from sklearn_overseg.features._wasserstein import layer_distances

METHODS = ("auto", "exact", "sliced", "multiscale")


def blob(shape=(60, 70), seed=0) -> np.ndarray:
    """An irregular, non-convex mask inside the frame."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    mask = np.zeros(shape, bool)
    for _ in range(5):
        r, c = rng.uniform(10, shape[0] - 10), rng.uniform(10, shape[1] - 10)
        mask |= (rows - r) ** 2 / rng.uniform(9, 40) + (cols - c) ** 2 / rng.uniform(
            9, 40
        ) <= 1
    return mask


def placed(shape, mask, row, col) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[row : row + mask.shape[0], col : col + mask.shape[1]] = mask
    return out


# ------------------------------------------------------- geo_wasserstein
@pytest.mark.parametrize("method", METHODS)
def test_identical_masks_are_at_distance_zero(method):
    one = np.zeros((9, 9), bool)
    one[4, 4] = True
    full = np.ones((1000, 1000), bool)
    for mask in (one, blob(), full):
        assert geo_wasserstein(mask, mask.copy(), method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_one_pixel_masks_in_physical_units(method):
    a, b = np.zeros((50, 80), bool), np.zeros((50, 80), bool)
    a[0, 0], b[49, 79] = True, True  # opposite corners
    expected = np.hypot(49 * 2.0, 79 * 0.5)
    tolerance = 1e-9 if method in ("auto", "exact") else 0.01
    value = geo_wasserstein(a, b, method, voxel_size=(2.0, 0.5))
    assert value == pytest.approx(expected, rel=tolerance)


@pytest.mark.parametrize("method", METHODS)
def test_far_apart_translated_copies_cost_the_centroid_distance(method):
    shape, cell = (400, 500), blob((40, 50), seed=3)
    a, b = placed(shape, cell, 5, 8), placed(shape, cell, 340, 430)
    for voxel_size in (None, (0.4, 0.1)):
        pixel = np.ones(2) if voxel_size is None else np.asarray(voxel_size)
        expected = np.hypot(*(np.array([335, 422]) * pixel))
        tolerance = 1e-6 if method in ("auto", "exact") else 0.01
        value = geo_wasserstein(a, b, method, voxel_size=voxel_size)
        assert value == pytest.approx(expected, rel=tolerance)


def test_empty_margins_change_nothing():
    a, b = blob(seed=1), blob(seed=2)
    pad = ((7, 30), (0, 11))
    for method in ("exact", "auto"):
        assert geo_wasserstein(np.pad(a, pad), np.pad(b, pad), method) == (
            pytest.approx(geo_wasserstein(a, b, method), rel=1e-9)
        )


@pytest.mark.parametrize("method", ["auto", "multiscale", "sliced"])
def test_huge_masks_stay_small_in_memory(method):
    """Two 1000 x 1000 blocks 10 px apart: 10 000 px per side after the shared
    mass cancels, whose exact cost matrix alone would take 800 MB."""
    a = np.zeros((1000, 1010), bool)
    a[:, :1000] = True
    b = np.roll(a, 10, axis=1)
    tracemalloc.start()
    try:
        value = geo_wasserstein(a, b, method)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value == pytest.approx(10.0, rel=0.02)
    assert peak < 300e6, f"{peak / 1e6:.0f} MB"


def test_degenerate_masks_raise_clear_errors():
    ok = np.zeros((5, 5), bool)
    ok[2, 2] = True
    nan = np.where(ok, np.nan, 0.0)
    cases = [
        ((np.zeros((0, 0), bool), np.zeros((0, 0), bool)), ValueError, "empty"),
        ((np.zeros((5, 5), bool), np.zeros((5, 5), bool)), ValueError, "empty"),
        ((ok, ok[:4]), ValueError, "same shape"),
        ((ok, ok.T[None]), ValueError, "2D"),
        ((nan, ok), TypeError, "boolean"),
        ((ok.astype(complex), ok), TypeError, "boolean"),
        ((ok, None), ValueError, "2D"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            geo_wasserstein(*args)
    with pytest.raises(ValueError, match="one shape"):
        layer_distances([ok, ok[:4]])


def test_any_zero_one_input_equals_the_boolean_mask():
    a, b = blob(seed=4), blob(seed=5)
    reference = geo_wasserstein(a, b)
    for convert in (lambda m: m.astype(np.float32), lambda m: m.astype(np.uint8),
                    lambda m: m.tolist(), np.asfortranarray):
        assert geo_wasserstein(convert(a), convert(b)) == reference


# ------------------------------------------------------ interpolate_masks
@pytest.mark.parametrize("method", ["boundary_ot", "distance"])
def test_full_frame_masks_give_full_layers(method):
    full = np.ones((40, 30), bool)
    layers = interpolate_masks(full, full, 3, method=method)
    assert layers.shape == (3, 40, 30) and layers.all()


def test_masks_touching_the_border_move_along_it():
    a, b = np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    a[:, :6] = True  # a band along the left edge
    b[:, 12:18] = True
    layers = interpolate_masks(a, b, 2)
    for layer, centre in zip(layers, (6.5, 10.5)):  # from 2.5 to 14.5
        cols = np.nonzero(layer)[1]
        assert cols.mean() == pytest.approx(centre, abs=1.0)
        assert layer.any(axis=1).all(), "the band lost its rows at the border"


def test_corner_pixels_and_thin_lines_never_vanish():
    shape = (16, 16)
    corner_a, corner_b = np.zeros(shape, bool), np.zeros(shape, bool)
    corner_a[0, 0], corner_b[15, 15] = True, True
    line_a, line_b = np.zeros(shape, bool), np.zeros(shape, bool)
    line_a[0, :], line_b[:, 15] = True, True  # one-pixel lines on two borders
    for a, b in ((corner_a, corner_b), (line_a, line_b), (corner_a, line_b)):
        layers = interpolate_masks(a, b, 4)
        assert layers.any(axis=(1, 2)).all()


def test_many_missing_layers_grow_steadily():
    rows, cols = np.indices((60, 60))
    small = (rows - 30) ** 2 + (cols - 30) ** 2 <= 3**2
    large = (rows - 30) ** 2 + (cols - 30) ** 2 <= 24**2
    areas = interpolate_masks(small, large, 9).sum(axis=(1, 2))
    assert np.all(np.diff(areas) > 0)
    assert small.sum() < areas[0] and areas[-1] < large.sum()


def test_empty_frames_and_missing_masks():
    empty = np.zeros((0, 5), bool)
    assert interpolate_masks(empty, empty, 2).shape == (2, 0, 5)
    mask = np.zeros((6, 6), bool)
    mask[1:3, 1:4] = True
    none = np.zeros_like(mask)
    assert not interpolate_masks(none, none, 2).any()
    assert (interpolate_masks(none, mask, 2) == mask).all()


def test_a_bad_z_voxel_size_is_refused_even_though_z_is_unused():
    mask = np.ones((4, 4), bool)
    for voxel_size in ((0.0, 1.0, 1.0), (np.nan, 1.0, 1.0), (-2.0, 1.0, 1.0)):
        with pytest.raises(ValueError, match="voxel_size"):
            interpolate_masks(mask, mask, voxel_size=voxel_size)
    assert interpolate_masks(mask, mask, voxel_size=(3.0, 1.0, 1.0)).all()


# ------------------------------------------------ one-layer fragment features
def _pair(upper_layers: int, lower_layers: int, *, pixel: bool = False):
    """An axis candidate whose fragments have the given numbers of layers."""
    n = upper_layers + 1 + lower_layers
    crop = np.zeros((n, 12, 12), np.uint8)
    for z in range(n):
        if z == upper_layers:
            continue
        code = 1 if z < upper_layers else 2
        if pixel:
            crop[z, 5, 5 + z % 2] = code
        else:
            crop[z, 3 : 8 + z % 3, 2 + z : 7 + z] = code
    return Candidate(0, 1, 2, crop, gap=(upper_layers, upper_layers + 1),
                     voxel_size=(2.0, 0.5, 0.5))


SHORT_PAIRS = [(1, 1), (1, 5), (5, 1), (2, 1)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("feature_set", ["paper", "extended"])
def test_geo_features_of_one_layer_fragments_are_finite(method, feature_set):
    pairs = CandidateSet([_pair(u, v) for u, v in SHORT_PAIRS]
                         + [_pair(1, 1, pixel=True), _pair(1, 4, pixel=True)])
    for statistics in ("quantiles", "range_free", "deciles", "shifted"):
        geo = GeoWassersteinFeatures(feature_set=feature_set, statistics=statistics,
                                     method=method).fit(pairs)
        X = geo.transform(pairs)
        assert X.shape == (len(pairs), geo.n_features_out_)
        assert np.isfinite(X).all() and (X[:, : geo.n_features_out_ - 5] >= 0).all()
    if feature_set == "extended":
        names = list(geo.get_feature_names_out())
        short = X[:, [names.index("upper_short"), names.index("lower_short")]]
        assert short[0].tolist() == [1.0, 1.0] and short[1].tolist() == [1.0, 0.0]


def test_a_one_layer_fragment_borrows_the_other_fragments_distances():
    pair = _pair(1, 5)
    geo = GeoWassersteinFeatures(feature_set="paper", method="exact").fit(
        CandidateSet([pair])
    )
    upper, lower, gap = np.split(geo.transform(CandidateSet([pair]))[0], [5, 10])
    np.testing.assert_allclose(upper, lower)
    both_short = geo.transform(CandidateSet([_pair(1, 1)]))[0]
    np.testing.assert_allclose(both_short, both_short[-1])  # all the gap EMD


@pytest.mark.parametrize("normalize", [True, False])
def test_topology_features_of_one_layer_fragments_are_finite(normalize):
    pairs = CandidateSet([_pair(u, v) for u, v in SHORT_PAIRS]
                         + [_pair(1, 1, pixel=True)])
    topo = TopologyFeatures(normalize=normalize).fit(pairs)
    X = topo.transform(pairs)
    assert X.shape == (len(pairs), 7) and np.isfinite(X).all()
    raw = TopologyFeatures(normalize=False).fit(pairs).transform(pairs)
    assert raw[:, 0].tolist() == [1.0] * len(pairs)  # short curves: trivially 1
    # fitted on one-layer pairs only, the scales fall back to 1, not to 0
    assert np.all(topo.scale_ > 0)


def test_resliced_thin_contacts_give_finite_features():
    volume = np.zeros((5, 10, 10), np.uint16)
    volume[2, 2:8, 2:5], volume[2, 2:8, 5:8] = 1, 2  # a single layer each
    volume[0, 0, 0], volume[0, 0, 1] = 3, 4  # two touching pixels
    resliced = TiltedReslicer().fit_transform(
        CandidateScreener(mode="contact").fit_transform(volume)
    )
    assert len(resliced) == 2
    for features in (GeoWassersteinFeatures(), TopologyFeatures()):
        assert np.isfinite(features.fit_transform(resliced)).all()


# ------------------------------------------------------------- regressions
@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained("axis")


def test_a_noise_mask_that_is_also_a_merged_fragment_stays_with_its_pair(
    pretrained,
):
    """Label 10 lies in the gap of (5, 3) and is the lower fragment of (7, 10):
    rebuilding the gap of (5, 3) must not take it from 7."""
    volume = np.zeros((8, 12, 12), np.uint16)
    volume[0:3, 2:10, 2:10] = 5
    volume[0:3, 2:10, 2:4] = 7
    volume[4, 4:8, 2:4] = 10
    volume[5:8, 2:10, 2:10] = 3
    cands = CandidateScreener(max_gap=2).fit_transform(volume)
    assert {(c.upper, c.lower): c.gap_labels for c in cands} == {
        (5, 3): (10,), (7, 10): ()
    }
    decisions = [dict(upper=5, lower=3, merged=True),
                 dict(upper=7, lower=10, merged=True)]
    out = apply_decisions(volume, decisions, corrector=pretrained)
    assert np.unique(out[volume == 10]).tolist() == [7]
    assert np.unique(out[volume == 3]).tolist() == [5]
    assert (out[3:5][volume[3:5] == 0] == 5).any(), "the gap of (5, 3) not rebuilt"


def test_nothing_to_rebuild_leaves_the_worker_pool_running():
    """An abandoned joblib generator shuts the workers down (each later call
    would pay their start-up again): apply_merges must exhaust it."""
    volume = np.ones((3, 4, 4), np.uint16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_merges(volume, [], {}, n_jobs=2)
        gc.collect()
    assert not [w for w in caught if "cancelled" in str(w.message)]

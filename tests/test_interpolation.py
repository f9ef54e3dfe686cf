"""Tests of the reconstruction of missing layers between two masks."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from sklearn_overseg.correction._interpolation import interpolate_masks
from sklearn_overseg.metrics import layer_recovery_ious

METHODS = ["boundary_ot", "distance"]
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def ellipsoid(shape, centre, radii, tilt=0.0, turn=0.0):
    """Ellipsoid tilted by ``tilt`` out of the xy plane, turned by ``turn``."""
    z, y, x = (g - c for g, c in zip(np.indices(shape, dtype=float), centre))
    y, x = np.cos(turn) * y + np.sin(turn) * x, -np.sin(turn) * y + np.cos(turn) * x
    z, y = np.cos(tilt) * z + np.sin(tilt) * y, -np.sin(tilt) * z + np.cos(tilt) * y
    return (z / radii[0]) ** 2 + (y / radii[1]) ** 2 + (x / radii[2]) ** 2 <= 1


def disk(shape, centre, radius):
    rows, cols = np.indices(shape)
    return np.hypot(rows - centre[0], cols - centre[1]) <= radius


def interior_layer_ious(volume, method, min_area, **kwargs):
    areas = volume.sum(axis=(1, 2))
    return np.array(
        [
            iou(
                interpolate_masks(
                    volume[z - 1], volume[z + 1], method=method, **kwargs
                )[0],
                volume[z],
            )
            for z in range(1, len(volume) - 1)
            if min(areas[z - 1 : z + 2]) >= min_area
        ]
    )


@pytest.mark.parametrize("method", METHODS)
def test_deleted_layer_of_ellipsoids_is_recovered(method):
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(6):
        volume = ellipsoid(
            (26, 56, 56),
            rng.uniform([12, 26, 26], [14, 30, 30]),
            rng.uniform([7, 10, 10], [9, 20, 20]),
            rng.uniform(0, 0.5),
            rng.uniform(0, np.pi),
        )
        scores.append(interior_layer_ious(volume, method, min_area=100))
    scores = np.concatenate(scores)
    assert len(scores) > 40
    assert scores.min() >= 0.85
    assert np.median(scores) >= 0.95


@pytest.mark.parametrize("method", METHODS)
def test_identical_masks_come_back_unchanged(method):
    mask = disk((30, 30), (14, 12), 8) & ~disk((30, 30), (14, 12), 3)
    layers = interpolate_masks(mask, mask.copy(), 3, method=method)
    assert layers.shape == (3, 30, 30) and layers.dtype == bool
    assert all((layer == mask).all() for layer in layers)


def test_translation_moves_the_mask_halfway():
    mask = ellipsoid((1, 40, 40), (0, 15, 14), (1, 8, 5), 0, 0.5)[0]
    layer = interpolate_masks(mask, np.roll(mask, (4, 6), axis=(0, 1)))[0]
    np.testing.assert_array_equal(layer, np.roll(mask, (2, 3), axis=(0, 1)))


def test_one_pixel_masks_give_the_pixels_in_between():
    above, below = np.zeros((10, 12), bool), np.zeros((10, 12), bool)
    above[2, 2], below[2, 6] = True, True
    layers = interpolate_masks(above, below, 3)
    assert [np.argwhere(layer).tolist() for layer in layers] == [
        [[2, 3]],
        [[2, 4]],
        [[2, 5]],
    ]


def test_a_moving_pixel_never_vanishes():
    above, below = np.zeros((12, 12), bool), np.zeros((12, 12), bool)
    above[2, 2], below[7, 9] = True, True
    for n_missing in (1, 2, 4):
        layers = interpolate_masks(above, below, n_missing)
        assert (layers.sum(axis=(1, 2)) >= 1).all()
        for t, layer in zip(np.arange(1, n_missing + 1) / (n_missing + 1), layers):
            centre = np.argwhere(layer).mean(axis=0)
            expected = (1 - t) * np.array([2, 2]) + t * np.array([7, 9])
            assert np.abs(centre - expected).max() <= 0.5


@pytest.mark.parametrize("method", METHODS)
def test_growing_disk_has_the_middle_radius(method):
    shape = (40, 40)
    layer = interpolate_masks(
        disk(shape, (20, 20), 6), disk(shape, (20, 20), 12), method=method
    )[0]
    assert iou(layer, disk(shape, (20, 20), 9)) >= 0.9


@pytest.mark.parametrize("method", METHODS)
def test_holes_stay_holes(method):
    shape = (40, 40)
    above = disk(shape, (20, 18), 12) & ~disk(shape, (20, 18), 4)
    below = disk(shape, (20, 22), 12) & ~disk(shape, (20, 22), 5)
    layer = interpolate_masks(above, below, method=method)[0]
    expected = disk(shape, (20, 20), 12) & ~disk(shape, (20, 20), 4.5)
    assert not layer[20, 20]
    assert iou(layer, expected) >= 0.9


@pytest.mark.parametrize("method", METHODS)
def test_separate_components_stay_separate(method):
    shape = (40, 60)
    above = disk(shape, (18, 15), 6) | disk(shape, (20, 42), 7)
    below = disk(shape, (22, 17), 6) | disk(shape, (20, 46), 7)
    layer = interpolate_masks(above, below, method=method)[0]
    assert ndi.label(layer)[1] == 2
    expected = disk(shape, (20, 16), 6) | disk(shape, (20, 44), 7)
    assert iou(layer, expected) >= 0.85


def test_boundary_ot_bridges_disjoint_masks_where_distance_cannot():
    shape = (30, 50)
    above, below = disk(shape, (15, 10), 4), disk(shape, (15, 38), 4)
    layer = interpolate_masks(above, below, method="boundary_ot")[0]
    assert iou(layer, disk(shape, (15, 24), 4)) >= 0.9
    assert not interpolate_masks(above, below, method="distance").any()


@pytest.mark.parametrize("method", METHODS)
def test_empty_masks_copy_the_other_one(method):
    mask = disk((20, 20), (10, 10), 5)
    empty = np.zeros_like(mask)
    for pair in ((mask, empty), (empty, mask)):
        layers = interpolate_masks(*pair, 2, method=method)
        assert all((layer == mask).all() for layer in layers)
    assert not interpolate_masks(empty, empty, 2, method=method).any()


@pytest.mark.parametrize("method", METHODS)
def test_voxel_size_forms_and_untouched_inputs(method):
    above = ellipsoid((1, 40, 40), (0, 18, 16), (1, 9, 6), 0, 0.3)[0]
    below = np.roll(above, (3, 2), axis=(0, 1))
    copies = above.copy(), below.copy()
    plain = interpolate_masks(above, below, method=method)
    for voxel_size in (1.0, (1.0, 1.0), (2.5, 1.0, 1.0)):
        result = interpolate_masks(above, below, method=method, voxel_size=voxel_size)
        np.testing.assert_array_equal(result, plain)
    stretched = interpolate_masks(above, below, method=method, voxel_size=(0.2, 1))
    assert iou(stretched[0], plain[0]) >= 0.8
    np.testing.assert_array_equal(above, copies[0])
    np.testing.assert_array_equal(below, copies[1])


def test_thinned_outlines_give_nearly_the_same_layer():
    above = ellipsoid((1, 120, 120), (0, 60, 55), (1, 50, 35), 0, 0.4)[0]
    below = ellipsoid((1, 120, 120), (0, 58, 62), (1, 45, 40), 0, 0.9)[0]
    full = interpolate_masks(above, below)[0]
    thinned = interpolate_masks(above, below, max_points=60)[0]
    assert iou(full, thinned) >= 0.95


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones((4, 4)), np.ones((4, 5))), {}, ValueError, "same shape"),
        ((np.ones((2, 4, 4)), np.ones((4, 4))), {}, ValueError, "mask_above"),
        ((np.ones((4, 4)), np.full((4, 4), 3)), {}, TypeError, "mask_below"),
        ((np.ones((4, 4)), np.ones((4, 4))), {"n_missing": 0}, ValueError,
         r"'n_missing' parameter of interpolate_masks must be an int in the range "
         r"\[1, inf\)\. Got 0"),
        ((np.ones((4, 4)), np.ones((4, 4))), {"n_missing": 1.5}, TypeError,
         r"'n_missing' parameter .* must be an int"),
        ((np.ones((4, 4)), np.ones((4, 4))), {"method": "x"}, ValueError,
         r"'method' parameter of interpolate_masks must be a str among "
         r".*'boundary_ot'.*Got 'x'"),
        ((np.ones((4, 4)), np.ones((4, 4))), {"max_points": 2}, ValueError,
         r"'max_points' parameter of interpolate_masks must be an int in the range "
         r"\[8, inf\)"),
        ((np.ones((4, 4)), np.ones((4, 4))), {"voxel_size": 0}, ValueError, "voxel"),
    ],
)
def test_bad_input_raises_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        interpolate_masks(*args, **kwargs)


@pytest.mark.shared_data
@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("name", ["ovule_plantseg.npz", "nuclei_gonuclear_1135.npz"])
def test_deleted_layers_of_real_cells_are_recovered(name):
    data = np.load(DATA / name)
    for method in METHODS:
        scores = layer_recovery_ious(
            data["labels"], voxel_size=data["voxel_size_um"], method=method
        )
        assert len(scores) > 100
        assert np.median(scores) >= 0.94, method
        assert np.mean(scores >= 0.85) >= 0.82, method
        assert np.percentile(scores, 10) >= 0.75, method


# ---------------------------------------------------------------- fast paths
def test_scanline_fill_matches_skimage_on_generic_polygons():
    from skimage.draw import polygon2mask

    from sklearn_overseg.correction._outlines import scanline_fill

    rng = np.random.default_rng(3)
    for _ in range(200):
        polygon = rng.uniform(-4, 34, (rng.integers(3, 25), 2))
        np.testing.assert_array_equal(
            scanline_fill(polygon, (30, 32)), polygon2mask((30, 32), polygon)
        )


def test_scanline_fill_keeps_pixel_centres_on_the_outline():
    from sklearn_overseg.correction._outlines import scanline_fill

    square = np.array([[2, 2], [2, 7], [6, 7], [6, 2]], float)
    expected = np.zeros((10, 10), bool)
    expected[2:7, 2:8] = True
    np.testing.assert_array_equal(scanline_fill(square, (10, 10)), expected)


def test_resampled_outlines_are_even_and_share_the_points():
    from sklearn_overseg.correction._outlines import outlines, resample_outlines

    mask = disk((40, 60), (20, 15), 9) | disk((40, 60), (20, 45), 3)
    polygons = outlines(mask)
    points = resample_outlines(polygons, 50, np.ones(2))
    assert sum(map(len, points)) == 50 and min(map(len, points)) >= 3
    big = points[int(np.argmax([len(p) for p in points]))]
    steps = np.linalg.norm(np.diff(big, axis=0), axis=1)
    assert steps.max() <= 1.5 * np.median(steps)


def test_assignment_between_translated_outlines_is_the_translation():
    from sklearn_overseg.correction._displacement import _assignment
    from sklearn_overseg.correction._outlines import outlines

    mask = ellipsoid((1, 50, 50), (0, 22, 20), (1, 12, 7), 0, 0.6)[0]
    polygons = [outlines(mask), outlines(np.roll(mask, (3, 4), axis=(0, 1)))]
    (upper, lower), (upper_to, lower_from), _ = _assignment(polygons, 80, np.ones(2))
    shift = np.broadcast_to([3.0, 4.0], upper.shape)
    np.testing.assert_allclose(upper_to - upper, shift, atol=1e-6)
    np.testing.assert_allclose(lower - lower_from, shift, atol=1e-6)


def test_marching_squares_outlines_are_skimage_find_contours():
    """Same closed polygons (up to the starting vertex), same turning sense."""
    from sklearn_overseg.correction._marching import trace_many, trace_outlines
    from sklearn_overseg.correction._outlines import outlines
    from sklearn_overseg.datasets import make_tissue

    def canonical(polygons):
        rolled = [np.roll(p, -np.lexsort(p.T[::-1])[0], axis=0) for p in polygons]
        return sorted(map(lambda p: p.round(6).tobytes(), rolled))

    rng = np.random.default_rng(0)
    masks = [rng.random((11, 13)) < 0.5 for _ in range(100)]  # saddles, holes
    labels = make_tissue((6, 64, 64), n_cells=12, random_state=0)
    masks += [labels[z] == label for z in range(6) for label in np.unique(labels[z])]
    for mask in masks:
        assert canonical(trace_outlines(mask)) == canonical(outlines(mask))
    pair = trace_many(masks[:2])
    assert [canonical(p) for p in pair] == [canonical(outlines(m)) for m in masks[:2]]


def test_monotone_plan_is_the_exact_vertex_plan_when_certified():
    """Where the dual certificate holds, the plan costs what POT's costs."""
    import ot

    from sklearn_overseg.correction._coupling import best_shift, monotone_plan
    from sklearn_overseg.correction._marching import trace_outlines
    from sklearn_overseg.correction._ot_reference import vertex_plan
    from sklearn_overseg.correction._outlines import arc_weights, perimeter
    from sklearn_overseg.datasets import make_tissue

    labels = make_tissue((12, 60, 60), n_cells=8, random_state=3)
    pixel = np.array([1.0, 1.3])
    certified = 0
    for label in np.unique(labels)[1:]:
        for z in range(1, 11):
            above, below = labels[z - 1] == label, labels[z + 1] == label
            polygons = [trace_outlines(above), trace_outlines(below)]
            if not (above.any() and below.any()) or max(map(len, polygons)) > 1:
                continue
            upper, lower = polygons[0][0], polygons[1][0]
            n = int(np.ceil(max(perimeter(upper, pixel), perimeter(lower, pixel))))
            shift = best_shift(upper, lower, n, pixel)
            plan = monotone_plan(upper, lower, shift, pixel)
            if plan is None:
                continue
            certified += 1
            weights = [arc_weights(p, pixel) for p in (upper, lower)]
            cost = ot.dist(upper * pixel, lower * pixel)
            exact = ot.emd2(*(w / w.sum() for w in weights), cost)
            mass = weights[0] / weights[0].sum()
            moved = ((upper - plan[0]) * pixel) ** 2
            assert (mass * moved.sum(axis=1)).sum() <= exact * (1 + 1e-6) + 1e-12
            reference = vertex_plan(polygons, pixel)
            assert np.median(np.abs(plan[0] - reference[0])) < 0.05
    assert certified >= 20


def test_band_blend_equals_the_blend_of_distance_maps():
    from sklearn_overseg.correction._displacement import blend_two
    from sklearn_overseg.correction._ot_reference import blend
    from sklearn_overseg.datasets import make_tissue

    labels = make_tissue((8, 48, 48), n_cells=6, random_state=1)
    for pixel in (np.ones(2), np.array([0.4, 0.3])):
        for label in np.unique(labels)[1:]:
            for z in range(7):
                a, b = labels[z] == label, labels[z + 1] == label
                for t in (0.25, 0.5):
                    np.testing.assert_array_equal(
                        blend_two(a, b, t, pixel), blend([a, b], (1 - t, t), pixel)
                    )


def test_fill_holes_equals_scipy():
    from sklearn_overseg.correction._displacement import fill_holes

    rng = np.random.default_rng(2)
    for _ in range(100):
        mask = rng.random((12, 15)) < 0.6
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_fast_path_agrees_with_the_reference_on_synthetic_tissue(random_state):
    """Every interior layer of every cell, rebuilt both ways."""
    from sklearn_overseg.correction._ot_reference import boundary_ot_reference
    from sklearn_overseg.datasets import make_tissue
    from sklearn_overseg.metrics import interior_layers

    labels = make_tissue((10, 64, 64), n_cells=10, random_state=random_state)
    pixel = np.array([0.5, 0.5])
    fast, reference, truth = [], [], []
    for above, layer, below in interior_layers(labels):
        fast.append(interpolate_masks(above, below, voxel_size=pixel)[0])
        reference.append(boundary_ot_reference(above, below, [0.5], pixel, 2000)[0])
        truth.append(layer)
    agreement = [iou(f, r) for f, r in zip(fast, reference)]
    assert len(agreement) > 30
    assert np.median(agreement) >= 0.98 and np.percentile(agreement, 5) >= 0.9
    scores = [np.median([iou(m, t) for m, t in zip(ms, truth)])
              for ms in (fast, reference)]
    assert scores[0] >= scores[1] - 0.005


def test_working_box_does_not_change_the_layers():
    above = ellipsoid((1, 40, 40), (0, 18, 16), (1, 9, 6), 0, 0.3)[0]
    below = np.roll(above, (3, 2), axis=(0, 1)) | disk((40, 40), (30, 30), 3)
    for method in METHODS:
        small = interpolate_masks(above, below, 2, method=method)
        padded = [np.pad(m, ((7, 3), (2, 9))) for m in (above, below)]
        big = interpolate_masks(*padded, 2, method=method)
        np.testing.assert_array_equal(big[:, 7:-3, 2:-9], small)
        assert not big[:, :7].any() and not big[:, :, -9:].any()

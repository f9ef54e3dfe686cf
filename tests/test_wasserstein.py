"""Tests of the Geo-Wasserstein divergence (earth mover's distance of masks)."""

import numpy as np
import ot
import pytest

from sklearn_overseg.features import _layer_w1, _projections
from sklearn_overseg.features._wasserstein import geo_wasserstein, layer_distances

METHODS = ["exact", "sliced", "multiscale", "auto"]


def ellipse(shape, centre, radii, angle=0.0):
    rows, cols = np.indices(shape, dtype=float)
    y, x = rows - centre[0], cols - centre[1]
    u = np.cos(angle) * y + np.sin(angle) * x
    v = -np.sin(angle) * y + np.cos(angle) * x
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1


def random_mask(rng, shape=(80, 80), area=(50, 1500)):
    """An ellipse, or a union of two, of random size, shape and position."""
    target = np.exp(rng.uniform(*np.log(area)))
    mask = np.zeros(shape, bool)
    for _ in range(rng.integers(1, 3)):
        r1 = np.sqrt(target / np.pi) * np.exp(rng.uniform(-0.5, 0.5))
        centre = rng.uniform(25, shape[0] - 25, 2)
        mask |= ellipse(shape, centre, (r1, target / np.pi / r1), rng.uniform(0, 3))
    return mask


def random_pairs(seed, n_pairs, **kwargs):
    rng = np.random.default_rng(seed)
    pairs = []
    for k in range(n_pairs):
        a = random_mask(rng, **kwargs)
        if k % 2:  # a deformed copy, like the next layer of a cell
            b = np.roll(a, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
            b = b | ellipse(a.shape, np.argwhere(a).mean(0), rng.uniform(3, 9, 2))
        else:
            b = random_mask(rng, **kwargs)
        pairs.append((a, b))
    return pairs


def pot_w1(a, b, voxel_size=(1.0, 1.0)):
    xa, xb = np.argwhere(a) * voxel_size, np.argwhere(b) * voxel_size
    cost = ot.dist(xa, xb, metric="euclidean")
    return ot.emd2(ot.unif(len(xa)), ot.unif(len(xb)), cost, numItermax=10**7)


@pytest.mark.parametrize("seed", range(4))
def test_exact_matches_pot_network_simplex(seed):
    for a, b in random_pairs(seed, 4, area=(20, 300)):
        assert geo_wasserstein(a, b, "exact") == pytest.approx(pot_w1(a, b), rel=1e-7)


def test_exact_with_anisotropic_voxels_matches_pot():
    a, b = random_pairs(5, 2, area=(20, 200))[1]
    expected = pot_w1(a, b, (2.0, 0.5))
    assert geo_wasserstein(a, b, "exact", voxel_size=(2, 0.5)) == pytest.approx(
        expected, rel=1e-7
    )


@pytest.mark.parametrize("method", METHODS)
def test_self_distance_is_zero(method):
    a = random_mask(np.random.default_rng(0))
    assert geo_wasserstein(a, a.copy(), method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shift", [(0, 3), (4, 0), (2, 5), (-6, 7)])
def test_translation_by_d_gives_d(method, shift):
    a = ellipse((60, 60), (25, 25), (9, 5), 0.4)
    d = np.hypot(*shift)
    tolerance = 1e-9 if method in ("exact", "auto") else 0.01
    value = geo_wasserstein(a, np.roll(a, shift, axis=(0, 1)), method)
    assert value == pytest.approx(d, rel=tolerance)


@pytest.mark.parametrize("method", METHODS)
def test_one_pixel_masks_give_euclidean_distance(method):
    a, b = np.zeros((30, 40), bool), np.zeros((30, 40), bool)
    a[2, 3], b[25, 31] = True, True
    tolerance = 1e-9 if method in ("exact", "auto") else 0.01
    assert geo_wasserstein(a, b, method) == pytest.approx(np.hypot(23, 28), tolerance)


@pytest.mark.parametrize("method", METHODS)
def test_far_apart_masks_cost_about_the_centroid_distance(method):
    a = np.zeros((200, 200), bool)
    b = a.copy()
    a[5:15, 5:15], b[180:190, 170:180] = True, True
    expected = np.hypot(175, 165)
    assert geo_wasserstein(a, b, method) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_voxel_size_gives_physical_units(method):
    a, b = random_pairs(1, 2)[1]
    pixels = geo_wasserstein(a, b, method)
    assert geo_wasserstein(a, b, method, voxel_size=0.25) == pytest.approx(
        0.25 * pixels, rel=1e-6
    )
    moved = np.roll(a, 3, axis=0)
    assert geo_wasserstein(a, moved, method, voxel_size=(2.0, 1.0)) == pytest.approx(
        6.0, rel=0.01
    )


def test_sliced_matches_pot_sliced_distance_up_to_pi_over_two():
    angles = _projections._angles(16, 0)
    projections = np.stack([np.cos(angles), np.sin(angles)])
    for a, b in random_pairs(2, 6):
        pot = ot.sliced_wasserstein_distance(
            np.argwhere(a).astype(float),
            np.argwhere(b).astype(float),
            p=1,
            projections=projections,
        )
        ours = geo_wasserstein(a, b, "sliced", n_projections=16, random_state=0)
        assert ours == pytest.approx(np.pi / 2 * pot, rel=0.005)


def test_sliced_is_a_lower_bound_and_multiscale_within_3_percent():
    exact, sliced, multiscale = np.array(
        [
            [geo_wasserstein(a, b, m) for m in ("exact", "sliced", "multiscale")]
            for a, b in random_pairs(3, 16, area=(200, 1500))
        ]
    ).T
    assert np.all(sliced <= exact * 1.005)
    assert np.median(np.abs(sliced / exact - 1)) < 0.02
    assert np.all(np.abs(multiscale / exact - 1) < 0.03)


def test_auto_switches_to_a_small_pooled_problem_on_huge_masks(monkeypatch):
    sizes = []
    emd2 = ot.emd2

    def spy(a, b, cost, **kwargs):
        sizes.append(cost.shape)
        return emd2(a, b, cost, **kwargs)

    monkeypatch.setattr(_layer_w1.ot, "emd2", spy)
    a = ellipse((150, 150), (50, 50), (40, 30))
    b = ellipse((150, 150), (95, 100), (35, 35))
    value = geo_wasserstein(a, b, "auto")
    assert max(max(shape) for shape in sizes) <= _layer_w1._COARSE_POINTS
    reference = geo_wasserstein(a, b, "exact", max_exact_pixels=1000)
    assert value == pytest.approx(reference, rel=0.01)


def test_pooled_exact_stays_within_its_documented_bound():
    a, b = random_pairs(4, 2, area=(800, 1500))[1]
    exact = geo_wasserstein(a, b, "exact")
    pooled = geo_wasserstein(a, b, "exact", max_exact_pixels=50)
    signed = a / a.sum() - b / b.sum()
    sides = [np.maximum(signed, 0), np.maximum(-signed, 0)]
    block = max(_layer_w1._pooled_side(side, 50)[2] for side in sides)
    assert block > 1
    bound = 2 * sides[0].sum() * (block - 1) * np.sqrt(2)
    assert abs(pooled - exact) <= bound


@pytest.mark.parametrize("method", ["sliced", "exact"])
def test_results_are_deterministic_and_inputs_untouched(method):
    a, b = random_pairs(6, 2)[1]
    a_before, b_before = a.copy(), b.copy()
    first = geo_wasserstein(a, b, method)
    assert geo_wasserstein(a, b, method) == first
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)
    other = geo_wasserstein(a, b, method, random_state=123)
    assert other == pytest.approx(first, rel=0.02)


def test_zero_one_integer_masks_are_accepted():
    a, b = random_pairs(7, 2)[1]
    assert geo_wasserstein(a.astype(np.uint8), b.astype(int)) == pytest.approx(
        geo_wasserstein(a, b)
    )


@pytest.mark.parametrize(
    ("a", "b", "error", "match"),
    [
        (np.zeros((5, 5), bool), np.ones((5, 5), bool), ValueError, "mask_a is empty"),
        (np.ones((5, 5), bool), np.zeros((5, 5), bool), ValueError, "mask_b is empty"),
        (np.ones((5, 5), bool), np.ones((5, 6), bool), ValueError, "same shape"),
        (np.ones((2, 5, 5), bool), np.ones((2, 5, 5), bool), ValueError, "2D"),
        (np.full((5, 5), 2), np.ones((5, 5), bool), TypeError, "boolean"),
        (np.full((5, 5), "a"), np.ones((5, 5), bool), TypeError, "boolean"),
    ],
)
def test_bad_masks_raise_clear_errors(a, b, error, match):
    with pytest.raises(error, match=match):
        geo_wasserstein(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "emd"}, r"'method' parameter of {f} must be a str among .*"
                            r"'sliced'.*Got 'emd'"),
        ({"n_projections": 0}, r"'n_projections' parameter of {f} must be an int "
                               r"in the range \[1, inf\)\. Got 0"),
        ({"n_projections": 2.5}, r"'n_projections' parameter of {f} must be an int"),
        ({"voxel_size": (1, 2, 3)}, "voxel_size"),
        ({"voxel_size": -1}, "voxel_size"),
        ({"bin_width": 0}, r"'bin_width' parameter of {f} must be a float in the "
                           r"range \(0\.0, 1\.0\]\. Got 0"),
        ({"bin_width": 1.5}, r"'bin_width' parameter of {f}.*Got 1\.5"),
        ({"max_exact_pixels": 1}, r"'max_exact_pixels' parameter of {f} must be an "
                                  r"int in the range \[2, inf\)"),
        ({"random_state": "seed"}, r"'random_state' parameter of {f}"),
    ],
)
@pytest.mark.parametrize("function", [geo_wasserstein, layer_distances])
def test_bad_parameters_raise_clear_errors(kwargs, match, function):
    a = np.ones((5, 5), bool)
    args = (a, a) if function is geo_wasserstein else ([a, a],)
    with pytest.raises(ValueError, match=match.format(f=function.__name__)):
        function(*args, **kwargs)


@pytest.mark.parametrize("method", METHODS)
def test_layer_distances_match_pairwise_calls(method):
    rng = np.random.default_rng(8)
    stack = np.stack([random_mask(rng) for _ in range(5)])
    expected = [geo_wasserstein(stack[i], stack[i + 2], method) for i in range(3)]
    result = layer_distances(stack, 2, method=method)
    np.testing.assert_allclose(result, expected, rtol=1e-9)
    pairs = np.array([[4, 0], [1, 3]])
    np.testing.assert_allclose(
        layer_distances(list(stack), pairs=pairs, method=method),
        [geo_wasserstein(stack[i], stack[j], method) for i, j in pairs],
        rtol=1e-9,
    )


def test_layer_distances_on_a_drifting_stack_and_empty_layers():
    stack = np.zeros((6, 40, 40), bool)
    for z in range(6):
        stack[z, 10:20, 5 + 3 * z : 12 + 3 * z] = True
    stack[3] = False
    result = layer_distances(stack, 1, voxel_size=0.5)
    assert np.isnan(result[[2, 3]]).all()
    np.testing.assert_allclose(result[[0, 1, 4]], 1.5, rtol=0.01)
    assert layer_distances(stack, 6).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing": 0}, r"'spacing' parameter of layer_distances must be an int "
                         r"in the range \[1, inf\)"),
        ({"pairs": [[0, 9]]}, "pairs"),
        ({"pairs": [[0.5, 1]]}, "pairs"),
        ({"pairs": [0, 1, 2]}, "pairs"),
    ],
)
def test_layer_distances_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer_distances(np.ones((3, 4, 4), bool), **kwargs)


def test_layer_distances_rejects_ragged_masks():
    with pytest.raises(ValueError, match="one shape"):
        layer_distances([np.ones((4, 4), bool), np.ones((4, 5), bool)])


def reference_row_runs(stack):
    """Row runs found row by row, the straightforward way."""
    runs = []
    for layer, row in np.ndindex(stack.shape[:2]):
        step = np.diff(np.concatenate([[0], stack[layer, row].astype(int), [0]]))
        for first, stop in zip(np.flatnonzero(step == 1), np.flatnonzero(step == -1)):
            runs.append((layer, row, first, stop))
    return np.array(runs, dtype=np.int64).reshape(-1, 4).T


def drifting_stack(seed, n_layers=9, shape=(57, 61)):
    rng = np.random.default_rng(seed)
    stack = np.stack([random_mask(rng, shape, (30, 300)) for _ in range(n_layers)])
    stack[1] = False  # an empty layer
    stack[2, 5] = True  # a full row, touching both borders
    stack[3, :, 0] = stack[3, :, -1] = True  # one-pixel runs at the borders
    return stack


@pytest.mark.parametrize("seed", [0, 1])
def test_row_runs_match_a_row_by_row_reference(seed):
    stack = drifting_stack(seed)
    runs = _projections._row_runs(stack)
    for got, expected in zip(runs, reference_row_runs(stack)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("block_values", [1, 64, 10**9])
def test_blocked_projection_is_bit_identical_to_one_pass(monkeypatch, block_values):
    """Projecting layers in blocks and comparing pairs in chunks changes no bit."""
    stack = drifting_stack(2)
    spacing = np.array([1.0, 0.7])
    angles = _projections._angles(16, 3)
    grid = _projections._Grid(stack.shape[1:], spacing, angles, 0.35)
    layer, row, first, stop = reference_row_runs(stack)
    y = np.outer(row * spacing[0], grid.direction[0])
    ends = [
        y + np.outer((col - 0.5) * spacing[1], grid.direction[1])
        for col in (first, stop)
    ]
    count = stack.reshape(len(stack), -1).sum(axis=1)
    weight = (stop - first) / np.maximum(count[layer], 1)
    low, high = np.minimum(*ends), np.maximum(*ends)
    one_pass = grid.cdfs(layer, low, high, weight, len(stack))
    pairs = np.array([[i, j] for i in range(len(stack)) for j in range(len(stack))])
    expected = grid.distance(one_pass[pairs[:, 0]], one_pass[pairs[:, 1]])
    monkeypatch.setattr(_projections, "_BLOCK_VALUES", block_values)
    monkeypatch.setattr(_projections, "_PAIR_VALUES", block_values)
    cdf = grid.project_runs(stack, spacing)
    assert np.array_equal(cdf, one_pass)
    assert np.array_equal(grid.pair_distances(cdf, pairs), expected)

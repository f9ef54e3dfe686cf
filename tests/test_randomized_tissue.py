"""Tests for datasets.make_randomized_tissue (domain-randomised tissue)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from sklearn_overseg.datasets import make_randomized_tissue

SHAPE = (16, 48, 48)


def _connected_and_consecutive(labels):
    values = np.unique(labels[labels > 0])
    assert values.tolist() == list(range(1, len(values) + 1))
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        assert ndi.label(labels[box] == label)[1] == 1


@pytest.mark.parametrize("seed", range(4))
def test_random_volumes_are_valid_and_deterministic(seed):
    kwargs = dict(cell_radius=(4.0, 8.0), random_state=seed, return_params=True)
    labels, params = make_randomized_tissue(SHAPE, **kwargs)
    again, params_again = make_randomized_tissue(SHAPE, **kwargs)
    assert labels.shape == SHAPE and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, again)
    assert params == params_again
    _connected_and_consecutive(labels)
    assert 1 <= params["anisotropy"] <= 8 and 4 <= params["cell_radius"] <= 8
    if params["mode"] == "dense":
        assert (labels > 0).all()


def test_fixed_settings_are_kept_and_seeds_differ():
    labels, params = make_randomized_tissue(
        SHAPE, mode="loose", anisotropy=2.0, cell_radius=6.0, elongation=1.5,
        warp=0.0, drift=0.5, crop=1.0, random_state=0, return_params=True,
    )
    assert params["mode"] == "loose" and params["cropped"]
    assert (params["anisotropy"], params["cell_radius"], params["drift"]) == (
        2.0, 6.0, 0.5)
    other = make_randomized_tissue(
        SHAPE, mode="loose", anisotropy=2.0, cell_radius=6.0, random_state=1
    )
    assert not np.array_equal(labels, other)


def _mean_layer_shift(labels):
    """Mean xy displacement of a cell's centroid from one layer to the next."""
    shifts = []
    for label in range(1, labels.max() + 1):
        z, y, x = np.nonzero(labels == label)
        layers = np.unique(z)
        if len(layers) < 3:
            continue
        cy = np.array([y[z == k].mean() for k in layers])
        cx = np.array([x[z == k].mean() for k in layers])
        shifts.append(np.hypot(np.diff(cy), np.diff(cx)).mean())
    return np.mean(shifts)


def test_drift_moves_layers_sideways():
    common = dict(mode="nuclei", anisotropy=2.0, cell_radius=7.0, elongation=1.5,
                  warp=0.0, crop=0.0, random_state=3)
    still = make_randomized_tissue((24, 64, 64), drift=0.0, **common)
    drifting = make_randomized_tissue((24, 64, 64), drift=2.0, **common)
    assert _mean_layer_shift(drifting) > _mean_layer_shift(still) + 0.7


def test_small_cells_make_more_labels_than_large_ones():
    common = dict(mode="dense", anisotropy=2.0, warp=0.0, drift=0.0, crop=0.0,
                  random_state=0)
    small = make_randomized_tissue(SHAPE, cell_radius=4.0, **common)
    large = make_randomized_tissue(SHAPE, cell_radius=10.0, **common)
    assert small.max() > 4 * large.max()


def test_crop_cuts_cells_at_the_faces():
    """A sub-box truncates cells: some face cells are a thin slab of 1-2 layers."""
    common = dict(mode="dense", anisotropy=1.0, cell_radius=8.0, elongation=1.0,
                  warp=0.0, drift=0.0)
    thin = []
    for crop in (0.0, 1.0):
        counts = []
        for seed in range(3):
            labels = make_randomized_tissue(
                SHAPE, crop=crop, random_state=seed, **common
            )
            boxes = [b for b in ndi.find_objects(labels) if b is not None]
            counts.append(sum(b[0].stop - b[0].start <= 2 for b in boxes) / len(boxes))
        thin.append(np.mean(counts))
    assert thin[1] > thin[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"mode": "plant"}, ValueError, r"'mode' parameter .* str among"),
        ({"mode": ("dense", "plant")}, ValueError, "mode must be one or more of"),
        ({"anisotropy": (3.0, 1.0)}, ValueError, "anisotropy"),
        ({"drift": -1.0}, ValueError, "drift"),
        ({"cell_radius": "big"}, TypeError, "cell_radius"),
        ({"crop": 2.0}, ValueError, r"'crop' parameter .* range \[0.0, 1.0\]"),
        ({"shape": (2, 8, 8)}, ValueError, "shape"),
    ],
)
def test_bad_settings_get_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_randomized_tissue(**{"shape": SHAPE, **kwargs})

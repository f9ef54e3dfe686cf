"""Synthetic tissue (make_tissue) and the oversegmentation simulator (oversegment)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.datasets._confounders import MAX_TRIM_LOSS
from sklearn_overseg.screening._screener import CandidateScreener

SHAPE = (24, 64, 64)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def dense():
    return make_tissue(SHAPE, n_cells=20, random_state=0)


@pytest.fixture(scope="module")
def loose():
    return make_tissue(SHAPE, n_cells=20, mode="loose", random_state=0)


@pytest.fixture(scope="module")
def stacked():
    """Flat cells (large anisotropy): some end right on another cell's first layer."""
    return [make_tissue(SHAPE, 20, anisotropy=6.0, random_state=s) for s in (3, 8, 10)]


def pieces(mask):
    return ndi.label(mask)[1]


def assert_one_piece_per_label(labels):
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is not None:
            assert pieces(labels[box] == label) == 1, f"label {label} is split"


def z_layers(volume, label):
    return np.flatnonzero((volume == label).any(axis=(1, 2)))


def stacked_pairs(labels, min_share=0.3):
    """(upper, lower) cells where upper sits on lower over >= min_share of its layer."""
    found = set()
    for z in range(labels.shape[0] - 1):
        above, below = labels[z], labels[z + 1]
        touch = (above != below) & (above > 0) & (below > 0)
        pairs, counts = np.unique(
            np.stack([above[touch], below[touch]]), axis=1, return_counts=True
        )
        area = np.bincount(above.ravel())
        for (a, b), c in zip(pairs.T, counts):
            if c >= 12 and c >= min_share * area[a]:
                found.add((int(a), int(b)))
    return found


def assert_valid_oversegmentation(
    source, flawed, pairs, info, gap_layers, mode, min_layers=2
):
    """Every property the simulator promises, checked against the source."""
    assert flawed.shape == source.shape
    chains = {}
    for (upper, lower), cell in zip(pairs, info["source_labels"]):
        chains.setdefault(int(cell), set()).update((int(upper), int(lower)))
    new_labels = set(np.unique(flawed).tolist()) - set(np.unique(source).tolist())
    assert set().union(*chains.values(), set()) - set(chains) <= new_labels
    noise = set(info["noise_labels"].tolist())
    for cell, fragments in chains.items():
        original = source == cell
        union = np.isin(flawed, list(fragments))
        assert not np.any(union & ~original), "a fragment leaves its cell"
        for fragment in fragments:
            assert pieces(flawed == fragment) == 1
            assert len(z_layers(flawed, fragment)) >= min_layers
        lost = original & ~union
        if mode == "tilted":
            assert not lost.any()
        else:
            assert lost.any()
            assert set(np.unique(flawed[lost]).tolist()) <= {0} | noise
    for k, (upper, lower) in enumerate(pairs):
        above, below = z_layers(flawed, upper), z_layers(flawed, lower)
        if mode == "tilted":
            assert np.mean(np.nonzero(flawed == upper)[0]) <= np.mean(
                np.nonzero(flawed == lower)[0]
            )
            continue
        assert below.min() - above.max() - 1 == gap_layers
        gap = info["gap_layers"][k]
        np.testing.assert_array_equal(gap, np.arange(above.max() + 1, below.min()))
        cell = source == info["source_labels"][k]
        assert cell[gap].any()
        assert set(np.unique(flawed[gap][cell[gap]]).tolist()) <= {0} | noise
    touched = set(chains)
    assert info["confounder_style"] in ("trim", "blank")
    for (upper, lower), lost in zip(
        info["confounder_pairs"], info["confounder_lost_fraction"]
    ):
        assert upper != lower and upper not in chains and lower not in chains
        assert pieces(flawed == upper) == 1 and pieces(flawed == lower) == 1
        for label in (upper, lower):
            assert len(z_layers(flawed, label)) >= min_layers
        if info["confounder_style"] == "blank":
            assert z_layers(source, upper).max() + 1 == z_layers(source, lower).min()
            assert min(lost) == 0
        else:
            assert np.any((source[:-1] == upper) & (source[1:] == lower))
            assert max(lost) <= MAX_TRIM_LOSS
        gap = z_layers(flawed, lower).min() - z_layers(flawed, upper).max() - 1
        assert gap == gap_layers
        touched.update((int(upper), int(lower)))
    untouched = (source > 0) & ~np.isin(source, list(touched))
    np.testing.assert_array_equal(flawed[untouched], source[untouched])


# ----------------------------------------------------------------- make_tissue


@pytest.mark.parametrize(
    "kwargs",
    [
        {"random_state": 0},
        {"random_state": 1, "anisotropy": 2.0, "elongation": 3.0},
        {"random_state": 2, "anisotropy": 1.0, "elongation": 1.0},
    ],
)
def test_dense_tiles_volume_with_connected_consecutive_cells(kwargs):
    labels = make_tissue(SHAPE, n_cells=20, **kwargs)
    assert labels.shape == SHAPE and labels.dtype == np.int32
    assert labels.min() == 1, "dense tissue has no background"
    np.testing.assert_array_equal(np.unique(labels), np.arange(1, 21))
    assert_one_piece_per_label(labels)


def test_dense_cells_span_several_layers_and_stack(dense):
    heights = np.array([b[0].stop - b[0].start for b in ndi.find_objects(dense)])
    assert np.median(heights) >= 5
    assert len(stacked_pairs(dense)) >= 3


def test_loose_has_spaces_between_cells_also_in_z(loose):
    background = np.mean(loose == 0)
    assert 0.01 < background < 0.3
    assert_one_piece_per_label(loose)
    above, middle, below = loose[:-2], loose[1:-1], loose[2:]
    z_gap = (middle == 0) & (above > 0) & (below > 0) & (above != below)
    assert z_gap.sum() > 20


def test_nuclei_are_separated_objects():
    labels = make_tissue(SHAPE, n_cells=15, mode="nuclei", random_state=0)
    assert np.mean(labels == 0) > 0.5
    assert 10 <= labels.max() <= 15
    np.testing.assert_array_equal(np.unique(labels)[1:], np.arange(1, labels.max() + 1))
    assert_one_piece_per_label(labels)
    grown = ndi.grey_dilation(labels, size=(3, 3, 3))
    assert np.all((labels == 0) | (grown == labels)), "two nuclei touch"


@pytest.mark.parametrize("mode", ["dense", "loose", "nuclei"])
def test_make_tissue_is_deterministic(mode):
    first = make_tissue((16, 48, 48), 10, mode=mode, random_state=3)
    again = make_tissue((16, 48, 48), 10, mode=mode, random_state=3)
    state = make_tissue(
        (16, 48, 48), 10, mode=mode, random_state=np.random.RandomState(3)
    )
    other = make_tissue((16, 48, 48), 10, mode=mode, random_state=4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, state)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"shape": (10, 10)}, ValueError),
        ({"shape": 5}, TypeError),
        ({"n_cells": 0}, ValueError),
        ({"n_cells": 2.5}, TypeError),
        ({"n_cells": 10_000}, ValueError),
        ({"mode": "sparse"}, ValueError),
        ({"anisotropy": 0}, ValueError),
        ({"elongation": -1.0}, ValueError),
        ({"gap_width": 0}, ValueError),
        ({"gap_fraction": 1.5}, ValueError),
    ],
)
def test_make_tissue_rejects_bad_parameters(kwargs, error):
    params = {"shape": (16, 32, 32), "n_cells": 5, **kwargs}
    with pytest.raises(error):
        make_tissue(**params)


# ----------------------------------------------------------------- oversegment


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gap_layers": 1},
        {"gap_layers": 2, "shrink": 1, "shrink_probability": 1.0},
        {"gap_layers": 1, "max_cuts_per_cell": 3, "n_noise_masks": 6},
        {"gap_layers": 1, "shrink": 2, "n_noise_masks": 4},
    ],
)
def test_axis_splits_are_exactly_the_reported_ones(dense, kwargs):
    flawed, pairs, info = oversegment(
        dense, n_splits=6, return_info=True, random_state=0, **kwargs
    )
    assert pairs.shape == (6, 2) and pairs.dtype == np.int64
    assert len(np.unique(pairs[:, 1])) == 6
    assert_valid_oversegmentation(
        dense, flawed, pairs, info, kwargs["gap_layers"], "axis"
    )


def test_axis_splits_on_loose_tissue_and_nuclei(loose):
    nuclei = make_tissue(SHAPE, n_cells=12, mode="nuclei", random_state=1)
    for source in (loose, nuclei):
        flawed, pairs, info = oversegment(
            source, n_splits=4, n_noise_masks=2, return_info=True, random_state=2
        )
        assert len(pairs) >= 1
        assert_valid_oversegmentation(source, flawed, pairs, info, 1, "axis")


def test_chains_keep_top_to_bottom_order(dense):
    flawed, pairs, info = oversegment(
        dense, n_splits=8, max_cuts_per_cell=3, return_info=True, random_state=5
    )
    for upper, lower in pairs:
        assert z_layers(flawed, upper).max() < z_layers(flawed, lower).min()
    counts = np.bincount(info["source_labels"])
    assert counts.max() >= 2, "no cell was cut more than once"


@pytest.mark.parametrize("gap_layers", [1, 2])
def test_stacked_confounders_blank_whole_layers_of_one_cell(stacked, gap_layers):
    shortened_upper = set()
    for seed, source in enumerate(stacked):
        flawed, pairs, info = oversegment(
            source,
            2,
            gap_layers=gap_layers,
            n_stacked_confounders=10,
            confounder_style="blank",
            return_info=True,
            random_state=seed,
        )
        assert len(info["confounder_pairs"]) >= 1
        for (upper, lower), layers, short in zip(
            info["confounder_pairs"],
            info["confounder_gap_layers"],
            info["confounder_shortened"],
        ):
            assert short in (upper, lower) and len(layers) == gap_layers
            shortened_upper.add(bool(short == upper))
            above, below = z_layers(flawed, upper), z_layers(flawed, lower)
            np.testing.assert_array_equal(
                layers, np.arange(above.max() + 1, below.min())
            )
            lost = (source == short) & (flawed != short)
            np.testing.assert_array_equal(np.flatnonzero(lost.any(axis=(1, 2))), layers)
            assert np.all(lost[layers] == (source[layers] == short)), "not whole layers"
            assert len(z_layers(flawed, short)) >= max(2, gap_layers + 1)
            other = lower if short == upper else upper
            np.testing.assert_array_equal(flawed == other, source == other)
        assert_valid_oversegmentation(source, flawed, pairs, info, gap_layers, "axis")
    assert shortened_upper == {True, False}, "both sides should get blanked"


@pytest.mark.parametrize("n_splits", [0, 3])
def test_every_stacked_confounder_is_a_screener_candidate(stacked, n_splits):
    made = 0
    for seed, source in enumerate(stacked):
        flawed, pairs, info = oversegment(
            source,
            n_splits,
            n_stacked_confounders=10,
            confounder_style="blank",
            return_info=True,
            random_state=seed,
        )
        found = {(c.upper, c.lower): c for c in CandidateScreener().transform([flawed])}
        for upper, lower in info["confounder_pairs"].tolist():
            assert upper != lower, "a confounder joins two different cells"
            assert np.any(source == upper) and np.any(source == lower)
            assert upper not in pairs and lower not in pairs
            assert (upper, lower) in found, f"confounder {(upper, lower)} not screened"
            start, stop = found[(upper, lower)].gap
            assert stop - start == 1
        made += len(info["confounder_pairs"])
    assert made >= 5


@pytest.mark.parametrize(
    "gap_layers, n_splits, min_layers", [(1, 0, 2), (1, 3, 2), (2, 3, 2), (1, 2, 4)]
)
@pytest.mark.parametrize("mode", ["dense", "loose"])
def test_trimmed_confounders_are_screened_pairs_of_two_cells(
    mode, gap_layers, n_splits, min_layers
):
    screener = CandidateScreener(max_gap=gap_layers)
    made = 0
    for seed in (0, 1):
        source = make_tissue(SHAPE, n_cells=20, mode=mode, random_state=seed)
        flawed, pairs, info = oversegment(
            source,
            n_splits,
            gap_layers=gap_layers,
            min_fragment_layers=min_layers,
            n_stacked_confounders=6,
            return_info=True,
            random_state=seed,
        )
        assert info["confounder_style"] == "trim"
        found = {(c.upper, c.lower): c for c in screener.transform([flawed])}
        for (upper, lower), lost, layers in zip(
            info["confounder_pairs"].tolist(),
            info["confounder_lost_fraction"],
            info["confounder_gap_layers"],
        ):
            assert (upper, lower) in found, f"confounder {(upper, lower)} not screened"
            start, stop = found[(upper, lower)].gap
            assert stop - start == gap_layers == len(layers)
            assert z_layers(flawed, upper).max() + 1 == layers[0]
            for label, share in zip((upper, lower), lost):
                cell = source == label
                kept = flawed == label
                assert not np.any(kept & ~cell), "a trimmed cell grew"
                assert np.all(flawed[cell & ~kept] == 0), "trimming only removes"
                assert 1 - kept.sum() / cell.sum() == pytest.approx(share)
                assert share <= MAX_TRIM_LOSS
        assert_valid_oversegmentation(
            source, flawed, pairs, info, gap_layers, "axis", min_layers
        )
        made += len(info["confounder_pairs"])
    assert made >= 4


def test_trim_makes_more_confounders_than_blank(dense):
    counts = {}
    for style in ("blank", "trim"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _, _, info = oversegment(
                dense,
                0,
                n_stacked_confounders=10,
                confounder_style=style,
                return_info=True,
                random_state=0,
            )
        counts[style] = len(info["confounder_pairs"])
        shortened = info["confounder_shortened"]
        lost = info["confounder_lost_fraction"]
        pairs = info["confounder_pairs"]
        assert shortened.shape == (counts[style],) and lost.shape == pairs.shape
        bigger = np.where(lost[:, 0] >= lost[:, 1], pairs[:, 0], pairs[:, 1])
        np.testing.assert_array_equal(shortened, bigger)
    assert counts["trim"] >= max(3, 2 * counts["blank"])


@pytest.mark.parametrize("style", ["blank", "trim"])
def test_stacked_confounders_with_shrink_and_noise_stay_valid(stacked, style):
    for seed, source in enumerate(stacked):
        flawed, pairs, info = oversegment(
            source,
            3,
            shrink=2,
            shrink_probability=1.0,
            n_stacked_confounders=4,
            confounder_style=style,
            n_noise_masks=4,
            return_info=True,
            random_state=seed,
        )
        assert len(info["confounder_pairs"]) >= 1
        assert_valid_oversegmentation(source, flawed, pairs, info, 1, "axis")


def test_confounders_warn_only_when_none_can_be_made(dense, stacked):
    with pytest.warns(UserWarning, match="stacked confounder in 'blank' style"):
        _, _, info = oversegment(
            dense,
            2,
            n_stacked_confounders=3,
            confounder_style="blank",
            return_info=True,
            random_state=0,
        )
    assert info["confounder_pairs"].shape == (0, 2)
    with pytest.warns(UserWarning, match="stacked confounder in 'trim' style"):
        oversegment(dense[:3], 0, n_stacked_confounders=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for style in ("blank", "trim"):
            _, _, info = oversegment(
                stacked[1],
                0,
                n_stacked_confounders=50,
                confounder_style=style,
                return_info=True,
                random_state=0,
            )
            assert 1 <= len(info["confounder_pairs"]) < 50


def test_noise_masks_are_small_blobs_inside_gaps(dense):
    flawed, pairs, info = oversegment(
        dense, n_splits=5, n_noise_masks=5, return_info=True, random_state=4
    )
    assert len(info["noise_labels"]) == 5
    gap_of = {tuple(p): g for p, g in zip(pairs.tolist(), info["gap_layers"])}
    for label, pair in zip(info["noise_labels"], info["noise_pairs"].tolist()):
        mask = flawed == label
        (z,) = z_layers(flawed, label)
        assert z in gap_of[tuple(pair)]
        cell = dense == info["source_labels"][pairs.tolist().index(pair)]
        assert np.all(cell[mask]) and pieces(mask[z]) == 1
        assert 3 <= mask.sum() <= max(3, 0.2 * cell[z].sum())


def test_shrink_erodes_only_layers_next_to_gaps(dense):
    plain, pairs, info = oversegment(dense, 4, return_info=True, random_state=0)
    shrunk, pairs2, info2 = oversegment(
        dense, 4, shrink=1, shrink_probability=1.0, return_info=True, random_state=0
    )
    np.testing.assert_array_equal(pairs, pairs2)
    assert info2["removed_voxels"] > info["removed_voxels"]
    eroded = (plain > 0) & (shrunk == 0)
    allowed = {int(g[0]) - 1 for g in info["gap_layers"]}
    allowed |= {int(g[-1]) + 1 for g in info["gap_layers"]}
    assert set(np.flatnonzero(eroded.any(axis=(1, 2))).tolist()) <= allowed


def test_tilted_cuts_keep_every_voxel(dense):
    flawed, pairs, info = oversegment(
        dense, n_splits=6, mode="tilted", return_info=True, random_state=0
    )
    assert len(pairs) == 6 and info["removed_voxels"] == 0
    assert info["gap_layers"] == []
    assert_valid_oversegmentation(dense, flawed, pairs, info, 0, "tilted")
    np.testing.assert_array_equal(flawed > 0, dense > 0)


def test_oversegment_is_deterministic_and_leaves_input_alone(stacked):
    source = stacked[1].copy()
    source.flags.writeable = False
    first = oversegment(source, 3, n_stacked_confounders=2, random_state=7)
    again = oversegment(source, 3, n_stacked_confounders=2, random_state=7)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_array_equal(source, stacked[1])
    assert not np.array_equal(first[0], stacked[1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_oversegment_keeps_dtype(dense, dtype):
    flawed, _ = oversegment(dense.astype(dtype), 3, random_state=0)
    assert flawed.dtype == dtype


def test_oversegment_upcasts_when_new_labels_do_not_fit(dense):
    crowded = (dense + 230).astype(np.uint8)
    flawed, pairs, info = oversegment(
        crowded, 6, n_noise_masks=2, return_info=True, random_state=0
    )
    assert info["upcast"] and flawed.dtype == np.uint16
    assert flawed.max() > 255 and pairs.max() > 255
    float_flawed, _ = oversegment(dense.astype(float), 2, random_state=0)
    assert float_flawed.dtype == np.int64


def test_oversegment_warns_when_nothing_can_be_split(dense):
    with pytest.warns(UserWarning, match="could not split"):
        flawed, pairs = oversegment(dense[:4], 3, random_state=0)
    assert pairs.shape == (0, 2)
    np.testing.assert_array_equal(flawed, dense[:4])


@pytest.mark.parametrize(
    "labels, kwargs, error",
    [
        (np.ones((4, 4)), {}, ValueError),
        (np.ones((4, 4, 4), dtype=bool), {}, TypeError),
        (-np.ones((4, 4, 4), dtype=int), {}, ValueError),
        (np.zeros((4, 4, 4), dtype=int), {}, ValueError),
        (None, {"mode": "diagonal"}, ValueError),
        (None, {"n_splits": -1}, ValueError),
        (None, {"gap_layers": 0}, ValueError),
        (None, {"min_fragment_layers": 0}, ValueError),
        (None, {"shrink": 1.5}, TypeError),
        (None, {"shrink_probability": 2.0}, ValueError),
        (None, {"max_noise_fraction": -0.1}, ValueError),
        (None, {"min_tilt": 95.0}, ValueError),
        (None, {"confounder_style": "erase"}, ValueError),
        (None, {"voxel_size": (1.0, 0.0, 1.0)}, ValueError),
    ],
)
def test_oversegment_rejects_bad_input(dense, labels, kwargs, error):
    with pytest.raises(error):
        oversegment(dense if labels is None else labels, **{"n_splits": 2, **kwargs})


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
@pytest.mark.filterwarnings("ignore:oversegment could not make any stacked confounder")
@pytest.mark.parametrize("name", ["ovule_plantseg", "nuclei_gonuclear_1135"])
@pytest.mark.parametrize("mode", ["axis", "tilted"])
def test_oversegment_real_label_volumes(name, mode):
    data = np.load(SHARED_DATA / f"{name}.npz")
    source = data["labels"]
    flawed, pairs, info = oversegment(
        source,
        8,
        mode=mode,
        shrink=1,
        n_stacked_confounders=3,
        n_noise_masks=3,
        voxel_size=data["voxel_size_um"],
        return_info=True,
        random_state=0,
    )
    assert len(pairs) == 8 and flawed.dtype == source.dtype
    assert_valid_oversegmentation(source, flawed, pairs, info, 1, mode)

"""Tests of the axis screening and of the CandidateScreener estimator."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_overseg._candidates import GAP_NOISE, LOWER, UPPER, CandidateSet
from sklearn_overseg.screening._screener import CandidateScreener

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def split_box(gap_layers: int = 1, shape=(9, 12, 12)) -> np.ndarray:
    """A box cell split along z: label 5 above, label 3 below the gap."""
    volume = np.zeros(shape, dtype=np.uint16)
    volume[1:4, 3:9, 3:9] = 5
    volume[4 + gap_layers : 8, 3:9, 3:9] = 3
    return volume


def recall(candidates: CandidateSet, truth: np.ndarray) -> float:
    found = set(map(tuple, candidates.pairs.tolist()))
    wanted = set(map(tuple, np.asarray(truth).tolist()))
    return len(found & wanted) / max(len(wanted), 1)


# ---------------------------------------------------------------- axis rule


def test_split_box_gives_one_axis_candidate_with_codes_and_gap():
    volume = split_box()
    cands = CandidateScreener(padding=2).fit_transform(volume)
    assert len(cands) == 1
    c = cands[0]
    # upper is the fragment at smaller z, even though its label is larger
    assert (c.upper, c.lower) == (5, 3)
    assert c.kind == "axis" and c.score == 36.0 and c.gap_labels == ()
    assert c.origin == (1, 1, 1)
    assert c.crop.shape == (7, 10, 10) and c.crop.dtype == np.uint8
    assert c.gap == (3, 4) and c.n_gap_layers == 1
    z0, y0, x0 = c.origin
    region = volume[z0 : z0 + 7, y0 : y0 + 10, x0 : x0 + 10]
    np.testing.assert_array_equal(c.crop == UPPER, region == 5)
    np.testing.assert_array_equal(c.crop == LOWER, region == 3)
    assert not c.crop[c.gap[0] : c.gap[1]].any()
    assert c.fragment(UPPER).shape[0] == 3 and c.fragment(UPPER).all(axis=0).any()
    assert c.meta["overlap_fraction"] == 1.0


def test_adjacent_fragments_without_gap_are_not_axis_pairs():
    volume = split_box(gap_layers=0)
    assert len(CandidateScreener().fit_transform(volume)) == 0


@pytest.mark.parametrize("gap_layers", [1, 2, 3])
def test_max_gap_bounds_the_gap(gap_layers):
    volume = split_box(gap_layers, shape=(12, 12, 12))
    for max_gap in (1, 2, 3):
        cands = CandidateScreener(max_gap=max_gap).fit_transform(volume)
        assert len(cands) == (1 if gap_layers <= max_gap else 0)
        if len(cands):
            assert cands[0].n_gap_layers == gap_layers


def test_complete_cell_in_gap_rejects_pair():
    volume = split_box(shape=(9, 12, 20))
    volume[2:7, 3:9, 9:15] = 8  # a real cell passing through the gap ...
    volume[4, 3:9, 3:9] = 8  # ... and filling the gap between the fragments
    for rule in ("extended", "paper"):
        assert len(CandidateScreener(rule=rule).fit_transform(volume)) == 0


def test_flat_cell_filling_gap_rejects_pair_only_in_extended_rule():
    volume = split_box()
    volume[4, 3:9, 3:8] = 8  # confined to the gap, covers 30/36 of the footprint
    assert len(CandidateScreener(rule="extended").fit_transform(volume)) == 0
    paper = CandidateScreener(rule="paper").fit_transform(volume)
    assert paper.pairs.tolist() == [[5, 3]] and paper[0].gap_labels == (8,)
    relaxed = CandidateScreener(max_gap_occupancy=0.9).fit_transform(volume)
    assert relaxed.pairs.tolist() == [[5, 3]]


@pytest.mark.parametrize("rule", ["extended", "paper"])
def test_small_noise_mask_in_gap_is_accepted_and_coded(rule):
    volume = split_box()
    volume[4, 4:6, 4:6] = 11  # 4 pixels, only in the gap layer
    cands = CandidateScreener(rule=rule).fit_transform(volume)
    assert cands.pairs.tolist() == [[5, 3]]
    c = cands[0]
    assert c.gap_labels == (11,)
    z0, y0, x0 = c.origin
    noise = np.argwhere(c.crop == GAP_NOISE) + (z0, y0, x0)
    assert sorted(map(tuple, noise.tolist())) == sorted(
        map(tuple, np.argwhere(volume == 11).tolist())
    )
    assert np.all((c.crop == GAP_NOISE)[: c.gap[0]] == 0)


def test_neighbour_on_footprint_rim_does_not_reject():
    volume = np.zeros((9, 14, 20), dtype=np.uint16)
    volume[1:4, 3:10, 3:10] = 5  # upper face 7 x 7
    volume[5:8, 3:9, 3:9] = 3  # lower face 6 x 6, inside the upper one
    volume[:, 3:10, 10:16] = 8  # neighbour, passes through all layers
    volume[4, 3:10, 9] = 8  # bulges onto the rim of the footprint in the gap
    for rule in ("extended", "paper"):
        assert CandidateScreener(rule=rule).fit_transform(volume).pairs.tolist() == [
            [5, 3]
        ]


def test_pixel_intrusion_tolerated_by_extended_rule_only():
    volume = split_box(shape=(9, 12, 20))
    volume[:, 3:9, 9:15] = 8  # neighbour through every layer
    volume[4, 5, 8] = 8  # one pixel inside the facing region (1/36)
    assert len(CandidateScreener(rule="extended").fit_transform(volume)) == 1
    assert len(CandidateScreener(rule="paper").fit_transform(volume)) == 0
    strict = CandidateScreener(max_intrusion=0.0).fit_transform(volume)
    assert len(strict) == 0


def test_min_overlap_is_a_fraction_of_the_smaller_face():
    volume = np.zeros((7, 12, 12), dtype=np.uint16)
    volume[0:3, 2:6, 2:6] = 1  # 16-pixel face
    volume[4:7, 5:10, 5:10] = 2  # 25-pixel face, overlap 1 pixel (1/16)
    assert len(CandidateScreener(min_overlap=0.1).fit_transform(volume)) == 0
    cands = CandidateScreener(min_overlap=0.05).fit_transform(volume)
    assert cands.pairs.tolist() == [[1, 2]] and cands[0].score == 1.0


def test_one_to_one_keeps_best_overlap():
    volume = np.zeros((7, 12, 16), dtype=np.uint16)
    volume[0:3, 2:8, 2:12] = 1  # one upper fragment ...
    volume[4:7, 2:8, 2:9] = 2  # ... facing two lower ones (42 px overlap)
    volume[4:7, 2:8, 9:12] = 4  # (18 px overlap)
    volume[0:3, 9:11, 2:6] = 6  # another upper that faces ...
    volume[4:7, 9:11, 2:6] = 7  # ... its own lower
    greedy = CandidateScreener().fit_transform(volume)
    assert greedy.pairs.tolist() == [[1, 2], [6, 7]]
    both = CandidateScreener(one_to_one=False).fit_transform(volume)
    assert both.pairs.tolist() == [[1, 2], [1, 4], [6, 7]]
    # mirrored: two uppers facing one lower
    flipped = CandidateScreener().fit_transform(volume[::-1])
    assert flipped.pairs.tolist() == [[2, 1], [7, 6]]
    for cands in (greedy, flipped):
        assert len(set(cands.pairs[:, 0])) == len(cands)
        assert len(set(cands.pairs[:, 1])) == len(cands)


def test_noise_mask_in_gap_does_not_steal_the_partner():
    volume = np.zeros((9, 12, 12), dtype=np.uint16)
    volume[0:3, 2:10, 2:10] = 1  # upper, 64-pixel face, ends at z=2
    volume[6:9, 3:6, 3:6] = 2  # lower, 9-pixel face, starts at z=6
    volume[4, 3:6, 3:6] = 9  # noise mask in the 3-layer gap, faces 2 fully
    cands = CandidateScreener(max_gap=3, min_overlap=0).fit_transform(volume)
    assert cands.pairs.tolist() == [[1, 2]]
    assert cands[0].gap_labels == (9,) and cands[0].gap == (3, 6)


def test_pairs_point_down_the_stack_for_chains():
    volume = np.zeros((11, 8, 8), dtype=np.uint16)
    volume[0:3, 2:6, 2:6] = 30
    volume[4:7, 2:6, 2:6] = 20
    volume[8:11, 2:6, 2:6] = 10
    cands = CandidateScreener().fit_transform(volume)
    assert cands.pairs.tolist() == [[20, 10], [30, 20]]  # sorted by upper label
    for c in cands:
        z_upper = np.argwhere(volume == c.upper)[:, 0].max()
        z_lower = np.argwhere(volume == c.lower)[:, 0].min()
        assert z_upper < z_lower


def test_huge_sparse_labels():
    volume = split_box().astype(np.int64)
    volume[volume == 5] = 2**40
    volume[volume == 3] = 2**40 + 3
    cands = CandidateScreener(mode="both").fit_transform(volume)
    assert cands.pairs.tolist() == [[2**40, 2**40 + 3]]


# ------------------------------------------------------------ the estimator


def test_several_volumes_order_and_voxel_size():
    volumes = [split_box(), np.flip(split_box(), axis=0), split_box(2, (10, 12, 12))]
    screener = CandidateScreener(max_gap=2)
    cands = screener.fit_transform(volumes, voxel_size=(2.0, 0.5, 0.5))
    assert screener.n_volumes_in_ == 3
    assert cands.volume_index.tolist() == [0, 1, 2]
    assert cands.pairs.tolist() == [[5, 3], [3, 5], [5, 3]]
    assert all(c.voxel_size == (2.0, 0.5, 0.5) for c in cands)
    keys = [c.key for c in cands]
    assert keys == sorted(keys)


def test_parallel_matches_sequential():
    volumes = [split_box(), split_box(2, (10, 12, 12))]
    seq = CandidateScreener(max_gap=2).fit_transform(volumes)
    par = CandidateScreener(max_gap=2, n_jobs=2).fit_transform(volumes)
    assert [c.key for c in seq] == [c.key for c in par]
    for a, b in zip(seq, par):
        np.testing.assert_array_equal(a.crop, b.crop)


def test_transform_without_fit_and_fit_returns_self():
    volume = split_box()
    screener = CandidateScreener()
    assert len(screener.transform(volume)) == 1
    assert screener.fit(volume) is screener and screener.n_volumes_in_ == 1
    tags = screener.__sklearn_tags__()
    assert not tags.requires_fit and not tags.input_tags.two_d_array


def test_input_is_not_modified():
    volume = split_box()
    volume[4, 4:6, 4:6] = 11
    before = volume.copy()
    volume.flags.writeable = False
    CandidateScreener(mode="both").fit_transform(volume)
    np.testing.assert_array_equal(volume, before)


def test_candidate_set_indexing():
    volumes = [split_box(), split_box(), split_box()]
    cands = CandidateScreener().fit_transform(volumes)
    assert len(cands) == 3 and cands.shape == (3,)
    assert cands[1].volume_index == 1
    assert cands[1:].volume_index.tolist() == [1, 2]
    assert cands[np.array([True, False, True])].volume_index.tolist() == [0, 2]
    assert cands[[2, 0]].volume_index.tolist() == [2, 0]


def test_pickle_and_clone():
    screener = CandidateScreener(mode="both", max_gap=2)
    cands = screener.fit_transform(split_box(), voxel_size=(3, 1, 1))
    restored = pickle.loads(pickle.dumps(screener))
    assert restored.get_params() == screener.get_params()
    assert restored.n_volumes_in_ == 1
    again = pickle.loads(pickle.dumps(cands))
    assert [c.key for c in again] == [c.key for c in cands]
    np.testing.assert_array_equal(again[0].crop, cands[0].crop)
    cloned = clone(screener)
    assert cloned.get_params() == screener.get_params()
    assert not hasattr(cloned, "n_volumes_in_")
    assert set(screener.get_params()) >= {"mode", "max_gap", "rule", "n_jobs"}


@pytest.mark.parametrize(
    "volume, error, match",
    [
        (np.ones((4, 4), dtype=int), ValueError, "3D"),
        (np.full((3, 4, 4), 1.5), ValueError, "non-integer"),
        (np.ones((3, 4, 4), dtype=bool), TypeError, "boolean"),
        ("volume", TypeError, "list of them"),
        ([], ValueError, "empty list"),
    ],
)
def test_bad_volumes_raise(volume, error, match):
    with pytest.raises(error, match=match):
        CandidateScreener().fit_transform(volume)


@pytest.mark.parametrize("mode", ["axis", "contact", "both"])
def test_empty_tile_has_no_candidates(mode):
    empty = np.zeros((3, 4, 4), dtype=np.uint16)
    assert len(CandidateScreener(mode=mode).fit_transform(empty)) == 0
    assert len(CandidateScreener(mode=mode).fit_transform([empty, empty])) == 0


def test_bad_volume_of_a_list_is_named_by_position():
    good = np.ones((3, 4, 4), dtype=np.uint16)
    with pytest.raises(ValueError, match=r"^volume 2 of 3 contains negative") as e:
        CandidateScreener().fit_transform([good, -good.astype(int), good])
    assert "[" not in str(e.value)
    with pytest.raises(ValueError, match=r"^volume contains negative"):
        CandidateScreener().fit_transform(-good.astype(int))


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "tilted"},
        {"max_gap": 0},
        {"max_gap": 4},
        {"rule": "strict"},
        {"min_overlap": 1.5},
        {"max_noise_cover": -0.1},
        {"min_contact": 0},
        {"padding": -1},
        {"one_to_one": "yes"},
    ],
)
def test_bad_parameters_raise(params):
    with pytest.raises(InvalidParameterError):
        CandidateScreener(**params).fit_transform(split_box())


def test_paper_rule_needs_one_gap_layer_and_bad_voxel_size():
    with pytest.raises(ValueError, match="max_gap=1"):
        CandidateScreener(rule="paper", max_gap=2).fit(split_box())
    with pytest.raises(ValueError, match="voxel_size"):
        CandidateScreener().transform(split_box(), voxel_size=(1, 2))


def test_voxel_size_in_the_constructor_is_deprecated():
    volume = split_box()
    expected = CandidateScreener().transform(volume, voxel_size=(3, 1, 1))
    old = CandidateScreener(voxel_size=(3, 1, 1))
    with pytest.warns(FutureWarning, match="transform"):
        cands = old.transform(volume)
    assert [c.voxel_size for c in cands] == [c.voxel_size for c in expected]
    # the argument wins over the deprecated parameter, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cands = old.transform(volume, voxel_size=(2, 1, 1))
    assert {c.voxel_size for c in cands} == {(2.0, 1.0, 1.0)}


# ------------------------------------------------------------ synthetic data

try:
    from sklearn_overseg import datasets
except ImportError:  # the simulator is optional for the hand-made tests above
    datasets = None
needs_datasets = pytest.mark.skipif(
    datasets is None, reason="sklearn_overseg.datasets is not available"
)


@needs_datasets
@pytest.mark.parametrize("mode", ["dense", "loose", "nuclei"])
@pytest.mark.parametrize("seed", [0, 1])
def test_recovers_simulated_one_layer_splits(mode, seed):
    tissue = datasets.make_tissue(
        (32, 96, 96), n_cells=40, mode=mode, random_state=seed
    )
    flawed, truth = datasets.oversegment(
        tissue, n_splits=8, n_noise_masks=6, shrink=1, random_state=seed
    )
    assert len(truth) > 0
    for rule in ("extended", "paper"):
        cands = CandidateScreener(rule=rule).fit_transform(flawed)
        assert recall(cands, truth) == 1.0
        assert all(c.n_gap_layers == 1 for c in cands)


@needs_datasets
@pytest.mark.parametrize("mode", ["dense", "loose"])
def test_recovers_simulated_two_layer_gaps_and_chains(mode):
    tissue = datasets.make_tissue((40, 96, 96), n_cells=40, mode=mode, random_state=2)
    flawed, truth, info = datasets.oversegment(
        tissue,
        n_splits=8,
        gap_layers=2,
        n_noise_masks=6,
        max_cuts_per_cell=2,
        return_info=True,
        random_state=2,
    )
    cands = CandidateScreener(max_gap=2).fit_transform(flawed)
    assert recall(cands, truth) == 1.0
    assert len(CandidateScreener(max_gap=1).fit_transform(flawed)) < len(truth)
    # noise masks are reported in the gaps of the pairs that hold them
    by_pair = {(c.upper, c.lower): c for c in cands}
    checked = 0
    for noise, pair in zip(info["noise_labels"], info["noise_pairs"].tolist()):
        if tuple(pair) in by_pair:
            assert int(noise) in by_pair[tuple(pair)].gap_labels
            checked += 1
    assert checked > 0


@needs_datasets
def test_without_one_to_one_recall_is_complete_on_hard_cases():
    tissue = datasets.make_tissue((40, 96, 96), n_cells=40, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flawed, truth = datasets.oversegment(
            tissue,
            n_splits=10,
            gap_layers=3,
            shrink=2,
            n_noise_masks=8,
            random_state=3,
        )
    cands = CandidateScreener(max_gap=3, one_to_one=False).fit_transform(flawed)
    assert recall(cands, truth) == 1.0


# ----------------------------------------------------------------- real data


@needs_datasets
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize(
    "name",
    [p.name for p in sorted(SHARED_DATA.glob("*.npz"))] if SHARED_DATA.is_dir() else [],
)
def test_recovers_splits_of_real_cells(name):
    labels = np.load(SHARED_DATA / name)["labels"]
    for seed in range(2):
        flawed, truth = datasets.oversegment(
            labels, n_splits=10, shrink=1, n_noise_masks=5, random_state=seed
        )
        cands = CandidateScreener().fit_transform(flawed)
        assert recall(cands, truth) == 1.0
        assert len(cands) <= 2 * len(truth)


def test_candidates_carry_z_extents_that_decide_reuses(monkeypatch):
    from dataclasses import replace

    from sklearn_overseg._geometry import LabelGeometry
    from sklearn_overseg.correction._steps import decide_merges
    from sklearn_overseg.datasets import make_tissue, oversegment

    truth = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    flawed, _ = oversegment(truth, 5, random_state=0)
    cands = CandidateScreener(mode="both").transform(flawed)
    geometry = LabelGeometry.from_volume(flawed)
    assert len(cands) > 5
    for c in cands:
        assert c.meta["z_extents"] == (
            geometry.z_extent(c.upper), geometry.z_extent(c.lower)
        )
    p = np.random.RandomState(0).rand(len(cands))
    bare = CandidateSet(replace(c, meta={}) for c in cands)
    expected = decide_merges(flawed, bare, p, 0.5)  # from the volume's geometry

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the volume's geometry was computed again")

    monkeypatch.setattr(LabelGeometry, "from_volume", no_second_pass)
    mapping, merged = decide_merges(flawed, cands, p, 0.5)
    assert mapping == expected[0] and mapping
    np.testing.assert_array_equal(merged, expected[1])
    with pytest.raises(AssertionError, match="computed again"):
        decide_merges(flawed, bare, p, 0.5)

"""Stitch splits (gap 0): screening, no gap filling, block-wise path, bad input."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from sklearn_overseg import CandidateScreener, load_pretrained
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.datasets import make_tissue, slice_and_stitch, stitch_slices


def cell_with_cap(cap_pixels: int = 20) -> np.ndarray:
    """A 4-layer cell (label 1) and a one-layer cap of ``cap_pixels`` below it."""
    volume = np.zeros((6, 16, 16), np.uint16)
    volume[:4, 3:13, 3:13] = 1
    volume[4, 6:10, 6 : 6 + cap_pixels // 4] = 2
    return volume


def test_a_twenty_voxel_one_layer_cap_is_proposed_only_with_min_gap_0():
    volume = cell_with_cap(20)
    assert (volume == 2).sum() == 20
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2]]
    assert found[0].n_gap_layers == 0 and found[0].gap == (4, 4)
    assert len(CandidateScreener(max_gap=2).fit_transform(volume)) == 0


def test_gap_0_and_gap_pairs_share_the_one_to_one_matching():
    volume = cell_with_cap(20)
    volume[5, 6:10, 6:11] = 3  # below the cap: 2-3 touch, 1-3 face across a gap
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    # the cap lies inside 1's last mask and 3 mostly inside the cap (overlap of
    # the smaller mask >= NEAR_MATCH): a stitcher's near misses, matched before
    # the gapped pair (1, 3), so the cap is a piece of the cell, not noise
    assert found.pairs.tolist() == [[1, 2], [2, 3]]
    assert all(c.n_gap_layers == 0 for c in found)
    # a piece that overlaps neither side that much is still the gapped pair's
    # noise mask, matched last, not a partner of either fragment
    loose = cell_with_cap(20)
    loose[4] = 0
    loose[4, 6:10, 10:15] = 2  # 12 of its 20 pixels under 1, 4 over 3
    loose[5, 6:10, 6:11] = 3
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(loose)
    assert found.pairs.tolist() == [[1, 3]] and found[0].gap_labels == (2,)
    without_3 = cell_with_cap(20)
    without_3[5, 6:10, 6:11] = 2  # the cap is two layers thick
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(without_3)
    assert found.pairs.tolist() == [[1, 2]]


def test_min_gap_is_validated():
    with pytest.raises(ValueError, match="min_gap"):
        CandidateScreener(min_gap=2).fit_transform(cell_with_cap())


def test_stacked_unstitched_masks_are_refused_with_a_hint():
    volume = np.zeros((6, 12, 20), np.uint16)
    for z in range(6):  # two 2D masks per layer, never stitched: 12 labels
        volume[z, 2:9, 2:9], volume[z, 2:9, 11:18] = 2 * z + 1, 2 * z + 2
    for call in (
        lambda: CandidateScreener(min_gap=0).fit_transform(volume),
        lambda: load_pretrained().correct(volume),
    ):
        with pytest.raises(ValueError, match="stitch_slices"):
            call()
    stitched = stitch_slices(volume)
    assert len(CandidateScreener(min_gap=0).fit_transform(stitched)) == 0


def test_a_flat_cell_split_in_two_one_layer_halves_is_not_refused():
    volume = np.zeros((4, 12, 12), np.uint16)
    volume[1, 2:9, 2:9], volume[2, 2:9, 2:9] = 1, 2
    found = CandidateScreener(min_gap=0).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2]]


def test_a_single_layer_volume_gets_a_warning_not_a_crash():
    volume = np.zeros((1, 8, 8), np.uint16)
    volume[0, 1:4, 1:4], volume[0, 4:7, 4:7] = 1, 2
    with pytest.warns(UserWarning, match="single z layer"):
        found = CandidateScreener(min_gap=0, mode="both").fit_transform(volume)
    assert len(found) == 0
    with pytest.warns(UserWarning, match="single z layer"):
        np.testing.assert_array_equal(load_pretrained().correct(volume), volume)


def test_merging_a_gap_0_pair_adds_no_voxel():
    volume = cell_with_cap(20)
    corrector = copy.deepcopy(load_pretrained())
    corrector.screener_.set_params(min_gap=0)
    corrector.threshold = 0.0  # merge every candidate
    corrected = corrector.correct(volume)
    np.testing.assert_array_equal(corrected > 0, volume > 0)
    assert set(np.unique(corrected).tolist()) == {0, 1}


@pytest.fixture(scope="module")
def stitched() -> np.ndarray:
    truth = make_tissue((24, 96, 96), n_cells=30, mode="dense", random_state=4)
    flawed, _ = slice_and_stitch(truth, stitch_threshold=0.5, random_state=4)
    return flawed.astype(np.uint32)


def test_blockwise_screening_of_gap_0_equals_in_memory(stitched):
    pytest.importorskip("dask")
    from sklearn_overseg.distributed import VolumeReader
    from sklearn_overseg.distributed._screening import screen_axis_pairs

    screener = CandidateScreener(min_gap=0, max_gap=2)
    expected = screener.fit_transform(stitched)
    assert any(c.n_gap_layers == 0 for c in expected)
    geometry = LabelGeometry.from_volume(stitched)
    pairs = screen_axis_pairs(
        VolumeReader(stitched), geometry, screener.get_params(),
        block_shape=(3, 50, 64),
    )
    labels = geometry.labels
    assert [(labels[p.upper_row], labels[p.lower_row]) for p in pairs] == [
        (c.upper, c.lower) for c in expected
    ]
    assert [p.overlap for p in pairs] == [c.score for c in expected]


def test_correct_zarr_of_stitch_splits_equals_in_memory(stitched, tmp_path):
    pytest.importorskip("dask")
    zarr = pytest.importorskip("zarr")
    from sklearn_overseg.distributed import correct_zarr

    corrector = copy.deepcopy(load_pretrained())
    corrector.screener_.set_params(min_gap=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = corrector.correct(stitched)
    assert not np.array_equal(expected, stitched)  # something was merged
    source = zarr.open_array(
        store=str(tmp_path / "s.zarr"), mode="w", shape=stitched.shape,
        dtype=stitched.dtype, chunks=(8, 48, 40),
    )
    source[...] = stitched
    result = correct_zarr(
        source, tmp_path / "fixed.zarr", corrector, chunks=(8, 96, 40)
    )
    assert np.array_equal(result[...], expected)


def ellipsoid(shape, center, radii) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    return sum(((a - c) / r) ** 2 for a, c, r in zip((zz, yy, xx), center, radii)) <= 1


def test_the_default_model_merges_a_stitcher_cap_on_a_cell():
    # a rounded cell whose last layer an IoU stitcher cut off (IoU < 0.25)
    cell = ellipsoid((12, 32, 32), (5, 16, 16), (5.3, 11, 9))
    volume = cell.astype(np.uint16)
    last = np.flatnonzero(cell.any(axis=(1, 2)))[-1]
    volume[last][cell[last]] = 2
    assert 10 <= (volume == 2).sum() <= 40
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2]] and found[0].n_gap_layers == 0
    # the model itself, whatever the volume looks like (stitch_splits=True)
    corrected = load_pretrained(stitch_splits=True).correct(volume)
    np.testing.assert_array_equal(corrected, cell.astype(np.uint16))


def test_the_default_model_keeps_stacked_cells_apart():
    # two rounded cells stacked in z, each flattened where they meet
    shape = (18, 32, 32)
    upper = ellipsoid(shape, (4, 15, 16), (5, 10, 8))
    lower = ellipsoid(shape, (12, 17, 15), (5, 8, 11))
    upper[8:], lower[:8] = False, False
    volume = np.zeros(shape, np.uint16)
    volume[upper], volume[lower] = 1, 2
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2]] and found[0].n_gap_layers == 0
    np.testing.assert_array_equal(load_pretrained().correct(volume), volume)


def pear_cell(radii) -> np.ndarray:
    """2D cross-sections of a round cell: a disc of radius ``radii[z]`` per layer."""
    yy, xx = np.indices((32, 32))
    return np.stack([((yy - 16) ** 2 + (xx - 16) ** 2 <= r * r) & (r > 0)
                     for r in radii])


def test_a_whole_layer_piece_cut_by_the_stitcher_is_no_gap_noise():
    # a cell widening fast: the stitcher (IoU 0.5) cuts it into a (layers 1-3),
    # a one-layer piece n (layer 4) and b (layers 5-10); n covers all of a's
    # last layer and 47% of b's first, too little of the footprint (< 0.5) to
    # reject the gapped pair (a, b) as a flat cell in its gap
    cell = pear_cell((0, 3, 3.5, 3.5, 5.5, 8, 8.5, 8.5, 8, 7, 5.5, 0))
    volume = stitch_slices(cell.astype(np.int32), threshold=0.5)
    assert [np.unique(volume[z][cell[z]]).tolist() for z in (3, 4, 5)] == [
        [1], [2], [3]
    ]
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2], [2, 3]]
    assert all(c.n_gap_layers == 0 for c in found)
    # the piece used to be matched as noise of the gapped pair, which the
    # default model keeps apart: nothing was repaired. It lies inside both
    # neighbours' facing masks (a near match), so even a screener that calls
    # every gap mask noise matches it through the piece now
    noise = CandidateScreener(min_gap=0, max_gap=2, max_noise_cover=1.0)
    found = noise.fit_transform(volume)
    assert found.pairs.tolist() == [[1, 2], [2, 3]]
    # stitch splits on: one cell's two starts are too few for "auto" to tell
    corrected = load_pretrained(stitch_splits=True).correct(volume)
    np.testing.assert_array_equal(corrected, cell.astype(volume.dtype))


def test_a_small_mask_in_a_missing_layer_is_gap_noise_unless_a_near_match():
    cell = pear_cell((0, 3, 3.5, 3.5, 5.5, 8, 8.5, 8.5, 8, 7, 5.5, 0))
    volume = cell.astype(np.uint16)
    volume[5:][cell[5:]] = 2
    volume[4] = 0  # the 2D model missed layer 4 ...
    volume[4, 15:18, 15:18] = 3  # ... but drew a 9-pixel mask inside the cell
    # without gap-0 pairs: the gapped pair, with the mask as its gap noise
    (pair,) = CandidateScreener(max_gap=2).fit_transform(volume)
    assert (pair.upper, pair.lower, pair.gap_labels) == (1, 2, (3,))
    # with them: the mask lies inside both neighbours' facing masks, as a
    # stitcher's near miss would; it is matched as a piece of the cell
    found = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volume)
    assert found.pairs.tolist() == [[1, 3], [3, 2]]
    assert all(c.n_gap_layers == 0 for c in found)
    merged = load_pretrained(stitch_splits=True).correct(volume)
    assert np.unique(merged).tolist() == [0, 1]  # one cell, no voxel lost


def test_without_stitch_splits_the_default_model_leaves_gap_0_pairs_alone():
    cell = ellipsoid((12, 32, 32), (5, 16, 16), (5.3, 11, 9))
    volume = cell.astype(np.uint16)
    last = np.flatnonzero(cell.any(axis=(1, 2)))[-1]
    volume[last][cell[last]] = 2
    unstitched = load_pretrained(stitch_splits=False)
    assert unstitched.screener_.min_gap == 1
    assert unstitched.predict_merges(volume) == []
    np.testing.assert_array_equal(unstitched.correct(volume), volume)
    # gaps of a missing layer are still proposed and repaired
    gapped = cell.astype(np.uint16)
    gapped[5][cell[5]] = 0
    gapped[6:][cell[6:]] = 2
    (record,) = unstitched.predict_merges(gapped)
    assert (record["upper"], record["lower"], record["merged"]) == (1, 2, True)
    assert load_pretrained(stitch_splits=True).screener_.min_gap == 0
    assert load_pretrained().screener_.min_gap == "auto"  # the default


def test_stitch_splits_false_is_refused_for_the_tilted_model():
    with pytest.raises(ValueError, match="axis models"):
        load_pretrained("tilted", stitch_splits=False)
    with pytest.raises(ValueError, match="stitch_splits"):
        load_pretrained(stitch_splits="no")


def test_cli_no_stitch_splits(tmp_path):
    import subprocess
    import sys

    cell = ellipsoid((12, 32, 32), (5, 16, 16), (5.3, 11, 9))
    volume = cell.astype(np.uint16)
    last = np.flatnonzero(cell.any(axis=(1, 2)))[-1]
    volume[last][cell[last]] = 2
    np.save(tmp_path / "seg.npy", volume)
    base = [sys.executable, "-m", "sklearn_overseg.cli", "correct", "seg.npy",
            "--quiet"]
    kept = subprocess.run(base + ["-o", "kept.npy", "--no-stitch-splits"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert kept.returncode == 0, kept.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "kept.npy"), volume)
    # a hand-drawn cap (the cell's other end thins out as no stitcher keeps
    # it, so "auto", the default, calls it unstitched): on forces the pairs
    merged = subprocess.run(base + ["-o", "merged.npy", "--stitch-splits", "on"],
                            cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stderr
    assert np.unique(np.load(tmp_path / "merged.npy")).tolist() == [0, 1]
    tilted = subprocess.run(base + ["-o", "t.npy", "--no-stitch-splits",
                                    "--model", "tilted"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert tilted.returncode != 0 and "axis models" in tilted.stderr
    assert not (tmp_path / "t.npy").exists()

"""detect_stitched and stitch_splits="auto": was the volume stitched from 2D slices?"""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sklearn_overseg import CandidateScreener, load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment, slice_and_stitch
from sklearn_overseg.screening import (
    StitchEvidence,
    detect_stitched,
    evidence_from_links,
    join_links,
    layer_pairs,
    stitch_links,
)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return make_tissue((20, 64, 64), n_cells=30, mode="dense", random_state=5)


@pytest.fixture(scope="module")
def stitched(truth) -> np.ndarray:
    return slice_and_stitch(truth, stitch_threshold=0.25, random_state=5)[0]


def columns(cap_side: int) -> np.ndarray:
    """Three 16 x 16 columns over layers 0-4, each with a square cap under it."""
    volume = np.zeros((7, 20, 64), dtype=np.uint16)
    for k, x in enumerate((2, 23, 44)):
        volume[:5, 2:18, x : x + 16] = 1 + k
        volume[5, 8 : 8 + cap_side, x + 6 : x + 6 + cap_side] = 4 + k
    return volume


def test_caps_under_columns_are_what_a_stitcher_leaves():
    evidence = detect_stitched(columns(4))  # IoU 16 / 256 with the layer above
    assert isinstance(evidence, StitchEvidence)
    assert evidence.stitched and evidence.score == 1.0
    assert (evidence.n_links, evidence.n_starts, evidence.n_violations) == (12, 3, 0)
    # the thresholds that explain it lie between the caps' IoU and the links'
    assert 16 / 256 < evidence.threshold <= 1.0
    # one or two starts without violation are too few to tell
    few = detect_stitched(columns(4)[:, :, :40])
    assert few.n_starts == 2 and not few.stitched
    assert "too few starts" in few.reasons[-1]
    assert detect_stitched(columns(4)[:, :, :40], min_starts=2).stitched


def test_a_link_no_stitcher_keeps_is_evidence_against_stitching():
    thin = np.zeros((7, 20, 84), dtype=np.uint16)
    thin[:, :, :64] = columns(4)
    thin[0:2, 2:18, 66:82] = 9
    thin[2, 9:11, 73:75] = 9  # a cell thinning out: link IoU 4 / 256 < 0.05
    evidence = detect_stitched(thin)
    assert not evidence.stitched
    assert evidence.n_violations == 1 and evidence.score == 0.75
    assert "1 link(s) below it" in evidence.reasons[1]


def test_stitched_and_unstitched_synthetic_volumes(truth, stitched):
    assert detect_stitched(stitched).stitched
    assert abs(detect_stitched(stitched).threshold - 0.25) < 0.05
    assert not detect_stitched(truth).stitched
    damaged, _ = oversegment(truth, n_splits=6, random_state=0)
    assert not detect_stitched(damaged).stitched
    strict, _ = slice_and_stitch(truth, stitch_threshold=0.6, z_step=2,
                                 random_state=1)
    evidence = detect_stitched(strict)
    assert evidence.stitched and abs(evidence.threshold - 0.6) < 0.05
    assert detect_stitched(stitched) == detect_stitched(stitched.copy())


def test_a_region_of_interest_keeps_its_verdict(truth, stitched):
    # masks cut by the crop's (y, x) border say nothing; the others still do
    roi = (slice(None), slice(4, 60), slice(4, 60))
    assert detect_stitched(stitched[roi]).stitched
    assert not detect_stitched(truth[roi]).stitched
    links, starts, links_inside, starts_inside = stitch_links(stitched[roi])
    assert links_inside.size < links.size and starts_inside.size < starts.size


def test_evidence_of_overlapping_z_ranges_adds_up(stitched):
    whole = stitch_links(stitched)
    parts = join_links([stitch_links(stitched[a:b])
                        for a, b in ((0, 8), (7, 15), (14, 20))])
    for joined, expected in zip(parts, whole, strict=True):
        np.testing.assert_array_equal(joined, expected)
    links, starts, links_inside, starts_inside = whole
    assert evidence_from_links(links[::-1], starts, links_inside,
                               starts_inside[::-1]) == detect_stitched(stitched)
    # a large volume is read every k-th layer pair, decided from those alone
    every_third = stitch_links(stitched, range(0, 19, 3))
    np.testing.assert_array_equal(
        every_third[0], np.concatenate([stitch_links(stitched[z : z + 2])[0]
                                        for z in range(0, 19, 3)]))
    assert layer_pairs((20, 64, 64)) == range(19)
    assert layer_pairs((2000, 224, 224)).step == 13


def test_bad_input_and_background():
    with pytest.raises(ValueError, match="3D"):
        detect_stitched(np.zeros((4, 4), dtype=int))
    with pytest.raises(ValueError):
        detect_stitched(np.full((3, 4, 4), 0.5))
    with pytest.raises(ValueError, match="max_violations"):
        detect_stitched(columns(4), max_violations=-1)
    with pytest.raises(ValueError, match="min_threshold"):
        detect_stitched(columns(4), min_threshold=0)
    with pytest.raises(ValueError, match="min_starts"):
        detect_stitched(columns(4), min_starts=0)
    empty = detect_stitched(np.zeros((3, 8, 8), dtype=np.uint8))
    assert not empty.stitched and empty.n_starts == 0 and empty.threshold is None
    assert "no stitch split" in empty.reasons[0]
    one_layer = detect_stitched(columns(4)[:1])
    assert not one_layer.stitched and one_layer.n_links == 0


def test_screener_auto_uses_gap_0_pairs_only_on_stitched_volumes(truth, stitched):
    auto = CandidateScreener(max_gap=2, min_gap="auto")
    on = CandidateScreener(max_gap=2, min_gap=0)
    off = CandidateScreener(max_gap=2, min_gap=1)
    assert auto.volume_min_gap(stitched) == 0
    assert auto.fit_transform(stitched).pairs.tolist() == (
        on.fit_transform(stitched).pairs.tolist())
    damaged, _ = oversegment(truth, n_splits=6, random_state=0)
    assert auto.volume_min_gap(damaged) == 1
    assert auto.fit_transform(damaged).pairs.tolist() == (
        off.fit_transform(damaged).pairs.tolist())
    # two volumes, two decisions
    both = auto.fit_transform([stitched, damaged])
    assert len(both) == len(on.transform([stitched])) + len(off.transform([damaged]))
    with pytest.raises(ValueError, match="min_gap"):
        CandidateScreener(min_gap="sometimes").fit(stitched)


def test_load_pretrained_auto_end_to_end(truth, stitched):
    auto = load_pretrained()  # stitch_splits="auto" is the default
    assert auto.screener_.min_gap == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(
            auto.correct(stitched),
            load_pretrained(stitch_splits=True).correct(stitched))
        damaged, _ = oversegment(truth, n_splits=6, random_state=0)
        np.testing.assert_array_equal(
            auto.correct(damaged),
            load_pretrained(stitch_splits=False).correct(damaged))
    # the tilted model has no stitch splits: "auto" (the default) changes nothing
    tilted = load_pretrained("tilted", stitch_splits="auto")
    assert tilted.screener_.get_params() == load_pretrained(
        "tilted", stitch_splits=True).screener_.get_params()
    with pytest.raises(ValueError, match="axis models"):
        load_pretrained("tilted", stitch_splits=False)


@pytest.mark.parametrize("budget", [None, 30_000])  # every pair / every k-th
def test_correct_zarr_with_auto_equals_in_memory(truth, stitched, tmp_path,
                                                 monkeypatch, budget):
    pytest.importorskip("dask")
    if budget is not None:  # both paths read the same sampled layer pairs
        from sklearn_overseg.screening import _stitch_links

        monkeypatch.setattr(_stitch_links, "MAX_PAIR_VOXELS", budget)
        assert layer_pairs(stitched.shape).step > 1
    zarr = pytest.importorskip("zarr")
    from sklearn_overseg.distributed import correct_zarr

    corrector = load_pretrained(stitch_splits="auto")
    damaged, _ = oversegment(truth, n_splits=6, random_state=0)
    for name, volume in (("stitched", stitched), ("damaged", damaged)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = copy.deepcopy(corrector).correct(volume)
        assert budget is not None or not np.array_equal(expected, volume)
        source = zarr.open_array(
            store=str(tmp_path / f"{name}.zarr"), mode="w", shape=volume.shape,
            dtype=volume.dtype, chunks=(6, 32, 40),
        )
        source[...] = volume
        result = correct_zarr(source, tmp_path / f"{name}-fixed.zarr", corrector,
                              chunks=(6, 64, 40))
        np.testing.assert_array_equal(result[...], expected)
    assert corrector.screener_.min_gap == "auto"  # the corrector is unchanged


def test_cli_stitch_splits_auto(tmp_path):
    volume = columns(4)
    np.save(tmp_path / "seg.npy", volume)
    base = [sys.executable, "-m", "sklearn_overseg.cli", "correct", "seg.npy"]
    run = subprocess.run(base + ["-o", "auto.npy"],  # --stitch-splits auto
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "stitch splits: on (--stitch-splits auto)" in run.stdout
    # the three caps merged into their columns
    assert np.unique(np.load(tmp_path / "auto.npy")).tolist() == [0, 1, 2, 3]
    off = subprocess.run(base + ["-o", "off.npy", "--stitch-splits", "off"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert off.returncode == 0, off.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "off.npy"), volume)
    clash = subprocess.run(base + ["-o", "x.npy", "--stitch-splits", "on",
                                   "--no-stitch-splits"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert clash.returncode != 0 and "contradicts" in clash.stderr
    assert not (tmp_path / "x.npy").exists()


def test_huge_label_values_give_the_same_evidence(stitched):
    shifted = stitched.astype(np.int64)
    shifted[shifted > 0] += 10**12
    assert detect_stitched(shifted) == detect_stitched(stitched)
    assert detect_stitched(stitched.astype(np.uint64)) == detect_stitched(stitched)


def test_evidence_from_links_wants_both_inside_lists_or_neither():
    with pytest.raises(ValueError, match="go together"):
        evidence_from_links([0.9, 0.6], [0.2, 0.3], starts_inside=[0.2, 0.3])

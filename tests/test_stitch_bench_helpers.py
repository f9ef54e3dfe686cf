"""The scoring helpers of benchmarks/bench_stitch.py, on tiny volumes."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _stitch_eval import (  # noqa: E402
    cross_sections,
    extra_fragments,
    join_counts,
    perfect_merger,
    rule_merger,
)


def stitched_pair():
    """Cell 1 cut in two (labels 1, 2); cell 2 stacked below (label 3)."""
    truth = np.zeros((6, 8, 8), np.uint16)
    truth[:3, 1:7, 1:7] = 1
    truth[3:, 1:7, 1:7] = 2
    seg = truth.copy()
    seg[2][truth[2] == 1] = 7          # the last layer of cell 1 cut off
    seg[3:5, 1:3, 1:3] = 9             # a small piece of cell 2
    return truth, seg


def test_extra_fragments_and_the_perfect_merger():
    truth, seg = stitched_pair()
    assert extra_fragments(seg, truth) == 2
    merged = perfect_merger(seg, truth)
    assert extra_fragments(merged, truth) == 0
    assert join_counts(seg, merged, truth) == (2, 0)


def test_the_rule_joins_facing_layers_one_to_one():
    truth, seg = stitched_pair()
    merged = rule_merger(seg, 0.5)
    # 1 -> 7 (same cell); 7 -> 2 across the interface (different cells): the
    # rule has no notion of shape, so it joins both
    right, wrong = join_counts(seg, merged, truth)
    assert right >= 1 and wrong >= 1
    strict = rule_merger(seg, 1.01)
    assert np.array_equal(strict, seg)


def test_joining_two_background_labels_is_wrong():
    truth = np.zeros((2, 4, 4), np.uint16)
    truth[:, :2] = 1
    seg = truth.copy()
    seg[0, 3, 3], seg[1, 3, 3] = 5, 6
    after = seg.copy()
    after[after == 6] = 5
    assert join_counts(seg, after, truth) == (0, 1)


def test_cross_sections_are_per_slice_masks():
    truth = np.zeros((2, 4, 4), np.uint16)
    truth[:, :, :2], truth[:, :, 2:] = 3, 8
    slices = cross_sections(truth)
    assert [len(np.unique(s)) for s in slices] == [2, 2]
    assert (slices > 0).all()


def test_rescale_maps_the_route_threshold_to_one_half():
    from bench_stitch_lodo import rescale

    p = np.array([0.0, 0.35, 0.7, 0.85, 1.0])
    out = rescale(p, 0.7)
    assert out[2] == 0.5 and out[0] == 0.0 and out[-1] == 1.0
    assert np.all(np.diff(out) > 0)          # the order of the pairs is kept
    assert (out >= 0.5).tolist() == (p >= 0.7).tolist()
    assert np.array_equal(rescale(p, 0.5), p)


def test_stitch_pairs_with_image_carry_aligned_crops():
    from bench_stitch import bright_boundaries
    from bench_stitch_image import Features, stitch_pairs_with_image, touching

    from sklearn_overseg import CandidateScreener, FragmentExtentFeatures
    from sklearn_overseg.datasets import make_tissue, make_tissue_image

    truth = make_tissue((16, 48, 48), n_cells=12, random_state=0)
    image = make_tissue_image(truth, "membrane", random_state=0)
    screener = CandidateScreener(max_gap=2, min_gap=0)
    X, y = stitch_pairs_with_image(truth, image, screener, seed=0)
    assert len(X) == len(y) > 0 and set(np.unique(y)) <= {0, 1}
    assert touching(X).all()                      # gap-0 pairs only
    assert all(c.image is not None and c.image.shape == c.crop.shape for c in X)
    again, _ = stitch_pairs_with_image(truth, image, screener, seed=0)
    assert [c.key for c in again] == [c.key for c in X]   # seeded

    class Shipped:  # what Features reads of a fitted corrector
        class classifier_:
            stitch_ = [FragmentExtentFeatures().fit(X)]

    labels, image_features = Features(Shipped)(X)
    assert labels.shape[0] == image_features.shape[0] == len(X)
    assert image_features.shape[1] == 6 and np.isfinite(image_features).all()
    raw = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    assert np.array_equal(bright_boundaries("em_medulla_gala", raw), 255.0 - raw)
    assert np.array_equal(bright_boundaries("ovule_plantseg", raw), raw)

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


def test_hard_negative_recipes_add_shares_of_each_source():
    from bench_stitch_negatives import N_CONTEXT, N_SHAPE, recipe_training

    def block(n, value, touching=1.0):
        # two features, the shape features (value + 10), the context features
        # (value + 20), then the gap-0 flag (not a feature)
        return np.c_[np.full((n, 2), value), np.full((n, N_SHAPE), value + 10.0),
                     np.full((n, N_CONTEXT), value + 20.0), np.full(n, touching)]

    base = (np.r_[block(3, 0.0), block(1, 0.0, touching=0.0)], np.array([1, 1, 0, 1]))
    pools = {"truth": (block(1000, 1.0), np.zeros(1000, int)),
             "stitch": (block(6, 2.0), np.array([1, 0, 1, 0, 1, 0]))}
    X, y, weight = recipe_training("synthetic", base, pools)
    assert X.shape == (4, 2) and y.tolist() == [1, 1, 0, 1] and weight is None
    X, y, weight = recipe_training("+truth%0.3+stitch@0.5", base, pools)
    n_truth = len(y) - 4 - 6
    assert 250 < n_truth < 350                     # about 30% of the source
    assert (X[4:4 + n_truth] == 1).all() and (X[4 + n_truth:] == 2).all()
    assert y[-6:].tolist() == [1, 0, 1, 0, 1, 0] and weight == 0.5
    again = recipe_training("+truth%0.3+stitch@0.5", base, pools)
    assert np.array_equal(again[1], y)             # the share is seeded
    X, _, _ = recipe_training("synthetic#shape", base, pools)
    assert X.shape == (4, 2 + N_SHAPE) and (X[:, 2:] == 10).all()
    X, _, _ = recipe_training("synthetic#context!chain", base, pools)
    assert X.shape == (4, 2 + N_CONTEXT) and (X[:, 2:] == 20).all()
    X, _, _ = recipe_training("synthetic#ctx0", base, pools)  # gapped: no context
    assert (X[:3, 2:] == 20).all() and (X[3, 2:] == 0).all()


def test_chain_veto_keeps_one_join_of_a_piece_between_two_cells():
    from bench_stitch_negatives import chain_veto

    from sklearn_overseg import CandidateScreener

    vol = np.zeros((6, 8, 8), dtype=np.uint16)
    vol[:3, 1:7, 1:4] = 1              # a cell on the left, layers 0-2
    vol[3, 1:7, 2:6] = 2               # a one-layer piece under both cells
    vol[4:, 1:7, 4:7] = 3              # another cell on the right, layers 4-5
    X = CandidateScreener(min_gap=0).fit_transform(vol)
    assert X.pairs.tolist() == [[1, 2], [2, 3]]
    p = chain_veto(vol, X, [0.9, 0.8], 0.5)
    assert p.tolist() == [0.9, 0.0]    # the less probable join is dropped
    vol[4:, 1:7, 1:7] = 3              # now cell 3 lies under cell 1 too
    X = CandidateScreener(min_gap=0).fit_transform(vol)
    assert chain_veto(vol, X, [0.9, 0.8], 0.5).tolist() == [0.9, 0.8]


def test_shape_features_tell_a_centred_cap_from_an_offset_cell():
    from bench_stitch_negatives import shape_features

    from sklearn_overseg import Candidate

    crop = np.zeros((5, 12, 12), dtype=np.uint8)
    crop[0, 2:10, 2:10] = 1
    crop[1:4, 1:11, 1:11] = 1          # a cell, widest in the middle
    crop[4, 5:7, 5:7] = 2              # a one-layer cap in the middle below
    cap = shape_features(Candidate(0, 1, 2, crop, gap=(4, 4)))
    assert cap[0] == 1.0 and cap[1] == 1.0     # no narrowing; one-layer cap
    assert cap[2] < 0.1 and cap[3] > 0.3       # centred, deep inside
    crop[4] = 0
    crop[4, 0:4, 0:4] = 2              # a cell at the corner, partly outside
    side = shape_features(Candidate(0, 1, 2, crop, gap=(4, 4)))
    assert side[2] > 0.5 and side[3] < cap[3]


def test_gapped_pairs_need_both_ensembles_gap0_pairs_the_stitch_one():
    from bench_stitch_negatives import N_CONTEXT, N_SHAPE, probabilities

    class Head:  # a head fitted on the stitch route's features only
        def predict_proba(self, X):
            assert X.shape[1] == 1           # the extra columns are left out
            return np.c_[1 - X[:, 0], X[:, 0]]

    extra = np.full((4, N_SHAPE + N_CONTEXT + 1), 5.0)
    d = dict(X=np.c_[[0.9, 0.2, 0.9, 0.3], extra],
             touch=np.array([True, True, False, False]),
             gaps=np.array([0.0, 0.0, 0.6, 0.8]))
    assert probabilities(Head(), d).tolist() == [0.9, 0.2, 0.6, 0.3]


def test_per_file_table_sums_each_file_then_all():
    from _stitch_eval import per_file_table

    def result(extra, right, wrong, ap):
        return dict(extra_before=extra, right=right, wrong=wrong, AP50=ap)

    records = [
        dict(file="a", runs={"ref": result(10, 0, 0, 0.5), "m": result(10, 6, 2, 0.6)}),
        dict(file="a", runs={"ref": result(5, 0, 0, 0.5), "m": result(5, 3, 1, 0.8)}),
        dict(file="b", runs={"ref": result(4, 0, 0, 0.5), "m": result(4, 4, 0, 1.0)}),
    ]
    lines = per_file_table(records, ["m"], key="runs", reference="ref",
                           files=["a", "b"], counts=True)
    assert lines[0] == "| left-out file | extra | m |"
    assert lines[2] == "| a | 15 | 9 / 3: 60% / 25.0% / 0.700 |"
    assert lines[3] == "| b | 4 | 4 / 0: 100% / 0.0% / 1.000 |"
    assert lines[4] == "| **all six** | 19 | 13 / 3: 68% / 18.8% / 0.800 |"
    plain = per_file_table(records, ["m"], key="runs", reference="ref", files=["b"])
    assert plain[2] == "| b | 4 | 100% / 0.0% / 1.000 |"

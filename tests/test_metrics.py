"""Tests for sklearn_overseg.metrics: matching, VOI and merge scores."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from sklearn_overseg.datasets import make_tissue
from sklearn_overseg.metrics import (
    _contingency,
    average_precision,
    interior_layers,
    jaccard_index,
    layer_recovery_ious,
    mean_average_precision,
    merge_scores,
    merge_scores_from_volumes,
    variation_of_information,
)
from sklearn_overseg.metrics._matching import _count_matches

skimage_metrics = pytest.importorskip("skimage.metrics")


def tissue(shape=(12, 40, 40), n_cells=25, seed=0, background=True):
    """Voronoi cells around random seeds, optionally with some background."""
    rng = np.random.default_rng(seed)
    markers = np.zeros(shape, dtype=np.int32)
    points = tuple(rng.integers(0, n, n_cells) for n in shape)
    markers[points] = np.arange(1, n_cells + 1)
    _, nearest = ndimage.distance_transform_edt(markers == 0, return_indices=True)
    labels = markers[tuple(nearest)]
    if background:
        noise = ndimage.gaussian_filter(rng.random(shape), 2)
        labels[noise < np.quantile(noise, 0.3)] = 0
    return labels


def split_cell(labels, label):
    """Cut one cell in two along z at its middle layer."""
    out = labels.copy()
    z = np.nonzero(labels == label)[0]
    layer = np.arange(labels.shape[0])[:, None, None]
    lower = (labels == label) & (layer > np.median(z))
    out[lower] = labels.max() + 1
    return out


def reference_iou(gt, pred):
    """Dense IoU between foreground labels from skimage's contingency table."""
    table = skimage_metrics.contingency_table(gt, pred).toarray().astype(float)
    table = table[np.unique(gt)][:, np.unique(pred)]
    gt_sizes, pred_sizes = table.sum(1), table.sum(0)
    iou = table / (gt_sizes[:, None] + pred_sizes[None, :] - table)
    keep_gt, keep_pred = np.unique(gt) != 0, np.unique(pred) != 0
    return iou[keep_gt][:, keep_pred]


def reference_ap(gt, pred, threshold):
    iou = reference_iou(gt, pred)
    candidates = (iou >= threshold).astype(float)
    rows, cols = linear_sum_assignment(candidates, maximize=True)
    tp = candidates[rows, cols].sum()
    return tp / (iou.shape[0] + iou.shape[1] - tp)


# --- identical volumes and invariances -------------------------------------


@pytest.mark.parametrize("background", [True, False])
def test_identical_volumes_are_perfect(background):
    labels = tissue(background=background)
    np.testing.assert_array_equal(average_precision(labels, labels), 1.0)
    assert mean_average_precision(labels, labels) == 1.0
    assert jaccard_index(labels, labels) == 1.0
    assert variation_of_information(labels, labels) == (0.0, 0.0)


def test_renaming_labels_changes_nothing():
    labels = tissue()
    rng = np.random.default_rng(1)
    names = np.r_[0, rng.permutation(np.arange(1, labels.max() + 1)) * 1000]
    renamed = names[labels].astype(np.uint64)
    assert mean_average_precision(labels, renamed) == 1.0
    assert jaccard_index(labels, renamed) == 1.0
    assert variation_of_information(labels, renamed) == (0.0, 0.0)


def test_metrics_do_not_modify_inputs():
    gt, pred = tissue(seed=1), split_cell(tissue(seed=1), 3)
    gt_before, pred_before = gt.copy(), pred.copy()
    average_precision(gt, pred)
    variation_of_information(gt, pred, ignore_background=True)
    merge_scores_from_volumes(pred, gt, [(3, pred.max())])
    np.testing.assert_array_equal(gt, gt_before)
    np.testing.assert_array_equal(pred, pred_before)


def test_any_dimensionality_and_lists():
    gt = [[1, 1, 2, 2], [1, 1, 2, 2]]
    assert jaccard_index(gt, gt) == 1.0
    assert variation_of_information(np.array(gt).ravel(), np.ones(8, int))[1] > 0


# --- known damage moves the metrics the right way ---------------------------


def test_splitting_a_cell():
    gt = tissue()
    pred = split_cell(gt, 5)
    ap = average_precision(gt, pred, thresholds=[0.5, 0.75, 0.9])
    assert np.all(ap < 1.0)
    assert jaccard_index(gt, pred) < 1.0
    split, merge = variation_of_information(gt, pred)
    assert split > 0.0 and merge == 0.0
    more = split_cell(pred, 9)
    assert variation_of_information(gt, more)[0] > split


def test_merging_two_cells():
    gt = tissue()
    pred = np.where(gt == 7, 4, gt)
    split, merge = variation_of_information(gt, pred)
    assert merge > 0.0 and split == 0.0
    assert mean_average_precision(gt, pred) < 1.0


def test_ap_counts_are_consistent():
    gt = tissue(seed=3)
    pred = split_cell(split_cell(gt, 2), 11)
    pred[pred == 4] = 0  # one cell missed
    ap, counts = average_precision(gt, pred, [0.1, 0.5, 0.9], return_counts=True)
    n_gt, n_pred = np.unique(gt).size - 1, np.unique(pred).size - 1
    np.testing.assert_array_equal(counts["tp"] + counts["fn"], n_gt)
    np.testing.assert_array_equal(counts["tp"] + counts["fp"], n_pred)
    assert np.all(np.diff(ap) <= 0)  # stricter thresholds never help
    np.testing.assert_allclose(
        ap, counts["tp"] / (counts["tp"] + counts["fp"] + counts["fn"])
    )


# --- cross-checks against scikit-image --------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ignore_background", [False, True])
def test_voi_matches_skimage(seed, ignore_background):
    gt = tissue(seed=seed)
    pred = tissue(seed=seed + 100, n_cells=18)
    expected = skimage_metrics.variation_of_information(
        gt, pred, ignore_labels=[0] if ignore_background else ()
    )
    result = variation_of_information(gt, pred, ignore_background=ignore_background)
    np.testing.assert_allclose(result, expected, atol=1e-10)


def test_voi_split_is_the_oversegmentation_part():
    gt = tissue(seed=4)
    pred = split_cell(gt, 6)
    split, merge = variation_of_information(gt, pred)
    expected = skimage_metrics.variation_of_information(gt, pred)
    assert split == pytest.approx(expected[0]) and split > 0 and merge == 0


@pytest.mark.parametrize("seed", range(8))
def test_ap_and_jaccard_match_a_dense_reference(seed):
    gt = tissue(seed=seed, n_cells=30)
    pred = tissue(seed=seed + 50, n_cells=30)  # unrelated: many weak overlaps
    thresholds = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    expected = [reference_ap(gt, pred, t) for t in thresholds]
    np.testing.assert_allclose(average_precision(gt, pred, thresholds), expected)
    best_iou = reference_iou(gt, pred).max(axis=1)
    assert jaccard_index(gt, pred) == pytest.approx(best_iou.mean())


def test_optimal_matching_beats_greedy():
    # gt 0 overlaps pred 0 (best) and pred 1; gt 1 overlaps pred 0 only
    rows, cols = np.array([0, 0, 1]), np.array([0, 1, 0])
    assert _count_matches(rows, cols, np.array([0.4, 0.3, 0.3])) == 2
    assert _count_matches(rows[:0], cols[:0], np.zeros(0)) == 0


def test_large_label_values_and_sorted_fallback(monkeypatch):
    gt, pred = tissue(seed=2), split_cell(tissue(seed=2), 8)
    expected = (
        average_precision(gt, pred),
        jaccard_index(gt, pred),
        variation_of_information(gt, pred),
    )
    big_gt = gt.astype(np.uint64) * np.uint64(2**40)
    big_pred = pred.astype(np.int64) * 3_000_017
    monkeypatch.setattr(_contingency, "_MAX_DENSE_CELLS", 0)
    np.testing.assert_allclose(average_precision(big_gt, big_pred), expected[0])
    assert jaccard_index(big_gt, big_pred) == pytest.approx(expected[1])
    np.testing.assert_allclose(variation_of_information(big_gt, big_pred), expected[2])


# --- empty volumes and input errors -----------------------------------------


def test_background_only_volumes():
    empty = np.zeros((2, 3, 3), dtype=np.uint8)
    cells = tissue(shape=(2, 3, 3), n_cells=2, background=False)
    np.testing.assert_array_equal(average_precision(empty, empty), 1.0)
    np.testing.assert_array_equal(average_precision(empty, cells), 0.0)
    np.testing.assert_array_equal(average_precision(cells, empty), 0.0)
    assert jaccard_index(empty, empty) == 1.0
    assert jaccard_index(empty, cells) == 0.0
    assert jaccard_index(cells, empty) == 0.0
    assert variation_of_information(empty, empty) == (0.0, 0.0)
    assert variation_of_information(empty, cells, ignore_background=True) == (0, 0)


@pytest.mark.parametrize(
    "gt, pred, error, match",
    [
        (np.ones((2, 3)), np.ones((3, 2)), ValueError, "same shape"),
        (np.ones(4) * 0.5, np.ones(4), ValueError, "non-integer"),
        (-np.ones(4, int), np.ones(4, int), ValueError, "negative"),
        (np.ones(4, bool), np.ones(4, int), TypeError, "boolean"),
        (np.array(["a", "b"]), np.ones(2, int), TypeError, "dtype"),
        (None, np.ones(2, int), TypeError, "gt"),
        (np.array(3), np.array(3), ValueError, "scalar"),
    ],
)
def test_bad_label_inputs(gt, pred, error, match):
    for metric in (average_precision, jaccard_index, variation_of_information):
        with pytest.raises(error, match=match):
            metric(gt, pred)


@pytest.mark.parametrize("thresholds", [0.0, 1.5, [], [[0.5]], "high"])
def test_bad_thresholds(thresholds):
    labels = np.ones((2, 2, 2), int)
    with pytest.raises((ValueError, TypeError), match="threshold"):
        average_precision(labels, labels, thresholds)


def test_scalar_threshold_gives_one_value():
    labels = tissue()
    assert average_precision(labels, labels, 0.5).shape == (1,)


# --- merge scores -----------------------------------------------------------


def test_merge_scores_perfect_and_symmetric_pairs():
    truth = [(1, 2), (3, 4), (5, 6)]
    scores = merge_scores(truth, [(2, 1), (4, 3), (6, 5)])
    assert scores == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                      "tp": 3, "fp": 0, "fn": 0}


def test_merge_scores_disjoint_pairs_are_plain_pair_matching():
    scores = merge_scores([(1, 2), (3, 4), (5, 6)], [(1, 2), (7, 8)])
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 2)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.4)


def test_merge_scores_are_transitive():
    truth = [(1, 2), (2, 3)]  # one cell in three fragments: two joins
    for predicted in ([(1, 3), (3, 2)], [(1, 2), (1, 3)], [(1, 2), (2, 3), (1, 3)]):
        scores = merge_scores(truth, predicted)
        assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 0, 0)
    scores = merge_scores(truth, [(1, 3)])  # not a listed pair, but same cell
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 0, 1)


def test_merge_scores_wrong_join_in_a_chain():
    scores = merge_scores([(1, 2)], [(1, 2), (2, 9)])
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 0)
    assert scores["precision"] == 0.5 and scores["recall"] == 1.0


def test_merge_scores_properties_on_random_groups():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cell_of = rng.integers(0, 15, size=60)  # fragment k+1 is in cell cell_of[k]
        fragments = np.arange(1, 61)
        truth = np.array([(a, b) for a in fragments for b in fragments
                          if a < b and cell_of[a - 1] == cell_of[b - 1]])
        predicted = rng.integers(1, 61, size=(30, 2))
        predicted = predicted[predicted[:, 0] != predicted[:, 1]]
        scores = merge_scores(truth, predicted)
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
        shuffled = merge_scores(truth[rng.permutation(len(truth)), ::-1], predicted)
        assert shuffled == scores
        subset = truth[rng.random(len(truth)) < 0.3]
        assert merge_scores(truth, subset)["precision"] == 1.0
        assert merge_scores(subset, truth)["recall"] == 1.0


def test_merge_scores_empty_inputs():
    nothing = merge_scores([], [])
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (1.0, 1.0, 1.0)
    missed = merge_scores([(1, 2)], np.zeros((0, 2), int), zero_division=0.0)
    assert (missed["precision"], missed["recall"], missed["fn"]) == (0.0, 0.0, 1)


@pytest.mark.parametrize(
    "pairs, error, match",
    [
        ([1, 2, 3], ValueError, r"shape \(n_pairs, 2\)"),
        ([(1, 2, 3)], ValueError, r"shape \(n_pairs, 2\)"),
        ([(0, 2)], ValueError, "background"),
        ([(-1, 2)], ValueError, "positive"),
        ([(2, 2)], ValueError, "itself"),
        ([(1.5, 2)], TypeError, "integer"),
    ],
)
def test_merge_scores_bad_pairs(pairs, error, match):
    with pytest.raises(error, match=match):
        merge_scores(pairs, [(1, 2)])
    with pytest.raises(error, match="predicted_pairs"):
        merge_scores([(1, 2)], pairs)


def fragmented(seed=0):
    """A tissue, its oversegmented version and the true fragment pairs."""
    truth_volume = tissue(seed=seed)
    flawed, pairs = truth_volume.copy(), []
    for label in (3, 8, 12):
        flawed = split_cell(flawed, label)
        pairs.append((label, int(flawed.max())))
    return truth_volume, flawed, np.array(pairs)


def test_merge_scores_from_volumes_perfect_and_none():
    truth_volume, flawed, pairs = fragmented()
    perfect = merge_scores_from_volumes(flawed, truth_volume, pairs)
    assert (perfect["tp"], perfect["fp"], perfect["fn"]) == (3, 0, 0)
    untouched = merge_scores_from_volumes(flawed, flawed, pairs)
    assert (untouched["tp"], untouched["fp"], untouched["fn"]) == (0, 0, 3)
    assert untouched["recall"] == 0.0 and untouched["f1"] == 0.0


def test_merge_scores_from_volumes_wrong_merge_and_filled_gap():
    truth_volume, flawed, pairs = fragmented(seed=1)
    corrected = np.where(flawed == pairs[0, 1], pairs[0, 0], flawed)  # right
    corrected = np.where(corrected == 5, 6, corrected)  # wrong
    corrected[0][flawed[0] == 0] = pairs[0, 0]  # voxels added in a gap
    scores = merge_scores_from_volumes(flawed, corrected, pairs)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 2)


def test_merge_scores_from_volumes_erased_label_is_not_a_merge():
    truth_volume, flawed, pairs = fragmented(seed=2)
    corrected = np.where(flawed == pairs[1, 1], 0, flawed)
    scores = merge_scores_from_volumes(flawed, corrected, pairs)
    assert scores["tp"] == 0 and scores["fp"] == 0


def test_merge_scores_from_volumes_errors():
    _, flawed, pairs = fragmented()
    with pytest.raises(ValueError, match="absent from flawed"):
        merge_scores_from_volumes(flawed, flawed, [(1, 10_000)])
    with pytest.raises(ValueError, match="flawed and corrected"):
        merge_scores_from_volumes(flawed, flawed[1:], pairs)


# ------------------------------------------------------ calibration error
def _ece_reference(y, p, n_bins):
    """ECE by an explicit loop over equal-width bins (last bin closed)."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (p >= lo) & ((p < hi) if b < n_bins - 1 else (p <= hi))
        if inside.any():
            total += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return total / len(p)


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_a_loop_reference(seed):
    from sklearn_overseg.metrics import expected_calibration_error

    rng = np.random.default_rng(seed)
    p = rng.random(300)
    y = (rng.random(300) < p**2).astype(int)  # overconfident on class 1
    for n_bins in (1, 5, 10):
        assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
            _ece_reference(y, p, n_bins)
        )


def test_ece_of_calibrated_and_of_confidently_wrong_probabilities():
    from sklearn_overseg.metrics import expected_calibration_error

    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p, strategy="quantile") < 0.02
    # always certain, wrong on 10% of the samples
    y = np.r_[np.ones(90), np.zeros(10)]
    assert expected_calibration_error(y, np.ones(100)) == pytest.approx(0.1)
    assert expected_calibration_error([1, 1], [0.7, 0.9]) == pytest.approx(0.2)


def test_ece_bad_input():
    from sklearn_overseg.metrics import expected_calibration_error

    with pytest.raises(ValueError, match="different lengths"):
        expected_calibration_error([0, 1], [0.5])
    with pytest.raises(ValueError, match="classes 0 and 1"):
        expected_calibration_error([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([0, 1], [0.5, np.nan])
    assert np.isnan(expected_calibration_error([], []))


# ------------------------------------------------------------ layer recovery
def test_layer_recovery_of_straight_cells_is_perfect():
    labels = np.zeros((6, 30, 30), dtype=np.uint16)
    labels[:, 3:12, 4:14] = 4  # a prism: every layer equals its neighbours
    labels[1:5, 18:27, 16:25] = 9
    labels[2, 20:22, 20:22] = 0  # a layer of cell 9 with a hole
    triples = interior_layers(labels)
    assert len(triples) == 4 + 2
    assert all(layer.shape == above.shape == below.shape
               for above, layer, below in triples)
    ious = layer_recovery_ious(labels)
    assert ious.shape == (6,)
    np.testing.assert_allclose(ious[:4], 1.0)
    assert ious[4] < 1.0  # the hole is not in the neighbours


def test_layer_recovery_filters_and_validates():
    labels = np.zeros((5, 20, 20), dtype=np.uint8)
    labels[:, 5:9, 5:9] = 1  # 16 pixels per layer
    assert len(interior_layers(labels)) == 0  # below min_area=20
    assert len(interior_layers(labels, min_area=16)) == 3
    assert interior_layers(labels, min_area=16, margin=0)[0][0].shape == (4, 4)
    assert layer_recovery_ious(np.zeros((3, 8, 8), np.uint8)).shape == (0,)
    tissue = make_tissue((10, 40, 40), n_cells=5, random_state=1)
    # only the in-plane part of a (z, y, x) voxel size is used
    np.testing.assert_array_equal(
        layer_recovery_ious(tissue, voxel_size=(5.0, 0.5, 1.0)),
        layer_recovery_ious(tissue, voxel_size=(0.5, 1.0)),
    )
    with pytest.raises(ValueError, match="voxel_size"):
        layer_recovery_ious(tissue, voxel_size=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="method"):
        layer_recovery_ious(tissue, method="nearest")
    with pytest.raises(ValueError, match="3D"):
        interior_layers(tissue[0])

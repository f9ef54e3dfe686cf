"""The stitch simulator: slice_and_stitch and its IoU stitcher."""

import numpy as np
import pytest

from sklearn_overseg.datasets import make_tissue, slice_and_stitch, stitch_slices


@pytest.fixture(scope="module")
def tissue():
    return make_tissue((24, 64, 64), n_cells=15, random_state=3)


def test_deterministic_with_random_state(tissue):
    a, pa = slice_and_stitch(tissue, random_state=7)
    b, pb = slice_and_stitch(tissue, random_state=7)
    c, _ = slice_and_stitch(tissue, random_state=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a, c)


def test_input_not_modified_and_z_step(tissue):
    before = tissue.copy()
    flawed, _ = slice_and_stitch(tissue, z_step=2, random_state=0)
    np.testing.assert_array_equal(tissue, before)
    assert flawed.shape == tissue[::2].shape


def test_truth_pairs_join_labels_of_one_true_cell(tissue):
    flawed, pairs = slice_and_stitch(tissue, stitch_threshold=0.5, random_state=1)
    assert len(pairs) > 0
    labels = np.unique(flawed[flawed > 0])
    # majority true cell of every flawed label
    owner = {}
    for lab in labels:
        values, counts = np.unique(tissue[flawed == lab], return_counts=True)
        owner[int(lab)] = int(values[np.argmax(counts)])
    assert all(owner[a] == owner[b] != 0 for a, b in pairs.tolist())
    # the pairs chain every true cell's labels: one fewer pair than labels
    per_cell = {}
    for lab, cell in owner.items():
        if cell:
            per_cell.setdefault(cell, []).append(lab)
    assert len(pairs) == sum(len(v) - 1 for v in per_cell.values())


def test_no_damage_stitches_back_to_truth():
    truth = np.zeros((6, 12, 12), dtype=np.uint16)
    truth[:, 2:10, 2:6] = 4
    truth[1:5, 2:10, 7:11] = 9
    flawed, pairs = slice_and_stitch(
        truth, jitter=0, p_resize=0, p_split=0, p_miss=0, false_masks=0,
        random_state=0,
    )
    assert len(np.unique(flawed)) == 3 and len(pairs) == 0
    assert np.array_equal(flawed > 0, truth > 0)


def test_stitcher_keeps_every_pixel_and_cuts_a_small_cap():
    slices = np.zeros((3, 12, 12), dtype=np.int32)
    slices[0, 2:10, 2:10] = 1
    slices[1, 2:10, 2:10] = 5
    slices[2, 5:7, 5:7] = 2          # a 4-pixel cap: IoU 4/64 with the layer above
    out = stitch_slices(slices, threshold=0.25)
    assert np.array_equal(out > 0, slices > 0)
    assert out[0, 3, 3] == out[1, 3, 3] != out[2, 5, 5]


def test_hungarian_matching_maximises_the_summed_iou():
    # Above: A (columns 0-9) and B (10-19). Below: a (0-2) and b (3-13).
    # IoU(a, A) = 0.3, IoU(b, A) = 0.5, IoU(b, B) = 40 / 170. Greedy gives A
    # to its best claimant b and starts a new label for a; the one-to-one
    # matching with the largest summed IoU gives A to a and B to b.
    slices = np.zeros((2, 10, 20), dtype=np.int32)
    slices[0, :, 0:10] = 1
    slices[0, :, 10:20] = 2
    slices[1, :, 0:3] = 1
    slices[1, :, 3:14] = 2
    greedy = stitch_slices(slices, 0.2)
    hungarian = stitch_slices(slices, 0.2, match="hungarian")
    A, B = greedy[0, 0, 0], greedy[0, 0, 15]
    assert greedy[1, 0, 5] == A and greedy[1, 0, 0] not in (A, B)
    assert hungarian[1, 0, 0] == A and hungarian[1, 0, 5] == B
    for out in (greedy, hungarian):
        assert np.array_equal(out > 0, slices > 0)


def test_smaller_matching_joins_a_cap_inside_the_mask_above():
    slices = np.zeros((3, 12, 12), dtype=np.int32)
    slices[0, 2:10, 2:10] = 1
    slices[1, 2:10, 2:10] = 5
    slices[2, 5:7, 5:7] = 2          # IoU 4/64, but all of it inside the mask above
    greedy = stitch_slices(slices, 0.5)
    smaller = stitch_slices(slices, 0.5, match="smaller")
    assert greedy[2, 5, 5] != greedy[1, 5, 5]
    assert smaller[2, 5, 5] == smaller[1, 5, 5] == smaller[0, 5, 5]
    assert np.array_equal(smaller > 0, slices > 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(z_step=0), r"'z_step' .* int in the range \[1, inf\)"),
        (dict(z_step=1.5), r"'z_step' .* int in the range \[1, inf\)"),
        (dict(stitch_threshold=0), r"'stitch_threshold' .* range \(0.0, 1.0\]"),
        (dict(p_miss=1.5), r"'p_miss' .* range \[0.0, 1.0\]. Got 1.5"),
        (dict(jitter=-1), r"'jitter' .* range \[0.0, inf\)"),
        (dict(false_masks="many"), r"'false_masks' .* float"),
        (dict(max_resize=0), r"'max_resize' .* int in the range \[1, inf\)"),
    ],
)
def test_bad_settings(tissue, kwargs, match):
    with pytest.raises(ValueError, match=match):
        slice_and_stitch(tissue, **kwargs)


def test_bad_volumes():
    with pytest.raises(ValueError, match="3D"):
        slice_and_stitch(np.zeros((4, 4), dtype=int))
    with pytest.raises(ValueError, match="integer"):
        stitch_slices(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"'threshold' .* range \(0.0, 1.0\]"):
        stitch_slices(np.zeros((2, 4, 4), dtype=int), threshold=1.5)
    with pytest.raises(ValueError, match=r"'match' .* \{"):
        stitch_slices(np.zeros((2, 4, 4), dtype=int), match="overlap")

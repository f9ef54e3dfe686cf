"""Training pairs from ground truth: labelling, balancing, hard negatives."""

import numpy as np
import pytest

from sklearn_overseg import (
    Candidate,
    CandidateScreener,
    CandidateSet,
    label_candidates,
    make_training_candidates,
)
from sklearn_overseg.correction._training import _damage
from sklearn_overseg.datasets import make_tissue


@pytest.fixture(scope="module")
def tissues():
    return [make_tissue((24, 64, 64), n_cells=20, random_state=s) for s in (0, 1)]


@pytest.fixture(scope="module")
def balanced(tissues):
    return make_training_candidates(tissues, n_rounds=2, random_state=0)


@pytest.fixture(scope="module")
def everything(tissues):
    return make_training_candidates(
        tissues, n_rounds=2, negative_ratio=None, random_state=0
    )


def _column_volume():
    """Truth: cell 1 (z 0-4) on cell 2 (z 5-9) in one column, cell 3 beside."""
    truth = np.zeros((10, 8, 12), dtype=np.uint16)
    truth[:5, 1:7, 1:6] = 1
    truth[5:, 1:7, 1:6] = 2
    truth[:, 1:7, 7:11] = 3
    return truth


# --------------------------------------------------------- label_candidates
def test_label_candidates_on_handmade_volumes():
    truth = _column_volume()
    flawed = truth.copy()
    flawed[2] = np.where(flawed[2] == 3, 3, 0)  # cell 1 misses layer 2 ...
    flawed[3:5][flawed[3:5] == 1] = 4  # ... and its lower part is label 4
    flawed[4] = np.where(flawed[4] == 4, 0, flawed[4])  # a gap between 4 and 2
    flawed[7] = np.where(flawed[7] == 3, 0, flawed[7])  # cell 3 split at z=7
    flawed[8:][flawed[8:] == 3] = 5
    cands = CandidateScreener().transform(flawed)
    labels = dict(zip(map(tuple, cands.pairs.tolist()), label_candidates(
        cands, [flawed], [truth]
    )))
    assert labels == {(1, 4): 1, (4, 2): 0, (3, 5): 1}


def test_label_candidates_uses_the_majority_and_the_volume_index():
    truth = _column_volume()
    other = np.where(truth > 0, 9, 0).astype(np.uint16)  # one big cell
    crop = np.ones((3, 2, 2), dtype=np.uint8)
    cands = CandidateSet(
        [Candidate(0, 1, 2, crop), Candidate(1, 1, 2, crop), Candidate(0, 1, 3, crop)]
    )
    # Label 1 of volume 0 is mostly truth cell 1 even with a few voxels of 2.
    flawed = truth.copy()
    flawed[5, 1:3, 1:3] = 1
    y = label_candidates(cands, [flawed, truth], [truth, other])
    assert y.tolist() == [0, 1, 0]


def test_label_candidates_checks_its_inputs():
    truth = _column_volume()
    empty = CandidateSet()
    assert label_candidates(empty, [truth], [truth]).shape == (0,)
    with pytest.raises(ValueError, match="ground truths"):
        label_candidates(empty, [truth, truth], [truth])
    with pytest.raises(ValueError, match="shape"):
        label_candidates(empty, [truth], [truth[:-1]])


# ------------------------------------------------ make_training_candidates
def test_both_classes_and_balance(balanced):
    X, y, groups = balanced
    assert isinstance(X, CandidateSet)
    assert len(X) == len(y) == len(groups)
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    assert n_pos >= 10 and n_neg >= 5, "dense tissue must give hard negatives"
    assert n_neg <= n_pos


def test_groups_are_the_source_volume(balanced, tissues):
    X, _, groups = balanced
    np.testing.assert_array_equal(groups, X.volume_index)
    assert set(groups.tolist()) == {0, 1}
    for cand in X:  # every crop lies inside its source volume
        depth = tissues[cand.volume_index].shape[0]
        assert cand.origin[0] + cand.crop.shape[0] <= depth


def test_positives_pair_an_original_cell_with_a_new_label(everything, tissues):
    X, y, groups = everything
    top = np.array([int(t.max()) for t in tissues])[groups]
    pairs = X.pairs
    assert np.all(pairs[y == 1].min(axis=1) <= top[y == 1])
    assert np.all(pairs[y == 1].max(axis=1) > top[y == 1])


def test_deterministic_for_a_seed(tissues, balanced):
    X, y, groups = make_training_candidates(tissues, n_rounds=2, random_state=0)
    np.testing.assert_array_equal(X.pairs, balanced[0].pairs)
    np.testing.assert_array_equal(y, balanced[1])
    np.testing.assert_array_equal(groups, balanced[2])
    assert all(np.array_equal(a.crop, b.crop) for a, b in zip(X, balanced[0]))
    other, _, _ = make_training_candidates(tissues, n_rounds=2, random_state=1)
    assert len(other) != len(X) or not np.array_equal(other.pairs, X.pairs)


def test_negative_ratio_none_keeps_everything(balanced, everything):
    X_all, y_all, _ = everything
    X_bal, y_bal, _ = balanced
    assert y_all.sum() == y_bal.sum(), "positives are never dropped"
    assert (y_all == 0).sum() >= (y_bal == 0).sum()
    keys_all = {c.key + (c.crop.tobytes(),) for c in X_all}
    assert all(c.key + (c.crop.tobytes(),) in keys_all for c in X_bal)


@pytest.mark.parametrize("ratio", [0.0, 0.5])
def test_negative_ratio_caps_the_negatives(tissues, ratio):
    _, y, _ = make_training_candidates(
        tissues, n_rounds=2, negative_ratio=ratio, random_state=0
    )
    assert (y == 0).sum() <= np.ceil(ratio * y.sum())


def test_two_layer_gaps_with_a_wider_screener(tissues):
    X, y, _ = make_training_candidates(
        tissues, screener=CandidateScreener(max_gap=2), n_rounds=2, random_state=0
    )
    gaps = {c.n_gap_layers for c in X}
    assert gaps <= {1, 2} and 2 in gaps
    assert set(np.unique(y)) == {0, 1}


def test_contact_mode_gives_contact_pairs(tissues):
    X, y, _ = make_training_candidates(
        tissues[:1], mode="contact", n_rounds=1, random_state=0
    )
    assert set(X.kinds) == {"contact"}
    assert set(np.unique(y)) == {0, 1}
    with pytest.warns(FutureWarning, match="'contact'"):
        old, old_y, _ = make_training_candidates(
            tissues[:1], mode="tilted", n_rounds=1, random_state=0
        )
    np.testing.assert_array_equal(old.pairs, X.pairs)
    np.testing.assert_array_equal(old_y, y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "sideways"}, "mode"),
        ({"n_rounds": 0}, "n_rounds"),
        ({"split_fraction": 1.5}, "split_fraction"),
        ({"shrink": -1}, "shrink"),
        ({"negative_ratio": -1}, "negative_ratio"),
    ],
)
def test_bad_settings(tissues, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_training_candidates(tissues[:1], **kwargs)


# ------------------------------------------------------------ hard negatives
def test_damage_adds_trimmed_stacked_pairs_as_hard_negatives(tissues):
    truth = tissues[0]
    flawed, pairs = _damage(truth, "axis", 4, 1, 0, 3, 0, seed=0)
    cands = CandidateScreener().transform(flawed)
    y = label_candidates(cands, [flawed], [truth])
    originals = (cands.pairs <= truth.max()).all(axis=1)
    hard = cands.pairs[originals & (y == 0)]
    assert len(hard) >= 3, "the requested stacked confounders are screened"
    for label in np.unique(hard):  # each trimmed cell lost at most 30% of it
        assert (flawed == label).sum() >= 0.7 * (truth == label).sum()


def test_damage_returns_the_simulated_pairs(tissues):
    flawed, pairs = _damage(tissues[0], "axis", 4, 1, 1, 3, 1, seed=5)
    assert pairs.shape == (4, 2)
    cands = CandidateScreener().transform(flawed)
    found = {tuple(p) for p in cands.pairs.tolist()}
    assert {tuple(p) for p in pairs.tolist()} <= found

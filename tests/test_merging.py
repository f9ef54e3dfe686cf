"""Union-find, merge resolution (chains, z-extent rule, threshold) and relabelling."""

import numpy as np
import pytest

from sklearn_overseg.correction._merging import (
    UnionFind,
    relabel_volume,
    resolve_merges,
)


def _groups(mapping, labels):
    """Groups of labels, as a set of frozensets, from a ``resolve_merges`` mapping."""
    out = {}
    for lab in labels:
        out.setdefault(mapping.get(lab, lab), set()).add(lab)
    return {frozenset(g) for g in out.values()}


# ---------------------------------------------------------------- UnionFind
def test_union_find_groups_and_long_chain():
    uf = UnionFind()
    for a in range(1, 500):
        uf.union(a, a + 1)
    uf.union(1000, 1001)
    assert uf.find(500) == uf.find(1)
    assert uf.find(1000) != uf.find(1)
    groups = uf.groups()
    assert sorted(map(len, groups.values())) == [2, 500]
    assert uf.find(7777) == 7777
    assert all(7777 not in members for members in uf.groups().values())


# ------------------------------------------------------------ resolve_merges
def test_chain_merges_into_topmost_fragment_not_smallest_label():
    # Label 9 is on top, then 4, then 2: the chain keeps 9.
    z = {9: (0, 4), 4: (5, 9), 2: (10, 14)}
    mapping, merged = resolve_merges(
        np.array([[9, 4], [4, 2]]), np.array([0.9, 0.8]), 0.5, z_extents=z
    )
    assert mapping == {4: 9, 2: 9}
    assert merged.tolist() == [True, True]


def test_chain_order_of_pairs_does_not_matter():
    z = {9: (0, 4), 4: (5, 9), 2: (10, 14)}
    pairs = np.array([[4, 2], [9, 4]])
    mapping, _ = resolve_merges(pairs, np.array([0.95, 0.6]), 0.5, z_extents=z)
    assert mapping == {4: 9, 2: 9}


def test_without_extents_the_smallest_label_wins():
    mapping, merged = resolve_merges(np.array([[5, 3], [3, 8]]), [0.9, 0.9], 0.5)
    assert mapping == {5: 3, 8: 3}
    assert merged.all()


def test_overlapping_groups_are_never_joined_by_axis_pairs():
    # 2 and 3 both lie right below 1 and share layers: only the likelier pair.
    z = {1: (0, 5), 2: (6, 10), 3: (6, 12)}
    pairs = np.array([[1, 3], [1, 2]])
    mapping, merged = resolve_merges(pairs, np.array([0.7, 0.9]), 0.5, z_extents=z)
    assert mapping == {2: 1}
    assert merged.tolist() == [False, True]


def test_z_rule_applies_to_groups_not_just_the_pair():
    # 1-2 merge first; 3 does not overlap 2 but overlaps 1, so 2-3 is refused.
    z = {1: (0, 5), 2: (6, 8), 3: (3, 5)}
    pairs = np.array([[1, 2], [3, 2]])
    mapping, merged = resolve_merges(pairs, np.array([0.9, 0.8]), 0.5, z_extents=z)
    assert mapping == {2: 1}
    assert merged.tolist() == [True, False]


def test_contact_pairs_are_exempt_from_the_z_rule():
    z = {1: (0, 8), 2: (3, 12)}  # a tilted cut: the fragments share layers
    pairs = np.array([[1, 2]])
    _, refused = resolve_merges(pairs, [0.9], 0.5, z_extents=z)
    mapping, merged = resolve_merges(pairs, [0.9], 0.5, z_extents=z, check_z=[False])
    assert not refused.any()
    assert merged.all() and mapping == {2: 1}


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_threshold_is_respected(threshold):
    rng = np.random.default_rng(0)
    pairs = np.stack([np.arange(1, 41, 2), np.arange(2, 42, 2)], axis=1)
    proba = np.round(rng.random(len(pairs)), 1)
    mapping, merged = resolve_merges(pairs, proba, threshold)
    assert np.array_equal(merged, proba >= threshold)
    assert set(mapping) == set(pairs[merged, 1].tolist())


def test_higher_probability_wins_a_conflict_whatever_the_order():
    z = {1: (0, 5), 2: (6, 10), 3: (6, 10), 4: (6, 10)}
    pairs = np.array([[1, 2], [1, 3], [1, 4]])
    proba = np.array([0.6, 0.95, 0.7])
    for perm in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        mapping, merged = resolve_merges(pairs[perm], proba[perm], 0.5, z_extents=z)
        assert mapping == {3: 1}
        assert merged.tolist() == (proba[perm] == 0.95).tolist()


def test_random_graphs_keep_the_invariants():
    rng = np.random.default_rng(42)
    for _ in range(30):
        n_labels = 12
        starts = rng.integers(0, 30, n_labels)
        z = {i + 1: (int(s), int(s + rng.integers(1, 8))) for i, s in enumerate(starts)}
        pairs = rng.integers(1, n_labels + 1, size=(20, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        proba = rng.random(len(pairs))
        mapping, merged = resolve_merges(pairs, proba, 0.4, z_extents=z)
        assert np.all(proba[merged] >= 0.4)
        groups = _groups(mapping, range(1, n_labels + 1))
        for group in groups:
            spans = sorted(z[m] for m in group)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "overlap"
            top = min(group, key=lambda m: (z[m][0], m))
            assert all(mapping.get(m, m) == top for m in group)
        group_of = {m: g for g in groups for m in g}
        for (a, b), m, p in zip(pairs.tolist(), merged, proba):
            if m:
                assert mapping.get(a, a) == mapping.get(b, b)
            elif p >= 0.4:  # refused only because the two groups share a layer
                spans_a = [z[x] for x in group_of[a]]
                spans_b = [z[x] for x in group_of[b]]
                assert any(s < t2 and s2 < t for s, t in spans_a for s2, t2 in spans_b)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        resolve_merges(np.array([[1, 2]]), [0.5, 0.6], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        resolve_merges(np.array([[1, 2]]), [np.nan], 0.5)
    with pytest.raises(ValueError, match="check_z"):
        resolve_merges(np.array([[1, 2]]), [0.9], 0.5, z_extents={}, check_z=[1, 0])


def test_empty_input():
    mapping, merged = resolve_merges(np.zeros((0, 2), int), np.zeros(0), 0.5)
    assert mapping == {} and merged.shape == (0,)


# ------------------------------------------------------------ relabel_volume
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_relabel_keeps_dtype_and_input(dtype):
    volume = np.array([[[0, 1, 2], [3, 2, 1]]], dtype=dtype)
    before = volume.copy()
    out = relabel_volume(volume, {2: 1, 3: 1})
    assert out.dtype == dtype
    assert out.tolist() == [[[0, 1, 1], [1, 1, 1]]]
    assert np.array_equal(volume, before)
    assert not np.shares_memory(out, volume)


def test_relabel_huge_labels_exactly():
    big = 2**62
    volume = np.array([[[big, big + 1, 0, 5, big + 2]]], dtype=np.int64)
    out = relabel_volume(volume, {big + 1: big, 5: big + 2})
    assert out.tolist() == [[[big, big, 0, big + 2, big + 2]]]
    beyond_int64 = np.array([[[2**63 + 3, 2**63 + 1, 7]]], dtype=np.uint64)
    out = relabel_volume(beyond_int64, {2**63 + 1: 7, 2**63 + 3: 2**63 + 1})
    assert out.dtype == np.uint64
    assert out.tolist() == [[[2**63 + 1, 7, 7]]]


def test_relabel_empty_mapping_absent_keys_and_overflow():
    volume = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    assert np.array_equal(relabel_volume(volume, {}), volume)
    assert np.array_equal(relabel_volume(volume, {200: 1}), volume)
    with pytest.raises(ValueError, match="dtype"):
        relabel_volume(volume, {3: 300})


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint64])
def test_relabel_equals_skimage_map_array(dtype, monkeypatch):
    """The slab-wise lookup gives what skimage's map_array gives (it maps
    absent labels to 0, so the identity of the others is spelled out)."""
    map_array = pytest.importorskip("skimage.util").map_array
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 200, size=(9, 20, 20)).astype(dtype)
    labels = np.unique(volume)
    merged = rng.choice(labels[1:], 60, replace=False)
    mapping = {int(a): int(b) for a, b in zip(merged, rng.choice(labels, 60))}
    targets = np.array([mapping.get(int(v), int(v)) for v in labels], dtype=dtype)
    expected = map_array(volume, labels, targets)
    np.testing.assert_array_equal(relabel_volume(volume, mapping), expected)
    # two layers per slab (as in volumes too large for one pass): the same
    from sklearn_overseg.correction import _relabel

    monkeypatch.setattr(_relabel, "_slab_step", lambda shape: 2)
    np.testing.assert_array_equal(relabel_volume(volume, mapping), expected)

"""Tests of the contact graph and of contact candidates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sklearn_overseg._candidates import LOWER, UPPER
from sklearn_overseg.screening._contact import contact_pairs
from sklearn_overseg.screening._screener import CandidateScreener


def brute_force_contacts(volume: np.ndarray) -> dict[tuple[int, int], int]:
    """Count shared voxel faces by visiting every voxel and its 3 forward faces."""
    counts: dict[tuple[int, int], int] = {}
    nz, ny, nx = volume.shape
    for z, y, x in itertools.product(range(nz), range(ny), range(nx)):
        a = int(volume[z, y, x])
        for dz, dy, dx in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
            zz, yy, xx = z + dz, y + dy, x + dx
            if zz >= nz or yy >= ny or xx >= nx:
                continue
            b = int(volume[zz, yy, xx])
            if a and b and a != b:
                key = (min(a, b), max(a, b))
                counts[key] = counts.get(key, 0) + 1
    return counts


def as_dict(pairs: np.ndarray, areas: np.ndarray) -> dict[tuple[int, int], int]:
    return {(int(a), int(b)): int(n) for (a, b), n in zip(pairs, areas)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contact_pairs_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 6, size=(5, 6, 7)).astype(np.uint16)
    pairs, areas = contact_pairs(volume)
    assert pairs.dtype == np.int64 and areas.dtype == np.int64
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert as_dict(pairs, areas) == brute_force_contacts(volume)
    # rows are sorted lexicographically
    assert pairs.tolist() == sorted(pairs.tolist())


def test_contact_pairs_huge_labels_match_small_labels():
    rng = np.random.default_rng(3)
    small = rng.integers(0, 5, size=(4, 5, 6))
    huge = np.where(small > 0, small.astype(np.int64) * (1 << 40) + 7, 0)
    pairs_s, areas_s = contact_pairs(small)
    pairs_h, areas_h = contact_pairs(huge)
    np.testing.assert_array_equal(pairs_h, pairs_s * (1 << 40) + 7)
    np.testing.assert_array_equal(areas_h, areas_s)


def test_contact_pairs_edge_cases():
    lonely = np.zeros((3, 4, 4), dtype=np.uint8)
    lonely[1, 1, 1] = 4
    pairs, areas = contact_pairs(lonely)
    assert pairs.shape == (0, 2) and areas.shape == (0,)
    flat = np.array([[[1, 2, 2]]])  # one voxel thick along z and y
    pairs, areas = contact_pairs(flat)
    assert pairs.tolist() == [[1, 2]] and areas.tolist() == [1]
    with pytest.raises(ValueError, match="3D"):
        contact_pairs(np.ones((3, 3), dtype=int))


def test_contact_pairs_does_not_modify_input():
    volume = np.random.default_rng(4).integers(0, 4, size=(3, 4, 5))
    before = volume.copy()
    volume.flags.writeable = False
    contact_pairs(volume)
    np.testing.assert_array_equal(volume, before)


def two_touching_boxes() -> np.ndarray:
    volume = np.zeros((4, 10, 12), dtype=np.uint16)
    volume[1:3, 2:6, 2:6] = 9  # contact face x = 5 | 6: 2 x 4 = 8 faces
    volume[1:3, 2:6, 6:9] = 4
    volume[0, 8:10, 0:2] = 2  # far away, touches nobody
    return volume


def test_contact_candidates_fields():
    volume = two_touching_boxes()
    cands = CandidateScreener(mode="contact", padding=1).fit_transform(volume)
    assert len(cands) == 1
    c = cands[0]
    assert (c.upper, c.lower) == (4, 9)  # upper = smaller label
    assert c.kind == "contact" and c.gap is None and c.score == 8.0
    z0, y0, x0 = c.origin
    assert (z0, y0, x0) == (1, 1, 1)
    region = volume[z0 : z0 + c.crop.shape[0], y0 : y0 + c.crop.shape[1]]
    region = region[:, :, x0 : x0 + c.crop.shape[2]]
    np.testing.assert_array_equal(c.crop == UPPER, region == 4)
    np.testing.assert_array_equal(c.crop == LOWER, region == 9)
    assert c.crop.dtype == np.uint8


def test_min_contact_filters_small_contacts():
    volume = two_touching_boxes()
    volume[3, 5, 5] = 7  # touches label 9 through a single face
    screener = CandidateScreener(mode="contact")
    assert screener.fit_transform(volume).pairs.tolist() == [[4, 9], [7, 9]]
    screener.set_params(min_contact=2)
    assert screener.fit_transform(volume).pairs.tolist() == [[4, 9]]


def test_both_mode_is_union_without_duplicates():
    volume = np.zeros((7, 10, 14), dtype=np.uint16)
    volume[:3, 2:6, 2:6] = 1  # upper fragment
    volume[4:, 2:6, 2:6] = 2  # lower fragment after a one-layer gap
    volume[:, 2:6, 6:10] = 3  # a neighbour touching both
    axis = CandidateScreener(mode="axis").fit_transform(volume)
    contact = CandidateScreener(mode="contact").fit_transform(volume)
    both = CandidateScreener(mode="both").fit_transform(volume)
    assert axis.pairs.tolist() == [[1, 2]]
    assert contact.pairs.tolist() == [[1, 3], [2, 3]]
    assert both.pairs.tolist() == [[1, 2], [1, 3], [2, 3]]
    assert both.kinds.tolist() == ["axis", "contact", "contact"]
    keys = [frozenset(p) for p in both.pairs.tolist()]
    assert len(set(keys)) == len(keys)

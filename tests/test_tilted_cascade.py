"""The tilted model's cheap first stage: ``CandidateScreener(min_contact_ratio)``."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_overseg import CandidateScreener, ContactFeatures, load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.tilted._contact_features import FEATURES


def pairs_of(candidates) -> set:
    return {(c.upper, c.lower) for c in candidates}


def big_cell_with_small_neighbour() -> np.ndarray:
    """Label 1: a 20-voxel cube; 2: a 3-voxel cube on its face; 3 and 4: a cut cell."""
    volume = np.zeros((24, 60, 30), dtype=np.uint16)
    volume[2:22, 2:22, 2:22] = 1
    volume[10:13, 10:13, 22:25] = 2
    volume[2:22, 30:50, 2:22] = 3
    volume[2:22, 40:50, 2:22] = 4
    return volume


def test_small_facet_of_a_large_cell_is_left_out():
    volume = big_cell_with_small_neighbour()
    every = CandidateScreener(mode="contact").transform(volume)
    cascade = CandidateScreener(mode="contact", min_contact_ratio=0.12).transform(
        volume
    )
    assert pairs_of(every) == {(1, 2), (3, 4)}
    # 9 faces over (20 ** 3) ** (2 / 3) = 400: 0.0225; the cut: 400 / 252
    assert pairs_of(cascade) == {(3, 4)}
    kept = cascade[0]
    np.testing.assert_array_equal(kept.crop, every[1].crop)
    assert kept.score == every[1].score


@pytest.mark.parametrize("voxel_size", [(1.0, 1.0, 1.0), (2.0, 0.5, 0.7)])
def test_ratio_is_the_contact_per_larger_feature(voxel_size):
    truth = make_tissue((16, 64, 64), n_cells=20, random_state=2)
    flawed, _ = oversegment(truth, 4, mode="tilted", random_state=1)
    every = CandidateScreener(mode="contact", min_contact=10).transform(
        flawed, voxel_size=voxel_size
    )
    feature = ContactFeatures().fit_transform(every)[
        :, FEATURES.index("contact_per_larger")
    ]
    for threshold in np.quantile(feature, [0.1, 0.5, 0.9]):
        kept = CandidateScreener(
            mode="contact", min_contact=10, min_contact_ratio=threshold
        ).transform(flawed, voxel_size=voxel_size)
        expected = {
            (c.upper, c.lower) for c, f in zip(every, feature)
            if f >= threshold * (1 + 1e-9)
        }
        near = {
            (c.upper, c.lower) for c, f in zip(every, feature)
            if abs(f - threshold) <= 1e-9 * threshold
        }
        assert expected <= pairs_of(kept) <= expected | near


def test_shipped_tilted_model_skips_only_pairs_it_rejects():
    truth = make_tissue((24, 96, 96), n_cells=40, random_state=11)
    flawed, cuts = oversegment(truth, 4, mode="tilted", random_state=4)
    cascade = load_pretrained("tilted")
    assert cascade.screener_.min_contact_ratio > 0
    full = load_pretrained("tilted")
    full.screener_.set_params(min_contact_ratio=0.0)

    records = {(r["upper"], r["lower"]): r for r in full.predict_merges(flawed)}
    kept = {(r["upper"], r["lower"]): r for r in cascade.predict_merges(flawed)}
    skipped = set(records) - set(kept)
    assert set(kept) <= set(records) and skipped
    # every pair the first stage leaves out, the full model keeps apart
    for pair in skipped:
        assert records[pair]["decision"] == "kept apart"
        assert records[pair]["probability"] < full.threshold - full.abstain
    # the same pairs merge, among them the tilted cuts
    merged = {p for p, r in records.items() if r["merged"]}
    assert merged == {p for p, r in kept.items() if r["merged"]}
    assert {tuple(sorted(c)) for c in np.asarray(cuts).tolist()} & merged
    for pair in kept:
        assert kept[pair]["probability"] == pytest.approx(
            records[pair]["probability"], abs=1e-6
        )
    np.testing.assert_array_equal(cascade.correct(flawed), full.correct(flawed))


def test_negative_ratio_is_refused():
    volume = big_cell_with_small_neighbour()
    with pytest.raises(InvalidParameterError, match="min_contact_ratio"):
        CandidateScreener(mode="contact", min_contact_ratio=-0.1).transform(volume)


@pytest.mark.parametrize("offset", [0, 2**40])
def test_physical_contact_areas_match_brute_force(offset):
    from sklearn_overseg.screening._contact import _contact_pairs

    rng = np.random.RandomState(0)
    volume = rng.randint(0, 4, size=(5, 6, 7)).astype(np.int64)
    volume[volume > 0] += offset
    faces = (0.35, 2.0, 3.0)  # areas of the faces normal to z, y and x
    pairs, counts, areas = _contact_pairs(volume, faces)
    expected = {}
    for axis in range(3):
        a = np.moveaxis(volume, axis, 0)
        for lo, hi in zip(a[:-1].ravel(), a[1:].ravel()):
            if lo and hi and lo != hi:
                key = (min(lo, hi), max(lo, hi))
                n, area = expected.get(key, (0, 0.0))
                expected[key] = (n + 1, area + faces[axis])
    assert [tuple(p) for p in pairs.tolist()] == sorted(expected)
    assert counts.tolist() == [expected[k][0] for k in sorted(expected)]
    np.testing.assert_allclose(areas, [expected[k][1] for k in sorted(expected)])
    np.testing.assert_array_equal(_contact_pairs(volume)[1], counts)

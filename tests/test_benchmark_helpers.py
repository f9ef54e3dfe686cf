"""Unit tests of the benchmark helpers (IoU stitching, mask dropout, baselines).

The helpers live in ``benchmarks/`` (scripts, not part of the package); they
are imported from there. Everything here runs on small synthetic volumes.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _baselines import IoUStitchBaseline, MergeAllCandidates, NoCorrection  # noqa: E402
from _flawed_segmentation import (  # noqa: E402
    drop_masks_per_slice,
    stitch_labels,
    z_split_pairs,
)

from sklearn_overseg.metrics import variation_of_information  # noqa: E402


def _prisms(n_layers=12, seed=0):
    """Separated boxes spanning a few z ranges: cells that stitch exactly."""
    rng = np.random.default_rng(seed)
    vol = np.zeros((n_layers, 40, 40), dtype=np.uint16)
    label = 1
    for y in range(2, 38, 12):
        for x in range(2, 38, 12):
            z0 = int(rng.integers(0, 3))
            z1 = int(rng.integers(n_layers - 3, n_layers + 1))
            vol[z0:z1, y : y + 9, x : x + 9] = label
            label += 1
    return vol


def _relabel_each_slice(vol, seed=0):
    """Give every slice its own random label values (2D output of a model)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(vol.shape, dtype=np.int32)
    for z, layer in enumerate(vol):
        values = np.unique(layer)
        values = values[values != 0]
        lookup = np.zeros(int(vol.max()) + 1, dtype=np.int32)
        lookup[values] = rng.permutation(1000)[: values.size] + 1
        out[z] = lookup[layer]
    return out


def _same_partition(a, b) -> bool:
    split, merge = variation_of_information(a, b)
    return split == 0 and merge == 0


def test_stitching_rebuilds_cells_from_independent_slices():
    vol = _prisms()
    stitched = stitch_labels(_relabel_each_slice(vol))
    assert stitched.dtype == np.int32
    assert _same_partition(vol, stitched)
    assert np.array_equal(stitched > 0, vol > 0)


def test_stitching_ignores_label_values_of_each_slice():
    vol = _prisms(seed=3)
    a = stitch_labels(_relabel_each_slice(vol, seed=1))
    b = stitch_labels(_relabel_each_slice(vol, seed=2))
    assert _same_partition(a, b)   # the numbering of new labels may differ


def test_missing_layer_splits_the_cell():
    slices = np.zeros((5, 8, 8), dtype=np.int64)
    slices[:, 2:6, 2:6] = 4
    slices[2] = 0
    stitched = stitch_labels(slices)
    assert stitched[0, 3, 3] == stitched[1, 3, 3] != stitched[3, 3, 3]
    assert stitched[3, 3, 3] == stitched[4, 3, 3]


def test_low_iou_starts_a_new_label_and_one_mask_continues_each_cell():
    slices = np.zeros((2, 10, 10), dtype=np.int64)
    slices[0, 0:10, 0:10] = 1
    slices[1, 0:10, 0:6] = 1    # IoU 0.6 with the cell above: continues it
    slices[1, 0:10, 6:10] = 2   # IoU 0.4: also above threshold, but worse
    stitched = stitch_labels(slices, threshold=0.25)
    assert stitched[1, 0, 0] == stitched[0, 0, 0]
    assert stitched[1, 0, 9] not in (0, stitched[0, 0, 0])
    strict = stitch_labels(slices, threshold=0.7)
    assert np.unique(strict).tolist() == [1, 2, 3]   # no pixel is background


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_stitch_rejects_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        stitch_labels(np.ones((2, 3, 3), dtype=int), threshold)


def test_stitch_rejects_non_integer_or_2d_input():
    with pytest.raises(ValueError, match="3D integer"):
        stitch_labels(np.ones((3, 3)))
    with pytest.raises(ValueError, match="3D integer"):
        stitch_labels(np.ones((2, 3, 3), dtype=float))


def test_dropout_without_deletion_keeps_the_volume():
    vol = _prisms()
    flawed, pairs = drop_masks_per_slice(vol, 0.0, rng=0)
    assert np.array_equal(flawed, vol)
    assert pairs.shape == (0, 2)


@pytest.mark.parametrize("interior_only", [True, False])
def test_dropout_fragments_stay_inside_their_cell(interior_only):
    vol = _prisms(n_layers=16)
    before = vol.copy()
    flawed, pairs = drop_masks_per_slice(vol, 0.3, rng=4, interior_only=interior_only)
    assert np.array_equal(vol, before)              # input untouched
    assert np.all(vol[flawed > 0] > 0)              # only deletions
    # every new label lies inside one original cell
    fg = flawed > 0
    combos = np.unique(np.column_stack((flawed[fg], vol[fg])), axis=0)
    assert len(np.unique(combos[:, 0])) == len(combos)
    # truth pairs join fragments of one cell, upper above lower
    owner = dict(combos.tolist())
    for upper, lower in pairs.tolist():
        assert owner[upper] == owner[lower]
        last_upper = np.nonzero(flawed == upper)[0].max()
        assert last_upper < np.nonzero(flawed == lower)[0].min()
    if interior_only:
        assert len(np.unique(flawed)) - len(np.unique(vol)) == len(pairs)


def test_dropout_is_deterministic_for_a_seed():
    vol = _prisms()
    a = drop_masks_per_slice(vol, 0.2, rng=7)
    b = drop_masks_per_slice(vol, 0.2, rng=7)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_z_split_pairs_finds_dropout_splits_and_not_lateral_cuts():
    gt = np.zeros((10, 8, 8), dtype=np.int64)
    gt[:, 1:7, 1:7] = 1
    axis = gt.copy()
    axis[5] = 0
    axis[6:] = 2
    assert z_split_pairs(gt, axis)[0].tolist() == [[1, 2]]
    lateral = gt.copy()
    lateral[:, :, 4:] *= 3
    assert z_split_pairs(gt, lateral)[0].shape == (0, 2)


def test_iou_stitch_baseline_repairs_one_layer_gaps():
    vol = _prisms(n_layers=16)
    flawed, pairs = drop_masks_per_slice(vol, 0.15, rng=2, interior_only=True)
    assert len(pairs) > 0
    fixed = IoUStitchBaseline(threshold=0.1).correct(flawed)
    gaps_of_one = all(
        np.nonzero(flawed == lo)[0].min() - np.nonzero(flawed == up)[0].max() == 2
        for up, lo in pairs.tolist()
    )
    if gaps_of_one:
        assert _same_partition(vol, fixed)
    assert len(np.unique(fixed)) < len(np.unique(flawed))
    assert np.all(fixed[flawed > 0] > 0)


def test_baselines_return_copies_with_the_corrector_interface():
    vol = np.zeros((7, 8, 8), dtype=np.uint16)
    vol[:3, 2:6, 2:6] = 1
    vol[4:, 2:6, 2:6] = 2
    for corrector in (NoCorrection(), IoUStitchBaseline(), MergeAllCandidates()):
        out = corrector.fit([vol]).transform([vol])
        assert len(out) == 1 and out[0].shape == vol.shape
        assert out[0].dtype == vol.dtype and out[0] is not vol
    assert np.array_equal(NoCorrection().correct(vol), vol)
    assert len(np.unique(MergeAllCandidates().correct(vol))) == 2


def test_lodo_cached_features_match_the_shipped_pipeline_features():
    """bench_lodo's cached features + fold normalisation = the pipeline's own."""
    from bench_lodo import Featurizer, TopologyNormalizer

    from sklearn_overseg import make_pair_pipeline, make_training_candidates
    from sklearn_overseg.datasets import make_tissue

    vol = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    cands, _, _ = make_training_candidates([vol], n_rounds=1, random_state=0)
    fz = Featurizer("axis", cands)
    cached = fz.transform(cands)["absolute"]
    reference = make_pair_pipeline()[:-2].fit_transform(cands)
    cols = [i for i, n in enumerate(fz.names) if n.startswith("topology__")
            and n not in ("topology__quadratic_won", "topology__unimodal")]
    normalised = TopologyNormalizer(cols).fit(cached).transform(cached)
    np.testing.assert_allclose(normalised, reference, rtol=1e-5, atol=1e-6)


def test_lodo_routed_head_matches_the_routed_classifier():
    """bench_lodo's routed recipe on cached features = GapRoutedClassifier's own:
    same probabilities (gap-0 pairs by the stitch route, gapped pairs the
    smaller of both) and the same training range as ``fit_feature_range``."""
    from _lodo_routed import RoutedFeaturizer, RoutedHead, routed_pairs
    from bench_lodo import _BINARY, TopologyNormalizer

    from sklearn_overseg import (
        FragmentExtentFeatures,
        GapRoutedClassifier,
        make_pair_pipeline,
    )
    from sklearn_overseg.correction import fit_feature_range
    from sklearn_overseg.datasets import make_tissue
    from sklearn_overseg.pretrained.train import seed_ensemble

    vol = make_tissue((32, 96, 96), n_cells=40, random_state=0)
    cands, y = routed_pairs(vol, rounds=1, seed=0)
    fz = RoutedFeaturizer(cands)
    X, t = fz.transform(cands)
    assert t.any() and (~t).any()
    reference = GapRoutedClassifier(
        stitch=make_pair_pipeline(seed_ensemble(1), extent=FragmentExtentFeatures()),
        gaps=make_pair_pipeline(seed_ensemble(1)),
        stitch_pairs="all", gapped="both",
    ).fit(cands, y)
    topo = [i for i, n in enumerate(fz.names)
            if n.startswith("topology__") and n not in _BINARY]
    head = RoutedHead(topo, fz.n_gap, 1, TopologyNormalizer).fit(
        (X, y), (X[~t], y[~t]), (X, t))
    proba, outside = head.predict(X, t)
    np.testing.assert_allclose(proba, reference.predict_proba(cands)[:, 1],
                               atol=2e-3)
    assert not outside.any()  # the training pairs lie inside their own box
    box = fit_feature_range(reference, cands)
    np.testing.assert_allclose(head.range_.low_, box.low_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(head.range_.high_, box.high_, rtol=1e-4, atol=1e-4)


def test_lodo_balanced_rows_weigh_each_class_equally():
    from _lodo_routed import balanced_rows

    rng = np.random.RandomState(0)
    y = np.array([1] * 18 + [0] * 2)
    rows = balanced_rows(y, rng)
    assert len(rows) == 20 and (y[rows] == 0).sum() == 10
    assert set(np.flatnonzero(y == 0)) <= set(rows)  # every minority row kept
    assert len(balanced_rows(np.ones(9, int), rng)) == 4  # one class: half


def test_tilted_misses_face_counts_and_causes():
    """bench_tilted_misses: voxels on the faces, and the first cause that applies."""
    from bench_tilted_misses import _face_counts, cause

    vol = np.zeros((4, 5, 5), dtype=np.int32)
    vol[1:3, 1:4, 1:4] = 1  # inside, no face voxel
    vol[0, 0, :2] = 2  # on a corner: counted once per voxel
    counts = _face_counts(vol)
    assert counts[1] == 0 and counts[2] == 2
    record = {"kind": "distinct", "merged in the truth": True, "outside box": True,
              "smaller: share on faces": 0.9, "smaller / median cell": 0.1,
              "max abs z": 9.0, "per larger": 2.0}
    assert cause(record, 1.0).startswith("distinct: merged in the untouched")
    record["merged in the truth"] = False
    assert "outside the training box" in cause(record, 1.0)
    record["outside box"] = False
    assert "cut by a volume face" in cause(record, 1.0)
    record["smaller / median cell"] = 0.5
    assert "SD from training" in cause(record, 1.0)
    record["max abs z"] = 1.0
    assert "as broad as a split's" in cause(record, 1.0)
    assert "narrower contact" in cause(record, 3.0)
    split = {"kind": "split", "first stage": "kept", "decision": "unsure",
             "why": "review band", "smaller / median cell": 0.5, "max abs z": 1.0}
    assert cause(split, 1.0) == "split: unsure (review band)"


def test_tilted_misses_accounts_for_every_split_and_distinct_pair():
    """Every simulated split gets one fate; the merges are those of decide()."""
    import _lodo_data as data
    from bench_tilted_misses import FATES, analyse

    from sklearn_overseg import load_pretrained

    corrector = load_pretrained("tilted")
    cases = data.tilted_test(data.family_volumes("small cells")[0], [10_000])
    found = analyse(corrector, cases)
    assert sum(found["fate"][f] for f in FATES) == len(cases[0]["pairs"])
    y = cases[0]["y"]
    assert found["distinct"][0] == int((y == 0).sum())
    p, merged = found["results"][0]
    assert found["distinct"][1] == int((merged & (y == 0)).sum())
    listed = [r for r in found["records"] if r["kind"] == "distinct"]
    assert len(listed) == found["distinct"][1]
    assert all(r["decision"] == "merged" for r in listed)
    expected = {frozenset((r["upper"], r["lower"]))
                for r in corrector.predict_merges(cases[0]["flawed"]) if r["merged"]}
    got = {frozenset(k) for k in cases[0]["cands"].pairs[merged].tolist()}
    assert got == expected

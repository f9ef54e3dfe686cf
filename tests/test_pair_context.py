"""Context of a candidate pair (screener) and PairContextFeatures."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_overseg import (
    Candidate,
    CandidateScreener,
    CandidateSet,
    PairContextFeatures,
    make_pair_pipeline,
)
from sklearn_overseg._candidates import CONTEXT_NAMES
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.datasets import make_tissue, slice_and_stitch
from sklearn_overseg.screening._pair_context import pair_context, typical_z_extent


def piece_between_cells(other_parent: bool = False) -> np.ndarray:
    """Cell 1 (layers 0-2), a one-layer piece 2 (layer 3), cell 3 (layers 4-5).

    With ``other_parent``, a one-layer label 4 lies beside the piece in layer
    3, over a column of 6 pixels of cell 3's first mask.
    """
    vol = np.zeros((6, 8, 8), dtype=np.uint16)
    vol[:3, 1:7, 1:7] = 1  # 36 pixels per layer
    vol[3, 1:7, 2:7] = 2  # 30 pixels
    vol[4:, 1:7, 1:7] = 3  # 36 pixels per layer
    if other_parent:
        vol[3, 1:7, 1] = 4  # 6 pixels
    return vol


def context(vol, upper, lower) -> dict:
    geometry = LabelGeometry.from_volume(vol)
    return pair_context(vol, geometry, upper, lower, typical_z_extent(geometry))


def test_context_values_on_a_hand_built_volume():
    vol = piece_between_cells()
    # cell 1 -> piece: nothing above cell 1; under the piece lies cell 3 whole
    up = context(vol, 1, 2)
    assert up["upper_above_cover"] == 0 and up["upper_above_iou"] == 0
    assert up["lower_below_cover"] == 1.0
    assert up["lower_below_iou"] == pytest.approx(30 / 36)
    assert up["lower_other_parent"] == 0 and up["upper_other_child"] == 0
    # piece -> cell 3: the piece is covered whole by cell 1 above it
    down = context(vol, 2, 3)
    assert down["upper_above_cover"] == 1.0
    assert down["upper_above_iou"] == pytest.approx(30 / 36)
    assert down["lower_below_cover"] == 0 and down["lower_below_iou"] == 0
    # typical extent: bounding-box-weighted median, cell 1's 3 layers
    assert typical_z_extent(LabelGeometry.from_volume(vol)) == 3.0
    assert up["merged_extent_ratio"] == pytest.approx(4 / 3)
    assert down["merged_extent_ratio"] == pytest.approx(3 / 3)


def test_a_cap_with_another_parent_and_without():
    alone = context(piece_between_cells(), 2, 3)
    shared = context(piece_between_cells(other_parent=True), 2, 3)
    assert alone["lower_other_parent"] == 0
    assert shared["lower_other_parent"] == pytest.approx(6 / 36)
    # seen from above: cell 1's last mask has a second child, label 4
    above = context(piece_between_cells(other_parent=True), 1, 2)
    assert above["upper_other_child"] == pytest.approx(6 / 36)
    assert context(piece_between_cells(), 1, 2)["upper_other_child"] == 0


def test_the_screener_stores_the_context_of_axis_pairs_only():
    vol = piece_between_cells()
    X = CandidateScreener(min_gap=0, mode="both").fit_transform(vol)
    axis = [c for c in X if c.kind == "axis"]
    assert {c.key[1:] for c in axis} == {(1, 2), (2, 3)}
    for c in axis:
        assert c.meta["context"] == context(vol, c.upper, c.lower)
    assert all("context" not in c.meta for c in X if c.kind == "contact")


def test_transformer_rows_follow_the_names_and_cap_the_extent():
    X = CandidateScreener(min_gap=0).fit_transform(piece_between_cells())
    features = PairContextFeatures().fit(X)
    assert features.get_feature_names_out().tolist() == list(CONTEXT_NAMES)
    rows = features.transform(X)
    assert rows.shape == (2, len(CONTEXT_NAMES)) and rows.dtype == np.float32
    expected = [[c.meta["context"][n] for n in CONTEXT_NAMES] for c in X]
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    capped = PairContextFeatures(max_extent_ratio=1.2).fit(X).transform(X)
    assert capped[:, -1].tolist() == pytest.approx([1.2, 1.0])


def test_a_pair_without_context_is_a_clear_error():
    crop = np.ones((3, 2, 2), dtype=np.uint8)
    X = CandidateSet([Candidate(0, 1, 2, crop, gap=(1, 1))])
    with pytest.raises(ValueError, match="carries no context.*CandidateScreener"):
        PairContextFeatures().fit(X).transform(X)


def test_context_in_a_pair_pipeline_is_deterministic():
    truth = make_tissue((20, 48, 48), n_cells=12, random_state=3)
    flawed, _ = slice_and_stitch(truth, stitch_threshold=0.5, random_state=3)
    screener = CandidateScreener(min_gap=0, max_gap=2)
    first = screener.fit_transform(flawed)
    second = screener.fit_transform(flawed.copy())
    a = PairContextFeatures().fit(first).transform(first)
    b = PairContextFeatures().fit(second).transform(second)
    np.testing.assert_array_equal(a, b)
    assert len(a) and np.all((a[:, :-1] >= 0) & (a[:, :-1] <= 1))
    pipe = make_pair_pipeline(context=PairContextFeatures())
    names = [n for n, _ in pipe.named_steps["features"].transformer_list]
    assert names == ["geo", "topology", "context"]

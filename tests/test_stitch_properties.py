"""Property test: correcting stitcher output keeps every voxel and only merges.

Hypothesis draws small synthetic tissues, cut into 2D slices, damaged and
IoU-stitched by :func:`~sklearn_overseg.datasets.slice_and_stitch` with drawn
settings. The default corrector (and a copy that merges every proposed pair)
must keep every foreground voxel with a label, map every input label to one
output label (merges only), add voxels only into background of gap layers,
keep the dtype and leave the input alone.
"""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, slice_and_stitch

_CACHE: dict = {}


def correctors():
    if not _CACHE:
        default = load_pretrained()
        eager = copy.deepcopy(default)
        eager.threshold = 0.0  # merges every proposed pair
        _CACHE.update(default=default, eager=eager)
    return _CACHE["default"], _CACHE["eager"]


@st.composite
def stitched_volumes(draw):
    mode = draw(st.sampled_from(["dense", "loose", "nuclei"]))
    n_cells = draw(st.integers(3, 12))
    truth = make_tissue(
        (draw(st.integers(6, 14)), 32, 32), n_cells, mode=mode,
        anisotropy=draw(st.sampled_from([1.0, 2.0, 3.0])),
        random_state=draw(st.integers(0, 2**16)),
    )
    flawed, _ = slice_and_stitch(
        truth,
        stitch_threshold=draw(st.sampled_from([0.1, 0.25, 0.5, 0.9])),
        z_step=draw(st.integers(1, 2)),
        jitter=draw(st.sampled_from([0.0, 0.7, 2.0])),
        p_resize=draw(st.floats(0, 1)),
        p_split=draw(st.floats(0, 0.3)),
        p_miss=draw(st.floats(0, 0.3)),
        false_masks=draw(st.floats(0, 3)),
        random_state=draw(st.integers(0, 2**16)),
    )
    dtype = draw(st.sampled_from([np.uint16, np.uint32, np.int64]))
    return flawed.astype(dtype)


@settings(max_examples=25)
@given(stitched_volumes())
def test_correcting_stitched_volumes_keeps_every_voxel_and_only_merges(flawed):
    if flawed.shape[0] < 2 or not flawed.any():
        return
    layers = {s for s in range(flawed.shape[0]) if flawed[s].any()}
    if len(layers) < 2:
        return
    before = flawed.copy()
    for corrector in correctors():
        try:
            out = corrector.correct(flawed)
        except ValueError as err:  # every label one layer thick: refused
            assert "stitch" in str(err)
            return
        np.testing.assert_array_equal(flawed, before)
        assert out.dtype == flawed.dtype and out.shape == flawed.shape
        inside = flawed != 0
        assert (out[inside] != 0).all()  # no foreground voxel lost
        pairs = np.unique(np.column_stack((flawed[inside], out[inside])), axis=0)
        assert len(np.unique(pairs[:, 0])) == len(pairs)  # one output per label
        added = (out != 0) & ~inside
        # voxels are added only where a merged pair had missing layers, and
        # only with a label that already exists
        assert set(np.unique(out[added]).tolist()) <= set(pairs[:, 1].tolist())

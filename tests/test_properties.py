"""Property-based tests: the corrector's contract on random label volumes.

Hypothesis draws small volumes three ways: synthetic tissue split by the
oversegmentation simulator with drawn parameters, stacks of random boxes with
missing layers (many touching and gapped fragments), and fully random label
arrays. Whatever the volume, dtype or label values, the corrector (an axis
one, and one that also merges touching labels) must keep every foreground
voxel, never split a label, only relabel by merging, only add
voxels to gap layers of the pairs it merged (where the input had background or
a noisy partial mask), leave its input untouched, keep the dtype and give the
same result every time and with any ``n_jobs``. A few cheaper properties of
the building blocks follow, and the determinism of training (the same seed
gives the same network weights and merges). The number of examples is set by
the hypothesis profile (see ``tests/conftest.py``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from hypothesis import assume, event, given, settings, target
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    CandidateScreener,
    MergeCorrector,
    MergeNet,
    TiltedReslicer,
    geo_wasserstein,
    interpolate_masks,
    make_pair_pipeline,
)
from sklearn_overseg._candidates import LOWER, UPPER
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import average_precision, variation_of_information

#: examples of the main invariant test (200 in CI, 1000 when thorough)
EXAMPLES = settings.default.max_examples
DTYPES = [np.uint8, np.uint16, np.uint32, np.int32, np.int64, np.uint64]
_CACHE: dict[str, MergeCorrector] = {}


def _budget(fraction: float, least: int = 5) -> settings:
    """Settings with a fraction of the profile's examples."""
    return settings(max_examples=max(least, int(EXAMPLES * fraction)))


def fitted_correctors() -> tuple[MergeCorrector, MergeCorrector]:
    """One corrector trained once per session, and a copy with ``n_jobs=2``.

    A module-level cache rather than a fixture: hypothesis runs many examples
    per test call, and function-scoped fixtures are not reset between them.
    """
    if not _CACHE:
        truth = [make_tissue((12, 32, 32), 8, random_state=s) for s in range(4)]
        corrector = MergeCorrector(
            CandidateScreener(max_gap=2),
            classifier=make_pair_pipeline(LogisticRegression(max_iter=500)),
            damage="axis",
            n_rounds=2,
            random_state=0,
        ).fit(truth)
        parallel = copy.deepcopy(corrector).set_params(n_jobs=2)
        parallel.classifier_.set_params(features__geo__n_jobs=2)
        _CACHE.update(serial=corrector, parallel=parallel)
    return _CACHE["serial"], _CACHE["parallel"]


def both_modes_corrector() -> MergeCorrector:
    """A corrector that also merges touching labels (tilted cuts), trained once."""
    if "both" not in _CACHE:
        truth = [make_tissue((12, 32, 32), 8, random_state=s) for s in range(4)]
        pipeline = make_pair_pipeline(
            LogisticRegression(max_iter=500), reslicer=TiltedReslicer()
        )
        _CACHE["both"] = MergeCorrector(
            CandidateScreener(mode="both", max_gap=2), pipeline, damage="axis",
            n_rounds=2,
        ).fit(truth)
    return _CACHE["both"]


# --------------------------------------------------------------- strategies
def _relabel(volume: np.ndarray, dtype, style: str) -> np.ndarray:
    """Cast to ``dtype`` with sparse or huge (near ``2**63 - 1``) label values."""
    labels = volume.astype(np.int64)
    fg = labels > 0
    top = int(labels.max())
    if style == "sparse":
        step = max(1, min(97, (np.iinfo(dtype).max - 1) // max(top, 1)))
        labels[fg] = labels[fg] * step + 1
    elif style == "huge" and np.iinfo(dtype).max >= 2**63 - 1:
        labels[fg] += 2**63 - 1 - top
    return labels.astype(dtype)


@st.composite
def tissue_volumes(draw):
    """Synthetic tissue damaged by the simulator with drawn parameters."""
    shape = (
        draw(st.integers(6, 14)), draw(st.integers(16, 36)), draw(st.integers(16, 36))
    )
    n_cells = draw(st.integers(2, min(14, int(np.prod(shape)) // 400)))
    mode = draw(st.sampled_from(["dense", "loose", "nuclei"]))
    seed = draw(st.integers(0, 999))
    truth = make_tissue(shape, n_cells, mode=mode, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not split any cell"
        flawed, _ = oversegment(
            truth,
            n_splits=draw(st.integers(0, 5)),
            mode=draw(st.sampled_from(["axis", "axis", "tilted"])),
            gap_layers=draw(st.integers(1, 2)),
            min_fragment_layers=draw(st.integers(1, 2)),
            max_cuts_per_cell=draw(st.integers(1, 2)),
            shrink=draw(st.integers(0, 1)),
            n_stacked_confounders=draw(st.integers(0, 2)),
            n_noise_masks=draw(st.integers(0, 3)),
            random_state=draw(st.integers(0, 999)),
        )
    dtype = draw(st.sampled_from(DTYPES))
    return _relabel(flawed, dtype, draw(st.sampled_from(["none", "sparse", "huge"])))


@st.composite
def box_volumes(draw):
    """Random boxes painted in turn, then some layers of some labels erased."""
    shape = tuple(draw(st.integers(lo, hi)) for lo, hi in ((3, 10), (4, 14), (4, 14)))
    volume = np.zeros(shape, np.int64)
    for label in range(1, draw(st.integers(1, 7)) + 1):
        box = []
        for n in shape:
            start = draw(st.integers(0, n - 1))
            box.append(slice(start, draw(st.integers(start + 1, n))))
        volume[tuple(box)] = label
    for _ in range(draw(st.integers(0, 3))):
        z = draw(st.integers(0, shape[0] - 1))
        label = draw(st.integers(0, int(volume.max())))
        layer = volume[z]
        layer[(layer == label) | (label == 0)] = 0
    # a gap splits a label in two: give the part below it a label of its own
    top = int(volume.max())
    for label in range(1, top + 1):
        layers = np.flatnonzero((volume == label).any(axis=(1, 2)))
        breaks = np.flatnonzero(np.diff(layers) > 1)
        if breaks.size and draw(st.booleans()):
            below = volume[layers[breaks[0] + 1] :]
            top += 1
            below[below == label] = top
    dtype = draw(st.sampled_from(DTYPES))
    return _relabel(volume, dtype, draw(st.sampled_from(["none", "sparse", "huge"])))


def random_arrays():
    """Fully random small label arrays (labels 0-5, any supported dtype)."""
    shapes = st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9))
    return st.sampled_from(DTYPES).flatmap(
        lambda dtype: hnp.arrays(dtype, shapes, elements=st.integers(0, 5))
    )


# ---------------------------------------------------------------- checks
def assert_contract(flawed: np.ndarray, out: np.ndarray, records: list[dict]) -> int:
    """The corrector's contract between a volume and its correction.

    Returns the number of noisy partial masks that joined a merged cell.
    """
    assert out.shape == flawed.shape and out.dtype == flawed.dtype
    fg = flawed > 0
    assert np.all(out[fg] > 0), "a foreground voxel became background"
    pairs = np.unique(np.stack([flawed[fg], out[fg]], axis=1), axis=0)
    assert len(np.unique(pairs[:, 0])) == len(pairs), "an input label was split"
    mapping = {int(a): int(b) for a, b in pairs}
    assert set(mapping.values()) <= set(mapping), "a new label appeared"
    changed = {a: b for a, b in mapping.items() if a != b}
    assert all(mapping[b] == b for b in changed.values()), "a merge target moved"

    merged = [r for r in records if r["merged"]]
    fragments = {lab for r in merged for lab in (r["upper"], r["lower"])}
    for r in merged:
        assert mapping[r["upper"]] == mapping[r["lower"]], f"pair {r} not merged"
    allowed = np.zeros(flawed.shape, bool)
    for r in merged:
        if r["gap_start"] is not None:
            gap = slice(r["gap_start"], r["gap_stop"])
            allowed[gap] |= out[gap] == mapping[r["upper"]]
    absorbed = set(changed) - fragments  # noisy partial masks of a gap
    for label in absorbed:
        assert np.all(allowed[flawed == label]), f"label {label} merged outside gaps"
    added = ~fg & (out > 0)
    assert not np.any(added & ~allowed), "voxels added outside merged gaps"
    return len(absorbed)


def check_correction(volume: np.ndarray, corrector: MergeCorrector) -> np.ndarray:
    before = volume.copy()
    out = corrector.correct(volume)
    np.testing.assert_array_equal(volume, before)  # input untouched
    records = corrector.predict_merges(volume)
    n_absorbed = assert_contract(volume, out, records)
    # steer the search towards volumes with many merges (shown with
    # pytest --hypothesis-show-statistics)
    n_merged = sum(r["merged"] for r in records)
    target(float(n_merged))
    event("merges" if n_merged else "no merge")
    if np.any(out[volume == 0]):
        event("gap layers rebuilt")
    if n_absorbed:
        event("noise masks absorbed")
    return out


# ----------------------------------------------------- corrector contract
@given(
    volume=tissue_volumes(),
    threshold=st.sampled_from([0.0, 0.5]),
    interpolation=st.sampled_from(["boundary_ot", "distance"]),
    read_only=st.booleans(),
)
def test_corrector_contract_on_damaged_tissue(
    volume, threshold, interpolation, read_only
):
    corrector, _ = fitted_correctors()
    corrector.set_params(threshold=threshold, interpolation=interpolation)
    assume(volume.any())
    volume.flags.writeable = not read_only
    check_correction(volume, corrector)


@_budget(0.5)
@given(volume=box_volumes(), threshold=st.sampled_from([0.0, 0.5]))
def test_corrector_contract_on_stacked_boxes(volume, threshold):
    corrector, _ = fitted_correctors()
    corrector.set_params(threshold=threshold, interpolation="boundary_ot")
    assume(volume.any())
    check_correction(volume, corrector)


@_budget(0.25)
@given(volume=random_arrays())
def test_corrector_contract_on_random_arrays(volume):
    corrector, _ = fitted_correctors()
    corrector.set_params(threshold=0.0, interpolation="boundary_ot")
    assume(volume.any())
    check_correction(volume, corrector)


@_budget(0.25)
@given(volume=tissue_volumes(), threshold=st.sampled_from([0.0, 0.5]))
def test_corrector_contract_with_touching_pairs(volume, threshold):
    corrector = both_modes_corrector()
    corrector.set_params(threshold=threshold)
    assume(volume.any())
    check_correction(volume, corrector)


@_budget(0.1)
@given(volume=st.one_of(tissue_volumes(), box_volumes()))
def test_correction_is_deterministic_across_runs_and_jobs(volume):
    serial, parallel = fitted_correctors()
    assume(volume.any())
    for corrector in (serial, parallel):
        corrector.set_params(threshold=0.0, interpolation="boundary_ot")
    first = serial.correct(volume)
    np.testing.assert_array_equal(serial.correct(volume), first)
    np.testing.assert_array_equal(parallel.correct(volume), first)
    assert serial.predict_merges(volume) == parallel.predict_merges(volume)


# ------------------------------------------------------ building blocks
@_budget(0.25)
@given(volume=st.one_of(tissue_volumes(), box_volumes()))
def test_axis_candidates_describe_the_volume(volume):
    assume(volume.any())
    for cand in CandidateScreener(max_gap=2).fit_transform(volume):
        g0, g1 = cand.gap
        assert 1 <= g1 - g0 <= 2 and 0 < g0
        z0, y0, x0 = cand.origin
        depth, height, width = cand.crop.shape
        region = volume[z0 : z0 + depth, y0 : y0 + height, x0 : x0 + width]
        assert np.array_equal(cand.crop[:g0] == UPPER, region[:g0] == cand.upper)
        assert np.array_equal(cand.crop[g1:] == LOWER, region[g1:] == cand.lower)
        assert not np.isin(region[g0:g1], (cand.upper, cand.lower)).any()
        assert (region[g0 - 1] == cand.upper).any() and (region[g1] == cand.lower).any()


@st.composite
def masks(draw, shape=(14, 14)):
    """A non-empty random 2D mask, seen as a few random rectangles."""
    mask = np.zeros(shape, bool)
    for _ in range(draw(st.integers(1, 3))):
        box = []
        for n in shape:
            start = draw(st.integers(0, n - 1))
            box.append(slice(start, draw(st.integers(start + 1, n))))
        mask[tuple(box)] = True
    return mask


@_budget(0.25)
@given(a=masks(), b=masks(), scale=st.floats(0.1, 10.0))
def test_geo_wasserstein_is_a_symmetric_scalable_distance(a, b, scale):
    d = geo_wasserstein(a, b, "exact")
    assert d >= 0 and d == pytest.approx(geo_wasserstein(b, a, "exact"), abs=1e-9)
    assert geo_wasserstein(a, a.copy(), "exact") == pytest.approx(0, abs=1e-9)
    scaled = geo_wasserstein(a, b, "exact", voxel_size=scale)
    assert scaled == pytest.approx(scale * d, rel=1e-6, abs=1e-9)
    assert geo_wasserstein(a, b, "sliced") <= d * (1 + 1e-6) + 0.5  # a lower bound


@_budget(0.25)
@given(
    a=masks(), b=masks(), n_missing=st.integers(1, 3),
    method=st.sampled_from(["boundary_ot", "distance"]),
)
def test_interpolated_layers_stay_between_the_masks(a, b, n_missing, method):
    before = a.copy(), b.copy()
    layers = interpolate_masks(a, b, n_missing, method=method)
    assert layers.shape == (n_missing, *a.shape) and layers.dtype == bool
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])
    rows, cols = np.nonzero(a | b)
    box = np.zeros_like(a)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    assert not (layers & ~box).any(), "an interpolated layer left the masks' box"
    if method == "boundary_ot":
        assert layers.any(axis=(1, 2)).all(), "a rebuilt layer vanished"
    if np.array_equal(a, b):
        assert (layers == a).all()


@_budget(0.25)
@given(volume=tissue_volumes())
def test_metrics_see_a_relabelled_volume_as_identical(volume):
    labels, inverse = np.unique(volume, return_inverse=True)
    new = np.random.default_rng(0).permutation(len(labels)) + 1
    new[labels == 0] = 0
    renamed = new[inverse].reshape(volume.shape)
    assert np.all(average_precision(volume, renamed) == 1)
    split, merge = variation_of_information(volume, renamed)
    assert split == pytest.approx(0, abs=1e-9) and merge == pytest.approx(0, abs=1e-9)


# ------------------------------------------------------ training determinism
def _train(seed: int) -> MergeCorrector:
    truth = [make_tissue((12, 32, 32), 8, random_state=s) for s in (0, 1)]
    net = MergeNet(max_epochs=6, random_state=seed)
    return MergeCorrector(
        classifier=make_pair_pipeline(net), damage="axis", n_rounds=1,
        random_state=seed,
    ).fit(truth)


def _weights(corrector: MergeCorrector) -> dict[str, np.ndarray]:
    module = corrector.classifier_.named_steps["clf"].module_
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def test_the_same_training_seed_gives_identical_weights_and_merges():
    first, second, other = _train(0), _train(0), _train(1)
    weights = _weights(first)
    assert weights.keys() == _weights(second).keys()
    for name, value in _weights(second).items():
        np.testing.assert_array_equal(value, weights[name], err_msg=name)
    assert any(
        not np.array_equal(value, weights[name])
        for name, value in _weights(other).items()
    ), "a different seed trained the very same network"
    truth = make_tissue((12, 32, 32), 8, random_state=7)
    flawed, _ = oversegment(truth, 3, n_noise_masks=1, random_state=7)
    records = first.predict_merges(flawed)
    assert records, "no candidate pair to compare"
    assert first.predict_merges(flawed) == records  # across runs
    assert second.predict_merges(flawed) == records  # across trainings
    np.testing.assert_array_equal(first.correct(flawed), second.correct(flawed))

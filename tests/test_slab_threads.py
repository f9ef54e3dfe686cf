"""Whole-volume passes in z-slabs on threads give what one pass gives."""

import numpy as np
import pytest
from joblib import parallel_config

from sklearn_overseg import _parallel, _threads, _worker_pool, load_pretrained
from sklearn_overseg._geometry import LabelGeometry, RowLookup
from sklearn_overseg._threads import map_slabs, map_slabs_alongside, slab_threads
from sklearn_overseg.correction import _steps
from sklearn_overseg.correction._merging import relabel_volume
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.screening._facing_overlaps import facing_overlaps


@pytest.fixture(scope="module")
def flawed():
    tissue = make_tissue((30, 64, 64), 25, random_state=3)
    volume, pairs = oversegment(tissue, 5, random_state=1)
    assert len(pairs) == 5
    return volume


@pytest.fixture
def tiny_threshold(monkeypatch):
    # every pass is split, however small the volume
    monkeypatch.setattr(_threads, "MIN_VOXELS_PER_THREAD", 1)


def test_slabs_cover_the_layers_in_order(tiny_threshold):
    seen = map_slabs(lambda s: list(range(s.start, s.stop)), 11, 11, n_jobs=3)
    assert len(seen) == 6
    assert [z for slab in seen for z in slab] == list(range(11))
    assert map_slabs(lambda s: (s.start, s.stop), 2, 10**9, n_jobs=4) == [
        (0, 1), (1, 2)
    ]


def test_threads_follow_the_amount_of_work():
    per_thread = _threads.MIN_VOXELS_PER_THREAD
    assert slab_threads(2, 10 * per_thread) == 2
    assert slab_threads(2, per_thread) == 1
    assert slab_threads(1, 10**12) == 1
    assert map_slabs(lambda s: (s.start, s.stop), 10, per_thread, n_jobs=2) == [
        (0, 10)
    ]


def test_geometry_is_the_same_from_slabs(flawed, tiny_threshold):
    one = LabelGeometry.from_volume(flawed)
    with parallel_config(n_jobs=2):
        split = LabelGeometry.from_volume(flawed)
    for name in ("labels", "starts", "stops"):
        a, b = getattr(one, name), getattr(split, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # every label crosses at least one slab border in some volume: a cell
    # spanning all layers keeps its full box
    tall = np.zeros((9, 4, 4), np.uint16)
    tall[:, 1:3, 1:3], tall[4, 0, 0] = 5, 2
    with parallel_config(n_jobs=3):
        geometry = LabelGeometry.from_volume(tall)
    assert geometry.labels.tolist() == [2, 5]
    assert geometry.z_extent(5) == (0, 9) and geometry.z_extent(2) == (4, 5)
    assert geometry.starts.tolist() == [[4, 0, 0], [0, 1, 1]]


def test_facing_overlaps_are_the_same_from_slabs(flawed, tiny_threshold):
    geometry = LabelGeometry.from_volume(flawed)
    lookup = RowLookup(geometry.labels)
    one = facing_overlaps(flawed, geometry, lookup, max_gap=2, min_gap=0)
    assert len(one[0]) > 0
    for jobs in (2, 4):
        with parallel_config(n_jobs=jobs):
            split = facing_overlaps(flawed, geometry, lookup, max_gap=2, min_gap=0)
        for a, b in zip(one, split):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_relabelling_is_the_same_from_slabs(flawed, tiny_threshold, monkeypatch):
    from sklearn_overseg.correction import _relabel

    monkeypatch.setattr(_relabel, "_SLAB_VOXELS", 64 * 64 * 2)  # 15 slabs
    labels = np.unique(flawed)[1:]
    mapping = {int(a): int(b) for a, b in zip(labels[::3], labels[1::3])}
    one = relabel_volume(flawed, mapping)
    with parallel_config(n_jobs=2):
        split = relabel_volume(flawed, mapping)
        inplace = relabel_volume(flawed.copy(), mapping)
    np.testing.assert_array_equal(one, split)
    np.testing.assert_array_equal(one, inplace)
    # no mapping: a copy, slab by slab on the threads
    with parallel_config(n_jobs=2):
        copied = relabel_volume(flawed, {})
    assert copied is not flawed
    np.testing.assert_array_equal(copied, flawed)


def test_new_result_arrays_on_ordinary_pages_hold_the_same_labels(
    flawed, tiny_threshold, monkeypatch
):
    from sklearn_overseg.correction import _relabel
    from sklearn_overseg.correction._relabel import empty_labels, relabel_alongside

    fresh = empty_labels(flawed)
    assert fresh.shape == flawed.shape and fresh.dtype == flawed.dtype
    assert fresh.flags.c_contiguous and fresh.flags.owndata
    labels = np.unique(flawed)[1:]
    mapping = {int(a): int(b) for a, b in zip(labels[::2], labels[1::2])}
    runs = []
    for ordinary in (True, False):
        monkeypatch.setattr(_relabel, "ORDINARY_PAGES", ordinary)
        with parallel_config(n_jobs=2):
            runs.append(relabel_volume(flawed, mapping))
        runs.append(relabel_alongside(flawed, mapping, lambda: 0, n_jobs=2)[0])
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])


def test_correction_is_the_same_with_threads_and_workers(flawed, tiny_threshold,
                                                         monkeypatch):
    serial = load_pretrained("axis")
    expected = serial.correct(flawed)
    records = serial.predict_merges(flawed)
    assert any(r["merged"] for r in records)
    # workers started ahead for this small volume, every batch in them
    monkeypatch.setattr(_worker_pool, "WARM_START_VOXELS", flawed.size // 2)
    monkeypatch.setattr(_parallel, "MIN_VOXELS_PER_JOB", 1)
    monkeypatch.setattr(_steps, "_GAPS_PER_JOB", 1)
    monkeypatch.setattr(_parallel, "MAIN_SHARES", False)
    model = load_pretrained("axis").set_params(n_jobs=2)
    np.testing.assert_array_equal(model.correct(flawed), expected)
    assert model.predict_merges(flawed) == records
    inplace = flawed.copy()
    model.correct(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, expected)


def test_slabs_alongside_a_task_cover_every_slab_once():
    slabs = [slice(z, z + 1) for z in range(9)]
    results, value = map_slabs_alongside(
        lambda s: s.start, slabs, lambda: "task", n_jobs=3
    )
    assert results == list(range(9))
    assert value == "task"
    # serial: the calling thread does every slab after the task
    assert map_slabs_alongside(lambda s: s.start, slabs, lambda: 1, n_jobs=1) == (
        list(range(9)), 1
    )


def test_a_failing_task_stops_the_slabs_and_propagates():
    import threading

    done, started = [], threading.Event()

    def slab(s):
        done.append(s)
        started.set()
        threading.Event().wait(0.2)  # the task fails meanwhile

    def task():
        started.wait()
        raise RuntimeError("task failed")

    slabs = [slice(z, z + 1) for z in range(50)]
    with pytest.raises(RuntimeError, match="task failed"):
        map_slabs_alongside(slab, slabs, task, n_jobs=2)
    assert done == slabs[:1]


def test_gaps_interpolated_alongside_the_relabelling(tiny_threshold, monkeypatch):
    # noisy masks in the gaps: the fills absorb some, which the second pass
    # relabels after the decided mapping
    tissue = make_tissue((30, 64, 64), 25, random_state=3)
    volume, _ = oversegment(tissue, 6, n_noise_masks=6, random_state=2)
    serial = load_pretrained("axis")
    expected = serial.correct(volume)
    absorbed = []
    fold = _steps.fold_gap_fills

    def spy(fills, mapping):
        final, writes = fold(fills, mapping)
        absorbed.append(len(final) - len(mapping))
        return final, writes

    monkeypatch.setattr(_steps, "fold_gap_fills", spy)
    model = load_pretrained("axis").set_params(n_jobs=2)
    np.testing.assert_array_equal(model.correct(volume), expected)
    inplace = volume.copy()
    model.correct(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, expected)
    assert absorbed and min(absorbed) > 0

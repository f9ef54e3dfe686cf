"""Tests of the shared batch runner and of the steps that use it."""

import os

import numpy as np
import pytest

from sklearn_overseg import (
    CandidateScreener,
    GeoWassersteinFeatures,
    TiltedReslicer,
    _parallel,
    _worker_pool,
    load_pretrained,
)
from sklearn_overseg._parallel import crop_voxels, map_batches, n_jobs_for
from sklearn_overseg.correction import _steps
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.tilted._contact_features import ContactFeatures


def batch_sizes(items):
    return [len(items)]


def test_little_work_runs_serially_in_one_batch():
    assert map_batches(batch_sizes, list(range(50)), n_jobs=2) == [[50]]
    assert map_batches(batch_sizes, [], n_jobs=2) == [[0]]
    assert map_batches(len, list(range(9)), n_jobs=1, min_work_per_job=1) == [9]


def test_enough_work_is_split_in_ordered_batches():
    items = list(range(50))
    parts = map_batches(np.array, items, n_jobs=2, min_work_per_job=10)
    assert len(parts) == 13  # 8 batches per job: sizes 4 and a rest of 2
    np.testing.assert_array_equal(np.concatenate(parts), items)
    sizes = map_batches(len, items, n_jobs=2, work=1e9)
    assert sizes == [4] * 12 + [2]


def pids(items):
    return [(os.getpid(), item) for item in items]


def failing(items):
    if 13 in items:
        raise ValueError("item 13")
    return list(items)


def test_workers_compute_batches_in_order(monkeypatch):
    # this process hands out batches only: every one runs in a worker
    monkeypatch.setattr(_parallel, "MAIN_SHARES", False)
    parts = map_batches(pids, list(range(40)), n_jobs=2, min_work_per_job=10)
    assert [item for part in parts for _, item in part] == list(range(40))
    assert os.getpid() not in {pid for part in parts for pid, _ in part}
    with pytest.raises(ValueError, match="item 13"):
        map_batches(failing, list(range(40)), n_jobs=2, min_work_per_job=10)


def test_shared_batches_give_the_serial_result():
    # this process and the workers share the batches; whoever computes a
    # batch, the results come back once each and in order (errors too)
    assert _worker_pool.start_workers(2, _worker_pool.WARM_START_VOXELS) == 1
    items = list(range(200))
    for _ in range(3):
        parts = map_batches(pids, items, n_jobs=2, min_work_per_job=50)
        assert [item for part in parts for _, item in part] == items
    with pytest.raises(ValueError, match="item 13"):
        map_batches(failing, items, n_jobs=2, min_work_per_job=50)


def test_workers_start_ahead_only_for_large_volumes_and_several_jobs():
    big = _worker_pool.WARM_START_VOXELS
    assert _worker_pool.start_workers(1, 100 * big) == 0
    assert _worker_pool.start_workers(None, 100 * big) == 0
    assert _worker_pool.start_workers(2, big - 1) == 0
    assert _worker_pool.start_workers(8, 2 * big) == 2
    assert _worker_pool.start_workers(2, 2 * big) == 1


def test_started_workers_take_smaller_work():
    _worker_pool.start_workers(2, _worker_pool.WARM_START_VOXELS)
    # a sixteenth of the work a cold start needs is shared with them
    assert len(map_batches(len, list(range(64)), n_jobs=2, work=99,
                           min_work_per_job=1600)) == 1
    assert len(map_batches(len, list(range(64)), n_jobs=2, work=100,
                           min_work_per_job=1600)) == 16
    assert map_batches(len, list(range(64)), n_jobs=1, min_work_per_job=1) == [64]


def test_work_that_imports_more_in_a_worker_pays_for_it_once():
    _worker_pool.start_workers(2, _worker_pool.WARM_START_VOXELS)
    needs = ("a module no batch of this pool has imported",)

    def n_batches(work, worker_imports=needs):
        return len(map_batches(len, list(range(64)), n_jobs=2, work=work,
                               min_work_per_job=1600, worker_imports=worker_imports))

    assert n_batches(800, worker_imports=()) == 16  # started workers take it
    assert n_batches(800) == 1  # not with a second of imports to pay first
    assert n_batches(3200) == 16  # which this much work pays for
    assert n_batches(800) == 16  # and then the workers have them


def test_jobs_follow_the_amount_of_work():
    assert n_jobs_for(4, work=35, min_work_per_job=10) == 3
    assert n_jobs_for(2, work=35, min_work_per_job=10) == 2
    assert n_jobs_for(-1, work=5, min_work_per_job=10) == 1
    assert n_jobs_for(None, work=1e12, min_work_per_job=1) == 1


@pytest.fixture(scope="module")
def axis_and_contact():
    tissue = make_tissue((24, 64, 64), 20, random_state=2)
    flawed, _ = oversegment(tissue, 3, random_state=0)
    tilted, _ = oversegment(tissue, 4, mode="tilted", random_state=0)
    axis = CandidateScreener().transform(flawed)
    contact = CandidateScreener(mode="contact", min_contact=10).transform(tilted)
    return flawed, axis, tilted, contact


def test_steps_give_the_same_output_in_worker_processes(axis_and_contact, monkeypatch):
    _, axis, _, contact = axis_and_contact
    assert crop_voxels(axis) == sum(c.crop.size for c in axis)
    geo = GeoWassersteinFeatures(n_jobs=2).fit(axis)
    resliced = TiltedReslicer(n_jobs=2).transform(contact)
    serial = [
        geo.transform(axis),
        [c.crop for c in resliced],
        ContactFeatures(n_jobs=2).fit_transform(resliced),
    ]
    monkeypatch.setattr(_parallel, "MIN_VOXELS_PER_JOB", 1)
    resliced = TiltedReslicer(n_jobs=2).transform(contact)
    # Workers do not send the input crops back: the very input arrays are kept.
    assert all(r.meta["contact_crop"] is c.crop for r, c in zip(resliced, contact))
    parallel = [
        geo.transform(axis),
        [c.crop for c in resliced],
        ContactFeatures(n_jobs=2).fit_transform(resliced),
    ]
    np.testing.assert_array_equal(serial[0], parallel[0])
    assert all(np.array_equal(a, b) for a, b in zip(serial[1], parallel[1]))
    np.testing.assert_array_equal(serial[2], parallel[2])


def test_pretrained_models_decide_the_same_in_worker_processes(
    axis_and_contact, monkeypatch
):
    flawed, _, tilted, _ = axis_and_contact
    runs = []
    for per_job, gaps in ((None, None), (1, 1)):
        if per_job:
            monkeypatch.setattr(_parallel, "MIN_VOXELS_PER_JOB", per_job)
            monkeypatch.setattr(_steps, "_GAPS_PER_JOB", gaps)
        axis_model = load_pretrained("axis").set_params(n_jobs=2)
        tilted_model = load_pretrained("tilted").set_params(n_jobs=2)
        runs.append((
            axis_model.correct(flawed),
            [r["probability"] for r in tilted_model.predict_merges(tilted)],
        ))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_workers_leave_joblibs_own_processes_alone():
    from joblib import Parallel, delayed

    _worker_pool.start_workers(2, _worker_pool.WARM_START_VOXELS)
    squares = Parallel(n_jobs=2, backend="loky")(delayed(pow)(i, 2) for i in range(4))
    assert squares == [0, 1, 4, 9]
    parts = map_batches(pids, list(range(30)), n_jobs=2, min_work_per_job=5)
    assert [item for part in parts for _, item in part] == list(range(30))
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(3)) == [
        0, 1, 2
    ]


def test_deferred_workers_start_once_after_the_passes(monkeypatch):
    started = []
    monkeypatch.setattr(_worker_pool, "_executor", started.append)
    big = _worker_pool.WARM_START_VOXELS
    with _worker_pool.workers_after_passes(2, big):
        assert started == []
        assert _worker_pool.start_deferred_workers() == 1
        assert _worker_pool.start_deferred_workers() == 0
    assert started == [1]
    with _worker_pool.workers_after_passes(2, big):
        pass  # no pass hook: they start on leaving
    assert started == [1, 1]
    with pytest.raises(RuntimeError), _worker_pool.workers_after_passes(2, big):
        raise RuntimeError("screen failed")
    assert _worker_pool.start_deferred_workers() == 0
    assert started == [1, 1]
    with _worker_pool.workers_after_passes(1, 100 * big):  # one job: none
        assert _worker_pool.start_deferred_workers() == 0
    assert started == [1, 1]


def test_a_correction_starts_its_workers_after_the_facing_overlaps(monkeypatch):
    from sklearn_overseg.screening import _axis

    volume, _ = oversegment(make_tissue((20, 48, 48), 12, random_state=0), 3,
                            random_state=0)
    events = []
    overlaps, executor = _axis.facing_overlaps, _worker_pool._executor
    monkeypatch.setattr(_axis, "facing_overlaps",
                        lambda *a: events.append("passes") or overlaps(*a))
    monkeypatch.setattr(_worker_pool, "_executor",
                        lambda n: events.append("workers") or executor(n))
    monkeypatch.setattr(_worker_pool, "WARM_START_VOXELS", volume.size)
    expected = load_pretrained("axis").correct(volume)
    assert events == ["passes"]
    events.clear()
    model = load_pretrained("axis").set_params(n_jobs=2)
    np.testing.assert_array_equal(model.correct(volume), expected)
    assert events[:2] == ["passes", "workers"]

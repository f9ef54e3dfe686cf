"""Independent per-pair work in batches, shared with worker processes when it pays.

Pair features, reslicing and gap interpolation all apply one function to
many independent candidates. :func:`map_batches` is their shared runner: it
cuts the candidates into contiguous batches (:func:`sklearn.utils.gen_batches`)
and shares them between this process and ``n_jobs - 1`` ``loky`` worker
processes of its own (the work is mostly Python and numpy calls on small
arrays that hold the GIL between them, so threads barely overlap), without
waiting for a worker that is still starting
(:class:`~sklearn_overseg._shared_batches.SharedBatches`).

A worker process starts with the modules of the pair features only
(:data:`WORKER_IMPORTS`: NumPy, no scikit-learn, SciPy or POT): about 0.4 s
of one core with Python and joblib. Work whose batches import more in a
worker says so (``worker_imports``: the gap interpolation imports
scikit-learn and POT, a second more). The workers are used only when the
work pays for them: without started workers, at least ``min_work_per_job``
per job; a correction of a large volume starts them ahead
(:func:`start_workers`), while it screens, and then any work above a
sixteenth of that is shared, once the workers have the modules it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from joblib import effective_n_jobs
from joblib.externals.loky import ProcessPoolExecutor

from ._shared_batches import SharedBatches

__all__ = [
    "MIN_VOXELS_PER_JOB",
    "started_workers",
    "WARM_START_VOXELS",
    "crop_voxels",
    "map_batches",
    "start_deferred_workers",
    "start_workers",
    "workers_after_passes",
]

#: Work (pair-crop voxels) a worker process must get to pay for its start-up
#: and for copying its batches: about a second of per-pair work on one core.
MIN_VOXELS_PER_JOB = 20_000_000

#: Label volume voxels per worker process started ahead, while the volume is
#: screened (:func:`start_workers`): the pairs of a volume this large are
#: work enough (a few seconds) to pay for a worker's start-up.
WARM_START_VOXELS = 50_000_000

#: With started workers, the work worth sharing, as a fraction of
#: ``min_work_per_job``: only the sending of batches remains to pay for.
STARTED_FRACTION = 1 / 16

#: Batches per job: small enough to balance uneven pairs and to keep the
#: last batches short, large enough that the per-batch overhead stays small.
BATCHES_PER_JOB = 8

#: Seconds a worker process stays idle before it exits (a new one starts
#: when work comes), as for joblib's workers.
IDLE_SECONDS = 300

#: This process computes batches too (tests turn it off to force workers).
MAIN_SHARES = True

_started = {"workers": 0, "ready": [], "imported": set()}


def crop_voxels(candidates) -> int:
    """Total voxels of the candidates' crops: the work measure of pair steps."""
    return int(sum(np.prod(c.crop.shape, dtype=np.int64) for c in candidates))


def n_jobs_for(n_jobs: int | None, work: float, min_work_per_job: float) -> int:
    """Jobs worth starting for ``work``: at most ``effective_n_jobs(n_jobs)``."""
    return max(1, min(effective_n_jobs(n_jobs), int(work // min_work_per_job)))


#: Environment of the workers: POT (imported on first use by the earth
#: mover's distance and the gap interpolation) would import PyTorch and other
#: array libraries to register their backends, tripling a worker's start-up;
#: the workers only hand it NumPy arrays.
WORKER_ENV = {
    f"POT_BACKEND_DISABLE_{name}": "1"
    for name in ("PYTORCH", "JAX", "CUPY", "TENSORFLOW")
}


#: What a worker imports when it starts: the batch function of the pair
#: features (NumPy only). This module is light too (a worker unpickles
#: :func:`_ready` from it): it imports scikit-learn only in :func:`map_batches`.
WORKER_IMPORTS = ("sklearn_overseg.features._geo_rows",)


def _ready() -> bool:
    """A worker's first task: the imports of the pair features' batches."""
    import importlib

    for name in WORKER_IMPORTS:
        importlib.import_module(name)
    return True


def _executor(workers: int):
    """This module's own pool of ``workers`` processes (joblib's is left alone)."""
    # never shrunk: a new pool would start its workers again
    workers = max(workers, _started["workers"])
    executor = _started.get("executor")
    if executor is None or workers != _started["workers"] or _failed():
        if executor is not None:
            executor.shutdown(wait=False)
        executor = ProcessPoolExecutor(
            max_workers=workers, timeout=IDLE_SECONDS, env=WORKER_ENV
        )
        # one quick task per worker tells when they are up
        _started.update(
            workers=workers, executor=executor, imported=set(),
            ready=[executor.submit(_ready) for _ in range(workers)],
        )
    return executor


def _failed() -> bool:
    """Whether a started worker failed its first task (a broken pool)."""
    return any(f.done() and f.exception() is not None for f in _started["ready"])


def _forget_pool() -> None:
    """A broken pool (a worker died): the next batches start a new one."""
    _started.update(workers=0, executor=None, ready=[], imported=set())


def start_workers(n_jobs: int | None, voxels: int) -> int:
    """Start the worker processes of a correction ahead, when it pays.

    Returns at once: the workers import the package while this process
    screens the volume. One worker per :data:`WARM_START_VOXELS` voxels of
    the volume, at most ``n_jobs - 1`` (this process is a job too): none for
    one job or a smaller volume.

    Parameters
    ----------
    n_jobs : int or None
        Jobs of the correction (joblib's meaning).
    voxels : int
        Voxels of the label volume.

    Returns
    -------
    int
        The workers started (or already running).
    """
    workers = min(effective_n_jobs(n_jobs) - 1, int(voxels // WARM_START_VOXELS))
    if workers < 1:
        return 0
    _executor(workers)
    return workers


@contextmanager
def workers_after_passes(n_jobs: int | None, voxels: int) -> Iterator[None]:
    """Start the workers of :func:`start_workers` after the whole-volume passes.

    The bounding boxes and facing overlaps of a screen keep every core busy
    (z-slab threads); the per-pair steps after them run on one core until
    the pair features. Inside this context, :func:`start_deferred_workers`
    (called by the screen after its last whole-volume pass) starts the
    workers then, so that their start-up fills an idle core; they start on
    leaving the context at the latest, and not at all if it raises.

    Examples
    --------
    >>> from sklearn_overseg._parallel import workers_after_passes
    >>> with workers_after_passes(1, 10):  # one job: no worker
    ...     pass
    """
    _started["deferred"] = (n_jobs, voxels)
    try:
        yield
    except BaseException:
        _started.pop("deferred", None)
        raise
    start_deferred_workers()


def start_deferred_workers() -> int:
    """Start the workers put off by :func:`workers_after_passes`, if any.

    Returns the workers started (0 outside that context or once started).
    """
    deferred = _started.pop("deferred", None)
    return 0 if deferred is None else start_workers(*deferred)


def started_workers() -> int:
    """Worker processes of this module's pool (up or starting; 0 without a pool).

    Examples
    --------
    >>> from sklearn_overseg._parallel import started_workers
    >>> started_workers() >= 0
    True
    """
    return 0 if _failed() else _started["workers"]


def _workers_started(wanted: int) -> int:
    """Workers started (at most ``wanted``), whether or not they are up yet."""
    if _failed():
        return 0  # they could not start: the cold path starts a new pool
    return min(wanted, _started["workers"])


def map_batches(
    func: Callable,
    items: Sequence,
    *,
    n_jobs: int | None = None,
    work: float | None = None,
    min_work_per_job: float | None = None,
    worker_imports: Sequence[str] = (),
) -> list:
    """``func`` applied to contiguous batches of ``items``, in order.

    Parameters
    ----------
    func : callable
        Takes a slice of ``items`` (``items[a:b]``) and returns its results;
        it must give the same results whichever batches it is given.
    items : sequence
        Independent work items; sliced, never copied item by item.
    n_jobs : int or None, default=None
        Most jobs to use (joblib's meaning: ``None`` follows
        ``joblib.parallel_config``, ``-1`` all cores): this process and
        ``n_jobs - 1`` ``loky`` worker processes, whatever the configured
        backend.
    work : float, optional
        Amount of work in ``items`` (e.g. :func:`crop_voxels`); ``None``
        counts one unit per item.
    min_work_per_job : float, optional
        Work each job must get to start worker processes; with less, fewer
        jobs (down to the serial ``[func(items)]``) are used. Workers already
        started (:func:`start_workers`) take any work above
        :data:`STARTED_FRACTION` of it. ``None``: :data:`MIN_VOXELS_PER_JOB`.
    worker_imports : sequence of str, default=()
        What the batches import in a worker beyond :data:`WORKER_IMPORTS`
        (e.g. ``"ot"``, about a second of CPU). Until work with the same
        imports has been shared with this pool, started workers take the
        work only when it pays on its own (``min_work_per_job`` per job).

    Returns
    -------
    list
        One result per batch, in the order of ``items``; a single element when
        the work ran serially.

    Examples
    --------
    >>> from sklearn_overseg._parallel import map_batches
    >>> map_batches(sum, list(range(10)), n_jobs=2, work=1)  # too little to share
    [45]
    """
    work = len(items) if work is None else work
    if min_work_per_job is None:
        min_work_per_job = MIN_VOXELS_PER_JOB
    jobs = effective_n_jobs(n_jobs)
    workers = 0
    if jobs > 1 and len(items) >= 2:
        workers = _workers_started(jobs - 1)
        if workers and not set(worker_imports) <= _started["imported"]:
            workers = 0  # the imports are a worker's start-up again
        if not workers or work < min_work_per_job * STARTED_FRACTION:
            workers = n_jobs_for(n_jobs, work, min_work_per_job) - 1
            if workers:
                _executor(workers)
    if not workers:
        return [func(items)]
    # here, not at the top: worker processes import this module (_ready)
    from sklearn.utils import gen_batches

    _started["imported"].update(worker_imports)
    size = -(-len(items) // (BATCHES_PER_JOB * (workers + 1)))
    batches = list(gen_batches(len(items), size))
    shared = SharedBatches(
        func, items, batches, _started["executor"], workers, main_shares=MAIN_SHARES
    )
    results = shared.run()
    if shared.broken:
        _forget_pool()
    return results

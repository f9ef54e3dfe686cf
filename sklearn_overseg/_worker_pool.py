"""The worker processes of :func:`~sklearn_overseg._parallel.map_batches`.

One ``loky`` pool of this package's own (joblib's is left alone), started
when work pays for it: ahead of a correction of a large volume
(:func:`start_workers`, or :func:`workers_after_passes` once the
whole-volume passes are done), else by :func:`~sklearn_overseg._parallel.
map_batches` itself. A worker starts with the modules of the pair features
only (:data:`WORKER_IMPORTS`: NumPy, no scikit-learn, SciPy or POT): about
0.4 s of one core with Python and joblib. This module is light too (a worker
unpickles :func:`_ready` from it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from joblib import effective_n_jobs
from joblib.externals.loky import ProcessPoolExecutor

__all__ = [
    "WARM_START_VOXELS",
    "start_deferred_workers",
    "start_workers",
    "started_workers",
    "workers_after_passes",
]

#: Label volume voxels per worker process started ahead, while the volume is
#: screened (:func:`start_workers`): the pairs of a volume this large are
#: work enough (a few seconds) to pay for a worker's start-up.
WARM_START_VOXELS = 50_000_000

#: Seconds a worker process stays idle before it exits (a new one starts
#: when work comes), as for joblib's workers.
IDLE_SECONDS = 300

_started = {"workers": 0, "ready": [], "imported": set()}


#: Environment of the workers: POT (imported on first use by the earth
#: mover's distance and the gap interpolation) would import PyTorch and other
#: array libraries to register their backends, tripling a worker's start-up;
#: the workers only hand it NumPy arrays.
WORKER_ENV = {
    f"POT_BACKEND_DISABLE_{name}": "1"
    for name in ("PYTORCH", "JAX", "CUPY", "TENSORFLOW")
}


#: What a worker imports when it starts: the batch function of the pair
#: features (NumPy only).
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
    >>> from sklearn_overseg._worker_pool import workers_after_passes
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
    >>> from sklearn_overseg._worker_pool import started_workers
    >>> started_workers() >= 0
    True
    """
    return 0 if _failed() else _started["workers"]


def _workers_started(wanted: int) -> int:
    """Workers started (at most ``wanted``), whether or not they are up yet."""
    if _failed():
        return 0  # they could not start: the cold path starts a new pool
    return min(wanted, _started["workers"])

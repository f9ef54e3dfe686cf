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
(:data:`~sklearn_overseg._worker_pool.WORKER_IMPORTS`: NumPy, no
scikit-learn, SciPy or POT): about 0.4 s of one core with Python and joblib.
Work whose batches import more in a worker says so (``worker_imports``: the
gap interpolation imports scikit-learn and POT, a second more). The workers
are used only when the work pays for them: without started workers, at least
``min_work_per_job`` per job; a correction of a large volume starts them
ahead (:func:`start_workers`), while it screens, and then any work above a
sixteenth of that is shared, once the workers have the modules it needs. The
pool and its start-up live in ``_worker_pool.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from joblib import effective_n_jobs

from . import _worker_pool as pool
from ._shared_batches import SharedBatches
from ._worker_pool import (
    start_deferred_workers,
    start_workers,
    started_workers,
    workers_after_passes,
)

__all__ = [
    "MIN_VOXELS_PER_JOB",
    "crop_voxels",
    "map_batches",
    "n_jobs_for",
    "start_deferred_workers",
    "start_workers",
    "started_workers",
    "workers_after_passes",
]

#: Work (pair-crop voxels) a worker process must get to pay for its start-up
#: and for copying its batches: about a second of per-pair work on one core.
MIN_VOXELS_PER_JOB = 20_000_000

#: With started workers, the work worth sharing, as a fraction of
#: ``min_work_per_job``: only the sending of batches remains to pay for.
STARTED_FRACTION = 1 / 16

#: Batches per job: small enough to balance uneven pairs and to keep the
#: last batches short, large enough that the per-batch overhead stays small.
BATCHES_PER_JOB = 8

#: This process computes batches too (tests turn it off to force workers).
MAIN_SHARES = True


def crop_voxels(candidates) -> int:
    """Total voxels of the candidates' crops: the work measure of pair steps."""
    return int(sum(np.prod(c.crop.shape, dtype=np.int64) for c in candidates))


def n_jobs_for(n_jobs: int | None, work: float, min_work_per_job: float) -> int:
    """Jobs worth starting for ``work``: at most ``effective_n_jobs(n_jobs)``."""
    return max(1, min(effective_n_jobs(n_jobs), int(work // min_work_per_job)))


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
        What the batches import in a worker beyond
        :data:`~sklearn_overseg._worker_pool.WORKER_IMPORTS`
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
        workers = pool._workers_started(jobs - 1)
        if workers and not set(worker_imports) <= pool._started["imported"]:
            workers = 0  # the imports are a worker's start-up again
        if not workers or work < min_work_per_job * STARTED_FRACTION:
            workers = n_jobs_for(n_jobs, work, min_work_per_job) - 1
            if workers:
                pool._executor(workers)
    if not workers:
        return [func(items)]
    # here, not at the top: this module imports NumPy and joblib only
    from sklearn.utils import gen_batches

    pool._started["imported"].update(worker_imports)
    size = -(-len(items) // (BATCHES_PER_JOB * (workers + 1)))
    batches = list(gen_batches(len(items), size))
    shared = SharedBatches(
        func, items, batches, pool._started["executor"], workers,
        main_shares=MAIN_SHARES,
    )
    results = shared.run()
    if shared.broken:
        pool._forget_pool()
    return results

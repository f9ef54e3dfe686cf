"""Independent per-pair work in batches, in parallel only when it pays.

Pair features, reslicing and gap interpolation all apply one function to
many independent candidates. :func:`map_batches` is their shared runner: it
cuts the candidates into contiguous batches (:func:`sklearn.utils.gen_batches`)
and runs them in joblib worker processes (``loky``: the work is mostly Python
and numpy calls that hold the GIL between them, so threads barely overlap).
Processes cost a start-up and a copy of every batch, so the number of jobs is
chosen from the amount of work: no more jobs than ``work // min_work_per_job``,
and the plain serial loop, in this process, when that is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import gen_batches

__all__ = ["MIN_VOXELS_PER_JOB", "crop_voxels", "map_batches"]

#: Work (pair-crop voxels) a worker process must get to pay for its start-up
#: and for copying its batches: about a second of per-pair work on one core.
MIN_VOXELS_PER_JOB = 20_000_000

#: Batches per job: small enough to balance uneven pairs, large enough that
#: the per-batch overhead stays small.
BATCHES_PER_JOB = 4


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
) -> list:
    """``func`` applied to contiguous batches of ``items``, in order.

    Parameters
    ----------
    func : callable
        Takes a slice of ``items`` (``items[a:b]``) and returns its results.
    items : sequence
        Independent work items; sliced, never copied item by item.
    n_jobs : int or None, default=None
        Most jobs to use (joblib's meaning: ``None`` follows
        ``joblib.parallel_config``, ``-1`` all cores). The jobs are always
        ``loky`` worker processes, whatever the configured backend.
    work : float, optional
        Amount of work in ``items`` (e.g. :func:`crop_voxels`); ``None``
        counts one unit per item.
    min_work_per_job : float, optional
        Work each job must get; with less, fewer jobs (down to the serial
        ``[func(items)]``) are used. ``None``: :data:`MIN_VOXELS_PER_JOB`.

    Returns
    -------
    list
        One result per batch, in the order of ``items``; a single element when
        the work ran serially.

    Examples
    --------
    >>> from sklearn_overseg._parallel import map_batches
    >>> map_batches(sum, list(range(10)), n_jobs=2, min_work_per_job=100)
    [45]
    """
    work = len(items) if work is None else work
    if min_work_per_job is None:
        min_work_per_job = MIN_VOXELS_PER_JOB
    jobs = n_jobs_for(n_jobs, work, min_work_per_job)
    if jobs == 1 or len(items) < 2:
        return [func(items)]
    size = -(-len(items) // (BATCHES_PER_JOB * jobs))
    return Parallel(n_jobs=jobs, backend="loky")(
        delayed(func)(items[batch]) for batch in gen_batches(len(items), size)
    )

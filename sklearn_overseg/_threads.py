"""Whole-volume work in z-slabs, on threads when the volume is large.

Bounding boxes (:func:`scipy.ndimage.find_objects`), the facing-overlap
counts of the axis screen and the relabelling of a corrected volume each
make one pass over every voxel, with large-array NumPy and SciPy calls that
release the GIL while they run. :func:`map_slabs` cuts the layers into
contiguous slabs and runs one function per slab on ``n_jobs`` threads
(shared memory: nothing is copied), when each thread gets at least
:data:`MIN_VOXELS_PER_THREAD` voxels; the callers combine the slab results
into exactly what one pass over the whole volume gives.
:func:`map_slabs_alongside` runs such a pass on helper threads while the
calling thread does other work (e.g. the serial gap interpolation), and then
joins the pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from joblib import effective_n_jobs
from sklearn.utils import gen_even_slices

__all__ = [
    "MIN_VOXELS_PER_THREAD",
    "map_slabs",
    "map_slabs_alongside",
    "slab_threads",
]

#: Voxels a thread must get to pay for starting it and for combining the
#: slab results (a few milliseconds): about 20 ms of one-pass work.
MIN_VOXELS_PER_THREAD = 4_000_000

#: Slabs per thread: a little balance for slabs of uneven work.
SLABS_PER_THREAD = 2


def slab_threads(n_jobs: int | None, voxels: int) -> int:
    """Threads worth using for a pass over ``voxels`` voxels (1: serial)."""
    jobs = effective_n_jobs(n_jobs)
    return max(1, min(jobs, int(voxels // MIN_VOXELS_PER_THREAD)))


def map_slabs(
    func: Callable[[slice], object],
    n_layers: int,
    voxels: int,
    *,
    n_jobs: int | None = None,
    slabs_per_thread: int = SLABS_PER_THREAD,
) -> list:
    """``func(layers)`` for contiguous slabs of ``range(n_layers)``, in order.

    Parameters
    ----------
    func : callable
        Takes a ``slice`` of layers and returns its result; it runs on
        several threads at once, so it must only read shared data.
    n_layers : int
        Layers to cover.
    voxels : int
        Voxels of the whole pass: the work that sets the number of threads.
    n_jobs : int or None, default=None
        Most threads (joblib's meaning: ``None`` follows
        ``joblib.parallel_config``, ``-1`` all cores).
    slabs_per_thread : int, default=2
        Slabs per thread when the work is split.

    Returns
    -------
    list
        One result per slab; a single ``func(slice(0, n_layers))`` when the
        work runs serially.

    Examples
    --------
    >>> from sklearn_overseg._threads import map_slabs
    >>> map_slabs(lambda s: (s.start, s.stop), 10, voxels=10**9, n_jobs=2)
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    >>> map_slabs(lambda s: (s.start, s.stop), 10, voxels=10, n_jobs=2)
    [(0, 10)]
    """
    threads = min(slab_threads(n_jobs, voxels), n_layers)
    if threads <= 1:
        return [func(slice(0, n_layers))]
    slabs = list(gen_even_slices(n_layers, min(n_layers, threads * slabs_per_thread)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(func, slabs))


def map_slabs_alongside(
    func: Callable[[slice], object],
    slabs: Sequence[slice],
    task: Callable[[], object],
    *,
    n_jobs: int | None = None,
) -> tuple[list, object]:
    """``func`` over ``slabs`` on helper threads while this thread runs ``task``.

    The ``n_jobs - 1`` helper threads take the slabs in order, one at a time;
    when ``task`` returns, the calling thread takes the slabs still left. A
    whole-volume pass (GIL released) thus fills the cores that a serial
    ``task`` leaves idle. ``func`` and ``task`` must not touch the same data.

    Parameters
    ----------
    func : callable
        Takes one slab (a ``slice``) and returns its result.
    slabs : sequence of slice
        The slabs, small enough for the threads to share them evenly.
    task : callable
        Runs on the calling thread; its exceptions stop the helpers (after
        the slab they are on) and propagate.
    n_jobs : int or None, default=None
        Most threads, the calling one included (joblib's meaning).

    Returns
    -------
    results : list
        ``func(slab)`` for each slab, in order.
    value : object
        What ``task`` returned.

    Examples
    --------
    >>> from sklearn_overseg._threads import map_slabs_alongside
    >>> slabs = [slice(0, 2), slice(2, 5)]
    >>> map_slabs_alongside(lambda s: s.stop - s.start, slabs, lambda: "done",
    ...                     n_jobs=2)
    ([2, 3], 'done')
    """
    results: list = [None] * len(slabs)
    pending = iter(range(len(slabs)))
    lock, stop = threading.Lock(), threading.Event()

    def drain() -> None:
        while not stop.is_set():
            with lock:
                index = next(pending, None)
            if index is None:
                return
            results[index] = func(slabs[index])

    helpers = max(1, effective_n_jobs(n_jobs) - 1)
    with ThreadPoolExecutor(max_workers=helpers) as pool:
        futures = [pool.submit(drain) for _ in range(helpers)]
        try:
            value = task()
        except BaseException:
            stop.set()
            raise
        drain()
        for future in futures:
            future.result()
    return results, value

"""Whole-volume work in z-slabs, on threads when the volume is large.

Bounding boxes (:func:`scipy.ndimage.find_objects`), the facing-overlap
counts of the axis screen and the relabelling of a corrected volume each
make one pass over every voxel, with large-array NumPy and SciPy calls that
release the GIL while they run. :func:`map_slabs` cuts the layers into
contiguous slabs and runs one function per slab on ``n_jobs`` threads
(shared memory: nothing is copied), when each thread gets at least
:data:`MIN_VOXELS_PER_THREAD` voxels; the callers combine the slab results
into exactly what one pass over the whole volume gives.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from joblib import effective_n_jobs
from sklearn.utils import gen_even_slices

__all__ = ["MIN_VOXELS_PER_THREAD", "map_slabs", "slab_threads"]

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

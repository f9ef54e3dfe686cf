"""Relabelling a label volume in z-slabs, into a new array or in place.

The corrected volume is written slab by slab (one ``take`` through a lookup
table per slab, or a sorted search for labels above ``2**24``), on threads
for a large volume: the threads also make the first write to each page of a
new result array, which costs more than the lookup itself.

A new result array is allocated with ordinary pages (:func:`empty_labels`).
NumPy asks Linux for transparent huge pages for every large array; where the
kernel honours that request by compacting memory at the first write
(``defrag`` set to ``madvise``, the default of several distributions), that
first write cost 0.5-1 s of CPU per 400 MB in a correction, and two threads
writing at once paid more than one. With ordinary pages it costs about
0.35 s, which the threads share (``benchmarks/RESULTS.md``, section 4 (c)).
"""

from __future__ import annotations

import threading

import numpy as np
from sklearn.utils import gen_batches

from .._threads import map_slabs, map_slabs_alongside

__all__ = ["empty_labels", "relabel_alongside", "relabel_volume"]

# Labels up to this value are relabelled through a lookup table.
_MAX_TABLE_LABEL = 1 << 24
# Voxels per slab of the relabelling pass (bounds the temporaries).
_SLAB_VOXELS = 1 << 22

#: Allocate new result arrays without NumPy's request for huge pages.
ORDINARY_PAGES = True

try:  # NumPy's switch for its huge-page request (numpy >= 2.0, then 1.x)
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - numpy < 2
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None
_PAGES_LOCK = threading.Lock()


def empty_labels(like: np.ndarray) -> np.ndarray:
    """An uninitialised array of ``like``'s shape and dtype, on ordinary pages.

    Same as :func:`numpy.empty_like` (C order), except that NumPy does not
    ask the kernel for transparent huge pages for it (see the module
    docstring); nothing changes where NumPy offers no such switch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction._relabel import empty_labels
    >>> empty_labels(np.zeros((2, 3, 4), np.uint16)).shape
    (2, 3, 4)
    """
    if not ORDINARY_PAGES or _set_madvise_hugepage is None:
        return np.empty(like.shape, like.dtype)
    with _PAGES_LOCK:  # the switch is global: restore it at once
        previous = _set_madvise_hugepage(False)
        try:
            return np.empty(like.shape, like.dtype)
        finally:
            _set_madvise_hugepage(previous)


def _slab_step(shape: tuple[int, ...]) -> int:
    """Number of z layers per slab so a slab holds about ``_SLAB_VOXELS``."""
    per_layer = max(1, int(np.prod(shape[1:], dtype=np.int64)))
    return max(1, _SLAB_VOXELS // per_layer)


def relabel_volume(
    volume: np.ndarray, mapping: dict[int, int], *, out: np.ndarray | None = None
) -> np.ndarray:
    """Return ``volume`` with labels replaced by ``mapping`` (a copy by default).

    Works for any label range. The volume is processed in slabs of z layers,
    so the temporaries stay small whatever its size: labels up to
    ``2**24`` go through a lookup table (one ``take`` per slab), larger ones
    through a sorted search restricted to the voxels that change. It gives
    what :func:`skimage.util.map_array` gives with the full label list, in
    less time (``benchmarks/bench_library.py``).

    Parameters
    ----------
    volume : ndarray
        Integer labels.
    mapping : dict
        ``label -> new label`` for the labels that change.
    out : ndarray, optional
        Where to write the result (same shape and dtype as ``volume``); may be
        ``volume`` itself to relabel in place. ``None`` allocates a new array.

    Returns
    -------
    ndarray
        ``out``, or the new array.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction._relabel import relabel_volume
    >>> relabel_volume(np.array([[[0, 2, 3]]]), {3: 2}).tolist()
    [[[0, 2, 2]]]
    """
    volume = np.asarray(volume)
    if out is None:
        out = empty_labels(volume)
    slabs, func, threads = _slab_relabeller(volume, mapping, out)
    if threads:  # one take or copy per slab, on threads for a large volume
        map_slabs(
            lambda part: [func(slab) for slab in slabs[part]],
            len(slabs), volume.size, slabs_per_thread=1,
        )
    else:
        for slab in slabs:
            func(slab)
    return out


def relabel_alongside(volume, mapping, task, *, out=None, n_jobs=None):
    """:func:`relabel_volume` on helper threads while this thread runs ``task``.

    ``task`` must not read ``out`` (nor ``volume`` when ``out`` is
    ``volume``). Returns ``(out, task())``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction._relabel import relabel_alongside
    >>> out, value = relabel_alongside(np.array([[[0, 2, 3]]]), {3: 2},
    ...                                lambda: "done", n_jobs=2)
    >>> out.tolist(), value
    ([[[0, 2, 2]]], 'done')
    """
    volume = np.asarray(volume)
    if out is None:
        out = empty_labels(volume)
    slabs, func, _ = _slab_relabeller(volume, mapping, out)
    return out, map_slabs_alongside(func, slabs, task, n_jobs=n_jobs)[1]


def _slab_relabeller(volume, mapping, out):
    """``(slabs, func, threads)``: ``func(slab)`` relabels one z-slab into ``out``.

    Without a mapping ``func`` copies the slab (no slab at all when ``out`` is
    ``volume``); ``threads`` says whether the slabs may run on threads (the
    sorted search makes large temporaries: it runs one slab at a time).
    """
    step = _slab_step(volume.shape)
    slabs = list(gen_batches(volume.shape[0], step)) if volume.shape[0] else []
    if not mapping:
        def copy(slab):
            np.copyto(out[slab], volume[slab])

        return ([] if out is volume else slabs), copy, True
    # Keys and values in the volume's own integer dtype: exact above 2**63 in
    # uint64 volumes, and a value that does not fit is an error, not a wrap.
    dtype = volume.dtype if volume.dtype.kind in "iu" else np.dtype(np.int64)
    try:
        keys = np.array(sorted(mapping), dtype=dtype)
        values = np.array([mapping[k] for k in keys.tolist()], dtype=dtype)
    except OverflowError:
        raise ValueError(
            f"mapping holds labels that do not fit the volume's dtype {volume.dtype}"
        ) from None
    top = max(int(volume.max()), int(keys[-1])) if volume.size else 0
    if top <= _MAX_TABLE_LABEL:
        table = np.arange(top + 1, dtype=volume.dtype)
        table[keys] = values.astype(volume.dtype)

        def take(slab):
            np.take(table, volume[slab], out=out[slab], mode="clip")

        return slabs, take, True

    def search(slab):
        src, dst = volume[slab], out[slab]
        if dst is not src:
            np.copyto(dst, src)
        hit = np.isin(src, keys)
        if hit.any():
            dst[hit] = values[np.searchsorted(keys, src[hit])].astype(out.dtype)

    return slabs, search, False

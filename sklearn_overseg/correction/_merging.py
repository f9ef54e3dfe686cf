"""Merging accepted pairs: union-find over labels, chains, relabelling.

Accepted pairs are merged in order of decreasing probability with a
union-find. Chains A-B-C merge top to bottom: the merged cell keeps the label
of its topmost fragment (smallest first z layer). Two groups whose z-extents
overlap are never merged through an axis pair, since a cell split along z
cannot occupy the same layer twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.utils import gen_batches

from .._threads import map_slabs, map_slabs_alongside

__all__ = ["UnionFind", "relabel_alongside", "relabel_volume", "resolve_merges"]

# Labels up to this value are relabelled through a lookup table.
_MAX_TABLE_LABEL = 1 << 24
# Voxels per slab of the relabelling pass (bounds the temporaries).
_SLAB_VOXELS = 1 << 22


class UnionFind:
    """Disjoint sets over integer labels, with path compression.

    Kept instead of :class:`scipy.cluster.hierarchy.DisjointSet`, which
    makes ``resolve_merges`` slower for the same mapping
    (``benchmarks/bench_library.py``, results in ``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> from sklearn_overseg.correction._merging import UnionFind
    >>> uf = UnionFind()
    >>> _ = uf.union(3, 5); _ = uf.union(5, 9)
    >>> uf.find(9) == uf.find(3)
    True
    """

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self._parent
        root = parent.setdefault(x, x)
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[rb] = ra
        return ra

    def groups(self) -> dict[int, list[int]]:
        """Members of every set of more than one element, by root."""
        out: dict[int, list[int]] = {}
        for x in list(self._parent):
            out.setdefault(self.find(x), []).append(x)
        return {r: sorted(m) for r, m in out.items() if len(m) > 1}


def _intervals_overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(s0 < t1 and s1 < t0 for s0, t0 in a for s1, t1 in b)


def resolve_merges(
    pairs: np.ndarray,
    probabilities: np.ndarray,
    threshold: float,
    *,
    z_extents: dict[int, tuple[int, int]] | None = None,
    check_z: Iterable[bool] | None = None,
) -> tuple[dict[int, int], np.ndarray]:
    """Turn pair probabilities into label groups.

    Parameters
    ----------
    pairs : ndarray of shape (n, 2)
        Candidate label pairs of one volume.
    probabilities : ndarray of shape (n,)
        Merge probability of each pair.
    threshold : float
        Pairs with probability ``>= threshold`` are accepted.
    z_extents : dict, optional
        ``label -> (first layer, one past last layer)``. When given, an
        accepted pair is refused if the two groups it would join share a layer
        (and the merged label is the topmost fragment's).
    check_z : iterable of bool, optional
        Per pair, whether the z-extent rule applies (axis pairs) or not
        (contact pairs, whose fragments share layers by nature). Default: all.

    Returns
    -------
    mapping : dict
        ``label -> new label`` for every label that changes.
    merged : ndarray of bool, shape (n,)
        Whether each pair ended up merged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction._merging import resolve_merges
    >>> pairs = np.array([[1, 2], [2, 3], [4, 5]])
    >>> mapping, merged = resolve_merges(pairs, np.array([.9, .8, .1]), 0.5)
    >>> mapping, merged.tolist()
    ({2: 1, 3: 1}, [True, True, False])
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    probabilities = np.asarray(probabilities, dtype=float).ravel()
    if probabilities.shape[0] != pairs.shape[0]:
        raise ValueError(
            f"pairs and probabilities have different lengths ({pairs.shape[0]} "
            f"and {probabilities.shape[0]})"
        )
    if np.isnan(probabilities).any():
        raise ValueError("probabilities contain NaN")
    check = np.ones(len(pairs), bool) if check_z is None else np.asarray(
        list(check_z), bool
    )
    if check.shape != (len(pairs),):
        raise ValueError(
            f"check_z has {check.size} entries for {len(pairs)} pairs"
        )
    uf = UnionFind()
    spans: dict[int, list[tuple[int, int]]] = {}
    merged = np.zeros(len(pairs), dtype=bool)
    order = np.argsort(-probabilities, kind="stable")
    for i in order:
        if probabilities[i] < threshold:
            break
        a, b = (int(v) for v in pairs[i])
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            merged[i] = True
            continue
        if z_extents is not None:
            sa = spans.setdefault(ra, [z_extents[a]] if a in z_extents else [])
            sb = spans.setdefault(rb, [z_extents[b]] if b in z_extents else [])
            if check[i] and _intervals_overlap(sa, sb):
                continue
            root = uf.union(ra, rb)
            spans[root] = sa + sb
            spans.pop(rb if root == ra else ra, None)
        else:
            uf.union(ra, rb)
        merged[i] = True
    mapping: dict[int, int] = {}
    for members in uf.groups().values():
        if z_extents is not None:
            top = min(members, key=lambda m: (z_extents.get(m, (np.inf,))[0], m))
        else:
            top = min(members)
        mapping.update({m: top for m in members if m != top})
    return mapping, merged


def _slab_step(shape: tuple[int, ...], voxels: int = _SLAB_VOXELS) -> int:
    """Number of z layers per slab so a slab holds about ``voxels`` voxels."""
    per_layer = max(1, int(np.prod(shape[1:], dtype=np.int64)))
    return max(1, voxels // per_layer)


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
    >>> from sklearn_overseg.correction._merging import relabel_volume
    >>> relabel_volume(np.array([[[0, 2, 3]]]), {3: 2}).tolist()
    [[[0, 2, 2]]]
    """
    volume = np.asarray(volume)
    if out is None:
        out = np.empty_like(volume)
    slabs, func, table = _slab_relabeller(volume, mapping, out)
    if func is None:
        return out
    if table:  # one take per slab, the slabs on threads for a large volume
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
    >>> from sklearn_overseg.correction._merging import relabel_alongside
    >>> out, value = relabel_alongside(np.array([[[0, 2, 3]]]), {3: 2},
    ...                                lambda: "done", n_jobs=2)
    >>> out.tolist(), value
    ([[[0, 2, 2]]], 'done')
    """
    volume = np.asarray(volume)
    if out is None:
        out = np.empty_like(volume)
    slabs, func, _ = _slab_relabeller(volume, mapping, out)
    if func is None:
        return out, task()
    return out, map_slabs_alongside(func, slabs, task, n_jobs=n_jobs)[1]


def _slab_relabeller(volume, mapping, out):
    """``(slabs, func, table)``: ``func(slab)`` relabels one z-slab into ``out``.

    ``func`` is ``None`` when nothing is left to do (no mapping: ``volume`` is
    copied into ``out`` here); ``table`` says whether a lookup table is used.
    """
    if not mapping:
        if out is not volume:
            np.copyto(out, volume)
        return [], None, False
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
    step = _slab_step(volume.shape)
    slabs = list(gen_batches(volume.shape[0], step)) if volume.shape[0] else []
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

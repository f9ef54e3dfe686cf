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

from ._relabel import relabel_alongside, relabel_volume

# relabel_volume and relabel_alongside live in ._relabel (kept here too)
__all__ = ["UnionFind", "relabel_alongside", "relabel_volume", "resolve_merges"]


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

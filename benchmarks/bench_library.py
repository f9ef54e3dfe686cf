"""Hand-written helpers against the library functions that could replace them.

The package keeps a hand-written helper only where it is faster than the
library one; this script measures each pair on the same inputs and checks
that both give the same answer:

* merge resolution (``resolve_merges``) with our union-find against the same
  loop on :class:`scipy.cluster.hierarchy.DisjointSet`;
* relabelling (``relabel_volume``) against :func:`skimage.util.map_array`;
* the overlap table and the variation of information of
  :mod:`sklearn_overseg.metrics` against :mod:`skimage.metrics`.

Volumes are the real ovule labels of ``../shared/data`` tiled to 64-128 x 512
x 512 (the script stops with a message without them). Times are the median of
five runs. Run: ``python benchmarks/bench_library.py``.
"""

from __future__ import annotations

import time

import numpy as np
from _shared_data import load, require_shared_data
from scipy.cluster.hierarchy import DisjointSet
from skimage.metrics import contingency_table
from skimage.metrics import variation_of_information as skimage_voi
from skimage.util import map_array

from sklearn_overseg.correction import _merging, relabel_volume, resolve_merges
from sklearn_overseg.datasets import oversegment
from sklearn_overseg.metrics import variation_of_information
from sklearn_overseg.metrics._contingency import overlap_table


class _DisjointSetUnionFind:
    """``UnionFind``'s interface on scipy's DisjointSet."""

    def __init__(self) -> None:
        self._sets = DisjointSet()

    def find(self, x: int) -> int:
        if x not in self._sets:
            self._sets.add(x)
        return self._sets[x]

    def union(self, a: int, b: int) -> int:
        self._sets.merge(self.find(a), self.find(b))
        return self._sets[a]

    def groups(self) -> dict[int, list[int]]:
        return {min(s): sorted(s) for s in self._sets.subsets() if len(s) > 1}


def _median_time(call, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _row(what: str, ours: float, library: float, unit: str = "s") -> None:
    scale = 1e3 if unit == "ms" else 1.0
    print(f"| {what} | {ours * scale:.2f} {unit} | {library * scale:.2f} {unit} | "
          f"{library / ours:.2f} |")


def bench_merges() -> None:
    rng = np.random.default_rng(0)
    for n in (300, 20_000):
        pairs = np.stack([np.arange(1, n + 1), np.arange(2, n + 2)], axis=1)
        pairs = pairs[rng.permutation(n)]
        pairs[::3, 1] = rng.integers(1, n, size=len(pairs[::3]))
        proba = rng.random(n)
        z = {i: (i % 50, i % 50 + 3) for i in range(1, n + 3)}

        def run(pairs=pairs, proba=proba, z=z):
            return resolve_merges(pairs, proba, 0.3, z_extents=z)

        ours, expected = _median_time(run), run()
        original = _merging.UnionFind
        _merging.UnionFind = _DisjointSetUnionFind
        try:
            found = run()
            library = _median_time(run)
        finally:
            _merging.UnionFind = original
        assert found[0] == expected[0] and np.array_equal(found[1], expected[1])
        unit = "ms" if n < 1000 else "s"
        _row(f"resolve_merges, {n} pairs (DisjointSet)", ours, library, unit)


def bench_relabel(labels: np.ndarray) -> None:
    volume = np.tile(labels, (4, 4, 4))
    present = np.unique(volume)
    rng = np.random.default_rng(0)
    merged = rng.choice(present[1:], len(present) // 3, replace=False)
    mapping = {int(k): int(present[1]) for k in merged}
    targets = np.array([mapping.get(int(v), int(v)) for v in present], volume.dtype)
    expected = relabel_volume(volume, mapping)
    assert np.array_equal(map_array(volume, present, targets), expected)
    _row(
        f"relabel {volume.shape} (map_array)",
        _median_time(lambda: relabel_volume(volume, mapping)),
        _median_time(lambda: map_array(volume, present, targets)),
    )


def bench_metrics(labels: np.ndarray) -> None:
    flawed, _ = oversegment(labels, n_splits=5, random_state=0)
    gt, pred = np.tile(labels, (2, 4, 4)), np.tile(flawed, (2, 4, 4))
    assert np.allclose(variation_of_information(gt, pred), skimage_voi(gt, pred))
    _row(
        f"overlap table {gt.shape} (contingency_table)",
        _median_time(lambda: overlap_table(gt, pred)),
        _median_time(lambda: contingency_table(gt, pred)),
    )
    _row(
        f"variation of information {gt.shape}",
        _median_time(lambda: variation_of_information(gt, pred)),
        _median_time(lambda: skimage_voi(gt, pred)),
    )


def main() -> None:
    require_shared_data(("ovule_plantseg",))
    labels = load("ovule_plantseg")[0]
    print("| step | ours | library | library / ours |")
    print("|---|---|---|---|")
    bench_merges()
    bench_relabel(labels)
    bench_metrics(labels)


if __name__ == "__main__":
    main()

"""Shared helpers of the ``bench_*.py`` scripts.

* :func:`print_environment`: date, commit and machine, printed above each run
  so that a table pasted into ``RESULTS.md`` carries its provenance;
* :func:`markdown_table`: format rows as a markdown table;
* :func:`majority_truth`: the true cell covering most of each flawed label;
* :func:`make_hard_negatives`: two *different* cells stacked one on the other,
  trimmed so that exactly one empty layer separates them (the paper's hard
  case: a distinct-cell gap that looks like a missing layer);
* :func:`merge_cases`: correct and incorrect merges a correction made.

Run ``python benchmarks/bench_common.py`` to print the environment header.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from sklearn_overseg.metrics import merge_scores

__all__ = [
    "REPO",
    "environment",
    "majority_truth",
    "make_hard_negatives",
    "markdown_table",
    "merge_cases",
    "print_environment",
    "quiet",
]

REPO = Path(__file__).resolve().parents[1]

#: Largest fraction of a stacked cell's voxels a hard negative may remove.
MAX_TRIM_LOSS = 0.35
#: Smallest contact of two stacked cells, as a fraction of the smaller of the
#: two masks that meet there (a roughly horizontal interface).
MIN_CONTACT_FRACTION = 0.3
#: Smallest contact, in pixels.
MIN_CONTACT_PIXELS = 12


# ------------------------------------------------------------------ reporting
def environment() -> dict:
    """Date (UTC), git commit and machine of this run.

    Examples
    --------
    >>> sorted(environment())
    ['commit', 'cores', 'date', 'machine', 'python']
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
            text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }


def print_environment(command: str) -> None:
    """Print the provenance header of a benchmark run (markdown).

    Examples
    --------
    >>> print_environment("python benchmarks/bench_common.py")  # doctest: +SKIP
    """
    env = environment()
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(
        os, "getloadavg"
    ) else ""
    print(
        f"`{command}` - {env['date']}, commit `{env['commit']}`, "
        f"{env['cores']} cores ({env['machine']}), Python {env['python']}{load}\n"
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    ``VmHWM`` of ``/proc/self/status``: unlike ``ru_maxrss``, it is reset by
    ``exec``, so a subprocess does not inherit its parent's peak. Falls back
    to ``resource.getrusage`` where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_s() -> float:
    """CPU seconds of this process's live children (the worker processes)."""
    total, me = 0.0, str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid; then utime and stime in clock ticks
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def markdown_table(columns, rows) -> str:
    """A markdown table; floats get three decimals.

    Examples
    --------
    >>> print(markdown_table(["a", "b"], [[1, 0.5]]))
    | a | b |
    |---|---|
    | 1 | 0.500 |
    """
    def cell(value):
        if isinstance(value, float | np.floating):
            return "nan" if np.isnan(value) else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@contextmanager
def quiet():
    """Silence the simulator's warnings (rare confounders, few splits)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# ------------------------------------------------------------------ labelling
def majority_truth(flawed: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """``flawed label -> true label`` covering most of its voxels (0 possible).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[[1, 1, 1, 2]]]); flawed = np.array([[[5, 5, 6, 6]]])
    >>> majority_truth(flawed, truth)
    {5: 1, 6: 1}
    """
    f, t = np.asarray(flawed).ravel(), np.asarray(truth).ravel()
    keep = f != 0
    f, t = f[keep].astype(np.int64), t[keep].astype(np.int64)
    if f.size == 0:
        return {}
    width = int(t.max()) + 1
    keys, counts = np.unique(f * width + t, return_counts=True)
    label, cell = keys // width, keys % width
    order = np.lexsort((-counts, label))
    first = np.r_[True, label[order][1:] != label[order][:-1]]
    best = order[first]
    return dict(zip(label[best].tolist(), cell[best].tolist()))


def merge_cases(truth, flawed, corrected) -> dict:
    """Correct and incorrect merges of a correction, judged by ground truth.

    Flawed labels that end in one corrected label were merged (each flawed
    label goes to the corrected label covering most of its voxels). A join is
    correct when it glues labels whose voxels lie mostly in the same true
    cell; labels lying mostly in background never join correctly. Counted in
    joins, as :func:`~sklearn_overseg.metrics.merge_scores`.

    Returns
    -------
    dict
        ``correct``, ``incorrect``, ``missed`` (same-cell label pairs left
        apart, lateral splits included) and ``same_cell_joins`` (joins a
        perfect merger would make).
    """
    truth_of = majority_truth(flawed, truth)
    target_of = majority_truth(flawed, corrected)
    labels = np.array(sorted(truth_of), dtype=np.int64)
    cells = np.array([truth_of[v] for v in labels], dtype=np.int64)
    targets = np.array([target_of[v] for v in labels], dtype=np.int64)
    # label nodes of one true cell (background excluded) / one corrected label
    truth_pairs = _chains(labels, np.where(cells == 0, -labels, cells))
    merged_pairs = _chains(labels[targets != 0], targets[targets != 0])
    scores = merge_scores(truth_pairs, merged_pairs)
    return {
        "correct": scores["tp"],
        "incorrect": scores["fp"],
        "missed": scores["fn"],
        "same_cell_joins": scores["tp"] + scores["fn"],
    }


def _chains(nodes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Pairs chaining the nodes of each group (group ids of any sign)."""
    order = np.lexsort((nodes, groups))
    nodes, groups = nodes[order], groups[order]
    same = groups[1:] == groups[:-1]
    # a label alone in its group is simply absent: merge_scores then treats
    # it as a group of its own
    return np.stack([nodes[:-1][same], nodes[1:][same]], axis=1)


# ------------------------------------------------------------ hard negatives
def _stacked_pairs(volume: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Rows ``(a, b, z, contact)``: cell ``a`` at layer ``z`` lies on ``b``.

    One row per pair of different cells, at the layer of their largest
    downward contact, kept when the interface is roughly horizontal: ``b`` is
    (almost) never above ``a``, and the contact covers at least
    ``MIN_CONTACT_FRACTION`` of the smaller of the two masks meeting there.
    """
    above, below = volume[:-1], volume[1:]
    z, y, x = np.nonzero((above != below) & (above > 0) & (below > 0))
    a = above[z, y, x].astype(np.int64)
    b = below[z, y, x].astype(np.int64)
    keep = ~(np.isin(a, excluded) | np.isin(b, excluded))
    a, b, z = a[keep], b[keep], z[keep]
    if a.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    rows, contact = np.unique(np.stack([a, b, z], axis=1), axis=0, return_counts=True)
    # total downward contact per ordered pair, to reject interlocking pairs
    pair_keys, pair_index = np.unique(rows[:, :2], axis=0, return_inverse=True)
    total = np.bincount(pair_index.ravel(), contact)
    lookup = {tuple(k): t for k, t in zip(pair_keys.tolist(), total)}
    reverse = np.array([lookup.get((bb, aa), 0) for aa, bb in pair_keys.tolist()])
    order = np.lexsort((-contact, pair_index.ravel()))
    first = np.r_[True, pair_index.ravel()[order][1:] != pair_index.ravel()[order][:-1]]
    best = order[first]  # one row per pair, largest contact layer
    rows, contact = rows[best], contact[best]
    one_way = reverse <= 0.1 * total
    # areas of a at z and of b at z + 1
    n_z = volume.shape[0]
    flat = volume.reshape(n_z, -1)
    area_a = np.array([np.count_nonzero(flat[zz] == aa) for aa, _, zz in rows])
    area_b = np.array([np.count_nonzero(flat[zz + 1] == bb) for _, bb, zz in rows])
    horizontal = contact >= np.maximum(
        MIN_CONTACT_PIXELS, MIN_CONTACT_FRACTION * np.minimum(area_a, area_b)
    )
    good = one_way & horizontal
    return np.column_stack([rows[good], contact[good]])


def make_hard_negatives(
    volume: np.ndarray, n: int, excluded=(), rng=None, *, gap_layers: int = 1
) -> np.ndarray:
    """Trim up to ``n`` pairs of stacked different cells to a clean gap.

    The gap is ``gap_layers`` empty layers (one by default, the paper's case).

    For a pair ``A`` (above) and ``B`` (below) meeting across a roughly
    horizontal interface at layers ``z``/``z + 1``, a first gap layer ``g`` is
    drawn from ``{z - gap_layers + 1, ..., z + 1}``; ``A`` loses its voxels at
    layers ``>= g`` and ``B`` its voxels at layers ``< g + gap_layers``, so
    ``A`` ends at ``g - 1`` and ``B`` starts at ``g + gap_layers``, as if a
    2D model had missed both cells next to their interface. A pair is used
    only when both cells keep two or more layers, stay one piece and lose at
    most ``MAX_TRIM_LOSS`` of their voxels; a cell is used once. Whether the
    screener then proposes the pair depends on the neighbours passing
    through the gap. ``volume`` is modified in place.

    Returns
    -------
    ndarray of int64, shape (m, 2)
        The ``(A, B)`` pairs made, ``m <= n``.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.zeros((8, 6, 6), dtype=np.int32)
    >>> vol[:4, 1:5, 1:5], vol[4:, 1:5, 1:5] = 1, 2
    >>> make_hard_negatives(vol, 1, rng=0).tolist()
    [[1, 2]]
    >>> sorted({int(vol[z, 2, 2]) for z in range(8)}), int((vol == 0)[:, 2, 2].sum())
    ([0, 1, 2], 1)
    """
    rng = np.random.default_rng(rng)
    if n <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    candidates = _stacked_pairs(volume, np.asarray(list(excluded), dtype=np.int64))
    boxes = ndi.find_objects(volume)
    used: set[int] = set()
    made = []
    for a, b, z, _ in candidates[rng.permutation(len(candidates))].tolist():
        if len(made) == n:
            break
        if a in used or b in used:
            continue
        box = tuple(
            slice(min(s.start, t.start), max(s.stop, t.stop))
            for s, t in zip(boxes[a - 1], boxes[b - 1])
        )
        # first gap layer, in box coordinates
        g = z + 1 - int(rng.integers(gap_layers + 1)) - box[0].start
        view = volume[box]
        cell_a, cell_b = view == a, view == b
        kept_a, kept_b = cell_a.copy(), cell_b.copy()
        kept_a[max(g, 0):] = False
        kept_b[: max(g + gap_layers, 0)] = False
        if min(kept_a.any(axis=(1, 2)).sum(), kept_b.any(axis=(1, 2)).sum()) < 2:
            continue
        loss = max(1 - kept_a.sum() / cell_a.sum(), 1 - kept_b.sum() / cell_b.sum())
        if loss > MAX_TRIM_LOSS:
            continue
        if ndi.label(kept_a)[1] != 1 or ndi.label(kept_b)[1] != 1:
            continue
        view[(cell_a & ~kept_a) | (cell_b & ~kept_b)] = 0
        used.update((a, b))
        made.append((a, b))
    return np.asarray(made, dtype=np.int64).reshape(-1, 2)


def main() -> None:
    """Print the environment header."""
    print_environment(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))


if __name__ == "__main__":
    main()

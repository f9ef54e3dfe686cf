"""Scoring the repair of stitched segmentations, and the one-line rule baseline.

* :func:`owners`: the true cell each label mostly lies in (0: background);
* :func:`perfect_merger`: every label joined to its owner (the ceiling);
* :func:`rule_merger`: the issue's baseline - merge ``A`` and ``B`` when
  ``A``'s last layer faces ``B``'s first layer in the next layer, matched one
  to one by overlap, if the overlap is at least ``fraction`` of the smaller
  mask;
* :func:`join_counts`: how many joins of a corrected volume are right (two
  labels of one true cell) or wrong (labels of different cells);
* :func:`scores`: AP50 and VOI split / merge.
"""

from __future__ import annotations

import numpy as np
from skimage.measure import label as connected_pieces

from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.correction._merging import relabel_volume, resolve_merges
from sklearn_overseg.metrics import average_precision, variation_of_information
from sklearn_overseg.screening._facing_overlaps import RowLookup, facing_overlaps
from sklearn_overseg.screening._matching import match_one_to_one

__all__ = [
    "cross_sections",
    "join_counts",
    "owners",
    "perfect_merger",
    "rule_merger",
    "scores",
]


def cross_sections(truth: np.ndarray, *, pieces: bool = False) -> np.ndarray:
    """Perfect 2D segmentation: a cell's cross-section in a slice is one mask.

    With ``pieces=True`` each connected piece of a cross-section is its own
    mask (as a 2D segmenter that cannot see the cell joins them above or
    below the slice would draw it).
    """
    if pieces:
        slices = [connected_pieces(s, background=0) for s in truth]
    else:
        slices = [np.unique(s, return_inverse=True)[1].reshape(s.shape) for s in truth]
        slices = [s + 1 if not (t == 0).any() else s for s, t in zip(slices, truth)]
    return np.stack(slices).astype(np.int32)


def owners(seg: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """``label -> true cell holding most of its voxels`` (0 = background)."""
    inside = seg != 0
    values, codes = np.unique(seg[inside], return_inverse=True)
    t_values, t_codes = np.unique(truth[inside], return_inverse=True)
    table = np.zeros((values.size, t_values.size), dtype=np.int64)
    np.add.at(table, (codes, t_codes), 1)
    best = t_values[table.argmax(axis=1)] if values.size else values
    return dict(zip(values.tolist(), best.tolist()))


def extra_fragments(seg: np.ndarray, truth: np.ndarray) -> int:
    """Labels beyond the first of every true cell (background-owned left out)."""
    cells = [c for c in owners(seg, truth).values() if c != 0]
    return len(cells) - len(set(cells))


def perfect_merger(seg: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``seg`` with every label joined to the other labels of its true cell."""
    first: dict[int, int] = {}
    mapping = {}
    for lab, cell in sorted(owners(seg, truth).items()):
        if cell == 0:
            continue
        if cell in first:
            mapping[lab] = first[cell]
        else:
            first[cell] = lab
    return relabel_volume(seg, mapping)


def rule_merger(seg: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """The one-line rule: merge facing pairs of consecutive layers by overlap."""
    geometry = LabelGeometry.from_volume(seg)
    lookup = RowLookup(geometry.labels)
    up, low, overlap, last_area, first_area = facing_overlaps(
        seg, geometry, lookup, max_gap=0, min_gap=0
    )
    smaller = np.minimum(last_area[up], first_area[low])
    keep = overlap >= fraction * np.maximum(smaller, 1)
    up, low, overlap = up[keep], low[keep], overlap[keep]
    kept = match_one_to_one(up, low, np.lexsort((low, up, -overlap)))
    labels = geometry.labels
    pairs = np.column_stack((labels[up[kept]], labels[low[kept]]))
    mapping, _ = resolve_merges(pairs, np.ones(len(pairs)), 0.5)
    return relabel_volume(seg, mapping)


def join_counts(before: np.ndarray, after: np.ndarray, truth: np.ndarray):
    """Right and wrong joins of a merge-only correction ``before -> after``.

    Each output label that holds ``k`` input labels made ``k - 1`` joins. Its
    input labels are grouped by owner (true cell): the largest such group is
    the cell the output label stands for; joins inside it are right, every
    input label of another owner (or of background) is a wrong join (two
    background labels joined: one wrong join).
    """
    own = owners(before, truth)
    inside = before != 0
    pairs = np.unique(
        np.column_stack((before[inside], after[inside])).astype(np.int64), axis=0
    )
    right = wrong = 0
    for out in np.unique(pairs[:, 1]):
        members = pairs[pairs[:, 1] == out, 0]
        if len(members) < 2:
            continue
        cells, counts = np.unique([own[int(m)] for m in members], return_counts=True)
        counts = np.where(cells == 0, 0, counts)  # background is no cell
        kept = max(int(counts.max()), 1)  # labels of the cell it stands for
        right += kept - 1
        wrong += len(members) - kept
    return right, wrong


def scores(truth: np.ndarray, seg: np.ndarray) -> dict:
    """AP at IoU 0.5 and VOI split / merge of ``seg`` against ``truth``."""
    split, merge = variation_of_information(truth, seg)
    return {
        "AP50": float(average_precision(truth, seg, thresholds=0.5)[0]),
        "VOI_split": float(split),
        "VOI_merge": float(merge),
    }


def per_file_table(
    records, columns, *, key: str, reference: str, files, counts: bool = False
) -> list[str]:
    """Rows ``removed / wrong joins / AP50`` per left-out file, then all files.

    ``records`` hold one dict per (file, setting) with ``file`` and, under
    ``key``, one result dict per column (``extra_before``, ``right``,
    ``wrong``, ``AP50``); ``reference`` names the column whose extra
    fragments the "extra" column shows. ``counts`` puts ``right / wrong:``
    before each cell.
    """
    lines = [f"| left-out file | extra | {' | '.join(columns)} |",
             "|---" * (len(columns) + 2) + "|"]
    for name in (*files, None):
        chosen = [r for r in records if name is None or r["file"] == name]
        cells = []
        for column in columns:
            rows = [r[key][column] for r in chosen]
            extra = sum(r["extra_before"] for r in rows)
            right, wrong = (sum(r[k] for r in rows) for k in ("right", "wrong"))
            cell = (f"{right / max(extra, 1):.0%} / "
                    f"{wrong / max(right + wrong, 1):.1%} / "
                    f"{np.mean([r['AP50'] for r in rows]):.3f}")
            cells.append(f"{right} / {wrong}: {cell}" if counts else cell)
        extra = sum(r[key][reference]["extra_before"] for r in chosen)
        lines.append(f"| {name or '**all six**'} | {extra} | {' | '.join(cells)} |")
    return lines

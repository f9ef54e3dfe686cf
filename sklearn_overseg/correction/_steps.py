"""From pair decisions to a corrected volume.

The steps :class:`~sklearn_overseg.MergeCorrector` takes once the pair
classifier has scored the candidates, shared with the command line, the
review-decision workflow and the block-wise correction of large volumes:
threshold and resolve chains (:func:`decide_merges`), describe each decision
(:func:`merge_records`), and relabel merged groups while rebuilding the
missing layers of accepted axis pairs by interpolation (:func:`apply_merges`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._candidates import GAP_NOISE, LOWER, UPPER, Candidate
from .._geometry import LabelGeometry
from .._parallel import map_batches
from .._progress import progress
from ._interpolation import interpolate_masks
from ._merging import relabel_volume, resolve_merges

__all__ = ["apply_merges", "decide_merges", "label_z_extents", "merge_records"]

#: Gaps a worker process must get (a few seconds of interpolation) to pay off.
_GAPS_PER_JOB = 200

def _gap_fill(cand: Candidate, method: str) -> np.ndarray:
    """Interpolated masks of the gap layers of one axis candidate (crop coords)."""
    g0, g1 = cand.gap
    above = cand.crop[g0 - 1] == UPPER
    below = cand.crop[g1] == LOWER
    return interpolate_masks(
        above, below, n_missing=g1 - g0, voxel_size=cand.voxel_size[1:], method=method
    )


def _gap_fills(cands, method: str, verbose: int) -> list[np.ndarray]:
    bar = progress(cands, desc="interpolating gaps", enabled=verbose > 0)
    return [_gap_fill(c, method) for c in bar]


def label_z_extents(volume: np.ndarray) -> dict[int, tuple[int, int]]:
    """``label -> (first layer, one past last layer)`` for every label present."""
    geom = LabelGeometry.from_volume(volume)
    return {
        int(lab): (int(a), int(b))
        for lab, a, b in zip(geom.labels, geom.z_starts, geom.z_stops)
    }


def decide_merges(volume: np.ndarray, candidates, probabilities, threshold: float):
    """Label mapping and per-pair merge decisions of one volume's candidates."""
    return resolve_merges(
        candidates.pairs,
        probabilities,
        threshold,
        z_extents=label_z_extents(volume),
        check_z=[c.kind == "axis" for c in candidates],
    )


def merge_records(candidates, probabilities, merged) -> list[dict]:
    """The review records of :meth:`MergeCorrector.predict_merges`."""
    records = []
    for c, p, m in zip(candidates, probabilities, merged):
        gap = (None, None) if c.gap is None or c.kind != "axis" else (
            c.origin[0] + c.gap[0], c.origin[0] + c.gap[1]
        )
        records.append(
            dict(upper=int(c.upper), lower=int(c.lower), probability=float(p),
                 merged=bool(m), kind=c.kind, score=float(c.score),
                 gap_start=gap[0], gap_stop=gap[1])
        )
    return records


def apply_merges(
    volume: np.ndarray,
    accepted,
    mapping: dict[int, int],
    *,
    interpolate: bool = True,
    interpolation: str = "boundary_ot",
    n_jobs: int | None = None,
    verbose: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Relabel merged groups and rebuild the gap layers of accepted axis pairs.

    ``accepted`` are the merged candidates (in screening order) and
    ``mapping`` the label mapping of :func:`resolve_merges`; returns a
    corrected copy of ``volume``, written into ``out`` when given (``out``
    may be ``volume`` itself: every voxel is read before it is written).
    """
    fills = []
    if interpolate:
        axis = [c for c in accepted if c.kind == "axis" and c.gap is not None]
        # worker processes only when the gaps are work enough to pay for them
        batches = map_batches(
            partial(_gap_fills, method=interpolation, verbose=verbose),
            axis,
            n_jobs=n_jobs,
            min_work_per_job=_GAPS_PER_JOB,
        )
        fills = list(zip(axis, (mask for batch in batches for mask in batch)))
    # Noisy partial masks covered by a rebuilt layer join the merged cell,
    # unless they already belong to a merged group (as a fragment of another
    # merged pair, or absorbed by an earlier gap): relabelling them again
    # would split that group or undo its merge.
    mapping = dict(mapping)
    grouped = set(mapping) | set(mapping.values())
    writes = []
    for cand, mask in fills:
        (g0, g1), (z0, y0, x0) = cand.gap, cand.origin
        h, w = cand.crop.shape[1:]
        region = (slice(z0 + g0, z0 + g1), slice(y0, y0 + h), slice(x0, x0 + w))
        target = mapping.get(int(cand.upper), int(cand.upper))
        current = volume[region]
        allowed = current == 0
        free = [lab for lab in cand.gap_labels if lab not in grouped]
        if free:
            noise = np.isin(current, free) & (cand.crop[g0:g1] == GAP_NOISE)
            for lab in np.unique(current[noise & mask]):
                mapping[int(lab)] = target
                grouped.update((int(lab), target))
            allowed |= noise
        writes.append((region, mask & allowed, target))
    out = relabel_volume(volume, mapping, out=out)
    for region, mask, target in writes:
        view = out[region]
        view[mask & ((view == 0) | (view == target))] = target
    return out

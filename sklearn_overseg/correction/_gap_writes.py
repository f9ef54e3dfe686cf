"""Gap writes: where the rebuilt layers of a merged axis pair are painted.

One mechanism for the in-memory corrector and the block-wise (dask) path:

1. :func:`gap_fill` interpolates the missing layers of one accepted pair and
   reads what the volume holds there (background, the pair's noisy partial
   masks). It needs the pair's candidate and the gap region's voxels only, so
   it runs wherever the crop is (a worker, for large volumes).
2. :func:`fold_gap_fills` takes the fills in screening order and decides, on
   the whole volume's label mapping, which noisy partial masks join the
   merged cell and which voxels each fill may paint.
3. :func:`paint_writes` paints those writes into the relabelled volume, or
   into one block of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._candidates import GAP_NOISE, LOWER, UPPER, Candidate
from ._interpolation import _interpolate_masks

__all__ = ["GapFill", "fold_gap_fills", "gap_fill", "gap_region", "paint_writes"]


@dataclass(frozen=True)
class GapFill:
    """The rebuilt layers of one accepted axis pair, before folding.

    Attributes
    ----------
    region : tuple of 3 slice
        The gap layers of the pair's crop, in volume coordinates.
    upper : int
        The upper fragment's label.
    fill : ndarray of bool
        The interpolated masks (shape of ``region``).
    background : ndarray of bool
        Where the volume holds background in ``region``.
    noise : ndarray of int64
        The label of the pair's noisy partial masks in ``region``, 0 elsewhere.
    """

    region: tuple
    upper: int
    fill: np.ndarray
    background: np.ndarray
    noise: np.ndarray


def gap_region(candidate: Candidate) -> tuple[slice, slice, slice]:
    """The gap layers of an axis candidate's crop, in volume coordinates."""
    (g0, g1), (z0, y0, x0) = candidate.gap, candidate.origin
    h, w = candidate.crop.shape[1:]
    return slice(z0 + g0, z0 + g1), slice(y0, y0 + h), slice(x0, x0 + w)


def gap_fill(candidate: Candidate, current: np.ndarray, method: str) -> GapFill:
    """Interpolate one accepted axis pair's gap and read what lies there.

    Parameters
    ----------
    candidate : Candidate
        An axis candidate with a gap of at least one layer.
    current : ndarray
        The volume's labels in :func:`gap_region` of the candidate.
    method : str
        Interpolation method of :func:`interpolate_masks`.
    """
    g0, g1 = candidate.gap
    above = candidate.crop[g0 - 1] == UPPER
    below = candidate.crop[g1] == LOWER
    fill = _interpolate_masks(  # the corrector validated its interpolation
        above, below, n_missing=g1 - g0, voxel_size=candidate.voxel_size[1:],
        method=method,
    )
    noise = np.zeros(current.shape, np.int64)
    if candidate.gap_labels:
        hit = np.isin(current, candidate.gap_labels)
        hit &= candidate.crop[g0:g1] == GAP_NOISE
        noise[hit] = current[hit]
    return GapFill(gap_region(candidate), int(candidate.upper), fill,
                   current == 0, noise)


def fold_gap_fills(fills, mapping: dict[int, int]):
    """Decide the writes of every fill, in order, on the volume's label mapping.

    A noisy partial mask covered by a rebuilt layer joins the merged cell,
    unless it already belongs to a merged group (as a fragment of another
    merged pair, or absorbed by an earlier fill): relabelling it again would
    split that group or undo its merge. A fill may paint background and the
    free noisy masks of its own gap.

    Parameters
    ----------
    fills : iterable of GapFill
        In screening order.
    mapping : dict
        ``label -> merged label`` of the decided merges.

    Returns
    -------
    mapping : dict
        ``mapping`` extended by the absorbed noise labels (a new dict).
    writes : list of (region, mask, label)
        What :func:`paint_writes` paints.
    """
    mapping = dict(mapping)
    grouped = set(mapping) | set(mapping.values())
    writes = []
    for f in fills:
        target = mapping.get(f.upper, f.upper)
        allowed = f.background.copy()
        free = [lab for lab in np.unique(f.noise[f.noise > 0]).tolist()
                if lab not in grouped]
        if free:
            noise = np.isin(f.noise, free)
            for lab in np.unique(f.noise[noise & f.fill]).tolist():
                mapping[lab] = target
                grouped.update((lab, target))
            allowed |= noise
        writes.append((f.region, f.fill & allowed, target))
    return mapping, writes


def paint_writes(values: np.ndarray, origin, writes) -> None:
    """Paint gap writes into the relabelled volume (or one block of it), in order.

    ``values`` is the array whose first voxel sits at ``origin`` in the
    volume; each write ``(region, mask, label)`` sets ``label`` where ``mask``
    holds and the voxel is background or already ``label``, clipped to
    ``values``.
    """
    for region, mask, label in writes:
        lo = [max(r.start, o) for r, o in zip(region, origin)]
        hi = [min(r.stop, o + n) for r, o, n in zip(region, origin, values.shape)]
        if any(a >= b for a, b in zip(lo, hi)):
            continue
        view = values[tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, origin))]
        part = mask[
            tuple(slice(a - r.start, b - r.start) for a, b, r in zip(lo, hi, region))
        ]
        view[part & ((view == 0) | (view == label))] = label

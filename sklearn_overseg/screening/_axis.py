"""Axis screening (paper Algorithm 1): fragments facing each other across a gap.

When a 2D model misses a cell's mask in one or more z layers, the 3D stitcher
splits the cell into an upper fragment ``A`` that ends at layer ``z_a`` and a
lower fragment ``B`` that starts at ``z_b = z_a + g + 1``. The screen finds such
pairs in a single pass over the layers (:mod:`._facing_overlaps`); here each
pair that overlaps enough is checked for a complete cell inside the gap
(:func:`gap_verdict`), matched one-to-one and cropped into a
:class:`~sklearn_overseg.Candidate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._candidates import GAP_NOISE, LOWER, UPPER, Candidate
from .._geometry import LabelGeometry, RowLookup
from .._worker_pool import start_deferred_workers
from ._contact import pair_crop
from ._facing_overlaps import facing_overlaps
from ._matching import face_covers, match_one_to_one, match_tiers, near_matches

__all__ = [
    "AxisPair",
    "axis_candidate",
    "axis_candidates",
    "gap_verdict",
    "match_one_to_one",
    "select_axis_pairs",
]


def gap_verdict(
    volume: np.ndarray,
    geometry: LabelGeometry,
    lookup: RowLookup,
    upper_row: int,
    lower_row: int,
    *,
    rule: str,
    max_gap_occupancy: float,
    max_intrusion: float,
) -> tuple[bool, tuple[int, ...]]:
    """Is the gap between two facing fragments free of complete cells?

    The footprint is the union of the upper fragment's last-layer mask and the
    lower fragment's first-layer mask, the facing region their intersection.
    Labels inside the gap layers are sorted into *passing* labels (their z
    range extends outside the gap) and *confined* labels (entirely inside it).
    The pair is rejected when, in some gap layer,

    * a passing label covers any pixel of the facing region (``"paper"``) or
      more than ``max_intrusion`` of it (``"extended"``): a cell lies between
      the fragments;
    * a confined label covers at least ``max_gap_occupancy`` of the footprint
      (``"extended"`` only): a flat complete cell fills the gap.

    Returns the verdict and the confined labels over the footprint (the noisy
    partial masks).
    """
    labels = geometry.labels
    za = int(geometry.z_stops[upper_row]) - 1
    zb = int(geometry.z_starts[lower_row])
    _, ys, xs = geometry.pair_box((upper_row, lower_row), 0)
    upper_face = volume[za, ys, xs] == labels[upper_row]
    lower_face = volume[zb, ys, xs] == labels[lower_row]
    footprint = upper_face | lower_face
    facing = (upper_face & lower_face)[footprint]
    inside = volume[za + 1 : zb, ys, xs][:, footprint]
    present = np.unique(inside[inside != 0])
    if present.size == 0:
        return True, ()
    rows = lookup(present)
    confined = (geometry.z_starts[rows] > za) & (geometry.z_stops[rows] <= zb)
    passing = present[~confined]
    noise = present[confined]
    paper = rule == "paper"
    for layer in inside:
        if passing.size:
            hits = np.isin(layer[facing], passing)
            if paper and hits.any():
                return False, ()
            if not paper:
                _, counts = np.unique(layer[facing][hits], return_counts=True)
                if counts.size and counts.max() > max_intrusion * facing.sum():
                    return False, ()
        if noise.size and not paper:
            _, counts = np.unique(layer[np.isin(layer, noise)], return_counts=True)
            if counts.size and counts.max() >= max_gap_occupancy * footprint.sum():
                return False, ()
    return True, tuple(int(v) for v in noise)


@dataclass(frozen=True)
class AxisPair:
    """A screened axis pair, before its crop is read (rows index the geometry)."""

    upper_row: int
    lower_row: int
    overlap: int
    fraction: float
    dice: float
    upper_face_area: int
    lower_face_area: int
    gap_labels: tuple[int, ...]


def select_axis_pairs(
    geometry: LabelGeometry,
    overlaps: tuple[np.ndarray, ...],
    judge,
    *,
    min_overlap: float,
    one_to_one: bool,
    max_noise_cover: float,
) -> list[AxisPair]:
    """Keep the facing pairs that overlap enough, have a clear gap and match.

    ``overlaps`` is the output of :func:`facing_overlaps`; ``judge(up, low)``
    returns the :func:`gap_verdict` of each pair of rows (it may run them
    anywhere, in any order, as long as it returns them in order).
    ``max_noise_cover`` tells layer pieces from gap noise in the matching
    (see :class:`CandidateScreener`; ``1`` calls every gap mask noise). Gap-0
    pairs that overlap most of the smaller mask are matched first
    (:func:`~sklearn_overseg.screening._matching.near_matches`).
    """
    up, low, overlap, last_area, first_area = overlaps
    smaller = np.minimum(last_area[up], first_area[low])
    fraction = overlap / np.maximum(smaller, 1)
    keep = fraction >= min_overlap
    up, low, overlap, fraction = up[keep], low[keep], overlap[keep], fraction[keep]
    verdicts = list(judge(up, low))
    clear = np.array([ok for ok, _ in verdicts], dtype=bool)
    dice = 2 * overlap / np.maximum(last_area[up] + first_area[low], 1)
    if one_to_one:
        # Best first: pairs neither nested in another pair's gap nor skipping a
        # layer piece, larger overlap, fewer gap layers, smaller labels.
        n_gap = geometry.z_starts[low] - geometry.z_stops[up]
        labels = geometry.labels
        covers = face_covers(labels, up, low, overlap, last_area, first_area, n_gap)
        tiers = match_tiers(labels, up, low, verdicts, covers, max_noise_cover)
        # stitch splits the stitcher nearly joined go first (see near_matches)
        later = ~near_matches(n_gap, fraction)
        order = np.lexsort((low, up, n_gap, -overlap, tiers, later))
        kept = match_one_to_one(up, low, order[clear[order]])
    else:
        kept = np.flatnonzero(clear)
    return [
        AxisPair(
            upper_row=int(up[i]),
            lower_row=int(low[i]),
            overlap=int(overlap[i]),
            fraction=float(fraction[i]),
            dice=float(dice[i]),
            upper_face_area=int(last_area[up[i]]),
            lower_face_area=int(first_area[low[i]]),
            gap_labels=verdicts[i][1],
        )
        for i in kept
    ]


def axis_candidate(
    volume,
    geometry: LabelGeometry,
    pair: AxisPair,
    *,
    volume_index: int,
    padding: int,
    voxel_size: tuple[float, float, float],
) -> Candidate:
    """Read the crop of one selected pair and make its :class:`Candidate`.

    Only the two fragments' bounding boxes and the gap layers are read from
    ``volume``, which may be any array-like indexable by slices (zarr, h5py).
    """
    u, v = pair.upper_row, pair.lower_row
    box = geometry.pair_box((u, v), padding)
    crop = pair_crop(volume, geometry, box, ((UPPER, u), (LOWER, v)))
    z0 = box[0].start
    gap = (int(geometry.z_stops[u]) - z0, int(geometry.z_starts[v]) - z0)
    if pair.gap_labels:
        in_gap = np.asarray(volume[z0 + gap[0] : z0 + gap[1], box[1], box[2]])
        crop[gap[0] : gap[1]][np.isin(in_gap, pair.gap_labels)] = GAP_NOISE
    return Candidate(
        volume_index=int(volume_index),
        upper=int(geometry.labels[u]),
        lower=int(geometry.labels[v]),
        crop=crop,
        gap=gap,
        origin=tuple(int(s.start) for s in box),
        voxel_size=voxel_size,
        kind="axis",
        score=float(pair.overlap),
        gap_labels=pair.gap_labels,
        meta={
            "overlap_fraction": pair.fraction,
            "dice": pair.dice,
            "upper_face_area": pair.upper_face_area,
            "lower_face_area": pair.lower_face_area,
        },
    )


def axis_candidates(
    volume: np.ndarray,
    geometry: LabelGeometry,
    *,
    volume_index: int,
    max_gap: int,
    min_gap: int = 1,
    rule: str,
    min_overlap: float,
    max_gap_occupancy: float,
    max_intrusion: float,
    one_to_one: bool,
    max_noise_cover: float,
    padding: int,
    voxel_size: tuple[float, float, float],
) -> list[Candidate]:
    """Axis candidates of one validated volume (see :class:`CandidateScreener`)."""
    lookup = RowLookup(geometry.labels)
    overlaps = facing_overlaps(volume, geometry, lookup, max_gap, min_gap)
    # the last whole-volume pass: a correction's workers start now (if any)
    start_deferred_workers()
    rules = dict(
        rule=rule, max_gap_occupancy=max_gap_occupancy, max_intrusion=max_intrusion
    )

    def judge(up, low):
        return [
            gap_verdict(volume, geometry, lookup, u, v, **rules)
            for u, v in zip(up.tolist(), low.tolist())
        ]

    pairs = select_axis_pairs(
        geometry,
        overlaps,
        judge,
        min_overlap=min_overlap,
        one_to_one=one_to_one,
        max_noise_cover=max_noise_cover,
    )
    return [
        axis_candidate(
            volume,
            geometry,
            pair,
            volume_index=volume_index,
            padding=padding,
            voxel_size=voxel_size,
        )
        for pair in pairs
    ]

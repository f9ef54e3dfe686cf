"""Axis screening (paper Algorithm 1): fragments facing each other across a gap.

When a 2D model misses a cell's mask in one or more z layers, the 3D stitcher
splits the cell into an upper fragment ``A`` that ends at layer ``z_a`` and a
lower fragment ``B`` that starts at ``z_b = z_a + g + 1``. The screen finds such
pairs in a single pass over the layers: layer ``z`` is compared with layer
``z + g + 1`` only at pixels where the first holds a label *ending* at ``z`` and
the second a label *starting* at ``z + g + 1``, and overlapping pairs are
counted with :func:`numpy.unique` on int64 pair keys. Each surviving pair is
then checked for a complete cell inside the gap and matched one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._candidates import GAP_NOISE, LOWER, UPPER, Candidate, CandidateSet
from ._contact import contact_candidates, pair_box, pair_crop
from ._geometry import LabelGeometry
from ._validation import check_volumes, check_voxel_size

__all__ = ["CandidateScreener"]

# Labels up to this value are mapped to rows with a dense lookup table (int32).
_MAX_TABLE_LABEL = 1 << 22


class _RowLookup:
    """Map label values to rows of a :class:`LabelGeometry` (background -> n)."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.n = len(labels)
        top = int(labels[-1]) if self.n else 0
        self.table = None
        if top <= _MAX_TABLE_LABEL:
            self.table = np.full(top + 1, self.n, dtype=np.int32)
            self.table[labels] = np.arange(self.n, dtype=np.int32)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return self.table[values]
        pos = np.minimum(np.searchsorted(self.labels, values), self.n - 1)
        return np.where(self.labels[pos] == values, pos, self.n)

    def per_label(self, per_row: np.ndarray, fill) -> np.ndarray | None:
        """Table label value -> ``per_row[row]`` (``fill`` for background)."""
        if self.table is None:
            return None
        return np.append(per_row, fill).astype(np.int32)[self.table]


def _layer_faces(layer, layer_z, per_row_z, lookup, by_label_z):
    """Flat pixel indices and rows of the labels whose first/last layer is ``z``."""
    layer = np.ascontiguousarray(layer).ravel()
    if by_label_z is not None:
        flat = np.flatnonzero(by_label_z[layer] == layer_z)
        return flat, lookup(layer[flat])
    rows = lookup(layer)
    flat = np.flatnonzero(np.append(per_row_z, -1)[rows] == layer_z)
    return flat, rows[flat]


def _shared_pixels(upper_faces, lower_faces, n: int) -> np.ndarray:
    """Pair keys ``upper_row * n + lower_row`` of every pixel both faces cover."""
    flat_a, rows_a = upper_faces
    flat_b, rows_b = lower_faces
    if flat_a.size == 0 or flat_b.size == 0:
        return np.zeros(0, np.int64)
    pos = np.minimum(np.searchsorted(flat_a, flat_b), flat_a.size - 1)
    hit = flat_a[pos] == flat_b
    return rows_a[pos[hit]].astype(np.int64) * n + rows_b[hit]


def _sparse_count(values: list[np.ndarray], weights: list[np.ndarray] | None = None):
    """Distinct values and their (weighted) counts."""
    values = np.concatenate(values + [np.zeros(0, np.int64)]).astype(np.int64)
    if weights is None:
        return np.unique(values, return_counts=True)
    weights = np.concatenate(weights + [np.zeros(0, np.int64)]).astype(np.int64)
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, np.bincount(inverse, weights, len(distinct)).astype(np.int64)


def facing_counts(
    volume,
    geometry: LabelGeometry,
    lookup: _RowLookup,
    max_gap: int,
    *,
    layers: tuple[int, int] | None = None,
    z_offset: int = 0,
) -> tuple[np.ndarray, ...]:
    """Sparse facing overlaps and face areas, in one ascending pass over layers.

    ``volume`` (anything indexable by layer, such as a zarr array) holds the
    layers ``z_offset, z_offset + 1, ...`` of the full volume, possibly over a
    (y, x) window. Only the faces in ``layers = (lo, hi)`` (global layers,
    default: all layers of ``volume``) are counted: upper faces (last layers)
    and lower faces (first layers) in the range, and the overlaps of an upper
    face in the range with the lower faces ``1..max_gap`` gap layers below it,
    which ``volume`` must hold. Disjoint ranges (and disjoint (y, x) windows)
    therefore give counts that add up to those of the whole volume. At most
    ``max_gap + 1`` upper faces are kept in memory at a time.

    Returns ``(pair_keys, overlaps, last_rows, last_areas, first_rows,
    first_areas)``: keys ``upper_row * n + lower_row`` with their pixel counts,
    and the rows with the pixel areas of their counted last and first faces.
    """
    n = len(geometry)
    first = geometry.z_starts.astype(np.int64)
    last = geometry.z_stops.astype(np.int64) - 1
    lo, hi = (z_offset, z_offset + volume.shape[0]) if layers is None else layers
    gaps = range(1, max_gap + 1)
    starts_at, ends_at = set(first.tolist()), set(last.tolist())
    upper_layers = {
        z for z in ends_at if lo <= z < hi and any(z + g + 1 in starts_at for g in gaps)
    }
    counted_lower = {
        z for z in starts_at if lo <= z < hi and any(z - g - 1 in ends_at for g in gaps)
    }
    paired_lower = {z + g + 1 for z in upper_layers for g in gaps} & starts_at
    last_by_label = lookup.per_label(last, -1)
    first_by_label = lookup.per_label(first, -1)
    kept_upper: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    keys, key_counts, last_rows, first_rows = [], [], [], []
    for z in sorted(upper_layers | counted_lower | paired_lower):
        layer = volume[z - z_offset]
        for old in [u for u in kept_upper if u < z - max_gap - 1]:
            del kept_upper[old]
        if z in counted_lower or z in paired_lower:
            lower = _layer_faces(layer, z, first, lookup, first_by_label)
            if z in counted_lower:
                first_rows.append(lower[1])
            shared = [
                _shared_pixels(kept_upper[z - g - 1], lower, n)
                for g in gaps
                if z - g - 1 in kept_upper
            ]
            if shared:
                found, counts = _sparse_count(shared)
                keys.append(found)
                key_counts.append(counts)
        if z in upper_layers:
            kept_upper[z] = _layer_faces(layer, z, last, lookup, last_by_label)
            last_rows.append(kept_upper[z][1])
    pair_keys, overlaps = _sparse_count(keys, key_counts)
    return (pair_keys, overlaps, *_sparse_count(last_rows), *_sparse_count(first_rows))


def dense_overlaps(
    n: int, pair_keys, overlaps, last_rows, last_areas, first_rows, first_areas
) -> tuple[np.ndarray, ...]:
    """Turn sparse :func:`facing_counts` into ``facing_overlaps``'s output."""
    last_area = np.zeros(n, np.int64)
    first_area = np.zeros(n, np.int64)
    np.add.at(last_area, last_rows, last_areas)
    np.add.at(first_area, first_rows, first_areas)
    return pair_keys // n, pair_keys % n, overlaps, last_area, first_area


def facing_overlaps(
    volume: np.ndarray, geometry: LabelGeometry, lookup: _RowLookup, max_gap: int
) -> tuple[np.ndarray, ...]:
    """Count pixel overlaps between last-layer and first-layer masks across gaps.

    Returns ``(upper_rows, lower_rows, overlaps, last_area, first_area)``: the
    rows (in ``geometry``) of every pair whose gap is ``1..max_gap`` layers and
    whose facing masks share at least one pixel, the number of shared pixels,
    and for every label the area of its last and of its first layer mask.
    """
    counts = facing_counts(volume, geometry, lookup, max_gap)
    return dense_overlaps(len(geometry), *counts)


def gap_verdict(
    volume: np.ndarray,
    geometry: LabelGeometry,
    lookup: _RowLookup,
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
    _, ys, xs = pair_box(geometry, (upper_row, lower_row), 0)
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


def match_one_to_one(upper: np.ndarray, lower: np.ndarray, order: np.ndarray):
    """Greedy matching: walk ``order`` (best first), keep a pair if both are free.

    Each label is kept at most once as an upper and at most once as a lower
    fragment. Returns the kept positions.
    """
    used_upper, used_lower, kept = set(), set(), []
    for i in order:
        u, v = int(upper[i]), int(lower[i])
        if u in used_upper or v in used_lower:
            continue
        used_upper.add(u)
        used_lower.add(v)
        kept.append(int(i))
    return np.asarray(kept, dtype=np.intp)


def _nested_in_gaps(labels, up, low, verdicts) -> np.ndarray:
    """Flag pairs whose fragment is a noise mask in the gap of a pair they share.

    If ``(a, b)`` is clear with a noise mask ``n`` in its gap, the pairs
    ``(a, n)`` and ``(n, b)`` are nested inside it; they are matched last.
    """
    nested = set()
    for (ok, noise), u, v in zip(verdicts, labels[up], labels[low]):
        if ok:
            nested.update((int(u), n) for n in noise)
            nested.update((n, int(v)) for n in noise)
    return np.array(
        [(int(u), int(v)) in nested for u, v in zip(labels[up], labels[low])],
        dtype=bool,
    )


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
) -> list[AxisPair]:
    """Keep the facing pairs that overlap enough, have a clear gap and match.

    ``overlaps`` is the output of :func:`facing_overlaps`; ``judge(up, low)``
    returns the :func:`gap_verdict` of each pair of rows (it may run them
    anywhere, in any order, as long as it returns them in order).
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
        # Best first: pairs not nested in another pair's gap, larger overlap,
        # fewer gap layers, smaller labels.
        n_gap = geometry.z_starts[low] - geometry.z_stops[up]
        nested = _nested_in_gaps(geometry.labels, up, low, verdicts)
        order = np.lexsort((low, up, n_gap, -overlap, nested))
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
    box = pair_box(geometry, (u, v), padding)
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
    rule: str,
    min_overlap: float,
    max_gap_occupancy: float,
    max_intrusion: float,
    one_to_one: bool,
    padding: int,
    voxel_size: tuple[float, float, float],
) -> list[Candidate]:
    """Axis candidates of one validated volume (see :class:`CandidateScreener`)."""
    lookup = _RowLookup(geometry.labels)
    overlaps = facing_overlaps(volume, geometry, lookup, max_gap)
    rules = dict(
        rule=rule, max_gap_occupancy=max_gap_occupancy, max_intrusion=max_intrusion
    )

    def judge(up, low):
        return [
            gap_verdict(volume, geometry, lookup, u, v, **rules)
            for u, v in zip(up.tolist(), low.tolist())
        ]

    pairs = select_axis_pairs(
        geometry, overlaps, judge, min_overlap=min_overlap, one_to_one=one_to_one
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


class CandidateScreener(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Turn label volumes into candidate pairs of fragments (a CandidateSet).

    Step 1 of the method. ``transform`` takes one 3D label volume or a list of
    them and returns a :class:`~sklearn_overseg.CandidateSet` whose samples are
    pairs of labels that may be one split cell, each with its own crop. The
    screener learns nothing: ``fit`` only validates, and ``transform`` works
    unfitted.

    **Axis candidates** (paper Algorithm 1). A pair ``(upper, lower)`` where the
    upper label's last layer ``z_a`` and the lower label's first layer ``z_b``
    are separated by ``g = z_b - z_a - 1`` gap layers, ``1 <= g <= max_gap``,
    and the two *facing masks* (upper at ``z_a``, lower at ``z_b``) overlap in
    ``(y, x)``. Their union is the *footprint*, their intersection the *facing
    region*. Other labels inside the gap layers over the footprint are either
    *passing* (their z range extends outside the gap: real cells) or *confined*
    to the gap. Confined labels are noisy partial masks: allowed, listed in
    ``gap_labels`` and coded ``GAP_NOISE`` in the crop, unless the rule below
    calls them a complete cell, which rejects the pair:

    * ``rule="paper"``: exactly one gap layer (``max_gap`` must be 1); any
      passing label on the facing region is a complete cell (a cell lies
      between the fragments); confined labels are partial masks whatever their
      size.
    * ``rule="extended"``: ``1 <= g <= max_gap`` (up to 3); a passing label is a
      complete cell if it covers more than ``max_intrusion`` of the facing
      region in some gap layer (a tolerance for the pixel-wide intrusions of
      neighbours seen on real cells), a confined label if it covers at least
      ``max_gap_occupancy`` of the footprint in some gap layer (a flat cell
      filling the gap).

    Neighbouring cells usually cover the rim of the footprint in the gap layer
    (cells are not prisms), which is why passing cells are judged on the
    facing region, where the two fragments see each other through the gap. In
    both rules a pair needs ``overlap >= min_overlap * min(area_a, area_b)``,
    ``area_a`` and ``area_b`` being the pixel areas of the two facing masks;
    ``min_overlap=0`` keeps every overlapping pair, as in the paper.

    With ``one_to_one=True`` the matching is greedy by raw overlap (pixels), as
    in the paper; ties go to the pair with fewer gap layers. A pair whose
    fragment is a noise mask inside the gap of another pair with the same
    partner is matched last, so the noise does not steal that partner. A
    normalised score (Dice, fraction of the smaller mask) is not used for the
    ranking because it favours such small noise masks.

    **Contact candidates**. Every pair of labels that share at least
    ``min_contact`` voxel faces (``upper`` = smaller label, ``lower`` = larger
    label, ``gap=None``), for tilted splits drawn by 3D models.

    Parameters
    ----------
    mode : {"axis", "contact", "both"}, default="axis"
        Which candidates to produce. ``"both"`` returns axis and contact
        candidates; a pair found by both is kept once, as its axis candidate.
    max_gap : int, default=1
        Largest number of missing layers between two fragments (1 to 3).
    rule : {"extended", "paper"}, default="extended"
        Gap and matching rule, see above.
    min_overlap : float in [0, 1], default=0.1
        Smallest overlap of the facing masks, as a fraction of the smaller mask.
    max_gap_occupancy : float in (0, 1], default=0.5
        With ``rule="extended"``, a label confined to the gap that covers this
        fraction of the footprint in one layer counts as a complete cell.
    max_intrusion : float in [0, 1], default=0.05
        With ``rule="extended"``, a cell passing through the gap may cover at
        most this fraction of the facing region in each gap layer.
    min_contact : int, default=1
        Smallest contact area (voxel faces) of a contact candidate.
    padding : int, default=2
        Pixels added around each crop in y and x (clipped to the volume).
    voxel_size : float, sequence of 3 floats or None, default=None
        Physical voxel size (z, y, x) stored in every candidate; ``None`` means
        ``(1, 1, 1)``.
    one_to_one : bool, default=True
        Greedy one-to-one matching of axis pairs, best first: a label is at
        most once an upper and at most once a lower fragment.
    n_jobs : int or None, default=None
        Volumes processed in parallel with joblib (``None`` means 1).

    Attributes
    ----------
    n_volumes_in_ : int
        Number of volumes seen by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import CandidateScreener
    >>> vol = np.zeros((7, 8, 8), dtype=np.uint16)
    >>> vol[:3, 2:6, 2:6] = 1      # upper fragment, layers 0-2
    >>> vol[4:, 2:6, 2:6] = 2      # lower fragment, layers 4-6; layer 3 missing
    >>> cands = CandidateScreener().fit_transform(vol)
    >>> cands.pairs.tolist(), cands[0].gap, cands[0].score
    ([[1, 2]], (3, 4), 16.0)
    """

    _parameter_constraints: dict = {
        "mode": [StrOptions({"axis", "contact", "both"})],
        "max_gap": [Interval(Integral, 1, 3, closed="both")],
        "rule": [StrOptions({"extended", "paper"})],
        "min_overlap": [Interval(Real, 0, 1, closed="both")],
        "max_gap_occupancy": [Interval(Real, 0, 1, closed="right")],
        "max_intrusion": [Interval(Real, 0, 1, closed="both")],
        "min_contact": [Interval(Integral, 1, None, closed="left")],
        "padding": [Interval(Integral, 0, None, closed="left")],
        "voxel_size": [None, Interval(Real, 0, None, closed="neither"), "array-like"],
        "one_to_one": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        mode: str = "axis",
        *,
        max_gap: int = 1,
        rule: str = "extended",
        min_overlap: float = 0.1,
        max_gap_occupancy: float = 0.5,
        max_intrusion: float = 0.05,
        min_contact: int = 1,
        padding: int = 2,
        voxel_size=None,
        one_to_one: bool = True,
        n_jobs: int | None = None,
    ):
        self.mode = mode
        self.max_gap = max_gap
        self.rule = rule
        self.min_overlap = min_overlap
        self.max_gap_occupancy = max_gap_occupancy
        self.max_intrusion = max_intrusion
        self.min_contact = min_contact
        self.padding = padding
        self.voxel_size = voxel_size
        self.one_to_one = one_to_one
        self.n_jobs = n_jobs

    def _check_settings(self) -> tuple[float, float, float]:
        self._validate_params()
        if self.rule == "paper" and self.max_gap != 1:
            raise ValueError(
                "rule='paper' uses a gap of exactly one layer; set max_gap=1 or "
                f"use rule='extended' (got max_gap={self.max_gap})."
            )
        return tuple(float(v) for v in check_voxel_size(self.voxel_size))

    def fit(self, volumes, y=None) -> CandidateScreener:
        """Validate the parameters and the volumes; nothing is learned.

        Parameters
        ----------
        volumes : ndarray of shape (z, y, x) or list of such arrays
            Integer label volumes, ``0`` is background.
        y : None
            Ignored.

        Returns
        -------
        self : CandidateScreener
        """
        self._check_settings()
        self.n_volumes_in_ = len(check_volumes(volumes))
        return self

    def transform(self, volumes) -> CandidateSet:
        """Screen the volumes for candidate pairs.

        Parameters
        ----------
        volumes : ndarray of shape (z, y, x) or list of such arrays
            Integer label volumes, ``0`` is background. ``volume_index`` of a
            candidate is the position of its volume in the list.

        Returns
        -------
        CandidateSet
            Sorted by volume, then upper label, then lower label.
        """
        voxel_size = self._check_settings()
        return self._screen(check_volumes(volumes), voxel_size)

    def fit_transform(self, volumes, y=None) -> CandidateSet:
        """Same as ``fit(volumes).transform(volumes)``, validating once."""
        voxel_size = self._check_settings()
        volumes = check_volumes(volumes)
        self.n_volumes_in_ = len(volumes)
        return self._screen(volumes, voxel_size)

    def _screen(self, volumes, voxel_size) -> CandidateSet:
        if self.n_jobs in (None, 1) or len(volumes) == 1:
            per_volume = [
                self._screen_volume(v, i, voxel_size) for i, v in enumerate(volumes)
            ]
        else:
            per_volume = Parallel(n_jobs=self.n_jobs)(
                delayed(self._screen_volume)(v, i, voxel_size)
                for i, v in enumerate(volumes)
            )
        return CandidateSet(c for found in per_volume for c in found)

    def _screen_volume(self, volume, volume_index, voxel_size) -> list[Candidate]:
        geometry = LabelGeometry.from_volume(volume)
        common = dict(
            volume_index=volume_index, padding=self.padding, voxel_size=voxel_size
        )
        found = []
        if self.mode in ("axis", "both"):
            found += axis_candidates(
                volume,
                geometry,
                max_gap=self.max_gap,
                rule=self.rule,
                min_overlap=self.min_overlap,
                max_gap_occupancy=self.max_gap_occupancy,
                max_intrusion=self.max_intrusion,
                one_to_one=self.one_to_one,
                **common,
            )
        if self.mode in ("contact", "both"):
            seen = {frozenset((c.upper, c.lower)) for c in found}
            found += [
                c
                for c in contact_candidates(
                    volume, geometry, min_contact=self.min_contact, **common
                )
                if frozenset((c.upper, c.lower)) not in seen
            ]
        return sorted(found, key=lambda c: (c.upper, c.lower))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags

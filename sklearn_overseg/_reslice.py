"""Tilted reslicing: turn a contact pair into a pair with a one-layer gap.

3D segmenters cut a cell by a tilted, rugged surface rather than along z. The
contact surface of the two touching fragments is fitted with a plane (PCA of
the shared voxel faces, in physical units), the pair is resampled on an
isotropic grid whose layers are parallel to that plane, and the layer on the
plane is blanked. The result looks like an axis candidate whose stacking axis
is the plane normal, so the gap features of steps 2 and 3 apply unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval

from ._candidates import LOWER, UPPER, Candidate, CandidateSet
from ._topology import check_candidate_set

__all__ = ["TiltedReslicer", "fit_contact_plane", "reslice_pair"]

# Samples are shifted by this fraction of the spacing along every frame axis,
# so that grids aligned with voxel faces (an axis-aligned cut) round
# consistently instead of by floating-point noise.
_TIE_BREAK = 1e-3
# Contacts whose second principal spread is below this fraction of the
# smallest voxel size are treated as lines.
_LINE_SPREAD = 0.5
# Robust refits of the contact plane (faces far off the plane are dropped).
_REFITS = 3
# In-layer 4-connectivity, no connection across layers (2D hole filling).
_IN_LAYER = np.zeros((3, 3, 3), dtype=bool)
_IN_LAYER[1] = ndi.generate_binary_structure(2, 1)


def _contact_faces(crop: np.ndarray, voxel_size: np.ndarray):
    """Physical centres and areas of the faces shared by codes 1 and 2."""
    centres, areas = [], []
    for axis in range(3):
        n = crop.shape[axis]
        before = np.take(crop, np.arange(n - 1), axis=axis)
        after = np.take(crop, np.arange(1, n), axis=axis)
        shared = (before.astype(np.int16) * after) == UPPER * LOWER
        index = np.argwhere(shared).astype(float)
        index[:, axis] += 0.5
        centres.append(index * voxel_size)
        face = np.prod(np.delete(voxel_size, axis))
        areas.append(np.full(len(index), face))
    return np.concatenate(centres), np.concatenate(areas)


def _centroid(mask: np.ndarray) -> np.ndarray:
    """Mean voxel index of a non-empty mask, from its three axis profiles."""
    profiles = (mask.sum(axis=(1, 2)), mask.sum(axis=(0, 2)), mask.sum(axis=(0, 1)))
    return np.array([np.arange(len(p)) @ p for p in profiles]) / profiles[0].sum()


def _column_ends(mask: np.ndarray) -> np.ndarray:
    """First and last voxel of every non-empty z column of a mask.

    A linear function of the voxel positions takes its extremes over the mask
    at these voxels, so they bound the mask's extent along any direction.
    """
    filled = mask.any(axis=0)
    first = np.argmax(mask, axis=0)
    last = mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0)
    y, x = np.nonzero(filled)
    z = np.concatenate([first[y, x], last[y, x]])
    return np.stack([z, np.tile(y, 2), np.tile(x, 2)], axis=1)


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else None


def _weighted_pca(points: np.ndarray, weights: np.ndarray):
    """Weighted centroid, principal spreads (descending) and axes (rows)."""
    centroid = np.average(points, axis=0, weights=weights)
    scaled = (points - centroid) * np.sqrt(weights / weights.sum())[:, None]
    _, spread, axes = np.linalg.svd(scaled, full_matrices=False)
    return centroid, spread, axes


def _plane(crop, voxel_size, min_points):
    """``(centroid, normal, method, n_faces, centroid_a, centroid_b)``."""
    voxel_size = np.asarray(voxel_size, dtype=float)
    cen_a = _centroid(crop == UPPER) * voxel_size
    cen_b = _centroid(crop == LOWER) * voxel_size
    points, weights = _contact_faces(crop, voxel_size)
    towards_b = cen_b - cen_a
    centroid = (cen_a + cen_b) / 2
    if len(points):
        centroid = np.average(points, axis=0, weights=weights)
    normal, method = None, "centroids"
    if len(points) >= min_points:
        centroid, spread, axes = _weighted_pca(points, weights)
        if spread[1] >= _LINE_SPREAD * voxel_size.min():
            # Refits without the faces far off the plane (islands of a rugged
            # cut); staircase noise (under a voxel) is always kept.
            near = np.ones(len(points), dtype=bool)
            for _ in range(_REFITS):
                distance = np.abs((points - centroid) @ axes[2])
                limit = max(4.5 * np.median(distance[near]), voxel_size.max())
                if np.array_equal(distance <= limit, near):
                    break
                near = distance <= limit
                if near.sum() < min_points:
                    break
                centroid, spread, axes = _weighted_pca(points[near], weights[near])
            normal, method = axes[2], "pca"
        else:  # a line of faces: the plane through it facing B
            line = axes[0]
            normal = _unit(towards_b - (towards_b @ line) * line)
            method = "line"
    if normal is None:
        normal = _unit(towards_b)
        method = "centroids"
    if normal is None:  # coincident centroids: nothing better than z
        normal, method = np.array([1.0, 0.0, 0.0]), "z"
    if normal @ towards_b < 0:
        normal = -normal
    # Each fragment's centroid must lie on its own side of the plane.
    if (cen_a - centroid) @ normal >= 0 or (cen_b - centroid) @ normal <= 0:
        centroid = (cen_a + cen_b) / 2
    return centroid, normal, method, len(points), cen_a, cen_b


def fit_contact_plane(
    crop, voxel_size=(1.0, 1.0, 1.0), *, min_contact_points: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Plane of the contact surface between the two fragments of a crop.

    The contact surface is the set of voxel faces shared by a voxel of code
    ``1`` (fragment A) and one of code ``2`` (fragment B). The plane passes
    through the area-weighted centroid of the face centres; its normal is the
    direction of least variance of those centres (weighted PCA), oriented
    from A towards B (positive dot product with ``centroid(B) - centroid(A)``).
    Up to three refits drop the faces farther from the plane than 4.5 times
    the median distance (about 3 standard deviations) and at least one voxel,
    so that islands of a rugged cut do not tilt the plane.

    Fallbacks, in order: fewer than ``min_contact_points`` faces, or no
    contact at all - the normal is the direction from A's centroid to B's and
    the plane passes through the faces' centroid (or the midpoint of the
    fragments' centroids); faces along a line (second principal spread under
    half the smallest voxel size) - the normal is that direction made
    perpendicular to the line; coincident centroids - the z axis. If a
    fragment's centroid does not lie strictly on its own side of the plane,
    the plane is moved to the midpoint of the two centroids.

    Parameters
    ----------
    crop : array-like of shape (z, y, x)
        Integer codes: ``1`` for A, ``2`` for B, anything else ignored. Both
        codes must be present.
    voxel_size : sequence of 3 floats, default=(1, 1, 1)
        Physical size (z, y, x) of a crop voxel.
    min_contact_points : int, default=10
        Fewest shared faces for a PCA plane (at least 3).

    Returns
    -------
    centroid : ndarray of shape (3,)
        A point of the plane, physical (z, y, x) coordinates in the crop.
    normal : ndarray of shape (3,)
        Unit normal (z, y, x), pointing from A to B.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._reslice import fit_contact_plane
    >>> crop = np.ones((6, 8, 8), dtype=np.uint8)
    >>> crop[:, :, 4:] = 2      # A at small x, B at large x
    >>> centroid, normal = fit_contact_plane(crop)
    >>> centroid.round(2).tolist(), normal.round(2).tolist()
    ([2.5, 3.5, 3.5], [0.0, 0.0, 1.0])
    """
    crop = np.asarray(crop)
    voxel_size = _check_crop(crop, voxel_size)
    _check_int(min_contact_points, "min_contact_points", 3)
    centroid, normal = _plane(crop, voxel_size, min_contact_points)[:2]
    return centroid, normal


def _check_int(value, name: str, low: int) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}.")


def _check_crop(crop: np.ndarray, voxel_size) -> np.ndarray:
    if crop.dtype.kind not in "iu":
        raise TypeError(f"crop must hold integer codes, got dtype {crop.dtype}.")
    if crop.ndim != 3:
        raise ValueError(f"crop must be 3D (z, y, x), got shape {crop.shape}.")
    try:
        voxel_size = np.asarray(voxel_size, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            f"voxel_size must be 3 positive numbers, got {voxel_size!r}."
        ) from None
    if voxel_size.shape != (3,) or not np.all(
        np.isfinite(voxel_size) & (voxel_size > 0)
    ):
        raise ValueError(f"voxel_size must be 3 positive numbers, got {voxel_size}.")
    for code in (UPPER, LOWER):
        if not np.any(crop == code):
            raise ValueError(f"crop has no voxel of code {code}; both are needed.")
    return voxel_size


def _frame(normal: np.ndarray) -> np.ndarray:
    """Rows (n, u, v): the normal and two in-plane axes (u ~ y, v ~ x for z)."""
    seed = np.eye(3)[1] if abs(normal[1]) < 0.9 else np.eye(3)[2]
    u = _unit(seed - (seed @ normal) * normal)
    return np.stack([normal, u, np.cross(normal, u)])


def _fill_layer_holes(codes: np.ndarray, code: int) -> None:
    """Fill, in place, the 2D holes of fragment ``code`` that hold code 0.

    A hole is a 4-connected region of a layer, outside the fragment, that
    does not reach the layer's edge; pixels of the other fragment in it stay.
    """
    regions, n_regions = ndi.label(codes != code, structure=_IN_LAYER)
    open_region = np.zeros(n_regions + 1, dtype=bool)
    open_region[0] = True  # the fragment itself
    for edge in (regions[:, 0], regions[:, -1], regions[:, :, 0], regions[:, :, -1]):
        open_region[edge] = True
    codes[~open_region[regions] & (codes == 0)] = code


def _sample_in_frame(codes, voxel_size, centroid, frame, step, max_layers):
    """Nearest-neighbour samples of ``codes`` on the (n, u, v) grid.

    The grid points are integer multiples of ``step`` along the frame axes
    from ``centroid`` (layer 0 lies on the plane) and cover every voxel of the
    pair. Returns the samples and the grid's lowest (n, u, v) indices.
    """
    projected = (_column_ends(codes > 0) * voxel_size - centroid) @ frame.T
    half = 0.5 * np.abs(frame) @ voxel_size  # half a voxel along each axis
    lo = np.floor((projected.min(axis=0) - half) / step).astype(int)
    hi = np.ceil((projected.max(axis=0) + half) / step).astype(int)
    lo[0], hi[0] = min(lo[0], -1), max(hi[0], 1)
    if max_layers is not None:
        lo[0], hi[0] = max(lo[0], -max_layers), min(hi[0], max_layers)
    # Grid index -> crop index is affine: the equivalent of map_coordinates
    # without materialising the coordinate arrays.
    matrix = frame.T * step / voxel_size[:, None]
    offset = (centroid + frame.T @ ((lo + _TIE_BREAK) * step)) / voxel_size
    sampled = ndi.affine_transform(
        codes,
        matrix,
        offset,
        output_shape=tuple(int(v) for v in hi - lo + 1),
        order=0,
        mode="grid-constant",
        cval=0,
        prefilter=False,
    )
    return sampled, lo


def _split_at_gap(sampled: np.ndarray, g: int, pixels) -> list[int]:
    """Blank layer ``g``; keep code 1 before it and code 2 after it, in place.

    A fragment left without any pixel on its side gets, in the layer next to
    the gap, its pixels of layer ``g`` or else the pixel under its centroid
    (``pixels``: fractional (u, v) grid positions of the two centroids).
    Returns the codes of the fragments rescued that way.
    """
    reference = sampled[g].copy()
    before, after = sampled[:g], sampled[g + 1 :]
    before[before == LOWER] = 0
    after[after == UPPER] = 0
    sampled[g] = 0
    rescued = []
    for code, side, layer, pixel in (
        (UPPER, before, g - 1, pixels[0]),
        (LOWER, after, g + 1, pixels[1]),
    ):
        if np.any(side == code):
            continue
        rescued.append(code)
        if np.any(reference == code):
            sampled[layer][reference == code] = code
        else:
            top = np.array(sampled.shape[1:]) - 1
            i, j = np.clip(np.round(pixel - _TIE_BREAK).astype(int), 0, top)
            sampled[layer, i, j] = code
    return rescued


def reslice_pair(
    candidate: Candidate,
    *,
    spacing: float | None = None,
    min_contact_points: int = 10,
    fill_holes: bool = True,
    max_layers: int | None = None,
) -> Candidate:
    """Reslice a contact candidate parallel to its contact plane.

    See :class:`TiltedReslicer` for the method and the output.

    Parameters
    ----------
    candidate : Candidate
        A contact candidate (``gap is None``) whose crop holds both codes.
    spacing : float or None, default=None
        Isotropic sampling step, physical units; ``None`` uses the smallest
        voxel size of the candidate.
    min_contact_points : int, default=10
        Fewest contact faces for a PCA plane (see :func:`fit_contact_plane`).
    fill_holes : bool, default=True
        Fill 2D holes of each fragment in each resliced layer.
    max_layers : int or None, default=None
        Keep at most this many layers on each side of the gap.

    Returns
    -------
    Candidate
        ``kind="tilted"``, ``gap=(g, g + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._candidates import Candidate
    >>> from sklearn_overseg._reslice import reslice_pair
    >>> crop = np.zeros((8, 10, 10), dtype=np.uint8)
    >>> crop[1:7, 1:9, 1:5] = 1
    >>> crop[1:7, 1:9, 5:9] = 2     # cut along x, not z
    >>> out = reslice_pair(Candidate(0, 3, 7, crop, kind="contact"))
    >>> out.kind, out.gap, out.crop.shape, out.meta["normal"].round(2).tolist()
    ('tilted', (4, 5), (8, 8, 6), [0.0, 0.0, 1.0])
    """
    if not isinstance(candidate, Candidate):
        raise TypeError(f"expected a Candidate, got {type(candidate).__name__}.")
    if candidate.gap is not None:
        raise ValueError(
            f"candidate {candidate.key} already has a gap; only contact "
            "candidates (gap=None) are resliced."
        )
    crop = np.asarray(candidate.crop)
    voxel_size = _check_crop(crop, candidate.voxel_size)
    step = voxel_size.min() if spacing is None else float(spacing)
    if not step > 0:
        raise ValueError(f"spacing must be positive, got {spacing}.")
    _check_int(min_contact_points, "min_contact_points", 3)
    if max_layers is not None:
        _check_int(max_layers, "max_layers", 1)
    codes = np.where((crop == UPPER) | (crop == LOWER), crop, 0).astype(np.uint8)
    centroid, normal, method, n_faces, cen_a, cen_b = _plane(
        codes, voxel_size, min_contact_points
    )
    frame = _frame(normal)
    sampled, lo = _sample_in_frame(codes, voxel_size, centroid, frame, step, max_layers)
    g = int(-lo[0])
    if fill_holes:
        _fill_layer_holes(sampled[:g], UPPER)
        _fill_layer_holes(sampled[g + 1 :], LOWER)
    # Where each fragment's centroid falls in the (u, v) grid of a layer.
    pixels = [frame[1:] @ (c - centroid) / step - lo[1:] for c in (cen_a, cen_b)]
    rescued = _split_at_gap(sampled, g, pixels)

    keep = [np.flatnonzero(sampled.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    first = np.array([k[0] for k in keep])
    box = tuple(slice(k[0], k[-1] + 1) for k in keep)
    out = np.ascontiguousarray(sampled[box])
    origin = np.asarray(candidate.origin, dtype=float) * voxel_size
    meta = dict(candidate.meta)
    meta.update(
        normal=normal,
        centroid=origin + centroid,
        spacing=float(step),
        frame=frame,
        grid_origin=origin + centroid + frame.T @ ((lo + first + _TIE_BREAK) * step),
        plane_fit=method,
        n_contact_faces=int(n_faces),
        source_voxel_size=tuple(float(v) for v in voxel_size),
        rescued_fragments=tuple(rescued),
        # The input crop itself when it holds only codes 0-2 (no copy).
        contact_crop=crop if np.array_equal(crop, codes) else codes,
    )
    gap = int(g - first[0])
    return replace(
        candidate,
        crop=out,
        gap=(gap, gap + 1),
        voxel_size=(float(step),) * 3,
        kind="tilted",
        gap_labels=(),
        meta=meta,
    )


def _reslice_chunk(candidates, params) -> list[Candidate]:
    return [c if c.gap is not None else reslice_pair(c, **params) for c in candidates]


class TiltedReslicer(TransformerMixin, BaseEstimator):
    """Reslice contact candidates parallel to their contact plane.

    For each contact candidate (two touching fragments A = ``UPPER``, B =
    ``LOWER``, ``gap=None``):

    1. the contact plane is fitted to the faces shared by A and B, in
       physical units (:func:`fit_contact_plane`), its normal pointing from A
       to B;
    2. the pair is resampled by nearest neighbour on an isotropic grid of step
       ``spacing`` whose axes are the normal ``n`` and two in-plane axes
       ``u``, ``v``; layer ``k`` lies at ``n = k * spacing``, so layer indices
       grow from A's side to B's side and one layer lies on the plane;
    3. with ``fill_holes``, 2D holes (pixels of neither fragment enclosed by
       one) are filled in each layer, fragment by fragment;
    4. the layer on the plane is blanked: it is the gap. Layers before it keep
       only A's pixels and layers after it only B's: where the cut is rugged,
       pixels of a fragment that fall on the other side are dropped, never
       relabelled, so two different cells are not made to look alike. A
       fragment left with no pixel on its side (thinner than one layer) gets
       its pixels of the plane layer, or the pixel under its centroid, in the
       layer next to the gap (listed in ``meta["rescued_fragments"]``);
    5. empty layers, rows and columns at the ends are cropped away.

    Samples are shifted by a thousandth of the step along every frame axis,
    so a cut along voxel faces loses the first layer of B's voxels (like a
    missing z layer) instead of a random mix of the two layers. The output
    candidate has ``kind="tilted"``, ``gap=(g, g + 1)`` in its new crop,
    ``voxel_size=(spacing,) * 3``, the same volume, labels, origin and score
    (contact area), and ``meta`` with ``normal``, ``centroid`` (a point of the
    plane, physical (z, y, x) coordinates in the volume), ``spacing``,
    ``frame`` (rows ``n, u, v``), ``grid_origin`` (physical position of
    ``crop[0, 0, 0]``), ``plane_fit`` (``"pca"``, ``"line"``, ``"centroids"``
    or ``"z"``, see :func:`fit_contact_plane`), ``n_contact_faces``,
    ``source_voxel_size`` and ``contact_crop`` (the input crop reduced to
    codes 0, 1 and 2, for :class:`ContactFeatures`); the input candidate's
    own ``meta`` is kept.

    Candidates that already have a gap (axis or tilted) pass through
    unchanged, so the output of ``CandidateScreener(mode="both")`` can feed
    one feature pipeline.

    Parameters
    ----------
    spacing : float or None, default=None
        Isotropic sampling step in physical units; ``None`` uses each
        candidate's smallest voxel size.
    min_contact_points : int, default=10
        Fewest shared faces for a PCA plane; smaller contacts use the
        direction between the fragments' centroids as the normal.
    fill_holes : bool, default=True
        Fill 2D holes of each fragment in each resliced layer.
    max_layers : int or None, default=64
        Keep at most this many layers on each side of the gap (bounds the
        cost of large cells); ``None`` keeps them all.
    n_jobs : int or None, default=None
        Parallel jobs (joblib) over chunks of candidates.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._candidates import Candidate, CandidateSet
    >>> from sklearn_overseg._reslice import TiltedReslicer
    >>> zz, yy, xx = np.mgrid[:20, :20, :20]
    >>> ball = (zz - 9.5) ** 2 + (yy - 9.5) ** 2 + (xx - 9.5) ** 2 < 81
    >>> crop = np.where(ball, np.where(zz + xx < 19, 1, 2), 0).astype(np.uint8)
    >>> X = CandidateSet([Candidate(0, 1, 2, crop, kind="contact")])
    >>> out = TiltedReslicer().fit_transform(X)[0]
    >>> out.kind, out.meta["plane_fit"], out.meta["normal"].round(2).tolist()
    ('tilted', 'pca', [0.71, 0.0, 0.71])
    """

    _parameter_constraints: dict = {
        "spacing": [Interval(Real, 0, None, closed="neither"), None],
        "min_contact_points": [Interval(Integral, 3, None, closed="left")],
        "fill_holes": ["boolean"],
        "max_layers": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        spacing: float | None = None,
        min_contact_points: int = 10,
        fill_holes: bool = True,
        max_layers: int | None = 64,
        n_jobs: int | None = None,
    ):
        self.spacing = spacing
        self.min_contact_points = min_contact_points
        self.fill_holes = fill_holes
        self.max_layers = max_layers
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> TiltedReslicer:
        """Check the parameters and the input; nothing is learned.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs.
        y : ignored

        Returns
        -------
        self : TiltedReslicer
        """
        check_candidate_set(X, type(self).__name__)
        return self

    def transform(self, X: CandidateSet) -> CandidateSet:
        """Reslice the contact candidates; pass the others through.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs (any kinds).

        Returns
        -------
        CandidateSet
            Same length and order; contact candidates became ``"tilted"``.
        """
        self._validate_params()
        check_candidate_set(X, type(self).__name__)
        params = dict(
            spacing=self.spacing,
            min_contact_points=self.min_contact_points,
            fill_holes=self.fill_holes,
            max_layers=self.max_layers,
        )
        n_jobs = effective_n_jobs(self.n_jobs)
        todo = sum(c.gap is None for c in X)
        if n_jobs == 1 or todo < 2:
            return CandidateSet(_reslice_chunk(X, params))
        bounds = np.linspace(0, len(X), min(len(X), 4 * n_jobs) + 1).astype(int)
        parts = Parallel(n_jobs=self.n_jobs)(
            delayed(_reslice_chunk)(X[a:b], params)
            for a, b in zip(bounds[:-1], bounds[1:])
        )
        return CandidateSet(c for part in parts for c in part)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags

"""Tilted reslicing: turn a contact pair into a pair with a one-layer gap.

3D segmenters cut a cell by a tilted, rugged surface rather than along z. The
contact surface of the two touching fragments is fitted with a plane (PCA of
the shared voxel faces, in physical units; :mod:`._contact_plane`), the pair
is resampled on an isotropic grid whose layers are parallel to that plane, and
the layer on the plane is blanked. The result looks like an axis candidate
whose stacking axis is the plane normal, so the gap features of steps 2 and 3
apply unchanged.

The pair is sampled by :mod:`._reslice_sampling`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, validate_params

from .._candidates import LOWER, UPPER, Candidate, CandidateSet, check_candidate_set
from .._parallel import crop_voxels, map_batches
from ._plane import (
    _bounding_box,
    _check_crop,
    _frame,
    _pair_codes,
    _plane,
    fit_contact_plane,
)
from ._sampling import _TIE_BREAK, _sample_in_frame

__all__ = ["TiltedReslicer", "fit_contact_plane", "reslice_pair"]

# 4-connectivity within a layer (2D hole filling).
_CROSS = ndi.generate_binary_structure(2, 1)


def _fill_layer_holes(codes: np.ndarray, code: int) -> None:
    """Fill, in place, the 2D holes of fragment ``code`` that hold code 0.

    A hole is a 4-connected region of a layer, outside the fragment, that
    does not reach the layer's edge; pixels of the other fragment in it stay.
    Holes lie inside the fragment's bounding box, and a region of the box
    reaches the box's edge exactly when it reaches the layer's, so only the
    box is labelled. The box's layers are labelled as one 2D image, stacked
    along the rows: a region that joins two layers crosses the last row of
    one and the first row of the next, both edges, so the holes (and every
    pixel's open or closed state) are those of the layers labelled apart.
    """
    box = _bounding_box(codes == code)
    if box is None:
        return
    codes = codes[box]
    outside = (codes != code).reshape(-1, codes.shape[2])
    try:  # uint16 labels are faster; scipy refuses them when there are more
        regions, n_regions = ndi.label(outside, structure=_CROSS, output=np.uint16)
    except RuntimeError:
        regions, n_regions = ndi.label(outside, structure=_CROSS)
    regions = regions.reshape(codes.shape)
    open_region = np.zeros(n_regions + 1, dtype=bool)
    open_region[0] = True  # the fragment itself
    for edge in (regions[:, 0], regions[:, -1], regions[:, :, 0], regions[:, :, -1]):
        open_region[edge] = True
    if open_region.all():
        return  # no hole
    codes[~open_region[regions] & (codes == 0)] = code


def _split_at_gap(sampled: np.ndarray, g: int, pixels) -> list[int]:
    """Blank layer ``g``; keep code 1 before it and code 2 after it, in place.

    A fragment left without any pixel on its side gets, in the layer next to
    the gap, its pixels of layer ``g`` or else the pixel under its centroid
    (``pixels``: fractional (u, v) grid positions of the two centroids).
    Returns the codes of the fragments rescued that way.
    """
    reference = sampled[g].copy()
    before, after = sampled[:g], sampled[g + 1 :]
    np.bitwise_and(before, UPPER, out=before)  # codes 0-2: drops code 2
    np.bitwise_and(after, LOWER, out=after)  # drops code 1
    sampled[g] = 0
    rescued = []
    for code, side, layer, pixel in (
        (UPPER, before, g - 1, pixels[0]),
        (LOWER, after, g + 1, pixels[1]),
    ):
        if side.max(initial=0) == code:
            continue
        rescued.append(code)
        if np.any(reference == code):
            sampled[layer][reference == code] = code
        else:
            top = np.array(sampled.shape[1:]) - 1
            i, j = np.clip(np.round(pixel - _TIE_BREAK).astype(int), 0, top)
            sampled[layer, i, j] = code
    return rescued


@validate_params(
    {
        "candidate": "no_validation",  # checked below
        "spacing": [Interval(Real, 0, None, closed="neither"), None],
        "min_contact_points": [Interval(Integral, 3, None, closed="left")],
        "fill_holes": ["boolean"],
        "max_layers": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
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
    >>> from sklearn_overseg.tilted._reslice import reslice_pair
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
    codes = _pair_codes(crop)  # the crop itself when it holds only 0-2
    centroid, normal, method, n_faces, cen_a, cen_b, area = _plane(
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

    box = _bounding_box(sampled)
    first = np.array([k.start for k in box])
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
        contact_area=area,
        source_voxel_size=tuple(float(v) for v in voxel_size),
        rescued_fragments=tuple(rescued),
        # The input crop itself when it holds only codes 0-2 (no copy).
        contact_crop=crop if codes is crop or np.array_equal(crop, codes) else codes,
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
    """Resliced candidates, each whose contact crop is its input crop with
    ``meta["contact_crop"] = None``: a worker process need not send it back
    (:meth:`TiltedReslicer.transform` puts the input crop back)."""
    out = []
    for c in candidates:
        if c.gap is None:
            resliced = reslice_pair(c, **params)
            if resliced.meta["contact_crop"] is c.crop:
                resliced.meta["contact_crop"] = None
            c = resliced
        out.append(c)
    return out


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
    ``contact_area`` (physical area of the shared faces),
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
        Most parallel jobs (joblib) over batches of candidates: worker
        processes, and only as many as the candidates' crops are work for
        (about 20 M voxels per job); little work runs in this process.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._candidates import Candidate, CandidateSet
    >>> from sklearn_overseg.tilted._reslice import TiltedReslicer
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
        todo = CandidateSet(c for c in X if c.gap is None)
        parts = map_batches(
            partial(_reslice_chunk, params=params),
            X,
            n_jobs=self.n_jobs,
            work=crop_voxels(todo),
            worker_imports=("sklearn",),  # this module's own imports
        )
        out = CandidateSet(c for part in parts for c in part)
        for before, after in zip(X, out):
            if before.gap is None and after.meta["contact_crop"] is None:
                after.meta["contact_crop"] = before.crop
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags

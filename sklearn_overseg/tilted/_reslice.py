"""Tilted reslicing: turn contact pairs into pairs with a one-layer gap.

3D segmenters cut a cell by a tilted, rugged surface rather than along z.
:class:`TiltedReslicer` reslices every contact pair parallel to its contact
plane (:func:`~._reslice_pair.reslice_pair`), so that the pair looks like an
axis candidate whose stacking axis is the plane normal and the gap features
of steps 2 and 3 apply unchanged. Pairs are spread over worker processes
when they are work enough (:func:`~sklearn_overseg._parallel.map_batches`).
"""

from __future__ import annotations

from functools import partial
from numbers import Integral, Real

from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval

from .._candidates import CandidateSet, check_candidate_set
from .._parallel import crop_voxels, map_batches
from ._plane import fit_contact_plane
from ._reslice_core import BATCH_IMPORTS, _reslice_chunk
from ._reslice_pair import reslice_pair

__all__ = ["TiltedReslicer", "fit_contact_plane", "reslice_pair"]


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
    >>> from sklearn_overseg.tilted import TiltedReslicer
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
            worker_imports=BATCH_IMPORTS,
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

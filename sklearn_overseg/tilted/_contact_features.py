"""Contact features: does the contact look like a cut through one cell?

A 3D model that cuts a cell leaves two fragments whose union is the cell: the
union is about as convex as a cell, its cross-sections change smoothly across
the contact, and the contact spans the whole cross-section of both fragments.
Two distinct neighbours meet along a wall where the union is creased (the
cross-sections widen away from the wall on both sides) and the wall is often
only part of each cell's cross-section. The features are computed on the
contact crop kept by :class:`~sklearn_overseg.TiltedReslicer`
(``meta["contact_crop"]``) and on the resliced crop (layers parallel to the
contact plane), in physical units, and are free of units and cell size.
"""

from __future__ import annotations

import numbers
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet, check_candidate_set
from .._new_params import DefaultsForNewParams
from .._parallel import crop_voxels, map_batches
from ..features import PairFeaturesMixin
from ._contact_rows import BATCH_IMPORTS, FEATURES, _chunk_features

__all__ = ["ContactFeatures"]


def _check_contact_candidates(X: CandidateSet) -> None:
    for c in X:
        if c.gap is None:
            continue
        if c.kind != "tilted" or "contact_crop" not in c.meta:
            raise ValueError(
                f"ContactFeatures needs contact candidates or tilted candidates "
                f"from TiltedReslicer; candidate {c.key} is of kind {c.kind!r}"
                + ("" if c.kind != "tilted" else " without meta['contact_crop']")
                + "."
            )


class ContactFeatures(
    DefaultsForNewParams, PairFeaturesMixin, TransformerMixin, BaseEstimator
):
    """Shape features of the contact between two touching fragments.

    For tilted candidates (the output of :class:`TiltedReslicer`, which keeps
    the pair's contact crop and plane in ``meta``) or raw contact candidates
    (resliced here with the default settings). Volumes, areas and hulls are
    in physical units; every feature is a ratio, free of units and cell size.
    ``A`` and ``B`` are the two fragments, *smaller* and *larger* by volume.

    * ``volume_log_ratio`` - log of the larger over the smaller volume;
    * ``contact_per_smaller``, ``contact_per_larger`` - contact area over
      the fragment's volume to the power 2/3 (a cut spans a whole
      cross-section of both fragments; a wall is often a small facet);
    * ``union_solidity``, ``smaller_solidity``, ``larger_solidity`` - volume
      over the volume of the convex hull (of the voxel cubes);
    * ``hull_excess`` - ``(hull(A | B) - hull(A) - hull(B)) / (|A| + |B|)``:
      about 0 when the union is as convex as its parts (a cut cell), positive
      when the union is creased along the contact (two cells);
    * ``slab_hull_excess``, ``slab_solidity`` - the same excess and the
      union's solidity within a slab around the contact plane (half-width
      ``max(2 voxels, sqrt(contact area) / 2)``; with ``region="slab"`` at
      most the resliced layers), local to the contact rim;
    * ``section_jump`` - ``|log|`` ratio of the fragments' areas in the two
      resliced layers next to the gap;
    * ``section_overlap`` - intersection over union of those two masks;
    * ``kink_near``, ``kink_mid``, ``kink_far`` - how the cross-sections
      shrink away from the contact on both sides,
      ``(a_i - a_j + b_i - b_j) / (a_1 + b_1 + 2)`` for layers
      ``(i, j) = (1, 3), (2, 5), (3, 8)`` from the gap: about 0 or positive
      for a cut through a cell, negative at the crease between two cells;
    * ``smaller_section_share``, ``larger_section_share`` - each fragment's
      area next to the gap over its largest resliced cross-section (among
      the layers the reslicer kept), sorted.

    Values are clipped to ``[-clip, clip]``. ``fit`` learns nothing.

    Parameters
    ----------
    clip : float, default=10.0
        Bound of the absolute feature values (tiny fragments give extreme
        ratios). Bounding belongs to the scaler step
        (:class:`~sklearn_overseg.features.ClippedStandardScaler`); this
        clip stays because the shipped ``tilted`` model was fitted on clipped
        values (a very large ``clip`` turns it off).
    n_jobs : int or None, default=None
        Most parallel jobs (joblib) over batches of candidates: worker
        processes, and only as many as the candidates' crops are work for
        (about 20 M voxels per job); little work runs in this process.
    region : {"whole", "slab"}, default="whole"
        Where ``slab_hull_excess`` and ``slab_solidity`` look. ``"whole"``:
        the voxels of the contact crop within the slab's half-width of the
        plane (a distance map over the pair's box, the costliest part of
        these features). ``"slab"`` (the shipped ``tilted`` model): the
        same half-width in layers of the resliced crop, no more than the
        reslicer kept (``TiltedReslicer(max_layers=8)`` in the shipped
        model), the lower fragment moved up by the blanked layer for the
        union's hull; about 2.2x cheaper contact features on 100 x 400 x
        400. Raw contact candidates are then resliced with 8 layers on each
        side. The other features are the same either way.

    Attributes
    ----------
    n_features_out_ : int
        Number of output features (16).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate, CandidateSet
    >>> from sklearn_overseg import ContactFeatures
    >>> zz, yy, xx = np.mgrid[:16, :16, :16]
    >>> ball = (zz - 7.5) ** 2 + (yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 49
    >>> cut = np.where(ball, np.where(zz + xx < 15, 1, 2), 0).astype(np.uint8)
    >>> X = CandidateSet([Candidate(0, 1, 2, cut, kind="contact")])
    >>> features = ContactFeatures().fit_transform(X)
    >>> features.shape, bool(abs(features[0, 6]) < 0.1)  # hull_excess
    ((1, 16), True)
    """

    #: Kinds of candidates it takes (axis candidates have no contact plane).
    _candidate_kinds = ("contact", "tilted")

    _parameter_constraints: dict = {
        "region": [StrOptions({"whole", "slab"})],
        "clip": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(
        self, clip: float = 10.0, n_jobs: int | None = None, region: str = "whole"
    ):
        self.clip = clip
        self.n_jobs = n_jobs
        self.region = region

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> ContactFeatures:
        """Check the input and record the number of features.

        Parameters
        ----------
        X : CandidateSet
            Contact or tilted candidates.
        y : ignored

        Returns
        -------
        self : ContactFeatures
        """
        check_candidate_set(X, type(self).__name__)
        _check_contact_candidates(X)
        self.n_features_out_ = len(FEATURES)
        return self

    def transform(self, X: CandidateSet) -> np.ndarray:
        """Contact features of each candidate pair.

        Parameters
        ----------
        X : CandidateSet
            Contact or tilted candidates.

        Returns
        -------
        ndarray of shape (n_candidates, 16), dtype float32
        """
        check_is_fitted(self)
        check_candidate_set(X, type(self).__name__)
        _check_contact_candidates(X)
        self._validate_params()
        parts = map_batches(
            partial(_chunk_features, region=self.region),
            X,
            n_jobs=self.n_jobs,
            work=crop_voxels(X),
            worker_imports=BATCH_IMPORTS,
        )
        out = np.concatenate(parts)
        out = np.nan_to_num(out, nan=0.0, posinf=self.clip, neginf=-self.clip)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def _names(self) -> tuple[str, ...]:
        return FEATURES

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

"""Screening volumes: what CandidateScreener does with its parameters.

A mixin of :class:`~sklearn_overseg.CandidateScreener`: the checks of its
parameters and of a voxel size, ``fit`` (validation only), ``transform``
(volumes in parallel with joblib) and the screening of one volume: axis
pairs with their context, contact pairs not already found as axis pairs,
and with ``min_gap="auto"`` the per-volume choice of whether stitch splits
are screened (:func:`~sklearn_overseg.screening.detect_stitched`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from joblib import Parallel, delayed

from .._candidates import Candidate, CandidateSet
from .._geometry import LabelGeometry
from .._validation import check_volumes, check_voxel_size
from .._warnings import warn_user
from ._axis import axis_candidates
from ._contact import contact_candidates
from ._pair_context import add_pair_context
from ._stacking import check_stitched
from ._stitch_evidence import evidence_from_links, layer_pairs, stitch_links

if TYPE_CHECKING:
    from ._screener import CandidateScreener

__all__ = ["VolumeScreeningMixin"]


class VolumeScreeningMixin:
    """Validation, ``fit``, ``transform`` and per-volume screening.

    The parameters are those of :class:`~sklearn_overseg.CandidateScreener`.
    """

    def validate_settings(self, voxel_size=None) -> tuple[float, float, float]:
        """Check the parameters and a voxel size.

        Parameters
        ----------
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the volumes; ``None`` means ``(1, 1, 1)``
            (or the deprecated constructor parameter, when set).

        Returns
        -------
        tuple of 3 float
            The voxel size stored in the candidates.
        """
        self._validate_params()
        if self.rule == "paper" and self.max_gap != 1:
            raise ValueError(
                "rule='paper' uses a gap of exactly one layer; set max_gap=1 or "
                f"use rule='extended' (got max_gap={self.max_gap})."
            )
        if voxel_size is None and self.voxel_size is not None:
            warn_user(
                "CandidateScreener(voxel_size=...) is deprecated since 0.2 and "
                "will be removed in 0.3: pass it to transform(volumes, "
                "voxel_size=...) or MergeCorrector.fit/correct instead.",
                FutureWarning,
            )
            voxel_size = self.voxel_size
        return tuple(float(v) for v in check_voxel_size(voxel_size))

    def fit(self, volumes, y=None, *, voxel_size=None) -> CandidateScreener:
        """Validate the parameters and the volumes; nothing is learned.

        Parameters
        ----------
        volumes : ndarray of shape (z, y, x) or list of such arrays
            Integer label volumes, ``0`` is background.
        y : None
            Ignored.
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the volumes, checked only.

        Returns
        -------
        self : CandidateScreener
        """
        self.validate_settings(voxel_size)
        self.n_volumes_in_ = len(check_volumes(volumes, allow_background_only=True))
        return self

    def transform(self, volumes, voxel_size=None) -> CandidateSet:
        """Screen the volumes for candidate pairs.

        Parameters
        ----------
        volumes : ndarray of shape (z, y, x) or list of such arrays
            Integer label volumes, ``0`` is background. ``volume_index`` of a
            candidate is the position of its volume in the list.
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the volumes, stored in every candidate
            (the pair features measure in its units); ``None`` means
            ``(1, 1, 1)``: everything is measured in voxels.

        Returns
        -------
        CandidateSet
            Sorted by volume, then upper label, then lower label.
        """
        voxel_size = self.validate_settings(voxel_size)
        volumes = check_volumes(volumes, allow_background_only=True)
        return self._screen(volumes, voxel_size)

    def fit_transform(self, volumes, y=None, *, voxel_size=None) -> CandidateSet:
        """Same as ``fit(volumes).transform(volumes, voxel_size)``, validating once."""
        voxel_size = self.validate_settings(voxel_size)
        volumes = check_volumes(volumes, allow_background_only=True)
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
        check_stitched(volume.shape[0], geometry.z_starts, geometry.z_stops)
        common = dict(
            volume_index=volume_index, padding=self.padding, voxel_size=voxel_size
        )
        found = []
        if self.mode in ("axis", "both"):
            found += axis_candidates(
                volume,
                geometry,
                max_gap=self.max_gap,
                min_gap=self.volume_min_gap(volume),
                rule=self.rule,
                min_overlap=self.min_overlap,
                max_gap_occupancy=self.max_gap_occupancy,
                max_intrusion=self.max_intrusion,
                max_noise_cover=self.max_noise_cover,
                one_to_one=self.one_to_one,
                **common,
            )
            add_pair_context(volume, geometry, found)
        if self.mode in ("contact", "both"):
            seen = {frozenset((c.upper, c.lower)) for c in found}
            found += [
                c
                for c in contact_candidates(
                    volume, geometry, min_contact=self.min_contact,
                    min_contact_ratio=self.min_contact_ratio, **common,
                )
                if frozenset((c.upper, c.lower)) not in seen
            ]
        for c in found:  # the decision step needs them; no second pass
            c.meta["z_extents"] = (geometry.z_extent(c.upper),
                                   geometry.z_extent(c.lower))
        return sorted(found, key=lambda c: (c.upper, c.lower))

    def volume_min_gap(self, volume) -> int:
        """The ``min_gap`` this screener uses on one (validated) volume.

        ``min_gap`` itself, or with ``"auto"``, ``0`` when the volume looks
        stitched from 2D slices (:func:`~sklearn_overseg.screening.
        detect_stitched`, default settings) and ``1`` otherwise.
        """
        if self.min_gap != "auto":
            return int(self.min_gap)
        found = stitch_links(volume, layer_pairs(volume.shape))
        return 0 if evidence_from_links(*found).stitched else 1

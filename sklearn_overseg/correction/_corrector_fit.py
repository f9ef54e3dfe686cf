"""How a MergeCorrector fits: its screener and classifier, on labelled pairs.

The fitting half of :class:`~sklearn_overseg.MergeCorrector`, as a mixin:
``fit`` makes fresh copies of the screener and the pair classifier (the
default pipeline when none is given), labels the candidate pairs of the
training volumes (damaged ground truth, or flawed volumes with their truth),
records the units the model measures in (the training voxel size), trains
the classifier on them (calibrated on volume-grouped folds when asked) and
records the box of the training features. Metadata given to ``fit`` are
routed to the classifier, one value per volume spread to its pairs.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    process_routing,
)

from .._validation import check_volumes
from .._warnings import warn_user
from ..models import (
    FeatureRange,
    feature_stage,
    fit_with_features,
    make_pair_pipeline,
    pipeline_features,
)
from ..screening import CandidateScreener
from ._calibration import fit_calibrated
from ._corrector_training import relative_voxel_size
from ._scoring import scored_features
from ._training import check_damage_kind

__all__ = [
    "FitMixin",
    "fit_feature_range",
    "spread_to_pairs",
    "training_pairs_message",
]

#: Fewest training pairs from which ``fit`` learns the training range.
MIN_PAIRS_FOR_RANGE = 100


def fit_feature_range(classifier, candidates, features=None) -> FeatureRange | None:
    """The box of a fitted classifier's training features, for the out-of-range rule.

    Parameters
    ----------
    classifier : fitted pair classifier
        A pair pipeline or a :class:`~sklearn_overseg.GapRoutedClassifier`.
    candidates : CandidateSet
        Its training pairs.
    features : ndarray of shape (n_pairs, n_features), optional
        Their raw features, when fitting already computed them; otherwise
        they are computed here, as :meth:`MergeCorrector.score_pairs` returns
        them (for a routed classifier: the columns both of its parts compute).

    Returns
    -------
    FeatureRange or None
        ``None`` when the classifier has no feature step or was trained on
        fewer than 100 pairs: a box drawn around a handful of pairs would
        call most new pairs out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.correction import fit_feature_range
    >>> training = np.random.RandomState(0).normal(size=(200, 3))
    >>> box = fit_feature_range(None, None, features=training)
    >>> box.outside([[0.0, 0.0, 0.0], [50.0, 0.0, 0.0]]).tolist()
    [False, True]
    """
    if features is None:
        features = scored_features(classifier, candidates)
    if features is None or len(features) < MIN_PAIRS_FOR_RANGE:
        return None
    return FeatureRange().fit(features)


def training_pairs_message(labels: np.ndarray, *, flawed: bool) -> str:
    """Why training cannot start (one kind of pair missing) and what to do."""
    n_pos, n_neg = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if n_pos + n_neg == 0:
        return (
            "training found no candidate pairs in the volumes (no cell split "
            "across a gap, no two cells stacked across one); give volumes with "
            "cells, more or larger ones"
        )
    if n_neg == 0 and flawed:
        return (
            f"training needs distinct-cell pairs (two different cells stacked "
            f"across a gap) besides true splits, but all {n_pos} candidate "
            "pairs of the flawed volumes are true splits. When you make the "
            "flawed volumes with the simulator, ask it for such gaps too: "
            "datasets.oversegment(truth, n_splits=..., n_stacked_confounders=5); "
            "or train on the ground truth alone, MergeCorrector(damage='axis')"
            ".fit(truths), which makes them itself"
        )
    if n_neg == 0:
        return (
            f"training needs distinct-cell pairs (two different cells stacked "
            f"across a gap) besides true splits, but the simulator made none "
            f"among {n_pos} pairs: the volumes have too few cells stacked along "
            "z. Give more or larger volumes, or train on flawed volumes with "
            "their ground truth, fit(flawed, truths)"
        )
    return (
        f"training needs true splits besides distinct-cell pairs, but none of "
        f"the {n_neg} candidate pairs is a cell split in two. "
        + (
            "Check that each flawed volume is paired with its own ground truth, "
            "or make flawed volumes with datasets.oversegment(truth, "
            "n_splits=10)"
            if flawed else "Give more or larger volumes"
        )
    )


def spread_to_pairs(value, volume_index, n_volumes: int, key: str):
    """A per-volume metadata value spread to the training pairs."""
    value = np.asarray(value)
    if value.ndim == 0 or len(value) != n_volumes:
        raise ValueError(
            f"{key} must have one value per training volume ({n_volumes}), got "
            f"{value.shape}"
        )
    return value[np.asarray(volume_index, dtype=np.intp)]


class FitMixin:
    """``fit`` of a corrector: fresh estimators, units, classifier, training range."""

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, *, voxel_size=None, images=None, **fit_params):
        """Train the pair classifier.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Flawed segmentations (``damage=None``) or correct, ground-truth
            volumes (``damage`` set).
        y : list of ndarray, default=None
            Ground truth for flawed ``X``; ``None`` when ``damage`` is set.
            (``y=None`` with ``damage=None`` is the deprecated spelling of
            ``damage="axis"``, or ``"contact"`` for a contact screener.)
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the training volumes. ``None`` trains in
            voxels; otherwise the model measures in x pixels (the voxel size
            divided by its x entry), see :meth:`working_voxel_size`.
        images : list of ndarray, default=None
            The raw image of each volume of ``X`` (same shapes), for a
            classifier with image features (``make_pair_pipeline(image=True)``).
        **fit_params : dict
            Metadata routed to the classifier's ``fit`` (needs
            ``sklearn.set_config(enable_metadata_routing=True)``), one value
            per volume of ``X`` (for example ``sample_weight``): each
            training pair gets the value of its volume.

        Returns
        -------
        self : MergeCorrector
        """
        _raise_for_params(fit_params, self, "fit")
        routed = process_routing(self, "fit", **fit_params)
        volumes = check_volumes(X, allow_background_only=True)
        rng = check_random_state(self.random_state)
        self.screener_, self.classifier_ = self._new_estimators(rng)
        self.voxel_size_ = self._fit_voxel_size(voxel_size)
        kind = self._damage_kind(y, warn=True)
        cands, labels = self._labelled_pairs(
            volumes, y, kind, rng=rng, fit=True, images=images
        )
        if len(np.unique(labels)) < 2:
            raise ValueError(training_pairs_message(labels, flawed=kind is None))
        per_pair = {
            key: spread_to_pairs(value, cands.volume_index, len(volumes), key)
            for key, value in routed.classifier.fit.items()
        }
        features = self._fit_classifier(cands, labels, per_pair)
        self.feature_range_ = fit_feature_range(self.classifier_, cands, features)
        self.n_training_pairs_ = len(labels)
        return self

    def _new_estimators(self, rng):
        """Unfitted copies of the screener and classifier, or the defaults.

        The default classifier (:func:`make_pair_pipeline`) is seeded by
        ``random_state``, or by a draw from ``rng`` when that is not an
        integer.
        """
        screener = clone(self.screener) if self.screener is not None else (
            CandidateScreener()
        )
        if self.classifier is not None:
            return screener, clone(self.classifier)
        seed = self.random_state if isinstance(
            self.random_state, numbers.Integral
        ) else int(rng.randint(np.iinfo(np.int32).max))
        return screener, make_pair_pipeline(random_state=seed)

    def _fit_voxel_size(self, voxel_size):
        """The training voxel size in x pixels (``None``: voxels)."""
        stored = getattr(self.screener_, "voxel_size", None)
        if voxel_size is None and stored is not None:
            warn_user(
                "CandidateScreener(voxel_size=...) is deprecated since 0.2 and "
                "will be removed in 0.3: pass fit(X, y, voxel_size=...) instead.",
                FutureWarning,
            )
            voxel_size = stored
            self.screener_.set_params(voxel_size=None)
        return None if voxel_size is None else relative_voxel_size(voxel_size)

    def _fit_classifier(self, cands, labels, per_pair):
        """Fit ``classifier_``; the raw features of the pairs, when it has them."""
        if per_pair:  # routed metadata: the pipeline's own routing decides
            self.classifier_.fit(cands, labels, **per_pair)
            if feature_stage(self.classifier_) is None:
                return None
            return pipeline_features(self.classifier_, cands)[0]
        if self.calibration is None:
            return fit_with_features(self.classifier_, cands, labels)
        return fit_calibrated(
            self.classifier_, cands, labels, self.calibration, self.calibration_cv,
        )

    def get_metadata_routing(self):
        """Metadata routing of this estimator: ``fit`` metadata go to the classifier.

        Returns
        -------
        MetadataRouter
        """
        classifier = self.classifier
        if classifier is None:
            classifier = make_pair_pipeline(random_state=0)
        return MetadataRouter(owner=self).add(
            classifier=classifier,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def _damage_kind(self, y, *, warn: bool):
        """``"axis"``/``"contact"`` when training from ground truth, else None."""
        if self.damage is not None:
            if y is not None:
                raise ValueError(
                    f"damage={self.damage!r} trains from ground truth alone: "
                    "call fit(truth_volumes) without y, or set damage=None to "
                    "train on flawed volumes with their ground truth y"
                )
            return check_damage_kind(self.damage, name="damage")
        if y is not None:
            return None
        screener = self.screener_ if hasattr(self, "screener_") else self.screener
        kind = "contact" if getattr(screener, "mode", "axis") == "contact" else "axis"
        if warn:
            warn_user(
                "fit(X) without y, reading X as ground truth, is deprecated "
                "since 0.2 and will be an error in 0.3: set "
                f"MergeCorrector(damage={kind!r}) to train from ground truth, "
                "or give the ground truth y of flawed volumes X.",
                FutureWarning,
            )
        return kind

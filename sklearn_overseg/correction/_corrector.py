"""MergeCorrector: screen, classify and merge, on whole volumes.

A meta-estimator in the style of scikit-learn's ``FixedThresholdClassifier``:
it keeps the given ``screener`` and pair ``classifier`` and fits clones of
them into ``screener_`` and ``classifier_``. ``transform`` returns corrected
volumes: accepted pairs merged (chains top to bottom, union-find), and the
missing layers of axis splits rebuilt by optimal-transport interpolation, only
into background voxels or the noisy partial masks of the gap.
"""

from __future__ import annotations

import numbers
import warnings
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
from joblib import parallel_config
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    process_routing,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from .._image import attach_image, check_image
from .._progress import progress
from .._validation import (
    check_out_array,
    check_single_volume,
    check_volumes,
    check_voxel_size,
)
from ..features import uses_image
from ..models import (
    FeatureRange,
    feature_stage,
    fit_with_features,
    make_pair_pipeline,
    pipeline_features,
)
from ..screening import CandidateScreener
from ._calibration import calibrate_classifier, fit_calibrated
from ._fine_tune import fine_tune_classifier
from ._scoring import score_pairs
from ._steps import (
    KEPT_APART,
    MERGED,
    UNSURE,
    MergeDecisions,
    PairScores,
    apply_merges,
    decide_merges,
    unsure_pairs,
)
from ._training import (
    attach_images,
    check_damage_kind,
    damaged_copies,
    label_candidates,
    make_training_candidates,
)

__all__ = ["MergeCorrector"]

#: Fewest training pairs from which ``fit`` learns the training range.
MIN_PAIRS_FOR_RANGE = 100


def _training_pairs_message(labels: np.ndarray, *, flawed: bool) -> str:
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


class MergeCorrector(MetaEstimatorMixin, TransformerMixin, BaseEstimator):
    """Detect and repair oversegmented cells in 3D label volumes.

    Parameters
    ----------
    screener : CandidateScreener, default=None
        Finds candidate pairs; ``None`` uses ``CandidateScreener()`` (axis).
    classifier : estimator, default=None
        Pair classifier taking a :class:`CandidateSet` (features inside), with
        ``predict_proba``. ``None`` uses :func:`make_pair_pipeline`.
    damage : {"axis", "contact"} or None, default=None
        How the corrector is trained. ``None``: ``fit(X, y)`` screens the
        flawed volumes ``X`` and labels their candidate pairs by the ground
        truth ``y``. ``"axis"`` or ``"contact"``: ``fit(X)`` takes correct
        (ground-truth) volumes and damages them with the oversegmentation
        simulator, ``n_rounds`` times each, into axis splits (missing layers)
        or contacts (cuts by tilted planes); see
        :func:`make_training_candidates`. ``"tilted"`` is a deprecated alias
        of ``"contact"``.
    threshold : float, default=0.5
        Merge pairs whose probability is at least this.
    abstain : float, default=0.1
        Width of the review band around ``threshold``: pairs with
        ``|probability - threshold| < abstain`` are *unsure*, not merged and
        listed first for review. ``0`` merges every pair at or above the
        threshold. The default keeps every merge at least 0.1 above the
        threshold: on the shared real volumes with simulated splits, 1 of
        the 649 pairs scored by the pretrained axis model fell in the band,
        a wrong decision (``benchmarks/RESULTS.md``, section 8). With
        calibrated probabilities (``calibration``, :meth:`calibrate`) a pair
        in the band is a true split with probability 0.4 to 0.6.
    out_of_range : {"unsure", "ignore"}, default="unsure"
        What to do with pairs whose features fall outside the box of the
        training features (``feature_range_``): leave them to a person
        (``"unsure"``, not merged) or decide by their probability. Models
        without a training range (files saved before it existed, or trained
        on fewer than 100 pairs) skip the rule.
    calibration : {"isotonic", "sigmoid"} or None, default=None
        Calibrate the merge probabilities in :meth:`fit`: the final model is
        wrapped in :class:`~sklearn.calibration.CalibratedClassifierCV`
        (``ensemble=False``), whose calibrator learns from out-of-fold
        predictions with folds grouped by volume (``GroupKFold``), so that a
        volume's pairs are never both trained and calibrated on. ``None``
        keeps the network's own probabilities. See also :meth:`calibrate`
        for a fitted (or pretrained) corrector.
    calibration_cv : int, default=3
        Number of volume-grouped folds for ``calibration`` (at most the
        number of training volumes).
    interpolate : bool, default=True
        Rebuild the missing layers of merged axis splits.
    interpolation : {"boundary_ot", "distance"}, default="boundary_ot"
        Gap interpolation method (see :func:`interpolate_masks`).
    n_rounds : int, default=3
        Damage rounds per volume when training from ground truth (``damage``
        set), see :func:`make_training_candidates`.
    n_jobs : int or None, default=None
        Parallel jobs for the pair pipeline's steps whose own ``n_jobs`` is
        ``None`` (reslicing, features) and for gap interpolation.
    random_state : int, RandomState or None, default=0
        Seed for training-data generation, for the default classifier and for
        the damage that :meth:`score` makes from ground truth.
    verbose : int, default=0
        ``0`` is silent; above ``0``, ``transform`` and ``correct`` show
        progress bars (on stderr, for steps lasting over a second).

    Attributes
    ----------
    screener_ : CandidateScreener
        Fitted clone of ``screener``.
    classifier_ : estimator
        Fitted clone of ``classifier``.
    n_training_pairs_ : int
        Number of labelled pairs the classifier was trained on.
    voxel_size_ : tuple of 3 float or None
        The voxel size (z, y, x) the model was trained in, relative to the x
        pixel; ``None`` when it was trained in voxels (no voxel size given).
        A model keeps these units, see :meth:`working_voxel_size`.
    feature_range_ : FeatureRange or None
        The box of the training pair features (``None`` when the classifier
        is not a features-then-model pipeline, or was trained on fewer than
        100 pairs); see ``out_of_range``.
    n_fine_tuning_pairs_ : int
        Number of labelled pairs of the last :meth:`fine_tune` (only after
        fine-tuning).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_overseg import MergeCorrector, make_pair_pipeline
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> truth = [make_tissue((24, 64, 64), n_cells=20, random_state=s)
    ...          for s in range(2)]
    >>> corrector = MergeCorrector(
    ...     classifier=make_pair_pipeline(LogisticRegression()),
    ...     damage="axis").fit(truth)
    >>> flawed, pairs = oversegment(truth[0], n_splits=3, random_state=1)
    >>> corrected = corrector.correct(flawed)
    >>> corrected.shape == flawed.shape and corrected.dtype == flawed.dtype
    True
    """

    _parameter_constraints: dict = {
        "screener": [HasMethods(["transform"]), None],
        "classifier": [HasMethods(["fit", "predict_proba"]), None],
        "damage": [
            StrOptions({"axis", "contact", "tilted"}, deprecated={"tilted"}), None
        ],
        "threshold": [Interval(numbers.Real, 0, 1, closed="both")],
        "abstain": [Interval(numbers.Real, 0, 1, closed="both")],
        "out_of_range": [StrOptions({"unsure", "ignore"})],
        "calibration": [StrOptions({"isotonic", "sigmoid"}), None],
        "calibration_cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "interpolate": ["boolean"],
        "interpolation": [StrOptions({"boundary_ot", "distance"})],
        "n_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        screener=None,
        classifier=None,
        *,
        damage: str | None = None,
        threshold: float = 0.5,
        abstain: float = 0.1,
        out_of_range: str = "unsure",
        calibration: str | None = None,
        calibration_cv: int = 3,
        interpolate: bool = True,
        interpolation: str = "boundary_ot",
        n_rounds: int = 3,
        n_jobs: int | None = None,
        random_state=0,
        verbose: int = 0,
    ):
        self.screener = screener
        self.classifier = classifier
        self.damage = damage
        self.threshold = threshold
        self.abstain = abstain
        self.out_of_range = out_of_range
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.interpolate = interpolate
        self.interpolation = interpolation
        self.n_rounds = n_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags

    # ------------------------------------------------------------------ fit
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
        self.screener_ = clone(self.screener) if self.screener is not None else (
            CandidateScreener()
        )
        rng = check_random_state(self.random_state)
        if self.classifier is not None:
            self.classifier_ = clone(self.classifier)
        else:
            seed = self.random_state if isinstance(
                self.random_state, numbers.Integral
            ) else int(rng.randint(np.iinfo(np.int32).max))
            self.classifier_ = make_pair_pipeline(random_state=seed)
        self.voxel_size_ = self._fit_voxel_size(voxel_size)
        kind = self._damage_kind(y, warn=True)
        cands, labels = self._labelled_pairs(
            volumes, y, kind, rng=rng, fit=True, images=images
        )
        if len(np.unique(labels)) < 2:
            raise ValueError(_training_pairs_message(labels, flawed=kind is None))
        per_pair = {
            key: _per_pair(value, cands.volume_index, len(volumes), key)
            for key, value in routed.classifier.fit.items()
        }
        if per_pair:  # routed metadata: the pipeline's own routing decides
            self.classifier_.fit(cands, labels, **per_pair)
            features = None
            if feature_stage(self.classifier_) is not None:
                features = pipeline_features(self.classifier_, cands)[0]
        elif self.calibration is None:
            features = fit_with_features(self.classifier_, cands, labels)
        else:
            features = fit_calibrated(
                self.classifier_, cands, labels, self.calibration,
                self.calibration_cv,
            )
        # a box drawn around a handful of pairs would call most new pairs
        # out of range: the rule needs a training set of some size
        self.feature_range_ = (
            None if features is None or len(features) < MIN_PAIRS_FOR_RANGE
            else FeatureRange().fit(features)
        )
        self.n_training_pairs_ = len(labels)
        return self

    def _labelled_pairs(
        self, volumes, y, kind, *, rng=None, fit: bool = False, images=None
    ):
        """Candidate pairs of training volumes and their labels.

        ``kind`` set (``"axis"``/``"contact"``): ``volumes`` are ground
        truths, damaged by the simulator (``n_rounds`` times each); ``None``:
        flawed volumes labelled by their ground truth ``y``.
        """
        voxel_size = self._trained_voxel_size()
        if kind is not None:
            if rng is None:
                rng = check_random_state(self.random_state)
            cands, labels, _ = make_training_candidates(
                volumes,
                screener=self.screener_,
                mode=kind,
                n_rounds=self.n_rounds,
                voxel_size=voxel_size,
                random_state=rng,
                images=images,
            )
            return cands, labels
        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        if len(truth) != len(volumes):
            raise ValueError(
                f"got {len(volumes)} flawed volumes but {len(truth)} ground truths"
            )
        screen = self.screener_.fit_transform if fit else self.screener_.transform
        cands = screen(volumes, voxel_size=voxel_size)
        if images is not None:
            cands = attach_images(cands, volumes, images)
        return cands, label_candidates(cands, volumes, truth)

    def _review_kind(self, y):
        """Damage kind for :meth:`calibrate` and :meth:`fine_tune` (``None``: y)."""
        if y is not None:
            return None
        if self.damage is not None:
            return check_damage_kind(self.damage, name="damage")
        mode = getattr(self.screener_, "mode", "axis")
        return "contact" if mode == "contact" else "axis"

    def calibrate(self, X, y=None, *, method: str = "isotonic"):
        """Recalibrate the merge probabilities on held-out labelled volumes.

        The fitted pair classifier is kept as it is (frozen); a calibrator
        (:class:`~sklearn.calibration.CalibratedClassifierCV`) learns to map
        its probabilities to the share of true splits observed on the pairs
        of ``X``. Use volumes the classifier was not trained on.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Ground truths (``y=None``, damaged by the simulator as in
            :meth:`fit`) or flawed segmentations labelled by ``y``.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        method : {"isotonic", "sigmoid"}, default="isotonic"
            Isotonic regression (needs a few hundred pairs) or Platt's
            sigmoid.

        Returns
        -------
        self : MergeCorrector

        Examples
        --------
        >>> from sklearn_overseg import load_pretrained
        >>> from sklearn_overseg.datasets import make_tissue
        >>> held_out = [make_tissue((24, 64, 64), n_cells=20, random_state=s)
        ...             for s in (50, 51)]
        >>> corrector = load_pretrained("axis").calibrate(held_out)
        >>> type(corrector.classifier_[-1]).__name__
        'CalibratedClassifierCV'
        """
        check_is_fitted(self)
        cands, labels = self._labelled_pairs(check_volumes(X), y, self._review_kind(y))
        calibrate_classifier(self.classifier_, cands, labels, method)
        return self

    def fine_tune(self, X, y=None, *, epochs: int = 20, lr: float | None = None):
        """Continue training the pair classifier on your own volumes.

        A warm start: the fitted network (or each network of a seed
        ensemble) trains ``epochs`` more epochs on the pairs of ``X``, seen
        through the model's own features and scaling; the training range
        grows to cover the new pairs. A calibrated classifier's calibrator is
        dropped (its probabilities no longer apply): call :meth:`calibrate`
        again on held-out volumes.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Ground truths (``y=None``: damaged by the simulator, ``n_rounds``
            times each) or flawed segmentations labelled by ``y``.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        epochs : int, default=20
            Epochs of further training.
        lr : float, default=None
            Learning rate; ``None`` uses a tenth of the network's own.

        Returns
        -------
        self : MergeCorrector

        Examples
        --------
        >>> from sklearn_overseg import load_pretrained
        >>> from sklearn_overseg.datasets import make_tissue
        >>> mine = [make_tissue((24, 64, 64), n_cells=20, mode="nuclei",
        ...                     random_state=60)]
        >>> corrector = load_pretrained("axis").fine_tune(mine, epochs=2)
        >>> corrector.n_fine_tuning_pairs_ > 0
        True
        """
        check_is_fitted(self)
        cands, labels = self._labelled_pairs(check_volumes(X), y, self._review_kind(y))
        features = fine_tune_classifier(
            self.classifier_, cands, labels, epochs=epochs, lr=lr
        )
        box = getattr(self, "feature_range_", None)
        if box is not None:
            self.feature_range_ = box.extend(features)
        self.n_fine_tuning_pairs_ = len(labels)
        return self

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
            warnings.warn(
                "fit(X) without y, reading X as ground truth, is deprecated "
                "since 0.2 and will be an error in 0.3: set "
                f"MergeCorrector(damage={kind!r}) to train from ground truth, "
                "or give the ground truth y of flawed volumes X.",
                FutureWarning,
                stacklevel=3,
            )
        return kind

    def _fit_voxel_size(self, voxel_size):
        stored = getattr(self.screener_, "voxel_size", None)
        if voxel_size is None and stored is not None:
            warnings.warn(
                "CandidateScreener(voxel_size=...) is deprecated since 0.2 and "
                "will be removed in 0.3: pass fit(X, y, voxel_size=...) instead.",
                FutureWarning,
                stacklevel=3,
            )
            voxel_size = stored
            self.screener_.set_params(voxel_size=None)
        return None if voxel_size is None else _relative(voxel_size)

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

    def working_voxel_size(self, voxel_size=None) -> tuple[float, float, float]:
        """The voxel size the model measures a volume in.

        A model keeps the units it was trained in. One trained in voxels (the
        pretrained models) measures every volume in voxels and ignores
        ``voxel_size``: giving it the physical size would show it shapes
        unlike those it learned from. One trained with a voxel size measures
        in x pixels: ``voxel_size / voxel_size[2]``, or its training voxel
        size when ``voxel_size`` is ``None``.

        Parameters
        ----------
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the volume.

        Returns
        -------
        tuple of 3 float
        """
        check_is_fitted(self)
        trained = self._trained_voxel_size()
        if trained is None:
            check_voxel_size(voxel_size)
            return (1.0, 1.0, 1.0)
        return trained if voxel_size is None else _relative(voxel_size)

    def _trained_voxel_size(self):
        if hasattr(self, "voxel_size_"):
            return self.voxel_size_
        # model files of version 0.1 kept the voxel size in the screener
        stored = getattr(self.screener_, "voxel_size", None)
        return None if stored is None else _relative(stored)

    # ---------------------------------------------------------------- steps
    # screen -> score_pairs -> decide -> apply: the one correction flow that
    # correct, predict_merges, the command line and report, the block-wise
    # path, napari and reviewed decisions all go through.
    def screen(self, volume, *, voxel_size=None, image=None,
               assume_labels: bool = False) -> CandidateSet:
        """Step 1: the candidate pairs of one label volume.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume (all-background is valid: no pair).
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        image : ndarray of shape (z, y, x), optional
            The raw image the labels were drawn on. A classifier with image
            features (:class:`ImageFeatures`) needs it to score the pairs
            (screening alone, for example to rebuild the gaps of reviewed
            decisions, works without it); one without ignores it, with a
            warning.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels.

        Returns
        -------
        CandidateSet
            Each pair carries the crop of the normalised image
            (``Candidate.image``) when the classifier uses it.
        """
        check_is_fitted(self)
        volume = check_single_volume(volume, assume_labels=assume_labels)
        return self._screen(volume, voxel_size, image)

    def _screen(self, volume, voxel_size, image=None) -> CandidateSet:
        normalised = None if image is None else check_image(image, volume)
        candidates = self.screener_.transform(
            [volume], voxel_size=self.working_voxel_size(voxel_size)
        )
        if normalised is None:
            return candidates
        if not uses_image(getattr(self, "classifier_", None)):
            warnings.warn(
                "this corrector's model uses labels only; image= is ignored",
                UserWarning,
                stacklevel=3,
            )
            return candidates
        return attach_image(candidates, normalised)

    def _require_image(self, image) -> None:
        if image is None and uses_image(getattr(self, "classifier_", None)):
            raise ValueError(
                "this corrector's model uses the raw image (ImageFeatures): "
                "pass image= (overseg correct --image RAW)"
            )

    def _jobs(self):
        # steps left at n_jobs=None take the corrector's n_jobs (or, when it
        # is None too, that of an enclosing joblib.parallel_config); threads
        # for scikit-learn's own loops (feature union, bagged networks): worker
        # processes would receive copies of every candidate and network, and
        # the per-pair steps start processes themselves when the work pays
        return nullcontext() if self.n_jobs is None else parallel_config(
            backend="threading", n_jobs=self.n_jobs
        )

    def score_pairs(self, candidates: CandidateSet, *, return_features=False):
        """Step 2: merge probability of each candidate pair.

        Parameters
        ----------
        candidates : CandidateSet
            Pairs from :meth:`screen`.
        return_features : bool, default=False
            Also return the pair features behind the probabilities.

        Returns
        -------
        ndarray of shape (n_pairs,) or PairScores
            The probabilities, or a :class:`PairScores` with the features
            when ``return_features`` is true.
        """
        check_is_fitted(self)
        scores = self._scores(candidates, return_features)
        return scores if return_features else scores.probabilities

    def _range_rule(self):
        """The fitted training range when the out-of-range rule applies."""
        if self.out_of_range == "ignore":
            return None
        return getattr(self, "feature_range_", None)

    def _scores(self, candidates, return_features: bool) -> PairScores:
        box = self._range_rule()
        with self._jobs():
            scores = score_pairs(
                self.classifier_, candidates,
                return_features=return_features or box is not None,
                verbose=self.verbose,
            )
        if box is None or scores.features is None:
            return scores
        return replace(scores, out_of_range=box.outside(scores.features))

    def predict_proba(self, candidates: CandidateSet) -> np.ndarray:
        """Merge probability of each candidate pair, shape (n,)."""
        return self.score_pairs(candidates)

    def decide(
        self, volume, candidates: CandidateSet, probabilities, *, out_of_range=None,
        reviewed=None,
    ) -> MergeDecisions:
        """Step 3: which pairs merge, which stay apart, which are unsure.

        A pair is *unsure* when its probability lies in the review band
        (``|p - threshold| < abstain``) or its features fall outside the
        training range; unsure pairs are not merged. The others merge at
        ``p >= threshold`` (chains top to bottom).

        Parameters
        ----------
        volume : ndarray of shape (z, y, x) or LabelGeometry
            The label volume the candidates come from (its z-extents forbid
            merging two cells that share a layer through an axis pair).
        candidates : CandidateSet
        probabilities : array-like of shape (n_pairs,) or PairScores
            From :meth:`score_pairs`; a :class:`PairScores` also brings its
            out-of-range flags.
        out_of_range : array-like of bool, shape (n_pairs,), optional
            Pairs outside the training range (overrides those of a
            ``PairScores``).
        reviewed : array-like of bool, shape (n_pairs,), optional
            A person's verdicts: the pairs marked true merge, the others stay
            apart, whatever their probability (no threshold, band or range).
            Chains and the z-layer rule still apply, most probable pair first,
            as for :func:`~sklearn_overseg.apply_decisions`.

        Returns
        -------
        MergeDecisions
        """
        check_is_fitted(self)
        if reviewed is not None:
            return self._decide_reviewed(volume, candidates, probabilities, reviewed)
        if isinstance(probabilities, PairScores):
            if out_of_range is None:
                out_of_range = probabilities.out_of_range
            probabilities = probabilities.probabilities
        probabilities = np.asarray(probabilities, dtype=float).ravel()
        if out_of_range is not None and self.out_of_range != "ignore":
            out_of_range = np.asarray(out_of_range, dtype=bool).ravel()
            if out_of_range.shape != probabilities.shape:
                raise ValueError(
                    f"out_of_range has {out_of_range.size} entries for "
                    f"{probabilities.size} pairs"
                )
        else:
            out_of_range = None
        unsure = unsure_pairs(
            probabilities, self.threshold, self.abstain, out_of_range
        )
        mapping, merged = decide_merges(
            volume, candidates, probabilities, self.threshold, unsure=unsure
        )
        decision = np.where(merged, MERGED, np.where(unsure, UNSURE, KEPT_APART))
        return MergeDecisions(
            candidates, probabilities, merged, mapping, decision, out_of_range
        )

    def _decide_reviewed(self, volume, candidates, probabilities, reviewed):
        if isinstance(probabilities, PairScores):
            probabilities = probabilities.probabilities
        probabilities = np.asarray(probabilities, dtype=float).ravel()
        reviewed = np.asarray(reviewed, dtype=bool).ravel()
        if reviewed.shape != probabilities.shape:
            raise ValueError(
                f"reviewed has {reviewed.size} entries for {probabilities.size} pairs"
            )
        # approved pairs rank above 1 (by probability), rejected ones below 0
        ranks = np.where(reviewed, 1.0 + np.clip(probabilities, 0, 1), -1.0)
        mapping, merged = decide_merges(volume, candidates, ranks, 1.0)
        decision = np.where(merged, MERGED, KEPT_APART)
        return MergeDecisions(candidates, probabilities, merged, mapping, decision)

    def apply(self, volume, decisions: MergeDecisions, *, out=None) -> np.ndarray:
        """Step 4: merge the decided pairs and rebuild their missing layers.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            The label volume the decisions were made on; not modified
            (unless it is ``out``).
        decisions : MergeDecisions
            From :meth:`decide` (or :func:`apply_decisions` for reviewed ones).
        out : ndarray, optional
            See :meth:`correct`.

        Returns
        -------
        ndarray of shape (z, y, x)
        """
        check_is_fitted(self)
        # the volume was screened (and checked not to be an image) already
        volume = check_single_volume(volume, assume_labels=True)
        return self._apply(volume, decisions, check_out_array(out, volume))

    def _apply(self, volume, decisions, out) -> np.ndarray:
        return apply_merges(
            volume, decisions.accepted, decisions.mapping,
            interpolate=self.interpolate, interpolation=self.interpolation,
            n_jobs=self.n_jobs, verbose=self.verbose, out=out,
        )

    def _decisions(self, volume: np.ndarray, voxel_size, image=None) -> MergeDecisions:
        self._require_image(image)
        candidates = self._screen(volume, voxel_size, image)
        return self.decide(volume, candidates, self._scores(candidates, False))

    def predict_merges(self, volume, *, voxel_size=None, image=None,
                       assume_labels: bool = False) -> list[dict]:
        """The review list: every candidate pair with its decision.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume (integer labels up to ``2**63 - 1``); an
            all-background one has no candidate pair (an empty list).
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        image : ndarray of shape (z, y, x), optional
            The raw image, see :meth:`screen`.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels
            (most voxels non-zero, many distinct values, neighbouring voxels
            rarely equal).

        Returns
        -------
        list of dict
            One record per candidate, with keys ``upper``, ``lower``,
            ``probability``, ``merged``, ``decision`` (``"merged"``, ``"kept
            apart"`` or ``"unsure"``), ``out_of_range``, ``kind``, ``score``,
            ``gap_start`` and ``gap_stop`` (absolute layers, ``None`` without
            a gap).
        """
        check_is_fitted(self)
        volume = check_single_volume(volume, assume_labels=assume_labels)
        return self._decisions(volume, voxel_size, image).records()

    def correct(
        self, volume, *, voxel_size=None, image=None,
        out: np.ndarray | None = None, assume_labels: bool = False,
    ) -> np.ndarray:
        """Return a corrected copy of one label volume (same dtype).

        The four steps in a row: :meth:`screen`, :meth:`score_pairs`,
        :meth:`decide` and :meth:`apply`.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume: integer labels up to ``2**63 - 1``, ``0`` is
            background. It is not modified (unless it is ``out``). An
            all-background volume (an empty tile) comes back unchanged.
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        image : ndarray of shape (z, y, x), optional
            The raw image the labels were drawn on, for a model with image
            features (see :meth:`screen`); a label-only model ignores it.
        out : ndarray, optional
            Array to write the result into, with the shape and dtype of the
            validated ``volume`` (for example a ``numpy.memmap`` on disk).
            ``out=volume`` corrects in place, which halves the peak memory of
            very large volumes. ``None`` (default) returns a new array.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels
            (most voxels non-zero, many distinct values, neighbouring voxels
            rarely equal).

        Returns
        -------
        ndarray of shape (z, y, x)
            The corrected labels (``out`` when given).
        """
        check_is_fitted(self)
        volume = check_single_volume(volume, assume_labels=assume_labels)
        out = check_out_array(out, volume)
        return self._apply(volume, self._decisions(volume, voxel_size, image), out)

    def transform(self, X, voxel_size=None, *, assume_labels: bool = False
                  ) -> list[np.ndarray]:
        """Correct every volume; returns a list of corrected copies.

        Parameters
        ----------
        X : ndarray of shape (z, y, x) or list of such arrays
            Label volumes (all-background ones come back unchanged).
        voxel_size : float, sequence of 3 floats or None, default=None
            Their voxel size (z, y, x), see :meth:`working_voxel_size`.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels,
            as in :meth:`correct`.

        Returns
        -------
        list of ndarray
        """
        check_is_fitted(self)
        volumes = check_volumes(X, allow_background_only=True,
                                reject_images=not assume_labels)
        bar = progress(
            volumes, desc="correcting volumes", unit="volume",
            enabled=self.verbose > 0 and len(volumes) > 1,
        )
        if assume_labels:
            return [self.correct(v, voxel_size=voxel_size, assume_labels=True)
                    for v in bar]
        # subclasses overriding correct may take no other option
        return [self.correct(v, voxel_size=voxel_size) for v in bar]

    def score(self, X, y=None, *, voxel_size=None) -> float:
        """How well the corrector repairs ``X``; higher is better, at most 1.

        With ``y`` (flawed ``X``, ground truth ``y``): the mean average
        precision (IoU 0.5 and 0.75) of the corrected ``X`` against ``y``.

        Without ``y`` (``X`` are correct volumes, as given to ``fit`` when
        ``damage`` is set): each volume is damaged once the way ``damage``
        says (seeded by ``random_state``, so the score is deterministic for
        an integer seed), corrected, and the merges are scored against the
        true splits: the F1 of :func:`~sklearn_overseg.metrics.merge_scores`,
        pooled over the volumes (true splits the screener misses count as
        missed). This is what ``GridSearchCV(...).fit(truth_volumes)`` uses.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Flawed volumes (with ``y``) or ground-truth volumes.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size of the volumes, see :meth:`working_voxel_size`.

        Returns
        -------
        float
        """
        if y is None:
            return self._damage_f1(X, voxel_size)
        from ..metrics import mean_average_precision

        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        corrected = self.transform(X, voxel_size=voxel_size)
        if len(corrected) != len(truth):
            raise ValueError(
                f"got {len(corrected)} volumes but {len(truth)} ground truths"
            )
        return float(np.mean([
            mean_average_precision(t, c, thresholds=(0.5, 0.75))
            for t, c in zip(truth, corrected)
        ]))

    def _damage_f1(self, X, voxel_size) -> float:
        from ..metrics import merge_scores

        check_is_fitted(self)
        volumes = check_volumes(X, name="ground-truth volumes")
        kind = self._damage_kind(None, warn=False)
        tp = fp = fn = 0
        for _, flawed, true_pairs in damaged_copies(
            volumes, kind=kind, n_rounds=1,
            max_gap=int(getattr(self.screener_, "max_gap", 1)),
            random_state=check_random_state(self.random_state),
        ):
            decisions = self._decisions(flawed, voxel_size)
            merged = decisions.candidates.pairs[decisions.merged]
            counts = merge_scores(true_pairs, merged)
            tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
        return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def _relative(voxel_size) -> tuple[float, float, float]:
    """A voxel size (z, y, x) in units of its x pixel."""
    size = check_voxel_size(voxel_size)
    return tuple(float(v) for v in size / size[2])


def _per_pair(value, volume_index, n_volumes: int, key: str):
    """A per-volume metadata value spread to the training pairs."""
    value = np.asarray(value)
    if value.ndim == 0 or len(value) != n_volumes:
        raise ValueError(
            f"{key} must have one value per training volume ({n_volumes}), got "
            f"{value.shape}"
        )
    return value[np.asarray(volume_index, dtype=np.intp)]

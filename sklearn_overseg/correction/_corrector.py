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

import numpy as np
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

from .._progress import progress
from .._validation import (
    check_out_array,
    check_single_volume,
    check_volumes,
)
from ..models import (
    FeatureRange,
    feature_stage,
    fit_with_features,
    make_pair_pipeline,
    pipeline_features,
)
from ..screening import CandidateScreener
from ._calibration import fit_calibrated
from ._corrector_steps import CorrectionStepsMixin
from ._corrector_training import (
    TrainingMixin,
    per_volume_images,
    spread_to_pairs,
    training_pairs_message,
)
from ._training import (
    damaged_copies,
)

__all__ = ["MergeCorrector"]

#: Fewest training pairs from which ``fit`` learns the training range.
MIN_PAIRS_FOR_RANGE = 100


class MergeCorrector(
    CorrectionStepsMixin, TrainingMixin, MetaEstimatorMixin, TransformerMixin,
    BaseEstimator,
):
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
            raise ValueError(training_pairs_message(labels, flawed=kind is None))
        per_pair = {
            key: spread_to_pairs(value, cands.volume_index, len(volumes), key)
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

    def transform(self, X, voxel_size=None, *, images=None,
                  assume_labels: bool = False) -> list[np.ndarray]:
        """Correct every volume; returns a list of corrected copies.

        Parameters
        ----------
        X : ndarray of shape (z, y, x) or list of such arrays
            Label volumes (all-background ones come back unchanged).
        voxel_size : float, sequence of 3 floats or None, default=None
            Their voxel size (z, y, x), see :meth:`working_voxel_size`.
        images : list of ndarray, default=None
            The raw image of each volume of ``X`` (as in :meth:`fit`), for a
            model with image features; see :meth:`correct`.
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
        raws = per_volume_images(images, len(volumes))
        bar = progress(
            zip(volumes, raws), desc="correcting volumes", unit="volume",
            total=len(volumes), enabled=self.verbose > 0 and len(volumes) > 1,
        )
        # subclasses overriding correct may take no other option: pass only
        # the options given
        options = {"voxel_size": voxel_size}
        if assume_labels:
            options["assume_labels"] = True
        return [
            self.correct(v, **options, **({} if raw is None else {"image": raw}))
            for v, raw in bar
        ]

    def score(self, X, y=None, *, voxel_size=None, images=None) -> float:
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
        images : list of ndarray, default=None
            The raw image of each volume of ``X``, for a model with image
            features (a damaged copy of a ground truth keeps its image).

        Returns
        -------
        float
        """
        if y is None:
            return self._damage_f1(X, voxel_size, images)
        from ..metrics import mean_average_precision

        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        corrected = self.transform(X, voxel_size=voxel_size, images=images)
        if len(corrected) != len(truth):
            raise ValueError(
                f"got {len(corrected)} volumes but {len(truth)} ground truths"
            )
        return float(np.mean([
            mean_average_precision(t, c, thresholds=(0.5, 0.75))
            for t, c in zip(truth, corrected)
        ]))

    def _damage_f1(self, X, voxel_size, images=None) -> float:
        from ..metrics import merge_scores

        check_is_fitted(self)
        volumes = check_volumes(X, name="ground-truth volumes")
        raws = per_volume_images(images, len(volumes))
        kind = self._damage_kind(None, warn=False)
        tp = fp = fn = 0
        for v, flawed, true_pairs in damaged_copies(
            volumes, kind=kind, n_rounds=1,
            max_gap=int(getattr(self.screener_, "max_gap", 1)),
            random_state=check_random_state(self.random_state),
        ):
            decisions = self._decisions(flawed, voxel_size, raws[v])
            merged = decisions.candidates.pairs[decisions.merged]
            counts = merge_scores(true_pairs, merged)
            tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
        return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)

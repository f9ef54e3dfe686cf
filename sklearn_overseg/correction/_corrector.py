"""MergeCorrector: screen, classify and merge, on whole volumes.

A meta-estimator in the style of scikit-learn's ``FixedThresholdClassifier``:
it keeps the given ``screener`` and pair ``classifier`` and fits clones of
them into ``screener_`` and ``classifier_``. ``transform`` returns corrected
volumes: accepted pairs merged (chains top to bottom, union-find), and the
missing layers of axis splits rebuilt by optimal-transport interpolation, only
into background voxels or the noisy partial masks of the gap.

This module holds the class, its parameters and their constraints; the
methods come from mixins: ``fit`` (``_corrector_fit``), training pairs,
units, calibration and fine-tuning (``_corrector_training``), the four
steps (``_corrector_steps``) and whole volumes: review list, correction,
score (``_corrector_volumes``). The class stays here: pickled correctors
name this module.
"""

from __future__ import annotations

import numbers

from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._corrector_fit import FitMixin
from ._corrector_steps import CorrectionStepsMixin
from ._corrector_training import TrainingMixin
from ._corrector_volumes import VolumeCorrectionMixin

__all__ = ["MergeCorrector"]


class MergeCorrector(
    VolumeCorrectionMixin, CorrectionStepsMixin, FitMixin, TrainingMixin,
    MetaEstimatorMixin, TransformerMixin, BaseEstimator,
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
    out_of_range : {"unsure", "box", "ignore"}, default="unsure"
        What to do with pairs whose features fall outside the box of the
        training features (``feature_range_``). ``"unsure"``: score such a
        pair again with its features clipped to the box's edge (the nearest
        point the model was trained on); if that decision (merge, review
        band or keep apart) differs from the pair's own, the decision rests
        on extrapolation and the pair is left to a person (unsure, not
        merged); if not, it is decided by its probability. ``"box"``: every
        pair outside the box is unsure (the rule before; on the held-out
        tissue of ``benchmarks/RESULTS.md`` section 7 it left 15 true splits
        of small and flat cells unsure, all with p >= 0.94 and the same
        decision at the box's edge, and caught no wrong decision).
        ``"ignore"``: decide every pair by its probability. Models without a
        training range (files saved before it existed, or trained on fewer
        than 100 pairs) skip the rule.
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
        Parallel jobs, used where the work pays for them: threads for the
        whole-volume passes of a large volume (bounding boxes, facing
        overlaps, relabelling, in z-slabs), and worker processes that share
        the pairs of gap interpolation and of the pair pipeline's steps whose
        own ``n_jobs`` is ``None`` (reslicing, features); a volume of 50 M
        voxels or more starts its workers while it is screened. The result is
        the same for every value.
    random_state : int, RandomState or None, default=0
        Seed for training-data generation, for the default classifier and for
        the damage that :meth:`score` makes from ground truth.
    verbose : int, default=0
        ``0`` is silent; above ``0``, ``transform`` and ``correct`` show
        progress bars (on stderr, for steps lasting over a second).

    Attributes
    ----------
    screener_ : CandidateScreener
        Fitted clone of ``screener``: the screener that :meth:`screen` and
        every front end use. As for any fitted scikit-learn meta-estimator,
        ``set_params(screener__...)`` takes effect at the next ``fit``; to
        change how a fitted corrector screens, set the parameter on
        ``screener_`` (``corrector.screener_.set_params(max_gap=3)``), as
        ``load_pretrained(stitch_splits=False)`` does.
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
        "out_of_range": [StrOptions({"unsure", "box", "ignore"})],
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

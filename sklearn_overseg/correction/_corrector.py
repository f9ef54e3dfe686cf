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
from .._progress import progress
from .._validation import (
    check_out_array,
    check_single_volume,
    check_volumes,
    check_voxel_size,
)
from ..models import make_pair_pipeline
from ..screening import CandidateScreener
from ._scoring import score_pairs
from ._steps import MergeDecisions, apply_merges, decide_merges
from ._training import (
    check_damage_kind,
    damaged_copies,
    label_candidates,
    make_training_candidates,
)

__all__ = ["MergeCorrector"]


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
    def fit(self, X, y=None, *, voxel_size=None, **fit_params):
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
        volumes = check_volumes(X)
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
        if kind is not None:
            cands, labels, _ = make_training_candidates(
                volumes,
                screener=self.screener_,
                mode=kind,
                n_rounds=self.n_rounds,
                voxel_size=self.voxel_size_,
                random_state=rng,
            )
        else:
            truth = check_volumes(y, name="ground truth", allow_background_only=True)
            cands = self.screener_.fit_transform(volumes, voxel_size=self.voxel_size_)
            labels = label_candidates(cands, volumes, truth)
        if len(np.unique(labels)) < 2:
            raise ValueError(
                "training needs both true splits and distinct-cell pairs, got "
                f"{int(labels.sum())} positive and {int((labels == 0).sum())} "
                "negative candidate pairs; give more or larger volumes"
            )
        per_pair = {
            key: _per_pair(value, cands.volume_index, len(volumes), key)
            for key, value in routed.classifier.fit.items()
        }
        self.classifier_.fit(cands, labels, **per_pair)
        self.n_training_pairs_ = len(labels)
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
    def screen(self, volume, *, voxel_size=None) -> CandidateSet:
        """Step 1: the candidate pairs of one label volume.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume.
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.

        Returns
        -------
        CandidateSet
        """
        check_is_fitted(self)
        return self._screen(check_single_volume(volume), voxel_size)

    def _screen(self, volume, voxel_size) -> CandidateSet:
        return self.screener_.transform(
            [volume], voxel_size=self.working_voxel_size(voxel_size)
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
        with self._jobs():
            scores = score_pairs(
                self.classifier_, candidates, return_features=return_features,
                verbose=self.verbose,
            )
        return scores if return_features else scores.probabilities

    def predict_proba(self, candidates: CandidateSet) -> np.ndarray:
        """Merge probability of each candidate pair, shape (n,)."""
        return self.score_pairs(candidates)

    def decide(self, volume, candidates: CandidateSet, probabilities):
        """Step 3: which pairs merge (threshold, chains top to bottom).

        Parameters
        ----------
        volume : ndarray of shape (z, y, x) or LabelGeometry
            The label volume the candidates come from (its z-extents forbid
            merging two cells that share a layer through an axis pair).
        candidates : CandidateSet
        probabilities : array-like of shape (n_pairs,)

        Returns
        -------
        MergeDecisions
        """
        check_is_fitted(self)
        probabilities = np.asarray(probabilities, dtype=float).ravel()
        mapping, merged = decide_merges(
            volume, candidates, probabilities, self.threshold
        )
        return MergeDecisions(candidates, probabilities, merged, mapping)

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
        volume = check_single_volume(volume)
        return self._apply(volume, decisions, check_out_array(out, volume))

    def _apply(self, volume, decisions, out) -> np.ndarray:
        return apply_merges(
            volume, decisions.accepted, decisions.mapping,
            interpolate=self.interpolate, interpolation=self.interpolation,
            n_jobs=self.n_jobs, verbose=self.verbose, out=out,
        )

    def _decisions(self, volume: np.ndarray, voxel_size) -> MergeDecisions:
        candidates = self._screen(volume, voxel_size)
        return self.decide(volume, candidates, self.score_pairs(candidates))

    def predict_merges(self, volume, *, voxel_size=None) -> list[dict]:
        """The review list: every candidate pair with its decision.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume.
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.

        Returns
        -------
        list of dict
            One record per candidate, with keys ``upper``, ``lower``,
            ``probability``, ``merged``, ``kind``, ``score``, ``gap_start`` and
            ``gap_stop`` (absolute layers, ``None`` without a gap).
        """
        check_is_fitted(self)
        return self._decisions(check_single_volume(volume), voxel_size).records()

    def correct(
        self, volume, *, voxel_size=None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Return a corrected copy of one label volume (same dtype).

        The four steps in a row: :meth:`screen`, :meth:`score_pairs`,
        :meth:`decide` and :meth:`apply`.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume; it is not modified (unless it is ``out``).
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        out : ndarray, optional
            Array to write the result into, with the shape and dtype of the
            validated ``volume`` (for example a ``numpy.memmap`` on disk).
            ``out=volume`` corrects in place, which halves the peak memory of
            very large volumes. ``None`` (default) returns a new array.

        Returns
        -------
        ndarray of shape (z, y, x)
            The corrected labels (``out`` when given).
        """
        check_is_fitted(self)
        volume = check_single_volume(volume)
        out = check_out_array(out, volume)
        return self._apply(volume, self._decisions(volume, voxel_size), out)

    def transform(self, X, voxel_size=None) -> list[np.ndarray]:
        """Correct every volume; returns a list of corrected copies.

        Parameters
        ----------
        X : ndarray of shape (z, y, x) or list of such arrays
            Label volumes.
        voxel_size : float, sequence of 3 floats or None, default=None
            Their voxel size (z, y, x), see :meth:`working_voxel_size`.

        Returns
        -------
        list of ndarray
        """
        check_is_fitted(self)
        volumes = check_volumes(X)
        bar = progress(
            volumes, desc="correcting volumes", unit="volume",
            enabled=self.verbose > 0 and len(volumes) > 1,
        )
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

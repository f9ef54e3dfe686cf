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
from contextlib import nullcontext

import numpy as np
from joblib import parallel_config
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from .._progress import progress
from .._validation import check_out_array, check_single_volume, check_volumes
from ..models import make_pair_pipeline
from ..screening import CandidateScreener
from ._scoring import score_pairs
from ._steps import MergeDecisions, apply_merges, decide_merges
from ._training import label_candidates, make_training_candidates

__all__ = ["MergeCorrector"]


class MergeCorrector(TransformerMixin, BaseEstimator):
    """Detect and repair oversegmented cells in 3D label volumes.

    Parameters
    ----------
    screener : CandidateScreener, default=None
        Finds candidate pairs; ``None`` uses ``CandidateScreener()`` (axis).
    classifier : estimator, default=None
        Pair classifier taking a :class:`CandidateSet` (features inside), with
        ``predict_proba``. ``None`` uses :func:`make_pair_pipeline`.
    threshold : float, default=0.5
        Merge pairs whose probability is at least this.
    interpolate : bool, default=True
        Rebuild the missing layers of merged axis splits.
    interpolation : {"boundary_ot", "distance"}, default="boundary_ot"
        Gap interpolation method (see :func:`interpolate_masks`).
    n_rounds : int, default=3
        Damage rounds per volume when training from ground truth
        (``fit(volumes)``), see :func:`make_training_candidates`.
    n_jobs : int or None, default=None
        Parallel jobs for the pair pipeline's steps whose own ``n_jobs`` is
        ``None`` (reslicing, features) and for gap interpolation.
    random_state : int or None, default=0
        Seed for training-data generation.
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

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_overseg import MergeCorrector, make_pair_pipeline
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> truth = [make_tissue((24, 64, 64), n_cells=20, random_state=s)
    ...          for s in range(2)]
    >>> corrector = MergeCorrector(
    ...     classifier=make_pair_pipeline(LogisticRegression())).fit(truth)
    >>> flawed, pairs = oversegment(truth[0], n_splits=3, random_state=1)
    >>> corrected = corrector.correct(flawed)
    >>> corrected.shape == flawed.shape and corrected.dtype == flawed.dtype
    True
    """

    _parameter_constraints: dict = {
        "screener": [HasMethods(["transform"]), None],
        "classifier": [HasMethods(["fit", "predict_proba"]), None],
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
    def fit(self, X, y=None):
        """Train the pair classifier.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            With ``y=None``: correct (ground-truth) volumes, damaged by the
            oversegmentation simulator to make training pairs. With ``y``:
            flawed segmentations whose screened candidates are labelled by
            ``y``.
        y : list of ndarray, default=None
            Ground truth for flawed ``X``.

        Returns
        -------
        self : MergeCorrector
        """
        volumes = check_volumes(X)
        self.screener_ = clone(self.screener) if self.screener is not None else (
            CandidateScreener()
        )
        seed = self.random_state if isinstance(self.random_state, int) else 0
        self.classifier_ = (
            clone(self.classifier)
            if self.classifier is not None
            else make_pair_pipeline(random_state=seed)
        )
        if y is None:
            mode = "tilted" if getattr(self.screener_, "mode", "axis") == "contact" \
                else "axis"
            cands, labels, _ = make_training_candidates(
                volumes,
                screener=self.screener_,
                mode=mode,
                n_rounds=self.n_rounds,
                random_state=self.random_state,
            )
        else:
            truth = check_volumes(y, name="ground truth", allow_background_only=True)
            cands = self.screener_.fit_transform(volumes)
            labels = label_candidates(cands, volumes, truth)
        if len(np.unique(labels)) < 2:
            raise ValueError(
                "training needs both true splits and distinct-cell pairs, got "
                f"{int(labels.sum())} positive and {int((labels == 0).sum())} "
                "negative candidate pairs; give more or larger volumes"
            )
        self.classifier_.fit(cands, labels)
        self.n_training_pairs_ = len(labels)
        return self

    # ---------------------------------------------------------------- steps
    # screen -> score_pairs -> decide -> apply: the one correction flow that
    # correct, predict_merges, the command line and report, the block-wise
    # path, napari and reviewed decisions all go through.
    def screen(self, volume) -> CandidateSet:
        """Step 1: the candidate pairs of one label volume.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume.

        Returns
        -------
        CandidateSet
        """
        check_is_fitted(self)
        return self.screener_.transform([check_single_volume(volume)])

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

    def _decisions(self, volume: np.ndarray) -> MergeDecisions:
        candidates = self.screener_.transform([volume])
        return self.decide(volume, candidates, self.score_pairs(candidates))

    def predict_merges(self, volume) -> list[dict]:
        """The review list: every candidate pair with its decision.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume.

        Returns
        -------
        list of dict
            One record per candidate, with keys ``upper``, ``lower``,
            ``probability``, ``merged``, ``kind``, ``score``, ``gap_start`` and
            ``gap_stop`` (absolute layers, ``None`` without a gap).
        """
        check_is_fitted(self)
        return self._decisions(check_single_volume(volume)).records()

    def correct(self, volume, *, out: np.ndarray | None = None) -> np.ndarray:
        """Return a corrected copy of one label volume (same dtype).

        The four steps in a row: :meth:`screen`, :meth:`score_pairs`,
        :meth:`decide` and :meth:`apply`.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume; it is not modified (unless it is ``out``).
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
        return self._apply(volume, self._decisions(volume), out)

    def transform(self, X) -> list[np.ndarray]:
        """Correct every volume; returns a list of corrected copies."""
        check_is_fitted(self)
        volumes = check_volumes(X)
        bar = progress(
            volumes, desc="correcting volumes", unit="volume",
            enabled=self.verbose > 0 and len(volumes) > 1,
        )
        return [self.correct(v) for v in bar]

    def score(self, X, y) -> float:
        """Mean average precision (IoU 0.5, 0.75) of corrected ``X`` against ``y``."""
        from ..metrics import mean_average_precision

        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        corrected = self.transform(X)
        if len(corrected) != len(truth):
            raise ValueError(
                f"got {len(corrected)} volumes but {len(truth)} ground truths"
            )
        return float(np.mean([
            mean_average_precision(t, c, thresholds=(0.5, 0.75))
            for t, c in zip(truth, corrected)
        ]))

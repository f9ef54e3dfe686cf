"""The four steps of a MergeCorrector: screen, score, decide, apply.

The correction half of :class:`~sklearn_overseg.MergeCorrector`, as a mixin.
Every front end (``correct``, ``predict_merges``, the command line and
report, the block-wise path, napari, reviewed decisions) goes through these
steps.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace

import numpy as np
from joblib import parallel_config
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from .._image import attach_image, check_image
from .._parallel import workers_after_passes
from .._validation import (
    check_out_array,
    check_single_volume,
)
from .._warnings import warn_user
from ..features import uses_image
from ._scoring import clamped_split_proba, score_pairs
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

__all__ = ["CorrectionStepsMixin"]


class CorrectionStepsMixin:
    """``screen`` -> ``score_pairs`` -> ``decide`` -> ``apply``."""

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
        with self._jobs():  # whole-volume passes in z-slabs on n_jobs threads
            candidates = self.screener_.transform(
                [volume], voxel_size=self.working_voxel_size(voxel_size)
            )
        if normalised is None:
            return candidates
        if not uses_image(getattr(self, "classifier_", None)):
            warn_user("this corrector's model uses labels only; image= is ignored")
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
        # for scikit-learn's own loops (feature union, bagged networks) and
        # for the whole-volume passes (bounding boxes, facing overlaps,
        # relabelling: in z-slabs): worker processes would receive copies of
        # every candidate and network, and the per-pair steps share their
        # pairs with worker processes themselves when the work pays
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
        outside = box.outside(scores.features)
        if self.out_of_range == "unsure" and outside.any():
            outside = self._extrapolated(candidates, scores.probabilities, outside, box)
        return replace(scores, out_of_range=outside)

    def _extrapolated(self, candidates, probabilities, outside, box) -> np.ndarray:
        """The pairs outside the box whose decision rests on extrapolation.

        A pair outside the training box is scored again with its features
        clipped to the box's edge; it stays flagged when that decision (merge,
        review band, keep apart) differs from its own, or cannot be made.
        """
        rows = np.flatnonzero(outside)
        with self._jobs():
            at_edge = clamped_split_proba(self.classifier_, candidates[rows], box)
        if at_edge is None:
            return outside

        def side(p):
            p = np.asarray(p, dtype=float)
            merge = (p >= self.threshold) & (p - self.threshold >= self.abstain)
            apart = (p < self.threshold) & (self.threshold - p >= self.abstain)
            return np.where(merge, 1, np.where(apart, -1, 0))

        decisive = (side(at_edge) != side(probabilities[rows])) | ~np.isfinite(at_edge)
        flagged = np.zeros_like(outside)
        flagged[rows] = decisive
        return flagged

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
        with self._jobs():
            return apply_merges(
                volume, decisions.accepted, decisions.mapping,
                interpolate=self.interpolate, interpolation=self.interpolation,
                n_jobs=self.n_jobs, verbose=self.verbose, out=out,
            )

    def _decisions(self, volume: np.ndarray, voxel_size, image=None) -> MergeDecisions:
        self._require_image(image)
        # a large volume's pairs will pay for worker processes: they start
        # after the whole-volume passes of the screen (which keep every core
        # busy) and import the package while this process judges the pairs
        with workers_after_passes(self.n_jobs, volume.size):
            candidates = self._screen(volume, voxel_size, image)
        return self.decide(volume, candidates, self._scores(candidates, False))

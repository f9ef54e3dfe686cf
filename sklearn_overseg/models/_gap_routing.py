"""One pair classifier for stitch splits (gap 0), another for missing layers.

A pair whose fragments touch across two consecutive layers (an IoU stitcher's
end cap or mid-cell cut) and a pair facing each other across missing layers
carry different evidence: at gap 0 the question is whether a small or
misshapen piece continues the cell above, across a gap whether the shapes on
both sides of the missing layers agree. :class:`GapRoutedClassifier` gives
each kind its own classifier, trained on its own pairs, so that learning one
kind cannot blunt the decisions on the other.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet, check_candidate_set

__all__ = ["GapRoutedClassifier", "split_by_route"]


def _touching(X: CandidateSet) -> np.ndarray:
    """Whether each pair is a stitch split (a gap of zero layers)."""
    return np.array([c.gap is not None and c.n_gap_layers == 0 for c in X], bool)


class GapRoutedClassifier(ClassifierMixin, BaseEstimator):
    """Route stitch splits (gap 0) and gapped pairs to two pair classifiers.

    Parameters
    ----------
    stitch : estimator, default=None
        Pair classifier (taking a :class:`~sklearn_overseg.CandidateSet`) for
        pairs with a gap of zero layers; ``None`` uses
        ``make_pair_pipeline(extent=FragmentExtentFeatures())``.
    gaps : estimator, default=None
        Pair classifier for pairs with one or more missing layers (and for
        pairs without a gap, such as contact candidates); ``None`` uses
        ``make_pair_pipeline()``.
    stitch_pairs : {"touching", "all"}, default="touching"
        Training pairs of the ``stitch`` classifier: only the gap-0 pairs, or
        every pair (gapped pairs also teach what continuity of a cell's shape
        looks like). The ``gaps`` classifier always learns from the gapped
        pairs only.
    gapped : {"gaps", "both", "mean"}, default="gaps"
        Who decides a gapped pair: the ``gaps`` classifier alone, or both
        classifiers. With ``"both"`` the pair's probability is the smaller of
        the two (a merge needs both to agree; a confident "no" of either is
        the answer); with ``"mean"`` it is their mean, so that two
        classifiers that disagree give a probability near 0.5, which the
        review band of :meth:`MergeCorrector.decide` leaves to a person, and a
        merge still needs the two to lean the same way (more recall on tissue
        unlike the training data, more stacked distinct cells merged:
        ``benchmarks/RESULTS.md``, section 7; the shipped axis model uses
        ``"both"``). ``"both"`` and
        ``"mean"`` make sense with ``stitch_pairs="all"``: a ``stitch``
        classifier that has learnt from stitched volumes rejects gaps that
        stitching leaves between two different cells, which a classifier of
        missing layers alone merges.

    Attributes
    ----------
    stitch_ : estimator
        Fitted clone of ``stitch``.
    gaps_ : estimator
        Fitted clone of ``gaps``.
    classes_ : ndarray of shape (2,)
        ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_overseg import CandidateScreener, FragmentExtentFeatures
    >>> from sklearn_overseg import GapRoutedClassifier, make_pair_pipeline
    >>> from sklearn_overseg import label_candidates
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> from sklearn_overseg.datasets import slice_and_stitch
    >>> truth = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    >>> stitched, _ = slice_and_stitch(truth, stitch_threshold=0.5, random_state=0)
    >>> gapped, _ = oversegment(truth, n_splits=2, n_stacked_confounders=2,
    ...                         random_state=0)  # missing layers, stacked cells
    >>> volumes = [stitched, gapped]
    >>> X = CandidateScreener(min_gap=0, max_gap=2).fit_transform(volumes)
    >>> y = label_candidates(X, volumes, [truth, truth])
    >>> clf = GapRoutedClassifier(
    ...     stitch=make_pair_pipeline(
    ...         LogisticRegression(), extent=FragmentExtentFeatures()),
    ...     gaps=make_pair_pipeline(LogisticRegression()))
    >>> clf.fit(X, y).predict_proba(X).shape == (len(X), 2)
    True
    """

    _parameter_constraints: dict = {
        "stitch": [HasMethods(["fit", "predict_proba"]), None],
        "gaps": [HasMethods(["fit", "predict_proba"]), None],
        "stitch_pairs": [StrOptions({"touching", "all"})],
        "gapped": [StrOptions({"gaps", "both", "mean"})],
    }

    def __init__(self, stitch=None, gaps=None, *, stitch_pairs: str = "touching",
                 gapped: str = "gaps"):
        self.stitch = stitch
        self.gaps = gaps
        self.stitch_pairs = stitch_pairs
        self.gapped = gapped

    def fit(self, X: CandidateSet, y) -> GapRoutedClassifier:
        """Fit each classifier on its own pairs.

        Parameters
        ----------
        X : CandidateSet
            Labelled candidate pairs, with stitch splits and gapped pairs.
        y : array-like of shape (n_candidates,)
            1 for a true split, 0 for two different cells.

        Returns
        -------
        self : GapRoutedClassifier
        """
        self._validate_params()
        check_candidate_set(X, type(self).__name__)
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"y has shape {y.shape}, expected ({len(X)},)")
        touching = _touching(X)
        for name, rows in (("stitch", touching), ("gaps", ~touching)):
            if len(np.unique(y[rows])) < 2:
                raise ValueError(
                    f"the {name!r} classifier needs true splits and distinct-cell "
                    f"pairs; its {int(rows.sum())} training pairs have one class"
                )
        from ..features import FragmentExtentFeatures
        from ._pair_pipeline import make_pair_pipeline

        stitch = self.stitch if self.stitch is not None else make_pair_pipeline(
            extent=FragmentExtentFeatures()
        )
        gaps = self.gaps if self.gaps is not None else make_pair_pipeline()
        taught = touching if self.stitch_pairs == "touching" else np.ones_like(
            touching
        )
        self.stitch_ = clone(stitch).fit(X[taught], y[taught])
        self.gaps_ = clone(gaps).fit(X[~touching], y[~touching])
        self.classes_ = np.array([0, 1])
        return self

    def route(self, X: CandidateSet) -> np.ndarray:
        """Boolean mask of the pairs the ``stitch`` classifier decides (gap 0)."""
        return _touching(X)

    def predict_proba(self, X: CandidateSet) -> np.ndarray:
        """Probabilities ``[P(distinct), P(split)]`` of each pair.

        Parameters
        ----------
        X : CandidateSet

        Returns
        -------
        ndarray of shape (n_candidates, 2)
        """
        check_is_fitted(self)
        check_candidate_set(X, type(self).__name__)
        split = np.zeros(len(X))
        touching = _touching(X)
        for rows, model in ((touching, self.stitch_), (~touching, self.gaps_)):
            if rows.any():
                split[rows] = np.asarray(model.predict_proba(X[rows]))[:, 1]
        if (~touching).any():
            split[~touching] = self.gapped_split_proba(X[~touching], split[~touching])
        return np.column_stack([1.0 - split, split])

    def gapped_split_proba(
        self, X: CandidateSet, gaps_proba, *, stitch_proba=None
    ) -> np.ndarray:
        """Split probability of gapped pairs, given the ``gaps`` classifier's.

        Parameters
        ----------
        X : CandidateSet
            Gapped pairs.
        gaps_proba : array-like of shape (n_candidates,)
            Their split probability by the fitted ``gaps`` classifier.
        stitch_proba : callable, optional
            ``stitch_proba(model, X)`` gives ``model.predict_proba(X)`` of the
            fitted ``stitch`` classifier when it is needed (default: that
            call; a scorer that reuses features already computed may stand
            in).

        Returns
        -------
        ndarray of shape (n_candidates,)
            ``gaps_proba`` itself, or its minimum (``gapped="both"``) or mean
            (``gapped="mean"``) with the ``stitch`` classifier's.
        """
        check_is_fitted(self)
        gaps_proba = np.asarray(gaps_proba, dtype=float)
        if self.gapped == "gaps" or len(X) == 0:
            return gaps_proba
        scorer = stitch_proba or (lambda model, pairs: model.predict_proba(pairs))
        stitch = np.asarray(scorer(self.stitch_, X))[:, 1]
        if self.gapped == "mean":
            return (gaps_proba + stitch) / 2.0
        return np.minimum(gaps_proba, stitch)

    def predict(self, X: CandidateSet) -> np.ndarray:
        """1 for pairs more likely one split cell than two cells."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


def split_by_route(classifier, X: CandidateSet, y) -> list[tuple]:
    """``(pair classifier, pairs, labels)`` for each classifier that decides pairs.

    A :class:`GapRoutedClassifier` gives its fitted ``gaps_`` classifier the
    gapped pairs and ``stitch_`` the gap-0 pairs, or every pair with
    ``gapped="both"`` or ``"mean"`` (its probability then shapes that of the
    gapped pairs too, so calibrating or fine-tuning it on the gap-0 pairs alone would
    change the gapped pairs' decisions by what it learnt from other pairs).
    Any other classifier gets them all. Routes without a pair are left out.
    """
    y = np.asarray(y)
    if not isinstance(classifier, GapRoutedClassifier):
        return [(classifier, X, y)]
    touching = classifier.route(X)
    judged = np.ones_like(touching) if classifier.gapped != "gaps" else touching
    routes = [(classifier.stitch_, judged), (classifier.gaps_, ~touching)]
    return [(model, X[rows], y[rows]) for model, rows in routes if rows.any()]

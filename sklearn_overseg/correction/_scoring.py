"""Scoring candidate pairs: merge probabilities, optionally with features.

A pair classifier is usually a pipeline: feature transformers (a
``FeatureUnion`` of Geo-Wasserstein, topology or contact features), a scaler,
and the final model. :func:`score_pairs` runs it batch by batch, so that a
progress bar can follow a long run and the features can be kept for the
review report; the probabilities equal ``classifier.predict_proba``'s.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import gen_batches

from .._progress import progress, stage
from ..models import feature_stage
from ._feature_memo import FeatureMemo
from ._steps import PairScores

__all__ = ["clamped_split_proba", "score_pairs", "scored_features"]


def _feature_names(model) -> list[str] | None:
    """Output names of a fitted pair pipeline's ``FeatureUnion``, if it has one."""
    unions = [s for s in _head_steps(model) if isinstance(s, FeatureUnion)] if (
        isinstance(model, Pipeline)
    ) else []
    try:
        return [str(v) for v in unions[-1].get_feature_names_out()]
    except (IndexError, AttributeError, ValueError):
        return None


def _routed_scores(classifier, candidates, return_features: bool, verbose: int):
    """Scores of a :class:`GapRoutedClassifier`: each part scores its pairs.

    The features returned are those both parts compute (the gap part's), so
    that every pair has the same columns, whichever parts a batch needs.
    """
    touching = classifier.route(candidates)
    routes = ((touching, classifier.stitch_), (~touching, classifier.gaps_))
    # the gapped pairs may be scored by both parts: the features of the
    # transformers they share are computed once
    memo, subsets = FeatureMemo(), [candidates[rows] for rows, _ in routes]
    parts = [
        (rows, score_pairs(model, pairs, return_features=return_features,
                           verbose=verbose, memo=memo))
        for (rows, model), pairs in zip(routes, subsets)
        if rows.any()
    ]
    proba = np.zeros(len(candidates))
    for rows, scores in parts:
        proba[rows] = scores.probabilities
    if (~touching).any():
        proba[~touching] = classifier.gapped_split_proba(
            subsets[1], proba[~touching], stitch_proba=memo.predict_proba
        )
    route_names = [_feature_names(model) for _, model in routes]
    names = [s.feature_names for _, s in parts]
    if not return_features or any(n is None for n in names + route_names):
        return PairScores(proba)
    common = [n for n in route_names[1] if n in route_names[0]]
    out = {"features": np.zeros((len(candidates), len(common))),
           "standardised": np.zeros((len(candidates), len(common)))}
    for (rows, scores), own in zip(parts, names):
        cols = [own.index(n) for n in common]
        for key, block in out.items():
            values = getattr(scores, key)
            if values is None:
                out[key] = None
            elif block is not None:
                block[rows] = values[:, cols]
    return PairScores(proba, out["features"], out["standardised"], common)


def _head_steps(model) -> list:
    return [s for _, s in model.steps[:-1] if s not in (None, "passthrough")]


def score_pairs(
    classifier, candidates, *, return_features: bool = False, verbose: int = 0,
    memo: FeatureMemo | None = None,
) -> PairScores:
    """Merge probabilities of candidate pairs, with their features if asked.

    Parameters
    ----------
    classifier : fitted estimator with ``predict_proba``
        The pair classifier (a pipeline taking a ``CandidateSet``).
    candidates : CandidateSet
    return_features : bool, default=False
        Keep the raw and standardised features of a features-then-model
        pipeline (``None`` for another classifier).
    verbose : int, default=0
        Above 0, show a progress bar over the pairs.
    memo : FeatureMemo, optional
        Reuse the features of the same transformers on the same
        ``candidates`` (object) across calls.

    Returns
    -------
    PairScores
    """
    n = len(candidates)
    if n == 0:
        return PairScores(np.zeros(0))
    if hasattr(classifier, "route") and hasattr(classifier, "stitch_"):
        return _routed_scores(classifier, candidates, return_features, verbose)
    pipeline = isinstance(classifier, Pipeline) and len(classifier) >= 2
    if not pipeline or not (return_features or verbose > 0):
        with stage("classifying pairs", enabled=verbose > 0):
            proba = np.asarray(
                classifier.predict_proba(candidates) if memo is None
                else memo.predict_proba(classifier, candidates)
            )[:, 1]
        return PairScores(proba)
    head = _head_steps(classifier)
    scaled, raw, union = [], [], None
    with progress(desc="pair features", total=n, unit="pair",
                  enabled=verbose > 0) as bar:
        # batches only for the progress bar (ten steps): every pair in one
        # call otherwise; large calls let the feature steps share their pairs
        # with worker processes
        size = max(16, math.ceil(n / 10)) if verbose > 0 else n
        for batch in gen_batches(n, size):
            X, features = candidates if size >= n else candidates[batch], None
            for step in head:
                X = (memo.union_transform(step, X) if memo is not None
                     and isinstance(step, FeatureUnion) else step.transform(X))
                if isinstance(step, FeatureUnion):
                    union, features = step, X
            scaled.append(X)
            raw.append(features)
            bar.update(batch.stop - batch.start)
    X = np.concatenate(scaled)
    with stage("classifying pairs", enabled=verbose > 0):
        proba = np.asarray(classifier.steps[-1][1].predict_proba(X))[:, 1]
    if union is None or not return_features:
        return PairScores(proba)
    try:
        names = [str(v) for v in union.get_feature_names_out()]
    except Exception:  # names are optional decoration of the report
        names = None
    standardised = X if head and isinstance(head[-1], StandardScaler) else None
    return PairScores(proba, np.concatenate(raw), standardised, names)


def scored_features(classifier, candidates):
    """Raw pair features as scoring returns them, or ``None`` without a feature step.

    For a routed classifier these are the columns both of its parts compute,
    whichever parts the pairs need, so a training range and the pairs it
    judges always have the same columns.
    """
    has_features = hasattr(classifier, "route") or feature_stage(classifier) is not None
    if not has_features or not len(candidates):
        return None
    return score_pairs(classifier, candidates, return_features=True).features


def _clamped_pipeline_proba(pipeline, candidates, box, names=None) -> np.ndarray:
    """Split probability of a features pipeline with its box columns clamped.

    ``names``: the union's columns the box bounds, in the box's order (all of
    them, in order, when ``None``).
    """
    stage = feature_stage(pipeline)
    X = candidates
    for _, step in pipeline.steps[: stage + 1]:
        if step not in (None, "passthrough"):
            X = step.transform(X)
    X = np.array(X, dtype=np.float64)
    if names is None:
        columns = np.arange(X.shape[1])
    else:
        own = _feature_names(pipeline)
        columns = np.array([own.index(n) for n in names])
    X[:, columns] = np.clip(X[:, columns], box.low_, box.high_)
    for step in [s for _, s in pipeline.steps[stage + 1 : -1]
                 if s not in (None, "passthrough")]:
        X = step.transform(X)
    return np.asarray(pipeline.steps[-1][1].predict_proba(X))[:, 1]


def clamped_split_proba(classifier, candidates, box) -> np.ndarray | None:
    """Split probabilities with the features brought back into a training box.

    Each feature the box bounds is clipped to the box's edge, everything else
    is left as it is, and the pairs are scored again: what the model says at
    the nearest point of the range it was trained on. When that decision is
    the pair's own, the answer does not rest on the extrapolation.

    Parameters
    ----------
    classifier : fitted pair pipeline or GapRoutedClassifier
        As :func:`score_pairs` takes it (a routed classifier's box bounds
        the columns both of its parts compute, see :func:`scored_features`).
    candidates : CandidateSet
    box : FeatureRange
        Fitted on the features :func:`scored_features` returns.

    Returns
    -------
    ndarray of shape (n_pairs,) or None
        ``None`` for a classifier without a feature step (nothing to clamp).
    """
    if not len(candidates):
        return np.zeros(0)
    if hasattr(classifier, "route") and hasattr(classifier, "stitch_"):
        names = [_feature_names(m) for m in (classifier.stitch_, classifier.gaps_)]
        if any(n is None for n in names):
            return None
        common = [n for n in names[1] if n in names[0]]
        touching = classifier.route(candidates)
        proba = np.zeros(len(candidates))
        routes = ((touching, classifier.stitch_), (~touching, classifier.gaps_))
        for rows, model in routes:
            if rows.any():
                proba[rows] = _clamped_pipeline_proba(
                    model, candidates[rows], box, common
                )
        if (~touching).any():
            def stitch_proba(model, pairs):
                p = _clamped_pipeline_proba(model, pairs, box, common)
                return np.column_stack([1.0 - p, p])

            proba[~touching] = classifier.gapped_split_proba(
                candidates[~touching], proba[~touching], stitch_proba=stitch_proba
            )
        return proba
    if feature_stage(classifier) is None:
        return None
    return _clamped_pipeline_proba(classifier, candidates, box)

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
from ._steps import PairScores

__all__ = ["score_pairs"]


def _head_steps(model) -> list:
    return [s for _, s in model.steps[:-1] if s not in (None, "passthrough")]


def score_pairs(
    classifier, candidates, *, return_features: bool = False, verbose: int = 0
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

    Returns
    -------
    PairScores
    """
    n = len(candidates)
    if n == 0:
        return PairScores(np.zeros(0))
    pipeline = isinstance(classifier, Pipeline) and len(classifier) >= 2
    if not pipeline or not (return_features or verbose > 0):
        with stage("classifying pairs", enabled=verbose > 0):
            proba = np.asarray(classifier.predict_proba(candidates))[:, 1]
        return PairScores(proba)
    head = _head_steps(classifier)
    scaled, raw, union = [], [], None
    with progress(desc="pair features", total=n, unit="pair",
                  enabled=verbose > 0) as bar:
        for batch in gen_batches(n, max(16, math.ceil(n / 50))):
            X, features = candidates[batch], None
            for step in head:
                X = step.transform(X)
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

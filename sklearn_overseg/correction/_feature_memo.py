"""Pair features computed once when two pair classifiers share a transformer.

A :class:`~sklearn_overseg.GapRoutedClassifier` with ``gapped="both"`` (or
``"mean"``) scores
every gapped pair with both of its pipelines, whose feature unions both hold
a Geo-Wasserstein transformer with the same parameters and nothing learnt:
the same features, computed twice (a fifth of the scoring time of the
pretrained axis model). :class:`FeatureMemo` keeps each transformer's output
on one :class:`~sklearn_overseg.CandidateSet` and hands it to any other
transformer that is the same: same class, same parameters and the same
fitted attributes (a transformer that learnt a scaling from other pairs is
not the same, and is run again), with a fixed seed if it draws at random
(one that draws anew at each call is run again). The features, and so the probabilities,
are exactly those of ``predict_proba``.

When worker processes are up (``n_jobs`` above 1 on a large volume), the
parts of a union run side by side on threads: the parts that share their
pairs with the workers keep them busy while this process computes the
others.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import effective_n_jobs, parallel_config
from sklearn.pipeline import FeatureUnion, Pipeline

from .._parallel import started_workers

__all__ = ["FeatureMemo", "same_transformer"]

#: Run the parts of a feature union side by side when worker processes are up.
PARTS_ON_THREADS = True


def _fitted_state(transformer) -> dict:
    return {k: v for k, v in vars(transformer).items() if k.endswith("_")}


def _equal(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and np.array_equal(a, b))
    try:
        return bool(type(a) is type(b) and a == b)
    except (TypeError, ValueError):  # objects that do not compare plainly
        return False


def same_transformer(a, b) -> bool:
    """Whether two fitted transformers compute the same features.

    Examples
    --------
    >>> from sklearn_overseg import GeoWassersteinFeatures
    >>> from sklearn_overseg.correction._feature_memo import same_transformer
    >>> same_transformer(GeoWassersteinFeatures(), GeoWassersteinFeatures())
    True
    >>> same_transformer(GeoWassersteinFeatures(n_projections=4),
    ...                  GeoWassersteinFeatures())
    False
    >>> same_transformer(GeoWassersteinFeatures(random_state=None),
    ...                  GeoWassersteinFeatures(random_state=None))
    False
    """
    if type(a) is not type(b):
        return False
    params = a.get_params(deep=True)
    # draws that differ from one call to the next are never the same features
    seeded = all(
        isinstance(v, (int, np.integer))
        for k, v in params.items() if k.split("__")[-1] == "random_state"
    )
    return (seeded and _equal(params, b.get_params(deep=True))
            and _equal(_fitted_state(a), _fitted_state(b)))


class FeatureMemo:
    """Outputs of feature transformers on candidate sets, reused when the same.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import load_pretrained
    >>> from sklearn_overseg.correction._feature_memo import FeatureMemo
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> volume, _ = oversegment(make_tissue((20, 48, 48), 12, random_state=0),
    ...                         3, random_state=0)
    >>> model = load_pretrained("axis")
    >>> pairs = model.screen(volume)
    >>> pipeline = model.classifier_.gaps_
    >>> memo = FeatureMemo()
    >>> p = memo.predict_proba(pipeline, pairs)
    >>> bool(np.array_equal(p, pipeline.predict_proba(pairs)))
    True
    """

    def __init__(self) -> None:
        self._kept: list[tuple[object, object, np.ndarray]] = []

    def transform(self, transformer, X) -> np.ndarray:
        """``transformer.transform(X)``, or the output of the same one on ``X``."""
        for done, seen, output in self._kept:
            if seen is X and same_transformer(done, transformer):
                return output
        output = transformer.transform(X)
        if isinstance(output, np.ndarray):
            self._kept.append((transformer, X, output))
        return output

    def union_transform(self, union, X):
        """``union.transform(X)``, each part through :meth:`transform` when plain.

        A union with weights, dropped or passed-through parts, or another
        output container than NumPy runs as it is.
        """
        parts = [t for _, t in union.transformer_list]
        plain = (
            union.transformer_weights is None
            and all(hasattr(t, "transform") for t in parts)
            and getattr(union, "_sklearn_output_config", {}).get("transform")
            in (None, "default")
        )
        if not plain:
            return union.transform(X)
        jobs = effective_n_jobs(None)  # this thread's joblib configuration
        if PARTS_ON_THREADS and len(parts) > 1 and jobs > 1 and started_workers():
            # the parts hold the GIL in turn here, but the workers go on with
            # the batches they share (Geo-Wasserstein) meanwhile: the parts
            # computed here alone no longer leave them idle
            def part(transformer):
                with parallel_config(backend="threading", n_jobs=jobs):
                    return self.transform(transformer, X)

            with ThreadPoolExecutor(max_workers=len(parts) - 1) as pool:
                ahead = [pool.submit(part, t) for t in parts[:-1]]
                last = self.transform(parts[-1], X)
                outputs = [f.result() for f in ahead] + [last]
        else:
            outputs = [self.transform(t, X) for t in parts]
        if not all(isinstance(o, np.ndarray) and o.ndim == 2 for o in outputs):
            return union.transform(X)
        return np.hstack(outputs)

    def predict_proba(self, model, X) -> np.ndarray:
        """``model.predict_proba(X)``, its leading feature union through the memo."""
        if not (isinstance(model, Pipeline) and len(model) >= 2
                and isinstance(model.steps[0][1], FeatureUnion)):
            return model.predict_proba(X)
        return model[1:].predict_proba(self.union_transform(model.steps[0][1], X))

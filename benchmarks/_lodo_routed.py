"""The routed axis recipe of ``bench_lodo.py``, on cached pair features.

The shipped axis model is a :class:`~sklearn_overseg.GapRoutedClassifier`:
a *stitch* ensemble (features Geo-Wasserstein, topology and fragment extent)
trained on every pair decides the gap-0 pairs, and a gapped pair takes the
smaller of the *gap* ensemble's probability (Geo-Wasserstein and topology,
trained on the gapped pairs) and the stitch ensemble's
(``gapped="both"``); pairs outside the training range are unsure.
:class:`RoutedHead` is that model on features computed once per pair
(:class:`RoutedFeaturizer`), so that each fold of the benchmark only refits
the topology normalisation, the scalers and the networks of both routes.

* :func:`routed_pairs`: labelled training pairs of one ground truth made as
  ``pretrained.axis_training_candidates`` makes those of an extra truth
  (axis gaps, the gap-0 pairs of the same damaged volume, the gap-0 pairs of
  stitch damage);
* :func:`balanced_rows`: rows of one source resampled so that its two
  classes weigh equally (the source's total weight kept).
"""

from __future__ import annotations

import numpy as np
from bench_common import quiet
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import (
    FragmentExtentFeatures,
    GeoWassersteinFeatures,
    TopologyFeatures,
    make_training_candidates,
)
from sklearn_overseg.models import FeatureRange
from sklearn_overseg.pretrained import stitch_candidates
from sklearn_overseg.pretrained.train import build_corrector, seed_ensemble

#: The shipped axis model's screener (gap-0 pairs too), as the recipe builds it.
ROUTED_SCREENER = build_corrector("axis").screener


def touching(cands) -> np.ndarray:
    """Gap-0 pairs (the stitch route's), as ``GapRoutedClassifier.route``."""
    return np.array([c.gap is not None and c.n_gap_layers == 0 for c in cands], bool)


def routed_pairs(volume, rounds: int, seed: int):
    """Labelled pairs of one ground truth for the routed recipe.

    As ``axis_training_candidates`` treats an extra truth: ``rounds`` axis
    damages screened without gap-0 pairs, the gap-0 pairs of the same damaged
    volumes, and the gap-0 pairs of its stitch damage (``stitch_candidates``).
    """
    gap_screener = clone(ROUTED_SCREENER).set_params(min_gap=1)
    parts = []
    with quiet():
        for screener, flat in ((gap_screener, False), (ROUTED_SCREENER, True)):
            x, y, _ = make_training_candidates(
                [volume], screener=screener, mode="axis", n_rounds=rounds,
                random_state=seed,
            )
            keep = touching(x) if flat else np.ones(len(x), bool)
            parts.append((x[keep], y[keep]))
        x, y = stitch_candidates([volume], ROUTED_SCREENER, seed=seed)
        parts.append((x[touching(x)], y[touching(x)]))
    from sklearn_overseg import CandidateSet

    return (CandidateSet.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]))


class RoutedFeaturizer:
    """Raw features of both routes: Geo-Wasserstein, topology (not normalised),
    fragment extent; the gap route uses the first ``n_gap`` columns."""

    def __init__(self, fit_on):
        self.parts = [
            ("geo", GeoWassersteinFeatures().fit(fit_on)),
            ("topology", TopologyFeatures(normalize=False).fit(fit_on)),
            ("extent", FragmentExtentFeatures().fit(fit_on)),
        ]
        self.names = [f"{n}__{f}" for n, t in self.parts
                      for f in t.get_feature_names_out()]
        self.n_gap = sum(n.split("__")[0] != "extent" for n in self.names)

    def transform(self, cands) -> tuple[np.ndarray, np.ndarray]:
        """Features (float32) and the gap-0 mask of ``cands``."""
        if len(cands) == 0:
            return np.zeros((0, len(self.names)), np.float32), np.zeros(0, bool)
        X = np.hstack([t.transform(cands) for _, t in self.parts]).astype(np.float32)
        return X, touching(cands)


def balanced_rows(y: np.ndarray, rng) -> np.ndarray:
    """Row indices of one source with its classes weighing equally.

    Each class present gets ``len(y) / 2`` rows: the larger class a random
    subset, the smaller one every row plus random repeats. A source of one
    class keeps half its rows (the other class weighs the same, with no row).
    """
    n_each = max(1, round(len(y) / 2))
    out = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) >= n_each:
            out.append(rng.choice(rows, n_each, replace=False))
        else:
            out.append(np.concatenate(
                [rows, rng.choice(rows, n_each - len(rows), replace=True)]))
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


class RoutedHead:
    """Both routes of the routed axis model, fitted on cached features.

    ``topo_cols``: non-binary topology columns (normalised as
    ``TopologyFeatures(normalize=True)`` does, learned per route); ``n_gap``:
    the gap route's columns; ``networks``: MergeNets per seed ensemble.
    """

    def __init__(self, topo_cols, n_gap: int, networks: int, normalizer):
        self.topo_cols, self.n_gap = list(topo_cols), n_gap
        self.networks, self.normalizer = networks, normalizer

    def _pipe(self) -> Pipeline:
        return Pipeline([("topo", self.normalizer(self.topo_cols)),
                         ("scale", StandardScaler()),
                         ("clf", seed_ensemble(self.networks))])

    def fit(self, stitch_data, gap_data, range_data) -> RoutedHead:
        """Fit both routes; ``*_data``: ``(X, y)`` (``range_data``: ``(X, t)``).

        ``stitch_data`` are every training pair (``stitch_pairs="all"``),
        ``gap_data`` the gapped ones; the training range is the box of
        ``range_data``'s gap-route columns, each pair normalised by the
        route that decides it (as ``fit_feature_range`` sees them).
        """
        self.stitch_ = self._pipe().fit(*stitch_data)
        X, y = gap_data
        self.gaps_ = self._pipe().fit(X[:, : self.n_gap], y)
        self.range_ = FeatureRange().fit(self._scored(*range_data))
        return self

    def _scored(self, X, t) -> np.ndarray:
        out = np.zeros((len(X), self.n_gap))
        if t.any():
            out[t] = self.stitch_[0].transform(X[t])[:, : self.n_gap]
        if (~t).any():
            out[~t] = self.gaps_[0].transform(X[~t, : self.n_gap])
        return out

    def predict(self, X, t) -> tuple[np.ndarray, np.ndarray]:
        """Merge probabilities and out-of-range flags of pairs ``X``."""
        if len(X) == 0:
            return np.zeros(0), np.zeros(0, bool)
        p = self.stitch_.predict_proba(X)[:, 1]
        if (~t).any():
            gaps = self.gaps_.predict_proba(X[~t, : self.n_gap])[:, 1]
            p[~t] = np.minimum(gaps, p[~t])
        return p, self.range_.outside(self._scored(X, t))


# ------------------------------------------------------------ training data
def routed_data(real: dict, synth_rounds: int, real_rounds: int, tests: dict):
    """Cached routed features of the training sources and of the test cases.

    Training: ``source -> (X, t, y)``; tests: ``set -> [(X, t)]``.

    ``synthetic``: ``axis_training_candidates`` of the shipped recipe's
    tissues with ``synth_rounds`` axis damages; each real file: its
    :func:`routed_pairs` (seed ``100 + index``, as the other recipes' real
    damage). Test pairs: each case's ``rcands`` (the shipped screener's).
    """
    from sklearn_overseg.pretrained import axis_training_candidates

    with quiet():
        x, y, _ = axis_training_candidates(
            seed=0, screener=ROUTED_SCREENER, n_rounds=synth_rounds)
    train = {"synthetic": (x, y)}
    for i, (name, vol) in enumerate(real.items()):
        train[name] = routed_pairs(vol, real_rounds, 100 + i)
    fz = RoutedFeaturizer(train["synthetic"][0])
    blocks = {s: (*fz.transform(c), y) for s, (c, y) in train.items()}
    cases = {k: [fz.transform(c["rcands"]) for c in v] for k, v in tests.items()}
    return fz, blocks, cases


def fit_routed(blocks: dict, sources, head: RoutedHead, balanced: bool,
               seed: int = 0, stitch_real: bool = True) -> RoutedHead:
    """Fit ``head`` on ``sources``; ``balanced``: each real source's classes
    weigh equally in each route (:func:`balanced_rows`; synthetic as it is);
    ``stitch_real=False``: the real sources teach the gap route only."""
    rng = np.random.RandomState(seed)
    stitch, gaps, box = [], [], []
    for s in sources:
        X, t, y = blocks[s]
        rows, gapped = np.arange(len(y)), np.flatnonzero(~t)
        if balanced and s != "synthetic":
            rows, gapped = balanced_rows(y, rng), gapped[balanced_rows(y[gapped], rng)]
        if stitch_real or s == "synthetic":
            stitch.append((X[rows], y[rows]))
        gaps.append((X[gapped], y[gapped]))
        box.append((X, t))

    def cat(parts):
        return tuple(np.concatenate(z) for z in zip(*parts))

    return clone_head(head).fit(cat(stitch), cat(gaps), cat(box))


def clone_head(head: RoutedHead) -> RoutedHead:
    return RoutedHead(head.topo_cols, head.n_gap, head.networks, head.normalizer)

"""Ablations of the features and of the gap size (paper Tables 3 and 4).

Every variant is trained on the same synthetic data as the pretrained model
(``pretrained/train.py``: 8 tissues, 4 damage rounds, axis screener) and tested
on the same held-out data: the synthetic tissues of
``bench_synthesized.py`` (seeds 1000+) and, when ``../shared/data`` is there,
the real ground truths, both damaged by ``bench_synthesized.damage``
(one-layer splits, shrinkage, noise masks, distinct-cell gaps). Features are
computed once per variant, and two cheap classifiers are fitted on them
(standardised): a logistic regression and a short ``MergeNet`` (30 epochs).
Decisions go through the corrector's own rule (``decide_merges``: threshold
0.5, union-find, no z overlap), and are scored as in ``bench_synthesized``.

Variants: all features (the default pipeline); topology only (no
Geo-Wasserstein); Geo-Wasserstein only; the paper's feature sets instead of the
extended ones; the four ``statistics`` summaries; the ``multiscale`` EMD
instead of ``sliced`` (``exact`` costs about a second per pair on 2 cores and
is left out); and the largest gap the screener accepts (``max_gap`` 1, 2, 3,
training damage with as many layers), tested on gaps of 1, 2 and 3 layers.

Usage::

    python benchmarks/bench_ablation.py [--rounds 3] [--skip-multiscale]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_common import markdown_table, print_environment
from bench_synthesized import (
    HELD_OUT,
    SHRINK,
    SHRINK_OF,
    Tally,
    damage,
    held_out_volumes,
    real_sets,
)
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from sklearn_overseg import (
    CandidateScreener,
    CandidateSet,
    GeoWassersteinFeatures,
    MergeNet,
    TopologyFeatures,
    make_training_candidates,
)
from sklearn_overseg.correction._steps import decide_merges
from sklearn_overseg.pretrained.train import training_volumes

#: name -> (GeoWassersteinFeatures params or None, TopologyFeatures params or None)
FEATURE_VARIANTS = {
    "all features (default)": ({}, {}),
    "topology only (no Geo-Wasserstein)": (None, {}),
    "Geo-Wasserstein only (no topology)": ({}, None),
    "paper feature sets (11 + 3)": (
        {"feature_set": "paper"}, {"feature_set": "paper"}
    ),
    "paper Geo-Wasserstein only": ({"feature_set": "paper"}, None),
    "statistics=range_free": ({"statistics": "range_free"}, {}),
    "statistics=deciles": ({"statistics": "deciles"}, {}),
    "statistics=shifted": ({"statistics": "shifted"}, {}),
    "method=multiscale": ({"method": "multiscale"}, {}),
}
CLASSIFIERS = {
    "logistic": LogisticRegression(max_iter=2000),
    "MLP 30 epochs": MergeNet(max_epochs=30, random_state=0),
}
N_ROUNDS = 4  # as pretrained/train.py


class TestSet:
    """Damaged held-out volumes, screened once per screener."""

    def __init__(self, name, truths, rounds, gap_layers, seed0, shrink=SHRINK):
        self.name = name
        self.items = []  # (truth, flawed, truth_pairs, hard_pairs)
        for i, truth in enumerate(truths):
            for r in range(rounds):
                flawed, pairs, hard, _ = damage(
                    truth, seed0 + 100 * i + r, gap_layers=gap_layers, shrink=shrink
                )
                self.items.append((truth, flawed, pairs, hard))
        self._screened = {}

    def describe(self) -> str:
        """Size of the test set: volumes, true pairs, distinct-cell gaps."""
        n_true = sum(len(p) for _, _, p, _ in self.items)
        n_hard = sum(len(h) for _, _, _, h in self.items)
        return (f"{self.name}: {len(self.items)} damaged volumes, {n_true} true "
                f"pairs, {n_hard} distinct-cell gaps")

    def candidates(self, screener) -> list[CandidateSet]:
        key = repr(screener)
        if key not in self._screened:
            self._screened[key] = [
                screener.transform([flawed]) for _, flawed, _, _ in self.items
            ]
        return self._screened[key]

    def score(self, screener, probabilities) -> dict:
        """Merge scores of per-volume probabilities (concatenated)."""
        tally, start = Tally(), 0
        for (truth, flawed, pairs, hard), cands in zip(
            self.items, self.candidates(screener)
        ):
            proba = probabilities[start : start + len(cands)]
            start += len(cands)
            _, merged = decide_merges(flawed, cands, proba, 0.5)
            tally.add(flawed, truth, pairs, hard, cands, np.asarray(merged, bool),
                      np.ones(len(cands), bool))
        row = tally.row(self.name, 1)
        hard = 100 * tally.hard_merged / max(tally.hard_made, 1)
        return {"P": row[3], "R": row[4], "F1": row[5], "hard": f"{hard:.1f}"}


def features(geo, topo, train: CandidateSet, tests: list[CandidateSet]):
    """Feature matrices of the training pairs and of each test set."""
    parts_train, parts_test = [], [[] for _ in tests]
    if geo is not None:
        g = GeoWassersteinFeatures(**geo)
        parts_train.append(g.fit_transform(train))
        for i, t in enumerate(tests):
            parts_test[i].append(g.transform(t))
    if topo is not None:
        tf = TopologyFeatures(**topo).fit(train)
        parts_train.append(tf.transform(train))
        for i, t in enumerate(tests):
            parts_test[i].append(tf.transform(t))
    return np.hstack(parts_train), [np.hstack(p) for p in parts_test]


def fit_predict(clf, X, y, tests) -> list[np.ndarray]:
    """Merge probabilities of each test matrix by a standardised classifier."""
    model = make_pipeline(StandardScaler(), clone(clf)).fit(
        X.astype(np.float32), y
    )
    return [
        model.predict_proba(t.astype(np.float32))[:, 1] if len(t) else np.zeros(0)
        for t in tests
    ]


def concatenated(test_sets, screener) -> list[CandidateSet]:
    return [CandidateSet.concatenate(ts.candidates(screener)) for ts in test_sets]


def feature_ablation(train_volumes, test_sets, variants) -> str:
    """Table 3/4: feature variants, screener max_gap=2 (as pretrained)."""
    screener = CandidateScreener(max_gap=2)
    train, y, _ = make_training_candidates(
        train_volumes, screener=screener, n_rounds=N_ROUNDS, random_state=0
    )
    tests = concatenated(test_sets, screener)
    rows = []
    for name in tqdm(variants, desc="feature variants", file=sys.stderr):
        geo, topo = FEATURE_VARIANTS[name]
        start = time.perf_counter()
        X, Xt = features(geo, topo, train, tests)
        seconds = time.perf_counter() - start
        for clf_name, clf in CLASSIFIERS.items():
            probas = fit_predict(clf, X, y, Xt)
            row = [name, X.shape[1], clf_name]
            for ts, p in zip(test_sets, probas):
                s = ts.score(screener, p)
                row += [s["P"], s["R"], s["F1"], s["hard"]]
            rows.append([*row, f"{seconds:.1f}"])
    columns = ["variant", "n features", "classifier"]
    for ts in test_sets:
        columns += [f"{ts.name} P", "R", "F1", "hard %"]
    print(f"training pairs: {len(y)} ({int(y.sum())} true splits)\n",
          file=sys.stderr)
    return markdown_table([*columns, "feature s"], rows)


def gap_ablation(train_volumes, test_sets_by_gap) -> str:
    """Screener max_gap 1/2/3 (training damage alike) vs test gaps 1/2/3."""
    rows = []
    flat = [ts for sets in test_sets_by_gap.values() for ts in sets]
    for max_gap in tqdm((1, 2, 3), desc="max_gap", file=sys.stderr):
        screener = CandidateScreener(max_gap=max_gap)
        train, y, _ = make_training_candidates(
            train_volumes, screener=screener, n_rounds=N_ROUNDS, random_state=0
        )
        X, Xt = features({}, {}, train, concatenated(flat, screener))
        for clf_name, clf in CLASSIFIERS.items():
            row = [max_gap, len(y), clf_name]
            for ts, p in zip(flat, fit_predict(clf, X, y, Xt)):
                s = ts.score(screener, p)
                row.append(f"{s['F1']:.3f} ({s['P']:.2f}/{s['R']:.2f})")
            rows.append(row)
    columns = ["screener max_gap", "training pairs", "classifier"]
    for gap, test_sets in test_sets_by_gap.items():
        columns += [f"{ts.name}, {gap}-layer gaps" for ts in test_sets]
    return markdown_table(columns, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="damage rounds per held-out synthetic volume")
    parser.add_argument("--real-rounds", type=int, default=4,
                        help="damage rounds per real volume")
    parser.add_argument("--skip-multiscale", action="store_true")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_ablation.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    train_volumes = training_volumes(0)
    synthetic = [
        v for name in HELD_OUT if name not in SHRINK_OF for v in held_out_volumes(name)
    ]
    stress = held_out_volumes("dense stress")
    real = real_sets()
    real = None if real is None else [v for vols in real.values() for v in vols]

    def sets(gap):
        found = [
            TestSet("synthetic", synthetic, args.rounds, gap, 30_000),
            TestSet("stress", stress, args.rounds, gap, 35_000,
                    shrink=SHRINK_OF["dense stress"]),
        ]
        if real is not None:
            found.append(TestSet("real", real, args.real_rounds, gap, 40_000))
        return found

    variants = [v for v in FEATURE_VARIANTS
                if not (args.skip_multiscale and "multiscale" in v)]
    one_layer = sets(1)
    print("### Feature ablation (screener max_gap=2, one-layer test gaps)\n")
    print("P / R / F1 of merge decisions; hard % = distinct-cell gaps merged. "
          "Test sets: " + "; ".join(ts.describe() for ts in one_layer) + ".\n")
    print(feature_ablation(train_volumes, one_layer, variants))
    print("\n### Gap size: F1 (precision/recall)\n")
    print(gap_ablation(train_volumes, {1: one_layer, 2: sets(2), 3: sets(3)}))


if __name__ == "__main__":
    main()

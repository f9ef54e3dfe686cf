"""Honest probabilities: calibration, the review band and fine-tuning, on real cells.

The pretrained axis model (trained on synthetic tissue only) scores the
candidate pairs of volumes damaged as in ``bench_synthesized.py`` (one-layer
axis splits, shrunk masks and noisy partial masks at gaps, and stacked
*different* cells trimmed to face each other across a gap). Pairs are
labelled by the ground truth (:func:`label_candidates`).

* **Calibration** (:meth:`MergeCorrector.calibrate`, frozen model plus an
  isotonic or sigmoid calibrator): calibrated on held-out synthetic volumes
  only (seeds 2000+), and, per real file, leave one out: on the synthetic
  volumes plus the four other real files. Scored by the expected calibration
  error (:func:`~sklearn_overseg.metrics.expected_calibration_error`, 10
  bins) on held-out synthetic volumes (seeds 3000+) and on each real file.
* **Decisions** with the review band (``abstain=0.1``) and the
  out-of-range rule (training range of the recipe,
  :func:`~sklearn_overseg.pretrained.train.training_feature_range`):
  precision, recall and F1 of the merged pairs, share of distinct-cell pairs
  merged, pairs left unsure.
* **Fine-tuning** (:meth:`MergeCorrector.fine_tune`) on one real nuclei file
  (``nuclei_gonuclear_1135``, damaged ``--rounds`` times), tested on the
  others.

Usage::

    python benchmarks/bench_calibration.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
from _shared_data import NAMES, available, load, skip_message
from bench_common import markdown_table, print_environment, quiet
from bench_synthesized import damage
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from sklearn_overseg import label_candidates, load_pretrained
from sklearn_overseg.correction import PairScores
from sklearn_overseg.correction._calibration import uncalibrated
from sklearn_overseg.datasets import make_tissue
from sklearn_overseg.metrics import expected_calibration_error
from sklearn_overseg.models import pipeline_features
from sklearn_overseg.pretrained.train import training_feature_range

#: Synthetic tissues (mode, anisotropy) of the calibration and test sets.
SYNTHETIC = [("dense", 3.0), ("loose", 2.0), ("nuclei", 2.5), ("dense", 6.0),
             ("loose", 8.0), ("dense", 1.5), ("dense", 8.0), ("nuclei", 6.0)]
FINE_TUNE_ON = "nuclei_gonuclear_1135"


class PairSet:
    """Damaged volumes of one data set, their pairs, labels and features."""

    def __init__(self, corrector, truths, rounds: int, seed: int) -> None:
        self.items = []
        for i, truth in enumerate(truths):
            for r in range(rounds):
                with quiet():
                    flawed, *_ = damage(truth, seed + 100 * i + r)
                cands = corrector.screen(flawed)
                if not len(cands):
                    continue
                y = label_candidates(cands, [flawed], [truth])
                raw, inputs = pipeline_features(corrector.classifier_, cands)
                self.items.append((flawed, truth, cands, y, raw, inputs))

    @property
    def y(self) -> np.ndarray:
        return np.concatenate([it[3] for it in self.items])

    def proba(self, final) -> np.ndarray:
        return np.concatenate([final.predict_proba(it[5])[:, 1]
                               for it in self.items])

    def decisions(self, corrector, final):
        """Merged and unsure masks of every pair, with the corrector's rules."""
        merged, unsure = [], []
        box = getattr(corrector, "feature_range_", None)
        for flawed, _, cands, _, raw, inputs in self.items:
            p = final.predict_proba(inputs)[:, 1]
            outside = None if box is None else box.outside(raw)
            d = corrector.decide(flawed, cands, PairScores(p, out_of_range=outside))
            merged.append(d.merged)
            unsure.append(d.unsure)
        return np.concatenate(merged), np.concatenate(unsure)

    def concat(self, other: PairSet) -> PairSet:
        out = copy.copy(self)
        out.items = self.items + other.items
        return out


def calibrated(corrector, pairs: PairSet, method: str):
    """The corrector's final model calibrated on ``pairs``.

    What :meth:`MergeCorrector.calibrate` does, on the pairs' model inputs
    computed once: the model frozen, a calibrator fitted on the pairs.
    """
    inputs = np.concatenate([it[5] for it in pairs.items])
    final = uncalibrated(corrector.classifier_.steps[-1][1])
    return CalibratedClassifierCV(FrozenEstimator(final), method=method).fit(
        inputs, pairs.y
    )


def scores(y, p, merged, unsure, threshold: float = 0.5) -> dict:
    """Pair scores; ``caught``: unsure pairs the threshold alone got wrong."""
    tp = int((merged & (y == 1)).sum())
    fp = int((merged & (y == 0)).sum())
    fn = int((~merged & (y == 1)).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    return dict(
        pairs=len(y), ece=expected_calibration_error(y, p),
        precision=precision, recall=recall,
        f1=2 * precision * recall / max(precision + recall, 1e-12),
        distinct=fp / max(int((y == 0).sum()), 1), unsure=int(unsure.sum()),
        caught=int((unsure & ((p >= threshold) != (y == 1))).sum()),
    )


def fmt(s: dict) -> list:
    return [s["pairs"], f"{s['ece']:.3f}", f"{s['f1']:.3f}",
            f"{s['precision']:.3f}", f"{s['distinct']:.1%}",
            f"{s['unsure']} ({s['caught']})"]


COLUMNS = ["data", "model", "pairs", "ECE", "F1", "precision",
           "distinct merged", "unsure (errors caught)"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6,
                        help="damage rounds per real volume")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_calibration.py "
                      f"--rounds {args.rounds}")
    if not available():
        print(f"SKIP: {skip_message()}")
        return
    start = time.perf_counter()
    corrector = load_pretrained("axis")
    corrector.feature_range_ = training_feature_range(corrector, "axis")
    print(f"training range: {time.perf_counter() - start:.0f} s")

    def synthetic(seed):
        return [make_tissue((40, 128, 128), 50, mode=m, anisotropy=a,
                            random_state=seed + i)
                for i, (m, a) in enumerate(SYNTHETIC)]

    cal = PairSet(corrector, synthetic(2000), 2, 2000)
    test = PairSet(corrector, synthetic(3000), 2, 3000)
    real = {n: PairSet(corrector, [load(n)[0]], args.rounds, 500) for n in NAMES}
    print(f"pairs ready: {time.perf_counter() - start:.0f} s")

    raw_final = corrector.classifier_.steps[-1][1]
    finals = {"pretrained": raw_final}
    for method in ("isotonic", "sigmoid"):
        finals[f"+ {method} (synthetic)"] = calibrated(corrector, cal, method)
    rows, pooled = [], {k: [] for k in [
        "pretrained, no rules", "out-of-range rule", *finals,
        "+ isotonic (leave one out)",
    ]}

    bare = copy.copy(corrector).set_params(abstain=0.0, out_of_range="ignore")
    only_range = copy.copy(corrector).set_params(abstain=0.0)

    def add(name, label, pairs, final, c=corrector):
        merged, unsure = pairs.decisions(c, final)
        p = pairs.proba(final)
        rows.append([name, label, *fmt(scores(pairs.y, p, merged, unsure))])
        return pairs.y, p, merged, unsure

    add("synthetic held out", "pretrained, no rules", test, raw_final, bare)
    add("synthetic held out", "out-of-range rule", test, raw_final, only_range)
    for label, final in finals.items():
        add("synthetic held out", label, test, final)
    for name in NAMES:
        pooled["pretrained, no rules"].append(
            add(name, "pretrained, no rules", real[name], raw_final, bare))
        pooled["out-of-range rule"].append(
            add(name, "out-of-range rule", real[name], raw_final, only_range))
        for label, final in finals.items():
            pooled[label].append(add(name, label, real[name], final))
        others = cal
        for other in NAMES:
            if other != name:
                others = others.concat(real[other])
        loo = calibrated(corrector, others, "isotonic")
        pooled["+ isotonic (leave one out)"].append(
            add(name, "+ isotonic (leave one out)", real[name], loo))
    for label, parts in pooled.items():
        y, p, m, u = (np.concatenate(x) for x in zip(*parts))
        rows.append(["all real", label, *fmt(scores(y, p, m, u))])
    print("\n## Calibration, review band and out-of-range rule (axis model)\n")
    print(markdown_table(COLUMNS, rows))

    # fine-tuning on the user's own ground truth
    ovule = load("ovule_plantseg")[0]
    half = ovule.shape[2] // 2
    left = PairSet(corrector, [ovule[:, :, :half]], args.rounds, 700)
    right = PairSet(corrector, [ovule[:, :, half:]], args.rounds, 800)
    studies = [
        (FINE_TUNE_ON, real[FINE_TUNE_ON],
         {n: real[n] for n in NAMES if n != FINE_TUNE_ON}),
        ("ovule left half", left, {"ovule right half": right}),
    ]
    rows = []
    for source, tune, tests in studies:
        tuned = copy.deepcopy(corrector)
        start = time.perf_counter()
        with quiet():
            tuned.fine_tune([it[0] for it in tune.items],
                            [it[1] for it in tune.items])
        elapsed = time.perf_counter() - start
        for name, pairs in tests.items():
            for label, c in (("pretrained", corrector),
                             (f"fine-tuned on {source} "
                              f"({tuned.n_fine_tuning_pairs_} pairs, "
                              f"{elapsed:.1f} s)", tuned)):
                final = c.classifier_.steps[-1][1]
                merged, unsure = pairs.decisions(c, final)
                p = pairs.proba(final)
                rows.append([name, label, *fmt(scores(pairs.y, p, merged, unsure))])
    print("\n## Fine-tuning on the user's own ground truth (default settings: "
          "20 epochs, a tenth of the learning rate)\n")
    print(markdown_table(COLUMNS, rows))


if __name__ == "__main__":
    main()

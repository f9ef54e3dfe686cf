"""Stitch splits, leave one dataset out: recipes of the stitch route.

For each of the six real files ``F`` of ``../shared/data`` the stitch route
of the default corrector (``GapRoutedClassifier.stitch_``: the classifier
that decides gap-0 pairs) is retrained on the shipped recipe's synthetic
pairs plus damage of the *other five* real ground truths
(``em_medulla_gala`` every 4th layer), and ``F`` is evaluated exactly as
``bench_stitch.py`` does: perfect 2D sections and raw 2D segmentations,
stitched by cellpose's ``stitch3D`` at z steps 1 and 2 and thresholds 0.25
and 0.5, repaired by the corrector's own ``decide`` and ``apply`` steps. The
gap route stays the shipped one.

Recipes (stitch route only):

* ``shipped``: the pretrained stitch ensemble as it is (synthetic only);
* ``..., gapped too``: the stitch ensemble also decides the gapped pairs
  (it is trained on every pair), instead of the shipped gap ensemble;
* ``synthetic``: the shipped recipe's pairs retrained here with this run's
  ``--networks`` (the baseline of the rows below);
* ``+ real stitch``: plus the gap-0 pairs of ``stitch_candidates`` of the
  other real truths;
* ``+ real stitch + axis``: plus the axis damage of the other real truths
  (every pair: gapped pairs teach the stitch route too);
* ``... , inner threshold``: the same with the stitch route's threshold
  chosen by an inner leave-one-out over the five training files only (the
  lowest threshold at which their pooled section joins are at most
  ``--inner-target`` wrong);
* ``+ real stitch + thin``: plus stitch damage of thin, drifting
  domain-randomised tissue (``make_randomized_tissue``).

Speed-ups, which change nothing in what is compared: the pair features are
computed once with the shipped stitch pipeline's fitted feature step (its
topology normalisation learned on the synthetic pairs), and each fold refits
the scaler and a seed ensemble of ``--networks`` MergeNets (shipped: 5).

Run ``python benchmarks/bench_stitch_lodo.py [--networks 2]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _shared_data import ALL_NAMES, load, require_shared_data
from _stitch_eval import join_counts, per_file_table, perfect_merger, rule_merger
from bench_stitch import (
    BASE_STEP,
    CONFIGS,
    HEADER,
    score_repair,
    stitched_volumes,
    stitcher,
    summary,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import load_pretrained, make_training_candidates
from sklearn_overseg.datasets import make_randomized_tissue
from sklearn_overseg.pretrained import axis_training_candidates, stitch_candidates
from sklearn_overseg.pretrained.train import seed_ensemble

BASELINES = ("stitched", "rule 0.5", "rule 0.7", "perfect")
RECIPES = ("shipped", "synthetic", "+ real stitch", "+ real stitch + axis",
           "shipped, gapped too", "+ real stitch, gapped too")
#: More recipes, run on request (``--recipes``): slow, and no better (RESULTS.md).
MORE_RECIPES = ("+ real stitch, inner threshold", "+ real stitch + thin")
THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def touching(cands) -> np.ndarray:
    return np.array([c.gap is not None and c.n_gap_layers == 0 for c in cands], bool)


class Pairs:
    """Cached stitch-route features and labels of every training source."""

    def __init__(self, corrector, networks: int, seed: int = 0):
        self.corrector = corrector
        self.features = corrector.classifier_.stitch_[0]
        self.networks = networks
        screener = corrector.screener_
        x, y, _ = axis_training_candidates(seed=seed, screener=screener)
        self.synthetic = (self.features.transform(x), y)
        log(f"synthetic: {len(y)} pairs")
        self.real, self.real_axis = {}, {}
        for k, name in enumerate(ALL_NAMES):
            truth = load(name)[0][:: BASE_STEP.get(name, 1)]
            x, y = stitch_candidates([truth], screener, seed=seed + 10 + k)
            x, y = x[touching(x)], y[touching(x)]
            self.real[name] = (self.features.transform(x), y)
            x, y, _ = make_training_candidates(
                [truth], screener=screener, mode="axis", n_rounds=4,
                random_state=seed + 20 + k,
            )
            self.real_axis[name] = (self.features.transform(x), y)
            log(f"{name}: {len(self.real[name][1])} stitch pairs, "
                f"{len(y)} axis pairs")
        self.thin = None
        self.seed = seed
        self.heads = {}

    def thin_pairs(self):
        """Stitch damage of thin, drifting domain-randomised tissue (cached)."""
        if self.thin is not None:
            return self.thin
        thin, seed, screener = [], self.seed, self.corrector.screener_
        for k in range(4):
            tissue = make_randomized_tissue(
                (32, 96, 96), mode="dense", anisotropy=(1.0, 2.0),
                cell_radius=(4.0, 7.0), elongation=(2.0, 3.0), drift=(0.5, 1.5),
                random_state=seed + 300 + k,
            )
            thin.append(tissue)
        x, y = stitch_candidates(thin, screener, seed=seed + 30)
        x, y = x[touching(x)], y[touching(x)]
        self.thin = (self.features.transform(x), y)
        log(f"thin tissue: {len(y)} stitch pairs")
        return self.thin

    def training(self, recipe: str, names) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.synthetic]
        if "real" in recipe:
            parts += [self.real[n] for n in names]
        if "axis" in recipe:
            parts += [self.real_axis[n] for n in names]
        if "thin" in recipe:
            parts.append(self.thin_pairs())
        return (np.vstack([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]))

    def fit(self, recipe: str, names) -> Pipeline:
        """Scaler and seed ensemble of ``recipe`` trained with the files ``names``."""
        if recipe == "shipped":
            return self.corrector.classifier_.stitch_[1:]
        key = (recipe, tuple(names))
        if key not in self.heads:
            X, y = self.training(recipe, names)
            head = Pipeline([("scale", StandardScaler()),
                             ("clf", seed_ensemble(self.networks))])
            self.heads[key] = head.fit(X, y)
        return self.heads[key]


class TestVolume:
    """One stitched volume of a file: its screen, cached features, baselines."""

    def __init__(self, corrector, key, seg, truth):
        self.key, self.seg, self.truth = key, seg, truth
        self.baselines = {}
        for method in BASELINES:
            start = time.perf_counter()
            out = {"stitched": lambda: seg, "perfect": lambda: perfect_merger(
                seg, truth)}.get(method, lambda: rule_merger(
                    seg, float(method.split()[1])))()
            self.baselines[method] = score_repair(
                seg, out, truth, time.perf_counter() - start)
        try:
            self.cands = corrector.screen(seg)
        except ValueError as err:  # every label one layer thick: left unchanged
            if "one z layer thick" not in str(err):
                raise
            self.cands = None
            return
        self.rows = touching(self.cands)
        self.proba = np.zeros(len(self.cands))
        if (~self.rows).any():
            self.proba[~self.rows] = corrector.classifier_.gaps_.predict_proba(
                self.cands[~self.rows])[:, 1]
        self.X = (corrector.classifier_.stitch_[0].transform(self.cands)
                  if len(self.cands) else None)

    def stitch_proba(self, head, every: bool = False) -> np.ndarray:
        """Stitch-route probabilities of the gap-0 pairs (``every``: all pairs)."""
        if self.cands is None:
            return np.zeros(0)
        rows = np.ones_like(self.rows) if every else self.rows
        if not rows.any():
            return np.zeros(0)
        return head.predict_proba(self.X[rows])[:, 1]

    def corrected(self, corrector, proba, threshold: float = 0.5) -> np.ndarray:
        """The volume repaired with stitch-route probabilities ``proba``.

        ``proba`` holds the gap-0 pairs, or every pair (the stitch route then
        also decides the gapped pairs).
        """
        if self.cands is None:
            return self.seg
        full = self.proba.copy()
        rows = self.rows if len(proba) == self.rows.sum() else slice(None)
        full[rows] = rescale(proba, threshold)
        return corrector.apply(self.seg, corrector.decide(self.seg, self.cands, full))

    def repair(self, corrector, head, threshold: float = 0.5,
               every: bool = False) -> dict:
        start = time.perf_counter()
        out = self.corrected(corrector, self.stitch_proba(head, every), threshold)
        return score_repair(self.seg, out, self.truth, time.perf_counter() - start,
                            self.baselines["stitched"]["extra_before"])


def rescale(p: np.ndarray, threshold: float) -> np.ndarray:
    """Map ``threshold`` to 0.5 monotonically (a per-route decision threshold)."""
    if threshold == 0.5:
        return p
    return np.where(p < threshold, 0.5 * p / threshold,
                    0.5 + 0.5 * (p - threshold) / (1.0 - threshold))


def inner_threshold(pairs, tests, recipe, names, target: float) -> float:
    """Stitch-route threshold by leave-one-out over the training files ``names``.

    Each training file's section volumes are repaired by a model trained
    without it; the lowest threshold whose pooled joins are at most
    ``target`` wrong is chosen (else the one with the fewest wrong joins).
    """
    right = np.zeros(len(THRESHOLDS))
    wrong = np.zeros(len(THRESHOLDS))
    for inner in names:
        head = pairs.fit(recipe, [n for n in names if n != inner])
        for vol in tests[inner]:
            if vol.key[0] != "sections":
                continue
            proba = vol.stitch_proba(head)
            for i, t in enumerate(THRESHOLDS):
                out = vol.corrected(pairs.corrector, proba, t)
                r, w = join_counts(vol.seg, out, vol.truth)
                right[i] += r
                wrong[i] += w
    rate = wrong / np.maximum(right + wrong, 1)
    ok = np.flatnonzero(rate <= target)
    best = ok[0] if ok.size else int(np.argmin(rate))
    log(f"  inner rates {dict(zip(THRESHOLDS.tolist(), np.round(rate, 3)))} -> "
        f"{THRESHOLDS[best]}")
    return float(THRESHOLDS[best])


def compact(records, methods, files=ALL_NAMES) -> list[str]:
    """Rows ``removed / wrong joins / AP50`` per left-out file (RESULTS.md form)."""
    return per_file_table(records, methods, key="methods", reference="stitched",
                          files=files)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES),
                        choices=RECIPES + MORE_RECIPES)
    parser.add_argument("--inner-target", type=float, default=0.02)
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args(argv)
    require_shared_data(ALL_NAMES)
    which, stitch = stitcher()
    log(f"stitcher: {which}; stitch route: {args.networks} networks per ensemble")
    corrector = load_pretrained()
    tests = {
        name: [TestVolume(corrector, (src, z, t), seg, gt)
               for src, z, t, seg, gt in stitched_volumes(name, stitch, CONFIGS)]
        for name in ALL_NAMES
    }
    log("test volumes screened")
    pairs = Pairs(corrector, args.networks)
    records = []
    for name in ALL_NAMES:
        others = [n for n in ALL_NAMES if n != name]
        methods = {}
        for recipe in args.recipes:
            base = recipe.replace(", inner threshold", "").replace(", gapped too", "")
            head = pairs.fit(base, others)
            threshold = 0.5
            if recipe.endswith("inner threshold"):
                threshold = inner_threshold(pairs, tests, base, others,
                                            args.inner_target)
            every = recipe.endswith("gapped too")
            methods[recipe] = [v.repair(corrector, head, threshold, every)
                               for v in tests[name]]
            rows = [m for m, v in zip(methods[recipe], tests[name])
                    if v.key[0] == "sections"]
            right, wrong = (sum(r[k] for r in rows) for k in ("right", "wrong"))
            log(f"{name} {recipe} (t {threshold}): sections right {right} "
                f"wrong {wrong}")
        for i, vol in enumerate(tests[name]):
            src, z, t = vol.key
            records.append(dict(file=name, source=src, z_step=z, threshold=t, methods={
                **vol.baselines, **{r: methods[r][i] for r in args.recipes}}))
    shown = ("stitched", *args.recipes, "rule 0.5", "rule 0.7", "perfect")
    for source in ("sections", "raw"):
        print(f"\n### {source}, left-out file (four settings summed)\n")
        print(HEADER.replace("| setting |", "| left-out file |"))
        for name in ALL_NAMES:
            chosen = [r for r in records if (r["file"], r["source"]) == (name, source)]
            print("\n".join(summary(chosen, name, shown)))
        print("\n".join(summary([r for r in records if r["source"] == source],
                                f"**all six, {source}**", shown)))
    for source in ("sections", "raw"):
        print(f"\n### {source}: removed / wrong joins / AP50\n")
        chosen = [r for r in records if r["source"] == source]
        print("\n".join(compact(chosen, [*args.recipes, "rule 0.5", "rule 0.7",
                                         "perfect"])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()

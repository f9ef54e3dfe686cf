"""Generalisation: leave one real dataset out, and held-out synthetic families.

For each real ground truth in ``../shared/data`` (the electron-microscopy
volume every 4th layer), a model is trained on synthetic data plus every
*other* real ground truth, damaged by the package's own simulator, and tested
on damage made from the file left out (seeds never used in training). Held-out
synthetic families that no training sees (anisotropy 1 and 8, drift between
layers, small and large cells, cells cut by the volume's faces; seeds from
5000) are tested with the model trained on all six real files. Both the axis
model (one- and two-layer gaps, stacked distinct cells as hard negatives) and
the tilted model (random plane cuts, every touching pair) are scored.

Recipes (rows):

* ``shipped (zero-shot)``: the pretrained model as it is, scored exactly as
  ``correct()`` scores (``MergeCorrector.score_pairs`` then ``decide``: the
  axis model's screener with gap-0 pairs, its routes, training range and
  review band; checked against ``predict_merges`` on one damage per file);
* ``shipped, gapped pairs only (screener min_gap=1)`` (axis): the same
  model on the pairs of its screener without gap-0 pairs, what a user whose
  volume was not stitched from 2D slices can ask for
  (``corrector.screener_.set_params(min_gap=1)``);
* ``shipped, calibrated (isotonic|sigmoid) on the other real files`` (axis):
  the same after ``MergeCorrector.calibrate`` (each route on its own pairs)
  on the simulator's damage of the fold's training real files;
* ``recipe, synthetic only``: the shipped recipe's training tissues, retrained
  here with this run's settings (a baseline for the rows below);
* ``+ real (absolute)``: plus the other real ground truths, the paper's
  features in pixels;
* ``+ real (relative)``: the same with ``units="relative"`` features;
* ``+ real + randomised (relative)``: plus domain-randomised tissue
  (``make_randomized_tissue``, seeds from 0);
* ``+ real + randomised (relative, balanced)``: the same with the classes
  weighed equally in the loss (axis only; the tilted recipe already weighs
  its rare true splits 5 times);
* ``routed, synthetic only`` / ``routed + real`` / ``routed + real, balanced
  per source`` (axis): the shipped routed recipe (gap ensemble and stitch
  ensemble, ``gapped="both"``, training range; ``_lodo_routed.py``) at this
  run's size, on the recipe's synthetic pairs, plus the other real files'
  axis and stitch damage, plus each real file's classes weighed equally,
  and the same with the real files in the gap ensemble only (the stitch
  ensemble, which vetoes gapped pairs, stays synthetic).

The single-pipeline rows score the pairs of ``CandidateScreener(max_gap=2)``
(gaps of 1-2 layers); the shipped, calibrated and routed rows those of the
shipped axis screener, which also proposes gap-0 pairs (more pairs, the same
damage).

Features are computed once per pair and units; each fold refits only the
topology normalisation, the scaler and the classifier (seed ensemble of
``--networks`` MergeNets), with the shipped models' thresholds (axis 0.5,
tilted 0.7) and their decision step (``MergeCorrector.decide``). Scores per
left-out set: precision, recall, F1 of the merges (``bench_synthesized.Tally``),
distinct cells merged (axis: the stacked distinct-cell gaps made, merged;
tilted: distinct touching pairs merged, of all of them) and the expected
calibration error of the probabilities over every screened pair.

Usage::

    python benchmarks/bench_lodo.py [--size quick|default|large] [--networks 1]
        [--models axis tilted]

Time on 2 shared cores with the defaults: about 5-8 min for the axis model
and 16 min for the tilted model (every touching pair is resliced);
``--models axis`` or ``--size quick`` for a shorter run.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
from bench_common import markdown_table, print_environment
from bench_synthesized import Tally
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import (
    ClippedStandardScaler,
    GeoWassersteinFeatures,
    TopologyFeatures,
    load_pretrained,
)
from sklearn_overseg.metrics import expected_calibration_error, merge_scores
from sklearn_overseg.pretrained.train import TILTED_SLAB_LAYERS, seed_ensemble
from sklearn_overseg.screening import detect_stitched

RECIPES = (
    "shipped (zero-shot)",
    "shipped, gapped pairs only (screener min_gap=1)",
    "shipped, stitch splits auto (detect_stitched per volume)",
    "shipped, calibrated (isotonic) on the other real files",
    "shipped, calibrated (sigmoid) on the other real files",
    "recipe, synthetic only",
    "+ real (absolute)",
    "+ real (relative)",
    "+ real + randomised (relative)",
    "+ real + randomised (relative, balanced)",
    "routed, synthetic only",
    "routed + real",
    "routed + real, balanced per source",
    "routed + real in the gap route only, balanced per source",
)
GAPPED_ONLY = RECIPES[1]
AUTO = RECIPES[2]
CALIBRATED = {RECIPES[3]: "isotonic", RECIPES[4]: "sigmoid"}
AXIS_BALANCED = "+ real + randomised (relative, balanced)"
#: Labels of each case's pairs: ``cands`` (1-2 layer gaps), ``rcands``.
LABELS = {"cands": "y", "rcands": "ry"}
#: Targets per model: (F1, precision or None, distinct merged %).
TARGETS = {"axis": (0.97, 0.99, 2.0), "tilted": (0.95, None, 1.0)}
ECE_TARGET = 0.05
_BINARY = ("topology__quadratic_won", "topology__unimodal")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------- features
UNITS = ("absolute", "relative")


class Featurizer:
    """The shipped pipelines' features of pairs, in both units at once.

    Tilted pairs are resliced once (``TiltedReslicer``) and their
    ``ContactFeatures`` (free of units) computed once; the Geo-Wasserstein
    and topology features are computed per units (topology not normalised:
    each fold learns its normalisation, :class:`TopologyNormalizer`). The
    columns are those of ``make_pair_pipeline``'s feature union.
    """

    def __init__(self, model: str, fit_on):
        from sklearn_overseg import ContactFeatures, TiltedReslicer

        # the shipped recipe's settings: a slab of layers around the contact
        self.reslicer = (
            TiltedReslicer(max_layers=TILTED_SLAB_LAYERS).fit(fit_on)
            if model == "tilted" else None
        )
        sample = self._reslice(fit_on)
        self.parts = {
            units: [
                ("geo", GeoWassersteinFeatures(units=units).fit(sample)),
                ("topology", TopologyFeatures(normalize=False, units=units)
                 .fit(sample)),
            ]
            for units in UNITS
        }
        self.contact = (
            ContactFeatures(region="slab").fit(sample) if model == "tilted" else None
        )
        names = [f"{n}__{f}" for n, t in self.parts["absolute"]
                 for f in t.get_feature_names_out()]
        if self.contact is not None:
            names += [f"contact__{f}" for f in self.contact.get_feature_names_out()]
        self.names = names

    def _reslice(self, cands):
        return cands if self.reslicer is None else self.reslicer.transform(cands)

    def transform(self, cands) -> dict:
        """``units -> features`` of ``cands`` (float32, one row per pair)."""
        if len(cands) == 0:
            return {u: np.zeros((0, len(self.names)), np.float32) for u in UNITS}
        cands = self._reslice(cands)
        contact = [] if self.contact is None else [self.contact.transform(cands)]
        return {
            units: np.hstack([t.transform(cands) for _, t in parts] + contact)
            .astype(np.float32)
            for units, parts in self.parts.items()
        }


class TopologyNormalizer(TransformerMixin, BaseEstimator):
    """``TopologyFeatures(normalize=True)`` applied to cached raw columns.

    Median and interquartile range (else standard deviation, else 1) learned
    in ``fit`` on the non-binary topology columns, values clipped to
    [-10, 10], exactly as the shipped pipelines do inside their features.
    """

    def __init__(self, columns=(), clip: float = 10.0):
        self.columns = columns
        self.clip = clip

    def fit(self, X, y=None):
        raw = np.asarray(X)[:, list(self.columns)]
        q25, q50, q75 = np.percentile(raw, [25, 50, 75], axis=0)
        spread = q75 - q25
        std = raw.std(axis=0)
        self.center_ = q50
        self.scale_ = np.where(spread > 1e-9, spread, np.where(std > 1e-9, std, 1.0))
        return self

    def transform(self, X):
        out = np.array(X, dtype=np.float32)
        cols = list(self.columns)
        out[:, cols] = np.clip((out[:, cols] - self.center_) / self.scale_,
                               -self.clip, self.clip)
        return out


def head(model: str, columns, networks: int, balanced: bool = False) -> Pipeline:
    """Topology normalisation, scaler and classifier of the shipped recipe.

    ``balanced``: the axis networks weigh the classes equally
    (``class_weight="balanced"``); the tilted recipe keeps its weight 5.
    """
    if model == "axis":
        weight = "balanced" if balanced else None
        scale, clf = StandardScaler(), seed_ensemble(networks, class_weight=weight)
    else:
        scale = ClippedStandardScaler(clip=5.0)
        clf = seed_ensemble(networks, class_weight=5.0)
    return Pipeline([("topo", TopologyNormalizer(columns)), ("scale", scale),
                     ("clf", clf)])


_SHIPPED: dict = {}


def shipped(model: str):
    """The pretrained corrector (loaded once), screening every pair it can.

    ``stitch_splits=True``: the axis model also screens gap-0 pairs (the
    default, ``"auto"``, leaves them out of volumes that do not look
    stitched; its rows are the ``AUTO`` ones).
    """
    if model not in _SHIPPED:  # the axis model with its gap-0 pairs, as trained
        _SHIPPED[model] = load_pretrained(model, stitch_splits=True)
    return _SHIPPED[model]


def corrector_decisions(corrector, case: dict, key: str):
    """Probabilities and merges of one case as ``correct()`` makes them.

    ``score_pairs`` (a routed model: each route its pairs, gapped pairs the
    smaller of both ensembles; the training range flags pairs outside it)
    then ``decide`` (threshold, review band, out-of-range pairs unsure).
    """
    cands = case[key]
    if not len(cands):
        return np.zeros(0), np.zeros(0, bool)
    scores = corrector.score_pairs(cands, return_features=True)
    return scores.probabilities, corrector.decide(case["flawed"], cands, scores).merged


def check_predict_merges(corrector, case: dict, key: str, merged) -> None:
    """Fail unless ``merged`` are the pairs ``predict_merges`` merges."""
    expected = {(r["upper"], r["lower"]) for r in corrector.predict_merges(
        case["flawed"]) if r["merged"]}
    got = {tuple(p) for p in case[key].pairs[merged].tolist()} if len(
        case[key]) else set()
    if got != expected:
        raise AssertionError(f"benchmark merges {sorted(got)} differ from "
                             f"predict_merges' {sorted(expected)}")
    log(f"same {len(got)} merged pairs as predict_merges")


def decided(model: str, cases, probas, key: str = "cands", out_of_range=None):
    """``(p, merged)`` per case by the shipped model's decision step.

    Its threshold (axis 0.5, tilted 0.7) and review band; ``out_of_range``
    (one mask per case) makes those pairs unsure.
    """
    out_of_range = out_of_range or [None] * len(cases)
    return [
        (p, shipped(model).decide(case["flawed"], case[key], p,
                                  out_of_range=o).merged
         if len(case[key]) else np.zeros(0, bool))
        for case, p, o in zip(cases, probas, out_of_range)
    ]


# ------------------------------------------------------------------ scoring
def score(model: str, cases, results, key: str = "cands") -> dict:
    """Merge scores, distinct cells merged and ECE over one set's cases.

    ``results``: ``(probabilities, merged)`` of each case's ``key`` pairs.
    """
    tally, ys, ps = Tally(), [], []
    for case, (p, merged) in zip(cases, results):
        tally.add(case["flawed"], case["truth"], case["pairs"], case["hard"],
                  case[key], merged, merged, case["n_sim"])
        ys.append(case[LABELS[key]])
        ps.append(p)
    s = merge_scores(np.concatenate(tally.truth), np.concatenate(tally.merged))
    if model == "axis":
        made, merged_n = tally.hard_made, tally.hard_merged
    else:
        made, merged_n = tally.negatives, tally.negatives_merged
    y, p = np.concatenate(ys), np.concatenate(ps)
    extra = {}
    if key == "rcands":  # wrong merges of distinct cells: gap 0 or gapped
        from _lodo_routed import touching

        t = np.concatenate([touching(c[key]) for c in cases])
        m = np.concatenate([r[1] for r in results]) & (y == 0)
        extra["by_gap"] = (int((t & (y == 0)).sum()), int((m & t).sum()),
                           int((m & ~t).sum()), int((~t & (y == 0)).sum()))
    return {**extra,
        "pairs": f"{len(np.concatenate(tally.truth))} / {len(y)}",
        "precision": s["precision"], "recall": s["recall"], "f1": s["f1"],
        "distinct": 100 * merged_n / max(made, 1),
        "distinct_txt": f"{100 * merged_n / max(made, 1):.1f} ({merged_n}/{made})",
        "ece": expected_calibration_error(y, p) if len(y) else float("nan"),
    }


def meets(model: str, r: dict) -> str:
    f1_min, p_min, distinct_max = TARGETS[model]
    ok = [r["f1"] >= f1_min, r["distinct"] <= distinct_max, r["ece"] <= ECE_TARGET]
    if p_min is not None:
        ok.insert(1, r["precision"] >= p_min)
    return f"{sum(ok)}/{len(ok)}"


class RoutedRows:
    """The axis rows scored on the shipped screener's pairs, per fold.

    ``shipped, calibrated ...``: the shipped corrector recalibrated
    (``MergeCorrector.calibrate``, isotonic or sigmoid, each route on its
    pairs) on the
    simulator's damage of the fold's training real files; ``routed ...``:
    the shipped routed recipe (``_lodo_routed.RoutedHead``) trained at this
    run's size on the synthetic recipe's pairs, plus the training real files
    (``+ real``), plus their classes weighed equally per file (``balanced
    per source``).
    """

    def __init__(self, real: dict, cfg: dict, tests: dict, networks: int):
        import _lodo_routed as routed

        self.real, self.tests, self.routed = real, tests, routed
        fz, self.blocks, self.cases = routed.routed_data(
            real, cfg["synth_rounds"], cfg["real_rounds"], tests)
        log("axis: routed features done: " + str(
            {s: len(y) for s, (_, _, y) in self.blocks.items()}))
        topo = [i for i, n in enumerate(fz.names)
                if n.startswith("topology__") and n not in _BINARY]
        self.head = routed.RoutedHead(topo, fz.n_gap, networks, TopologyNormalizer)
        self.synthetic = routed.fit_routed(self.blocks, ["synthetic"], self.head,
                                           balanced=False)

    def fold(self, others) -> dict:
        """Fitted models of one fold (trained on ``others`` real files)."""
        from bench_common import quiet

        models = {}
        for recipe, method in CALIBRATED.items():
            models[recipe] = copy.deepcopy(shipped("axis"))
            with quiet():
                models[recipe].calibrate([self.real[o] for o in others],
                                         method=method)
        sources = ["synthetic", *others]
        return {
            **models,
            RECIPES[-4]: self.synthetic,
            RECIPES[-3]: self.routed.fit_routed(self.blocks, sources, self.head,
                                                balanced=False),
            RECIPES[-2]: self.routed.fit_routed(self.blocks, sources, self.head,
                                                balanced=True),
            RECIPES[-1]: self.routed.fit_routed(self.blocks, sources, self.head,
                                                balanced=True, stitch_real=False),
        }

    def results(self, models: dict, name: str):
        """``(recipe, [(p, merged) per case])`` of each model on set ``name``."""
        cases = self.tests[name]
        for recipe, fitted in models.items():
            if recipe in CALIBRATED:
                yield recipe, [corrector_decisions(fitted, c, "rcands")
                               for c in cases]
                continue
            scored = [fitted.predict(X, t) for X, t in self.cases[name]]
            yield recipe, decided("axis", cases, [p for p, _ in scored], "rcands",
                                  [o for _, o in scored])


# ----------------------------------------------------------------- protocol
#: Damage rounds and sizes per model, for ``--size quick|default|large``:
#: training rounds of the recipe's tissues (axis), tissue specs of the tilted
#: recipe (``_lodo_data.TILTED_SPECS[:n]``), rounds per real file, randomised
#: volumes and their rounds, test damages per left-out volume.
SIZES = {
    "quick": {
        "axis": dict(synth_rounds=1, real_rounds=2, n_random=3, random_rounds=1,
                     test_seeds=2),
        "tilted": dict(tilted_specs=2, real_rounds=1, n_random=1, random_rounds=1,
                       test_seeds=1),
    },
    "default": {
        "axis": dict(synth_rounds=2, real_rounds=4, n_random=6, random_rounds=2,
                     test_seeds=6),
        "tilted": dict(tilted_specs=3, real_rounds=1, n_random=2, random_rounds=1,
                       test_seeds=1),
    },
    "large": {
        "axis": dict(synth_rounds=4, real_rounds=6, n_random=10, random_rounds=2,
                     test_seeds=10),
        "tilted": dict(tilted_specs=7, real_rounds=2, n_random=4, random_rounds=1,
                       test_seeds=2),
    },
}


def pair_data(model: str, real: dict, cfg: dict):
    """Training blocks ``source -> (cands, y)`` and test cases ``set -> list``."""
    import _lodo_data as data

    train = {}
    cfg = cfg[model]
    if model == "axis":
        train["synthetic"] = data.axis_training(
            data.synthetic_axis_volumes(), cfg["synth_rounds"], 0)
        for i, (name, vol) in enumerate(real.items()):
            train[name] = data.axis_training([vol], cfg["real_rounds"], 100 + i)
        train["randomised"] = data.axis_training(
            data.randomized_volumes(cfg["n_random"]), cfg["random_rounds"], 200)
        make_test = data.axis_test
    else:
        specs = data.TILTED_SPECS[: cfg["tilted_specs"]]
        data.TILTED_SPECS, saved = specs, data.TILTED_SPECS
        train["synthetic"] = data.tilted_training(*data.synthetic_tilted_volumes())
        data.TILTED_SPECS = saved
        for i, (name, vol) in enumerate(real.items()):
            train[name] = data.tilted_training(
                *data.tilted_damage_rounds([vol], cfg["real_rounds"], 100 + i))
        train["randomised"] = data.tilted_training(*data.tilted_damage_rounds(
            data.randomized_volumes(cfg["n_random"]), cfg["random_rounds"], 200))
        make_test = data.tilted_test
    tests = data.test_sets(real, make_test, cfg["test_seeds"])
    return train, tests


def featurize(model: str, train: dict, tests: dict):
    """Cached features ``[units][source]`` and ``[units][set][case]``."""
    fz = Featurizer(model, next(c for c, _ in train.values() if len(c)))
    by_source = {s: fz.transform(c) for s, (c, _) in train.items()}
    log(f"{model}: training features done")
    by_case = {k: [fz.transform(c["cands"]) for c in v] for k, v in tests.items()}
    log(f"{model}: test features done")
    blocks = {u: {s: f[u] for s, f in by_source.items()} for u in UNITS}
    cases = {u: {k: [f[u] for f in v] for k, v in by_case.items()} for u in UNITS}
    return blocks, cases, fz.names


def run_model(model: str, real: dict, cfg: dict, networks: int,
              shipped_only: bool = False) -> list:
    """Rows ``(set, recipe, scores)`` of one model (the shipped rows only)."""
    start = time.perf_counter()
    train, tests = pair_data(model, real, cfg)
    n_pairs = {s: len(y) for s, (_, y) in train.items()}
    log(f"{model}: pairs made in {time.perf_counter() - start:.0f} s: {n_pairs}")
    if shipped_only:
        return shipped_rows(model, real, tests)
    blocks, cases, names = featurize(model, train, tests)
    topo_cols = [i for i, n in enumerate(names)
                 if n.startswith("topology__") and n not in _BINARY]
    labels = {s: y for s, (_, y) in train.items()}

    def fit(units, sources, balanced=False):
        X = np.concatenate([blocks[units][s] for s in sources])
        y = np.concatenate([labels[s] for s in sources])
        return head(model, topo_cols, networks, balanced).fit(X, y)

    def proba(clf, units, name):
        return [clf.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
                for X in cases[units][name]]

    rows = []
    synthetic_only = fit("absolute", ["synthetic"])
    routed = RoutedRows(real, cfg[model], tests, networks) if model == "axis" else None
    folds = [*real, "all real"]
    for fold in folds:
        others = [r for r in real if r != fold]
        fitted = {
            "+ real (absolute)": (fit("absolute", ["synthetic", *others]), "absolute"),
            "+ real (relative)": (fit("relative", ["synthetic", *others]), "relative"),
            "+ real + randomised (relative)": (
                fit("relative", ["synthetic", "randomised", *others]), "relative"),
            "recipe, synthetic only": (synthetic_only, "absolute"),
        }
        if model == "axis":
            fitted[AXIS_BALANCED] = (fit(
                "relative", ["synthetic", "randomised", *others], balanced=True),
                "relative")
        sets = [fold] if fold in real else [s for s in tests if s not in real]
        fold_routed = routed.fold(others) if routed is not None else {}
        for name in sets:
            start_row = len(rows)
            rows.extend(shipped_rows(model, real, {name: tests[name]}))
            for recipe in [r for r in RECIPES[1:] if r in fitted]:
                clf, units = fitted[recipe]
                rows.append((name, recipe, score(model, tests[name], decided(
                    model, tests[name], proba(clf, units, name)))))
            for recipe, results in routed.results(fold_routed, name) if (
                    routed is not None) else []:
                rows.append((name, recipe, score(model, tests[name], results,
                                                 "rcands")))
            rows[start_row:] = sorted(rows[start_row:],
                                      key=lambda row: RECIPES.index(row[1]))
        log(f"{model}: fold {fold} done")
    log(f"{model}: {time.perf_counter() - start:.0f} s")
    return rows


def shipped_rows(model: str, real: dict, tests: dict) -> list:
    """The shipped model's rows of each test set, scored as ``correct()`` does.

    Axis: on its own screener's pairs (gap-0 pairs too), checked against
    ``predict_merges`` on each real file's first damage, and on the pairs
    without gap-0 ones (``min_gap=1``).
    """
    key = "rcands" if model == "axis" else "cands"
    rows = []
    for name, cases in tests.items():
        results = [corrector_decisions(shipped(model), c, key) for c in cases]
        if name in real:  # the benchmark's path is correct()'s
            check_predict_merges(shipped(model), cases[0], key, results[0][1])
        rows.append((name, RECIPES[0], score(model, cases, results, key)))
        if model == "axis":  # the recipe screener is the shipped one, min_gap=1
            gapped = [corrector_decisions(shipped(model), c, "cands") for c in cases]
            rows.append((name, GAPPED_ONLY, score(model, cases, gapped, "cands")))
            # stitch_splits="auto": gap-0 pairs only where the volume looks
            # stitched (min_gap 0: the rcands pairs, else the gapped ones)
            found = [detect_stitched(c["flawed"]).stitched for c in cases]
            auto_cases = [dict(c, cands=c["rcands"], y=c["ry"]) if f else c
                          for c, f in zip(cases, found)]
            auto = [r if f else g for r, g, f in zip(results, gapped, found)]
            log(f"{name}: {sum(found)} of {len(cases)} damaged volumes look "
                "stitched")
            rows.append((name, AUTO, score(model, auto_cases, auto, "cands")))
    return rows


def gap_table(rows) -> str:
    """Wrong merges of the shipped axis model, gap-0 pairs against gapped ones."""
    return markdown_table(
        ["set", "distinct gap-0 pairs screened", "merged", "distinct gapped "
         "pairs screened", "merged"],
        [[name, r["by_gap"][0], r["by_gap"][1], r["by_gap"][3], r["by_gap"][2]]
         for name, recipe, r in rows if recipe == RECIPES[0]])


def untouched_table(real: dict) -> str:
    """Merges of the shipped axis model on the untouched ground truths."""
    import _lodo_data as data

    volumes = [*real.items()] + [
        (f"{family} ({k})", vol) for family in data.FAMILIES
        for k, vol in enumerate(data.family_volumes(family))]
    gapped_only = copy.deepcopy(shipped("axis"))
    gapped_only.screener_.set_params(min_gap=1)  # the fitted screener screens
    auto = copy.deepcopy(shipped("axis"))
    auto.screener_.set_params(min_gap="auto")
    out = []
    for name, vol in volumes:
        records = shipped("axis").predict_merges(vol)
        gapped = gapped_only.predict_merges(vol)
        chosen = auto.predict_merges(vol)
        out.append([name, len(records), sum(r["merged"] for r in records),
                    sum(r["decision"] == "unsure" for r in records),
                    len(gapped), sum(r["merged"] for r in gapped),
                    len(chosen), sum(r["merged"] for r in chosen)])
    return markdown_table(["ground truth", "pairs screened", "merged (all wrong)",
                           "unsure", "min_gap=1: pairs screened",
                           "min_gap=1: merged", "auto: pairs screened",
                           "auto: merged"], out)


def detail_table(model: str, rows) -> str:
    columns = ["left-out set", "recipe", "true pairs / screened", "precision",
               "recall", "F1", "distinct merged % (n)", "ECE", "targets met"]
    return markdown_table(columns, [
        [name, recipe, r["pairs"], r["precision"], r["recall"], r["f1"],
         r["distinct_txt"], r["ece"], meets(model, r)]
        for name, recipe, r in rows
    ])


def summary_table(model: str, rows, real) -> str:
    """Per recipe: means and worst values over the real files and families."""
    out = []
    for recipe in [r for r in RECIPES if any(rc == r for _, rc, _ in rows)]:
        on_real = [r for n, rc, r in rows if rc == recipe and n in real]
        on_fam = [r for n, rc, r in rows if rc == recipe and n not in real]
        all_met = sum(meets(model, r).split("/")[0] == meets(model, r).split("/")[1]
                      for r in on_real)
        out.append([
            recipe,
            np.mean([r["f1"] for r in on_real]), min(r["f1"] for r in on_real),
            np.mean([r["precision"] for r in on_real]),
            max(r["distinct"] for r in on_real),
            np.mean([r["ece"] for r in on_real]), max(r["ece"] for r in on_real),
            f"{all_met}/{len(on_real)}",
            np.mean([r["f1"] for r in on_fam]), min(r["f1"] for r in on_fam),
            max(r["distinct"] for r in on_fam),
        ])
    columns = ["recipe", "real: mean F1", "real: worst F1", "real: mean precision",
               "real: worst distinct %", "real: mean ECE", "real: worst ECE",
               "real files meeting every target", "families: mean F1",
               "families: worst F1", "families: worst distinct %"]
    return markdown_table(columns, out)


def main(argv=None) -> None:
    from _shared_data import ALL_NAMES, require_shared_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=("axis", "tilted"),
                        default=["axis", "tilted"])
    parser.add_argument("--networks", type=int, default=1,
                        help="networks in each trained seed ensemble (shipped: 5)")
    parser.add_argument("--size", choices=tuple(SIZES), default="default",
                        help="damage rounds and volumes (quick: development)")
    parser.add_argument("--shipped-only", action="store_true",
                        help="score the shipped models only (no training)")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_lodo.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    require_shared_data(ALL_NAMES)
    import _lodo_data as data

    cfg = SIZES[args.size]
    real = data.real_volumes()
    print(f"settings: {cfg}, networks per ensemble: {args.networks}\n")
    for model in args.models:
        rows = run_model(model, real, cfg, args.networks, args.shipped_only)
        target = ("F1 >= 0.97, precision >= 0.99, distinct stacked cells merged "
                  "<= 2%" if model == "axis" else
                  "F1 >= 0.95, distinct touching pairs merged <= 1%")
        print(f"### {model} model: summary ({target}, ECE <= 0.05)\n")
        print(summary_table(model, rows, real))
        print(f"\n### {model} model: per left-out set\n")
        print(detail_table(model, rows) + "\n")
        if model == "axis":
            print("### shipped axis model: wrong merges by gap (distinct cells)\n")
            print(gap_table(rows) + "\n")
            print("### shipped axis model on the untouched ground truths\n")
            print(untouched_table(real) + "\n")


if __name__ == "__main__":
    main()

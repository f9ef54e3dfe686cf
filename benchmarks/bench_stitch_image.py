"""Stitch splits, leave one dataset out: does the raw image stop wrong joins?

Most wrong joins of the default corrector on stitched 2D sections are gap-0
pairs that its stitch ensemble merges: two different cells stacked in z
across a flat interface (RESULTS.md section 9). The image should tell them
apart: a membrane (or an EM boundary) lies between two stacked cells, none
inside one cell. Here, for each of the six real files ``F`` of
``../shared/data``, the gap-0 decisions are remade with image evidence
learned without ``F``, and ``F``'s cellpose-stitched cross-sections (z steps
1 and 2, thresholds 0.25 and 0.5, exactly as ``bench_stitch.py``) are
repaired by the corrector's own ``decide`` and ``apply`` steps. Gapped pairs
keep the shipped model's decision in every variant.

Training pairs (gap-0 pairs only, each with the crop of its image):

* synthetic: the shipped recipe's tissues (``pretrained.train
  .training_volumes`` plus the stitch tissues), each with one synthetic
  image (``make_tissue_image``: membrane stain, nuclear stain for nuclei),
  damaged by ``slice_and_stitch`` (the recipe's five stitch settings) and by
  axis damage (its gap-0 pairs: different cells stacked across flat
  interfaces);
* real: the stitch damage of the other five real truths with their raw
  images (``em_medulla_gala``: every 4th layer, the image inverted so that
  boundaries are bright, as for a membrane stain).

Variants of the gap-0 decision:

* ``shipped``: ``load_pretrained()`` as it is (labels only, synthetic only);
* ``labels``: the shipped stitch features, a new scaler and seed ensemble
  trained on this fold's pairs (the fair label-only baseline);
* ``labels + image``: the same plus the six :class:`ImageFeatures`;
* ``labels + image, balanced``: the same with the classes weighed equally
  (most gap-0 training pairs are true splits);
* ``image veto``: the shipped probability, capped by an image-only model's
  (a merge needs both to agree); ``labels, image veto``: the same with the
  ``labels`` model; ``image veto < 0.2``: the image-only model vetoes only
  below 0.2; ``image veto, real only``: the image-only model trained on
  the other real files alone (no synthetic image);
* ``shipped, t 0.6`` / ``t 0.7``: no image, the shipped gap-0 probabilities
  with a stricter threshold (the control: what a veto must beat).

Reported per left-out file and overall: joins right / wrong, removed, wrong
joins and AP50 (the four settings summed; AP50 averaged). ``--source raw``
tests on the classical 2D segmentations of the raw images instead of the
perfect cross-sections (as ``bench_stitch.py``'s ``raw`` rows).

Run ``python benchmarks/bench_stitch_image.py [--networks 2]`` (about 15
minutes on 2 shared cores; ``--cache FILE`` keeps the pair features).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _shared_data import ALL_NAMES, load, require_shared_data
from _stitch_eval import per_file_table
from bench_stitch import (
    BASE_STEP,
    CONFIGS,
    bright_boundaries,
    score_repair,
    stitched_volumes,
    stitcher,
)
from bench_stitch_lodo import rescale
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import (
    CandidateSet,
    ImageFeatures,
    load_pretrained,
    make_training_candidates,
)
from sklearn_overseg.correction import attach_images, label_candidates
from sklearn_overseg.datasets import make_tissue, make_tissue_image, slice_and_stitch
from sklearn_overseg.pretrained._axis_recipe import (
    _FLAWS,
    STITCH_NEGATIVE_RATIO,
    STITCH_SETTINGS,
    STITCH_TISSUES,
)
from sklearn_overseg.pretrained.train import (
    TRAINING_TISSUES,
    seed_ensemble,
    training_volumes,
)

VARIANTS = ("shipped", "labels", "labels + image", "labels + image, balanced",
            "image veto", "image veto < 0.2", "image veto, real only",
            "labels, image veto",
            "shipped, t 0.6", "shipped, t 0.7")
#: Variants printed in the summary table (the others: per-setting lines).
SHOWN = ("shipped", "labels", "labels + image", "image veto", "image veto < 0.2",
         "shipped, t 0.6")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def touching(cands) -> np.ndarray:
    return np.array([c.gap is not None and c.n_gap_layers == 0 for c in cands], bool)


def stitch_pairs_with_image(truth, image, screener, seed):
    """Gap-0 pairs of the recipe's stitch rounds of ``truth``, with image crops."""
    rng = np.random.RandomState(seed)
    found, labels = [], []
    for threshold, z_step, flaws in STITCH_SETTINGS:
        flawed, _ = slice_and_stitch(
            truth, stitch_threshold=threshold, z_step=z_step,
            random_state=rng.randint(2**31 - 1), **_FLAWS[flaws],
        )
        if flawed.shape[0] < 2 or not flawed.any():
            continue
        cands = screener.transform([flawed])
        cands = cands[touching(cands)]
        if not len(cands):
            continue
        y = label_candidates(cands, [flawed], [truth[::z_step]])
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        n_keep = int(np.ceil(STITCH_NEGATIVE_RATIO * max(len(pos), 1)))
        if len(neg) > n_keep:
            neg = rng.choice(neg, size=n_keep, replace=False)
        keep = np.sort(np.concatenate([pos, neg]))
        cands = attach_images(cands[keep], [flawed], [image[::z_step]])
        found.append(cands)
        labels.append(y[keep])
    return CandidateSet.concatenate(found), np.concatenate(labels)


def synthetic_pairs(screener, seed: int = 0):
    """Gap-0 pairs of the synthetic recipe, each tissue with a drawn image."""
    modes = [m for _, _, m, _ in TRAINING_TISSUES]
    tissues = training_volumes(seed)
    stitch_tissues = [
        make_tissue(shape, n, mode=mode, anisotropy=aniso, random_state=seed + 50 + i)
        for i, (shape, n, mode, aniso) in enumerate(STITCH_TISSUES)
    ]
    modes += [m for _, _, m, _ in STITCH_TISSUES]
    volumes = tissues + stitch_tissues
    images = [
        make_tissue_image(v, "nuclei" if m == "nuclei" else "membrane",
                          random_state=seed + 70 + i)
        for i, (v, m) in enumerate(zip(volumes, modes))
    ]
    xs, ys = [], []
    x, y, _ = make_training_candidates(
        tissues, images=images[: len(tissues)], screener=screener, mode="axis",
        n_rounds=4, random_state=seed,
    )
    xs.append(x[touching(x)])
    ys.append(y[touching(x)])
    for i, (v, image) in enumerate(zip(volumes, images)):
        x, y = stitch_pairs_with_image(v, image, screener, seed + 100 + i)
        xs.append(x)
        ys.append(y)
    return CandidateSet.concatenate(xs), np.concatenate(ys)


class Features:
    """Label (shipped stitch feature step) and image features of pairs."""

    def __init__(self, corrector):
        self.labels = corrector.classifier_.stitch_[0]
        self.image = ImageFeatures()

    def __call__(self, cands) -> tuple[np.ndarray, np.ndarray]:
        if not len(cands):
            return np.zeros((0, 0), np.float32), np.zeros((0, 6), np.float32)
        return (np.asarray(self.labels.transform(cands), np.float32),
                self.image.fit(cands).transform(cands))


def training_features(corrector, cache: str | None):
    """``{source: (F_labels, F_image, y)}`` of the synthetic and real pairs."""
    if cache and os.path.exists(cache):
        data = np.load(cache)
        names = sorted({k.split("|")[0] for k in data.files})
        return {n: tuple(data[f"{n}|{p}"] for p in ("L", "I", "y")) for n in names}
    features, screener = Features(corrector), corrector.screener_
    out = {}
    x, y = synthetic_pairs(screener)
    out["synthetic"] = (*features(x), y)
    log(f"synthetic: {len(y)} gap-0 pairs ({int(y.sum())} splits)")
    for k, name in enumerate(ALL_NAMES):
        truth, raw, _ = load(name)
        base = BASE_STEP.get(name, 1)
        x, y = stitch_pairs_with_image(
            truth[::base], bright_boundaries(name, raw)[::base], screener, 10 + k
        )
        out[name] = (*features(x), y)
        log(f"{name}: {len(y)} gap-0 pairs ({int(y.sum())} splits)")
    if cache:
        np.savez(cache, **{f"{n}|{p}": a for n, v in out.items()
                           for p, a in zip(("L", "I", "y"), v)})
    return out


class TestVolume:
    """One stitched section volume of a file: screen, shipped proba, features."""

    def __init__(self, corrector, features, key, seg, truth, image):
        self.key, self.seg, self.truth = key, seg, truth
        self.extra = score_repair(seg, seg, truth, 0.0)["extra_before"]
        try:
            cands = corrector.screen(seg)
        except ValueError as err:  # every label one layer thick
            if "one z layer thick" not in str(err):
                raise
            self.cands = None
            return
        self.cands = cands
        scores = corrector.score_pairs(cands, return_features=True)
        self.proba = np.asarray(scores.probabilities, dtype=float)
        self.out_of_range = scores.out_of_range
        self.rows = touching(cands)
        gap0 = attach_images(cands[self.rows], [seg], [image]) if self.rows.any() \
            else cands[self.rows]
        self.L, self.I = features(gap0)
        self.y = label_candidates(gap0, [seg], [truth]) if len(gap0) else np.zeros(0)

    def repair(self, corrector, gap0_proba) -> dict:
        start = time.perf_counter()
        if self.cands is None:
            out = self.seg
        else:
            full = self.proba.copy()
            full[self.rows] = gap0_proba
            decisions = corrector.decide(self.seg, self.cands, full,
                                         out_of_range=self.out_of_range)
            out = corrector.apply(self.seg, decisions)
        return score_repair(self.seg, out, self.truth, time.perf_counter() - start,
                            self.extra)


def head(networks: int, **net_params) -> Pipeline:
    return Pipeline([("scale", StandardScaler()),
                     ("clf", seed_ensemble(networks, **net_params))])


def fold_probabilities(vol: TestVolume, models) -> dict:
    """Gap-0 probabilities of every variant for one test volume."""
    if vol.cands is None or not vol.rows.any():
        return {v: np.zeros(0) for v in VARIANTS}
    shipped = vol.proba[vol.rows]
    lab = models["labels"].predict_proba(vol.L)[:, 1]
    joint = np.hstack([vol.L, vol.I])
    both = models["labels + image"].predict_proba(joint)[:, 1]
    balanced = models["labels + image, balanced"].predict_proba(joint)[:, 1]
    img = models["image only"].predict_proba(vol.I)[:, 1]
    return {"shipped": shipped, "labels": lab, "labels + image": both,
            "labels + image, balanced": balanced,
            "image veto": np.minimum(shipped, img),
            "image veto < 0.2": np.where(img < 0.2, 0.0, shipped),
            "image veto, real only": np.minimum(
                shipped, models["image only, real"].predict_proba(vol.I)[:, 1]),
            "labels, image veto": np.minimum(lab, img),
            "shipped, t 0.6": rescale(shipped, 0.6),
            "shipped, t 0.7": rescale(shipped, 0.7)}


def image_evidence(tests) -> list[str]:
    """Image features of the gap-0 pairs the shipped model merges, by truth.

    AUC: how well the feature alone ranks distinct-cell pairs above true
    splits (0.5: no better than chance; files with more than two distinct).
    """
    lines = ["| file | merged gap-0 pairs | " + " | ".join(
        f"{n}: split / distinct (median), AUC" for n in ("interface_contrast",
                                                         "interface_peak")) + " |",
             "|---|---|---|---|"]
    for name in (*ALL_NAMES, None):
        vols = [v for n in (ALL_NAMES if name is None else [name]) for v in tests[n]
                if v.cands is not None and v.rows.any()]
        merged = [(v.I[v.proba[v.rows] >= 0.5], v.y[v.proba[v.rows] >= 0.5])
                  for v in vols]
        image = np.vstack([m[0] for m in merged])
        y = np.concatenate([m[1] for m in merged])
        cells = [f"{np.median(image[y == 1, k]):.2f} / "
                 f"{np.median(image[y == 0, k]):.2f}, "
                 f"{roc_auc_score(y == 0, image[:, k]):.2f}" if (y == 0).sum() > 2
                 else f"{np.median(image[y == 1, k]):.2f} / -" for k in (1, 2)]
        lines.append(f"| {name or '**all six**'} | {int(y.sum())} split, "
                     f"{int((y == 0).sum())} distinct | {' | '.join(cells)} |")
    return lines


def table(records, variants) -> list[str]:
    """Rows ``right / wrong: removed / wrong joins / AP50`` per left-out file."""
    return per_file_table(records, variants, key="variants", reference="shipped",
                          files=ALL_NAMES, counts=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--cache", help="npz file of the training pair features")
    parser.add_argument("--source", choices=["sections", "raw"], default="sections",
                        help="2D masks of the test volumes: perfect cross-sections "
                             "or classical 2D segmentations of the raw image")
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args(argv)
    require_shared_data(ALL_NAMES)
    which, stitch = stitcher()
    log(f"stitcher: {which}; {args.networks} networks per ensemble")
    corrector = load_pretrained()
    features = Features(corrector)
    tests = {
        name: [TestVolume(corrector, features, (z_step, threshold), seg, gt, im)
               for _, z_step, threshold, seg, gt, im in stitched_volumes(
                   name, stitch, CONFIGS, (args.source,), with_image=True)]
        for name in ALL_NAMES
    }
    log("test volumes screened")
    train = training_features(corrector, args.cache)
    records = []
    for name in ALL_NAMES:
        parts = [train["synthetic"]] + [train[n] for n in ALL_NAMES if n != name]
        L = np.vstack([p[0] for p in parts])
        image = np.vstack([p[1] for p in parts])
        y = np.concatenate([p[2] for p in parts])
        models = {
            "labels": head(args.networks).fit(L, y),
            "labels + image": head(args.networks).fit(np.hstack([L, image]), y),
            "labels + image, balanced": head(
                args.networks, class_weight="balanced").fit(np.hstack([L, image]), y),
            "image only": head(args.networks).fit(image, y),
            "image only, real": head(args.networks).fit(
                np.vstack([p[1] for p in parts[1:]]),
                np.concatenate([p[2] for p in parts[1:]])),
        }
        for vol in tests[name]:
            proba = fold_probabilities(vol, models)
            records.append(dict(
                file=name, z_step=vol.key[0], threshold=vol.key[1],
                variants={v: vol.repair(corrector, proba[v]) for v in VARIANTS},
            ))
        done = [r for r in records if r["file"] == name]
        log(name + ": " + ", ".join(
            f"{v} {sum(r['variants'][v]['right'] for r in done)}/"
            f"{sum(r['variants'][v]['wrong'] for r in done)}" for v in VARIANTS))
    print(f"\nTest volumes: {args.source}. Cells: joins right / wrong: removed / "
          "wrong joins / AP50 (the four settings of the left-out file summed; "
          "AP50 averaged).\n")
    print("\n".join(table(records, SHOWN)))
    print("\n".join(table(records, [v for v in VARIANTS if v not in SHOWN])))
    for z_step, threshold in CONFIGS:
        chosen = [r for r in records if (r["z_step"], r["threshold"]) == (
            z_step, threshold)]
        print(f"\nz step {z_step}, threshold {threshold}: " + "; ".join(
            f"{v} {sum(r['variants'][v]['right'] for r in chosen)} / "
            f"{sum(r['variants'][v]['wrong'] for r in chosen)}" for v in VARIANTS))
    print("\nImage features (robust z units) of the gap-0 pairs the shipped model "
          "merges (p >= 0.5), true splits against distinct cells:\n")
    print("\n".join(image_evidence(tests)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()

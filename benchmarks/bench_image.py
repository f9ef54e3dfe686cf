"""Does the raw image help? Label-only vs label+image pair pipelines.

Leave one dataset out over the shared volumes whose raw image shows signal:
the ovule (membrane stain) and the nuclei 1135, 1136 and cells3d. For each
left-out volume, the pair pipelines are trained on the other three real
volumes (ground truth damaged by the package's simulator, with their raw
images) plus synthetic tissue whose image is drawn by
``make_tissue_image`` (dense tissue with a membrane stain, nuclei with a
nuclear stain), then tested on the left-out volume, damaged with other seeds.

* ``axis``: missing layers (1 layer), noisy partial masks, and distinct
  stacked cells trimmed to face each other across a gap
  (``n_stacked_confounders``, the hard negatives), ``CandidateScreener()``.
* ``tilted`` (``--tilted``): tilted cuts (``mode="tilted"``), contact
  screener, ``TiltedReslicer`` + ``ContactFeatures`` in the pipeline.

Both feature sets come from one fitted feature union per fold (the
label-only set is its label columns), so the two pipelines see exactly the
same pairs; an image-only model is added as an ablation, and a veto (merge
when both the label-only and the image-only model say so). The training
damage opens hard negatives at 40% of the cells (the test's: 15%) and the
classifiers weigh the classes equally (``class_weight="balanced"``): nuclei
never touch, so the three nuclei volumes give no distinct-cell pairs.
Reported per left-out volume and classifier: F1, precision and recall of the
merge decisions at p >= 0.5, and distinct-cell merges (pairs of two
different true cells that were merged, out of all such pairs).

Run: ``python benchmarks/bench_image.py [--tilted] [--rounds N]``
(skips cleanly without ``../shared/data``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _shared_data import load, require_shared_data
from bench_common import markdown_table, print_environment
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import (
    CandidateScreener,
    GeoWassersteinFeatures,
    ImageFeatures,
    TopologyFeatures,
    make_training_candidates,
)
from sklearn_overseg.datasets import make_tissue, make_tissue_image

#: Left-out volumes (raw images with signal) and the stain of each.
STAINS = {
    "ovule_plantseg": "membrane",
    "nuclei_gonuclear_1135": "nuclei",
    "nuclei_gonuclear_1136": "nuclei",
    "nuclei_cells3d": "nuclei",
}
N_IMAGE = 6  # ImageFeatures columns, last in the union
TEST_ROUNDS = 10  # damage rounds of the left-out volume


def synthetic(seed: int, looks: int = 2):
    """Synthetic tissue with drawn images: 2 dense (membrane), 2 nuclei.

    Each volume gets ``looks`` images with their own random blur, noise and
    contrast (and its own damage rounds).
    """
    volumes, images = [], []
    for i in range(2):
        dense = make_tissue((24, 96, 96), n_cells=40, random_state=seed + i)
        nuclei = make_tissue((40, 96, 96), n_cells=25, mode="nuclei",
                             random_state=seed + 10 + i)
        for look in range(looks):
            volumes += [dense, nuclei]
            images += [
                make_tissue_image(dense, "membrane", random_state=seed + 20 * look + i),
                make_tissue_image(nuclei, "nuclei",
                                  random_state=seed + 20 * look + 10 + i),
            ]
    return volumes, images


def pairs(volumes, images, mode, n_rounds, seed, negative_ratio, confounders=0.15):
    screener = CandidateScreener(mode="contact", min_contact=10) if mode == "tilted" \
        else CandidateScreener()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make_training_candidates(
            volumes, images=images, screener=screener,
            mode="contact" if mode == "tilted" else mode,
            n_rounds=n_rounds, negative_ratio=negative_ratio, random_state=seed,
            confounder_fraction=confounders,
        )[:2]


def feature_head(mode):
    """The feature part of ``make_pair_pipeline(..., image=True)``."""
    parts = [("geo", GeoWassersteinFeatures()), ("topology", TopologyFeatures())]
    steps = []
    if mode == "tilted":
        from sklearn_overseg import ContactFeatures, TiltedReslicer

        parts.append(("contact", ContactFeatures()))
        steps.append(("reslice", TiltedReslicer()))
    parts.append(("image", ImageFeatures()))
    return Pipeline(steps + [("features", FeatureUnion(parts))])


def classifiers():
    from sklearn_overseg import MergeNet

    return {
        "logistic": lambda: LogisticRegression(max_iter=5000,
                                               class_weight="balanced"),
        "MergeNet small": lambda: MergeNet(
            module__hidden=(32, 16), max_epochs=80, random_state=0,
            class_weight="balanced", iterator_train__shuffle=True),
    }


def scores(y, p):
    merged = p >= 0.5
    neg = y == 0
    return {
        "F1": f1_score(y, merged, zero_division=0),
        "precision": precision_score(y, merged, zero_division=0),
        "recall": recall_score(y, merged, zero_division=0),
        "distinct merged": f"{int((merged & neg).sum())}/{int(neg.sum())}",
    }


def run(mode: str, n_rounds: int, only=None) -> list[dict]:
    real = {name: load(name) for name in STAINS}
    syn_v, syn_i = synthetic(100)
    # training: more hard negatives (40% of the cells) than the test's 15%;
    # nuclei never touch, so they give none
    train_syn = pairs(syn_v, syn_i, mode, n_rounds, 1, 1.0, 0.4)
    train_real = {n: pairs([v[0]], [v[1]], mode, n_rounds, 2, 1.0, 0.4)
                  for n, v in real.items()}
    test_real = {n: pairs([v[0]], [v[1]], mode, TEST_ROUNDS, 3, None)
                 for n, v in real.items()}
    rows = []
    for left_out in only or STAINS:
        t0 = time.perf_counter()
        parts = [train_syn] + [train_real[n] for n in STAINS if n != left_out]
        X_train = parts[0][0]
        for p in parts[1:]:
            X_train = X_train + p[0]
        y_train = np.concatenate([p[1] for p in parts])
        X_test, y_test = test_real[left_out]
        head = feature_head(mode).fit(X_train, y_train)
        F_train, F_test = head.transform(X_train), head.transform(X_test)
        n = F_train.shape[1]
        feature_sets = {
            "labels": np.arange(n - N_IMAGE),
            "labels + image": np.arange(n),
            "image only (ablation)": np.arange(n - N_IMAGE, n),
        }
        for clf_name, make in classifiers().items():
            proba = {}
            for features, cols in feature_sets.items():
                model = Pipeline([("scale", StandardScaler()), ("clf", make())])
                model.fit(F_train[:, cols].astype(np.float32), y_train)
                proba[features] = model.predict_proba(
                    F_test[:, cols].astype(np.float32))[:, 1]
            # a veto: merge only when the label and the image models agree
            proba["labels, image veto (ablation)"] = np.minimum(
                proba["labels"], proba["image only (ablation)"])
            for features, p in proba.items():
                rows.append({"left out": left_out, "classifier": clf_name,
                             "features": features, **scores(y_test, p),
                             "test pairs (+)": f"{len(y_test)} ({int(y_test.sum())})"})
        print(f"  {left_out}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tilted", action="store_true",
                        help="also run tilted cuts (contact screener; slower)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="damage rounds per training volume (default 3)")
    parser.add_argument("--only", nargs="+", choices=list(STAINS),
                        help="left-out volumes to test (default: all four)")
    args = parser.parse_args()
    require_shared_data(tuple(STAINS))
    command = "python benchmarks/bench_image.py" + (" --tilted" if args.tilted
                                                    else "")
    print_environment(command + (f" --rounds {args.rounds}" if args.rounds != 3
                                 else ""))
    for mode in ("axis", "tilted") if args.tilted else ("axis",):
        t0 = time.perf_counter()
        print(f"\n### {mode}: leave one dataset out, {args.rounds} damage rounds")
        rows = run(mode, args.rounds, args.only)
        print(markdown_table(list(rows[0]), [list(r.values()) for r in rows]))
        print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

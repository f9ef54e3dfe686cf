"""Correcting genuinely flawed segmentations of the real volumes (paper Table 2a).

Two kinds of flawed input, both from ``../shared/data`` (skipped with a
message when absent):

1. **2D per slice + z-stitching** of the real ``raw`` images
   (``benchmarks/_flawed_segmentation.py``): at native z sampling with
   stitch threshold 0.25, and with every third layer (an anisotropic stack)
   with threshold 0.5. GoNuclear 1137 is left out: its ``raw`` has almost no
   contrast and the 2D segmenter finds no nucleus (AP 0).
2. **Dropout**: single 2D masks of the ground truth deleted with
   probability 0.05 (``drop_masks_per_slice``), plus hard negatives: stacked
   different cells trimmed to a one-layer gap
   (:func:`bench_common.make_hard_negatives`, 10% of the cells).

Correctors: no correction; a second IoU stitching pass with a lower threshold
(``IoUStitchBaseline(0.1)``); merging every screened pair
(``MergeAllCandidates``, axis screener with ``max_gap=2`` as the pretrained
model); a logistic regression on the same features, trained on the same
synthetic data as the pretrained model (``pretrained/train.py``); the
pretrained MLP (``load_pretrained("axis")``); the same MLP on the screener's
``mode="both"`` (axis gaps plus touching pairs, the touching ones resliced
along their contact plane by ``TiltedReslicer``, zero-shot); and, when a
pretrained ``tilted`` model exists, the axis model followed by the tilted one.

Scores: AP at IoU 0.25 / 0.5 / 0.75 and their mean, Jaccard, VOI split and
merge (bits), and merge cases (``bench_common.merge_cases``): a join of two
flawed labels is correct when both lie mostly in the same true cell.

Usage::

    python benchmarks/bench_real_flawed.py [--dropout-seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _baselines import IoUStitchBaseline, MergeAllCandidates, NoCorrection
from _flawed_segmentation import CONFIGS, SETTINGS, drop_masks_per_slice
from _flawed_segmentation import flawed_segmentation as segment
from _shared_data import NAMES, load, require_shared_data
from bench_common import (
    majority_truth,
    make_hard_negatives,
    markdown_table,
    merge_cases,
    print_environment,
)
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from sklearn_overseg import (
    MergeCorrector,
    TiltedReslicer,
    available_pretrained,
    load_pretrained,
    make_pair_pipeline,
)
from sklearn_overseg.metrics import (
    average_precision,
    jaccard_index,
    variation_of_information,
)

#: Files whose raw image the 2D segmenter can read (1137: no contrast).
RAW_FILES = tuple(n for n in NAMES if n != "nuclei_gonuclear_1137")
DROPOUT_P = 0.05
HARD_FRACTION = 0.1


class Sequential:
    """Apply several correctors one after the other."""

    def __init__(self, *correctors):
        self.correctors = correctors

    def correct(self, volume: np.ndarray) -> np.ndarray:
        for corrector in self.correctors:
            volume = corrector.correct(volume)
        return volume


class _FittedReslicer(TiltedReslicer):
    """A ``TiltedReslicer`` usable without ``fit`` (it learns nothing)."""

    def __sklearn_is_fitted__(self) -> bool:
        return True


def both_mode(axis: MergeCorrector) -> MergeCorrector:
    """The fitted axis corrector on axis *and* contact candidates.

    Contact candidates are resliced along their contact plane (a one-layer
    gap is blanked on it) and classified by the axis model's own pipeline.
    """
    corrector = clone(axis)
    corrector.screener_ = clone(axis.screener_).set_params(mode="both")
    corrector.classifier_ = Pipeline(
        [("reslice", _FittedReslicer()), *axis.classifier_.steps]
    )
    corrector.n_training_pairs_ = axis.n_training_pairs_
    return corrector


def correctors(logistic_volumes: int) -> dict:
    """The correctors compared, by name (the logistic one fitted here)."""
    from sklearn_overseg.pretrained.train import build_corrector, training_volumes

    axis = load_pretrained("axis")
    logistic = clone(build_corrector("axis")).set_params(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=2000))
    )
    start = time.perf_counter()
    logistic.fit(training_volumes(0)[:logistic_volumes])
    print(f"logistic regression: trained on {logistic.n_training_pairs_} pairs "
          f"({logistic_volumes} synthetic volumes of pretrained/train.py, "
          f"{time.perf_counter() - start:.0f} s)\n")
    found = {
        "no correction": NoCorrection(),
        "IoU stitch 0.1": IoUStitchBaseline(0.1),
        "merge all candidates": MergeAllCandidates(clone(axis.screener_)),
        "logistic regression": logistic,
        "MLP (pretrained axis)": axis,
        "MLP axis, mode='both'": both_mode(axis),
    }
    if "tilted" in available_pretrained():
        found["MLP axis, then tilted"] = Sequential(axis, load_pretrained("tilted"))
    return found


def scores(truth, flawed, corrected, hard_pairs) -> dict:
    """Segmentation scores and merge cases of one corrected volume.

    ``hard_gaps_merged`` counts the pairs of ``hard_pairs`` (distinct cells)
    that ended in one corrected label.
    """
    ap = average_precision(truth, corrected, thresholds=(0.25, 0.5, 0.75))
    split, merge = variation_of_information(truth, corrected)
    target = majority_truth(flawed, corrected)
    return {
        "hard_gaps": len(hard_pairs),
        "hard_gaps_merged": sum(
            target.get(a, 0) == target.get(b, -1) != 0 for a, b in hard_pairs.tolist()
        ),
        "AP25": ap[0], "AP50": ap[1], "AP75": ap[2], "mAP": ap.mean(),
        "jaccard": jaccard_index(truth, corrected),
        "VOI split": split, "VOI merge": merge,
        **merge_cases(truth, flawed, corrected),
    }


SUMMARY = ("mAP", "AP25", "AP50", "AP75", "jaccard", "VOI split", "VOI merge")


def evaluate(cases, methods, desc: str):
    """Scores of every method on every ``(name, truth, flawed)`` case."""
    results = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    bar = tqdm(total=len(cases) * len(methods), desc=desc, file=sys.stderr)
    for name, truth, flawed, hard in cases:
        for method, corrector in methods.items():
            start = time.perf_counter()
            corrected = corrector.correct(flawed)
            seconds[method] += time.perf_counter() - start
            results[method].append((name, scores(truth, flawed, corrected, hard)))
            bar.update()
    bar.close()
    return results, seconds


def summary_table(results, seconds) -> str:
    """Mean scores over the cases and summed merge cases, one row per method."""
    rows = []
    for method, per_case in results.items():
        values = [s for _, s in per_case]
        mean = [float(np.mean([v[k] for v in values])) for k in SUMMARY]
        correct = sum(v["correct"] for v in values)
        wrong = sum(v["incorrect"] for v in values)
        needed = sum(v["same_cell_joins"] for v in values)
        hard = sum(v["hard_gaps"] for v in values)
        hard_merged = sum(v["hard_gaps_merged"] for v in values)
        rows.append([method, *mean, f"{correct} / {wrong}", needed,
                     f"{hard_merged} / {hard}" if hard else "-",
                     f"{seconds[method]:.1f}"])
    return markdown_table(
        ["method", *SUMMARY, "merges correct / incorrect", "same-cell joins",
         "hard gaps merged", "seconds"], rows,
    )


def per_file_table(results) -> str:
    """AP50 and merge cases per file (summed over seeds) and method."""
    methods = list(results)
    names = list(dict.fromkeys(n for n, _ in results[methods[0]]))
    rows = []
    for name in names:
        row = [name]
        for method in methods:
            values = [s for n, s in results[method] if n == name]
            row.append(
                f"{np.mean([v['AP50'] for v in values]):.3f} "
                f"({sum(v['correct'] for v in values)}/"
                f"{sum(v['incorrect'] for v in values)})"
            )
        rows.append(row)
    return markdown_table(["file", *methods], rows)


def stitched_cases(z_step: int, threshold: float):
    """``(name, truth, flawed, no hard pairs)`` of the 2D + stitching output."""
    cases = []
    for name in RAW_FILES:
        truth, raw, _ = load(name)
        kind, params = SETTINGS[name]
        flawed = segment(raw[::z_step], kind, threshold, **params)
        cases.append((name, truth[::z_step], flawed, np.zeros((0, 2), np.int64)))
    return cases


def dropout_cases(seeds: int):
    """``(name, truth, flawed, hard pairs)``: ground truth with masks dropped."""
    cases = []
    for name in NAMES:
        truth = load(name)[0]
        n_cells = int(np.count_nonzero(np.unique(truth)))
        for seed in range(seeds):
            flawed, pairs = drop_masks_per_slice(truth, DROPOUT_P, rng=seed)
            hard = make_hard_negatives(
                flawed, max(1, round(HARD_FRACTION * n_cells)), pairs.ravel(),
                rng=seed,
            )
            cases.append((name, truth, flawed, hard))
    return cases


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dropout-seeds", type=int, default=3)
    parser.add_argument("--logistic-volumes", type=int, default=8,
                        help="synthetic training volumes of the logistic model")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_real_flawed.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    require_shared_data()
    methods = correctors(args.logistic_volumes)
    for z_step, threshold in CONFIGS:
        cases = stitched_cases(z_step, threshold)
        results, seconds = evaluate(cases, methods, f"stitched z{z_step}")
        print(f"### 2D per slice + IoU stitching, z step {z_step}, stitch "
              f"threshold {threshold} (mean over {len(cases)} files)\n")
        print(summary_table(results, seconds))
        print("\nPer file: AP50 (correct/incorrect merges)\n")
        print(per_file_table(results) + "\n")
    cases = dropout_cases(args.dropout_seeds)
    results, seconds = evaluate(cases, methods, "dropout")
    print(f"### Ground truth, 2D masks dropped (p={DROPOUT_P}) + hard negatives "
          f"({HARD_FRACTION:.0%} of cells), {args.dropout_seeds} seeds x "
          f"{len(NAMES)} files\n")
    print(summary_table(results, seconds))
    print("\nPer file: AP50 (correct/incorrect merges, summed over seeds)\n")
    print(per_file_table(results))


if __name__ == "__main__":
    main()

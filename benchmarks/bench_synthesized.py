"""Merge decisions on held-out synthetic tissue and on real cells with simulated splits.

The paper's Table 2b. Every volume is damaged by the package's
oversegmentation simulator (one-layer axis splits, shrunk masks next to
gaps, small noisy partial masks in some gaps) and, as hard negatives, pairs
of *different* stacked cells are trimmed so that one empty layer separates
them: half by the simulator's own stacked confounders (the generator the
pretrained model is trained with), half by this benchmark's independent
:func:`bench_common.make_hard_negatives`. The pretrained corrector then
decides on every screened pair (``MergeCorrector.predict_merges``). A
"stress" set has cells spanning fewer layers (anisotropy 6-8) and masks
shrunk by 2 pixels next to gaps.

Scores per data set:

* precision, recall and F1 of the merge decisions
  (:func:`sklearn_overseg.metrics.merge_scores` of the merged records
  against the simulator's true pairs; a merged record that joins a noisy
  partial mask to the cell it lies in is neither right nor wrong, one that
  joins it elsewhere is a false merge);
* ``hard gaps merged``: share of the distinct-cell gaps made that were merged;
* ``neg. merged``: share of all screened distinct-cell pairs that were merged;
* the same scores for merging every screened pair (no classifier).

Synthetic volumes use seeds 1000 and up; ``pretrained/train.py`` uses 0-7.
The real volumes (``../shared/data``) are skipped with a message when absent.
With a pretrained ``tilted`` model, tilted cuts are scored the same way.

Usage::

    python benchmarks/bench_synthesized.py [--rounds 8] [--real-rounds 12]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_common import (
    majority_truth,
    make_hard_negatives,
    markdown_table,
    print_environment,
    quiet,
)
from sklearn.base import clone
from tqdm import tqdm

from sklearn_overseg import available_pretrained, load_pretrained
from sklearn_overseg.correction._steps import decide_merges
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import merge_scores
from sklearn_overseg.models import load_model

#: Held-out synthetic tissues: name -> [(shape, n_cells, anisotropy, seed)];
#: the name starts with the tissue mode of ``make_tissue``.
HELD_OUT = {
    "dense": [
        ((48, 160, 160), 80, 3.0, 1001),
        ((40, 128, 128), 50, 2.0, 1002),
        ((64, 128, 128), 60, 1.5, 1003),
        ((32, 128, 128), 60, 5.0, 1004),
    ],
    "loose": [
        ((48, 160, 160), 80, 3.0, 1101),
        ((40, 128, 128), 50, 4.0, 1102),
        ((48, 128, 128), 40, 2.5, 1103),
        ((64, 128, 128), 60, 2.0, 1104),
    ],
    "nuclei": [
        ((48, 160, 160), 40, 2.0, 1201),
        ((48, 160, 160), 40, 3.0, 1202),
        ((64, 128, 128), 30, 1.5, 1203),
        ((40, 128, 128), 30, 2.5, 1204),
    ],
    # harder: cells spanning few layers, masks shrunk by 2 pixels at gaps
    "dense stress": [
        ((40, 160, 160), 80, 6.0, 1301),
        ((40, 160, 160), 80, 8.0, 1302),
        ((32, 128, 128), 50, 6.0, 1303),
        ((48, 160, 160), 80, 3.0, 1304),
    ],
}
#: Pixels of shrinkage next to gaps, per data set (default ``SHRINK``).
SHRINK_OF = {"dense stress": 2}

#: Damage per round, as fractions of the number of cells (splits) or splits.
SPLIT_FRACTION = 0.25
HARD_FRACTION = 0.1
NOISE_FRACTION = 0.3
SHRINK = 1

COLUMNS = (
    "data set", "volumes x rounds", "true pairs (screened)", "precision",
    "recall", "F1",
    "hard gaps made / screened / merged", "hard gaps merged % (of screened)",
    "neg. merged %", "merge-all precision", "merge-all F1",
)


def held_out_volumes(name: str) -> list[np.ndarray]:
    """The held-out synthetic ground truths of one data set of ``HELD_OUT``."""
    mode = name.split()[0]
    return [
        make_tissue(shape, n, mode=mode, anisotropy=aniso, random_state=seed)
        for shape, n, aniso, seed in HELD_OUT[name]
    ]


def damage(truth: np.ndarray, seed: int, *, gap_layers: int = 1, shrink=SHRINK):
    """A flawed copy of ``truth``: axis splits, noise, shrinkage, hard negatives.

    Half of the distinct-cell gaps come from the simulator's own stacked
    confounders (``confounder_style="trim"``, the generator the pretrained
    model was trained with), the rest from this benchmark's independent
    :func:`bench_common.make_hard_negatives`. Returns ``flawed, truth_pairs,
    hard_pairs, n_simulated`` (all distinct-cell gaps made, the simulator's
    ``n_simulated`` first).
    """
    n_cells = int(np.count_nonzero(np.unique(truth)))
    n_splits = max(1, round(SPLIT_FRACTION * n_cells))
    n_hard = max(1, round(HARD_FRACTION * n_cells))
    with quiet():
        flawed, pairs, info = oversegment(
            truth, n_splits=n_splits, gap_layers=gap_layers, shrink=shrink,
            n_stacked_confounders=n_hard - n_hard // 2,
            n_noise_masks=round(NOISE_FRACTION * n_splits),
            return_info=True, random_state=seed,
        )
    confounders = info["confounder_pairs"]
    excluded = np.concatenate(
        [pairs.ravel(), confounders.ravel(), info["noise_labels"]]
    )
    trimmed = make_hard_negatives(
        flawed, n_hard - len(confounders), excluded, rng=seed, gap_layers=gap_layers
    )
    return flawed, pairs, np.concatenate([confounders, trimmed]), len(confounders)


class Tally:
    """Merge decisions accumulated over the volumes of one data set."""

    def __init__(self) -> None:
        self.truth, self.merged, self.merged_all = [], [], []
        self.hard_made = self.hard_screened = self.hard_merged = 0
        # rows: simulator, benchmark; columns: made, merged
        self.by_source = np.zeros((2, 2), dtype=int)
        self.negatives = self.negatives_merged = 0
        self.true_screened = 0
        self.volumes = 0
        self._offset = 0

    def add(self, flawed, truth, truth_pairs, hard_pairs, candidates, merged,
            merged_all, n_simulated: int = 0) -> None:
        """Add one volume: its candidate pairs and the two sets of decisions.

        The first ``n_simulated`` hard pairs come from the simulator.
        """
        pairs = candidates.pairs if len(candidates) else np.zeros((0, 2), np.int64)
        owner = majority_truth(flawed, truth)
        same = np.array(
            [owner[a] == owner[b] != 0 for a, b in pairs.tolist()], dtype=bool
        )
        true_labels = set(truth_pairs.ravel().tolist())
        # joins of a noise mask (or any label outside the truth pairs) to its
        # own cell are neutral: drop them; wrong joins stay as false merges
        neutral = same & ~np.array(
            [a in true_labels and b in true_labels for a, b in pairs.tolist()],
            dtype=bool,
        )
        off = self._offset  # keep labels of different volumes apart
        self.truth.append(truth_pairs + off)
        self.merged.append(pairs[merged & ~neutral] + off)
        self.merged_all.append(pairs[merged_all & ~neutral] + off)
        self._offset += int(max(flawed.max(), truth.max())) + 1
        hard = {tuple(p) for p in hard_pairs.tolist()}
        keys = [tuple(p) for p in pairs.tolist()]
        self.true_screened += len({tuple(p) for p in truth_pairs.tolist()} & set(keys))
        self.hard_made += len(hard)
        self.hard_screened += sum(k in hard for k in keys)
        self.hard_merged += sum(k in hard and m for k, m in zip(keys, merged))
        merged_keys = {k for k, m in zip(keys, merged) if m}
        for i, pair in enumerate(hard_pairs.tolist()):
            source = 0 if i < n_simulated else 1
            self.by_source[source] += (1, tuple(pair) in merged_keys)
        self.negatives += int((~same).sum())
        self.negatives_merged += int((~same & merged).sum())
        self.volumes += 1

    def row(self, name: str, rounds: int) -> list:
        truth = np.concatenate(self.truth)
        model = merge_scores(truth, np.concatenate(self.merged))
        rule = merge_scores(truth, np.concatenate(self.merged_all))
        hard_pct = 100 * self.hard_merged / max(self.hard_made, 1)
        screened_pct = 100 * self.hard_merged / max(self.hard_screened, 1)
        neg_pct = 100 * self.negatives_merged / max(self.negatives, 1)
        return [
            name, f"{self.volumes // rounds} x {rounds}",
            f"{len(truth)} ({self.true_screened})",
            model["precision"], model["recall"], model["f1"],
            f"{self.hard_made} / {self.hard_screened} / {self.hard_merged}",
            f"{hard_pct:.1f} ({screened_pct:.1f})",
            f"{neg_pct:.1f} ({self.negatives_merged}/"
            f"{self.negatives})", rule["precision"], rule["f1"],
        ]

    def meets_targets(self) -> tuple[bool, bool, bool]:
        """(F1 >= 0.98, precision >= 0.99, <= 2% hard gaps merged)."""
        s = merge_scores(np.concatenate(self.truth), np.concatenate(self.merged))
        hard = self.hard_merged / max(self.hard_made, 1)
        return s["f1"] >= 0.98, s["precision"] >= 0.99, hard <= 0.02


def decide(corrector, flawed: np.ndarray):
    """Screened pairs, the model's decisions and merge-everything decisions.

    The model's decisions are those of ``corrector.predict_merges``. The
    pairs are every pair its screener proposes without the tilted model's
    cheap first stage (``min_contact_ratio``): the pairs that stage leaves out
    are not merged, and still count as distinct touching pairs.
    """
    records = corrector.predict_merges(flawed)
    screener = corrector.screener_
    if getattr(screener, "min_contact_ratio", 0):
        screener = clone(screener).set_params(min_contact_ratio=0.0)
    candidates = screener.transform([flawed])
    decided = {(r["upper"], r["lower"]): r["merged"] for r in records}
    pairs = [tuple(p) for p in candidates.pairs.tolist()]
    assert set(decided) <= set(pairs)
    merged = np.array([decided.get(p, False) for p in pairs], dtype=bool)
    _, merged_all = decide_merges(flawed, candidates, np.ones(len(candidates)), 0.5)
    return candidates, merged, np.asarray(merged_all, dtype=bool)


def run_axis(corrector, sets, rounds: int, desc: str) -> list[list]:
    """Score the axis corrector on ``sets`` (name -> ground truths)."""
    rows, work = [], [(n, v) for n, vols in sets.items() for v in vols]
    tallies = {name: Tally() for name in sets}
    bar = tqdm(total=len(work) * rounds, desc=desc, file=sys.stderr)
    for i, (name, truth) in enumerate(work):
        for r in range(rounds):
            flawed, pairs, hard, n_sim = damage(
                truth, seed=10_000 + 100 * i + r, shrink=SHRINK_OF.get(name, SHRINK)
            )
            cands, merged, merged_all = decide(corrector, flawed)
            tallies[name].add(flawed, truth, pairs, hard, cands, merged, merged_all,
                              n_sim)
            bar.update()
    bar.close()
    for name, tally in tallies.items():
        rows.append(tally.row(name, rounds))
        (sim_made, sim_merged), (own_made, own_merged) = tally.by_source
        rows[-1][6] += (f" (simulator {sim_merged}/{sim_made}, "
                        f"benchmark {own_merged}/{own_made})")
        f1_ok, prec_ok, hard_ok = tally.meets_targets()
        rows[-1].append(
            "F1 " + ("yes" if f1_ok else "no") + ", precision "
            + ("yes" if prec_ok else "no") + ", hard gaps "
            + ("yes" if hard_ok else "no")
        )
    return rows


def run_tilted(corrector, sets, rounds: int) -> list[list]:
    """Score a tilted (contact) corrector on tilted cuts; no hard negatives."""
    tallies = {name: Tally() for name in sets}
    work = [(n, v) for n, vols in sets.items() for v in vols]
    bar = tqdm(total=len(work) * rounds, desc="tilted", file=sys.stderr)
    for i, (name, truth) in enumerate(work):
        n_cells = int(np.count_nonzero(np.unique(truth)))
        for r in range(rounds):
            with quiet():
                flawed, pairs = oversegment(
                    truth, n_splits=max(1, round(SPLIT_FRACTION * n_cells)),
                    mode="tilted", random_state=20_000 + 100 * i + r,
                )
            cands, merged, merged_all = decide(corrector, flawed)
            tallies[name].add(flawed, truth, pairs, np.zeros((0, 2), np.int64),
                              cands, merged, merged_all)
            bar.update()
    bar.close()
    rows = []
    for name, tally in tallies.items():
        rows.append(tally.row(name, rounds))
        s = merge_scores(np.concatenate(tally.truth), np.concatenate(tally.merged))
        distinct = tally.negatives_merged / max(tally.negatives, 1)
        rows[-1].append(
            "F1 " + ("yes" if s["f1"] >= 0.95 else "no") + ", distinct pairs "
            + ("yes" if distinct <= 0.01 else "no")
        )
    return rows


def real_sets() -> dict[str, list[np.ndarray]] | None:
    """The shared real volumes (labels only), or ``None`` when absent."""
    from _shared_data import NAMES, available, load, skip_message

    if not available():
        print(f"SKIP real volumes: {skip_message()}\n")
        return None
    return {name: [load(name)[0]] for name in NAMES}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8,
                        help="damage rounds per synthetic volume")
    parser.add_argument("--real-rounds", type=int, default=12,
                        help="damage rounds per real volume")
    parser.add_argument("--only", choices=("axis", "tilted"), default=None,
                        help="score one model only")
    parser.add_argument("--axis-model", default=None,
                        help="a saved axis corrector to score instead of the "
                        "pretrained one")
    parser.add_argument("--tilted-model", default=None,
                        help="a saved tilted corrector to score instead of the "
                        "pretrained one")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_synthesized.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    synthetic = {mode: held_out_volumes(mode) for mode in HELD_OUT}
    real = real_sets()
    if args.only in (None, "axis"):
        corrector = (load_pretrained("axis") if args.axis_model is None
                     else load_model(args.axis_model))
        print(f"axis model{'' if args.axis_model is None else ' ' + args.axis_model}"
              f": {corrector.screener_!r}, threshold "
              f"{corrector.threshold}\n")
        columns = [*COLUMNS, "targets met (F1 >= .98, P >= .99, hard <= 2%)"]
        print("### Axis splits (one missing layer), held-out synthetic tissue\n")
        print(markdown_table(columns, run_axis(corrector, synthetic, args.rounds,
                                                "synthetic")))
        if real is not None:
            print("\n### Axis splits (one missing layer), real cells "
                  "(../shared/data ground truth)\n")
            print(markdown_table(columns, run_axis(corrector, real,
                                                    args.real_rounds, "real")))
    if args.only not in (None, "tilted"):
        return
    if args.tilted_model is None and "tilted" not in available_pretrained():
        print("\n(no pretrained 'tilted' model: tilted cuts not scored)")
        return
    tilted = (load_pretrained("tilted") if args.tilted_model is None
              else load_model(args.tilted_model))
    source = "" if args.tilted_model is None else " " + args.tilted_model
    print(f"\ntilted model{source}: {tilted.screener_!r}, threshold "
          f"{tilted.threshold}")
    # No hard gaps here: "neg. merged %" counts the truly distinct touching
    # pairs merged, out of all of them.
    columns = [*COLUMNS, "targets met (F1 >= .95, distinct pairs merged <= 1%)"]
    print("\n### Tilted cuts, held-out synthetic tissue (contact candidates)\n")
    print(markdown_table(columns, run_tilted(tilted, synthetic, args.rounds)))
    if real is not None:
        print("\n### Tilted cuts, real cells\n")
        print(markdown_table(columns, run_tilted(tilted, real, args.real_rounds)))


if __name__ == "__main__":
    main()

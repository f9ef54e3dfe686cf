"""Does the tilted model's cheap first stage lose a merge?

The pretrained ``tilted`` model screens every touching pair and reslices and
scores each one. ``CandidateScreener(min_contact_ratio=r)`` leaves out, before
any of that, the pairs whose contact area is small for their larger fragment
(area over the larger fragment's volume to the 2/3, physical units). This
benchmark runs the shipped model twice on every damaged volume, each time in
full (``predict_merges``): with its screener set to ``min_contact_ratio=0``
(every touching pair, the model as trained) and to ``--ratio`` (the cascade),
and counts per data set:

* pairs skipped (and the share of the crops' voxels: the work saved);
* pairs the full model merges that the cascade skips ("merges lost"), and
  the unsure pairs it skips (left to a person by the full model);
* true splits skipped;
* whether the two runs merge exactly the same pairs;
* the smallest ratio among the pairs the full model merges and among the true
  splits (the room left below them);
* CPU seconds of both runs.

Data: the held-out synthetic sets of ``bench_synthesized.py`` (seeds from
1000), the held-out families of ``bench_lodo.py`` (seeds from 5000),
domain-randomised tissue (seeds 300 and up, never used in training) and the
six real ground truths of ``../shared/data`` (the EM volume every 4th layer),
each damaged by ``oversegment(mode="tilted")`` cutting a quarter of the cells,
with cut seeds from 50 000 (never used elsewhere).

Usage::

    python benchmarks/bench_tilted_cascade.py [--ratio 0.07] [--rounds 2]
        [--real-rounds 10] [--randomized 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_common import markdown_table, print_environment, quiet
from tqdm import tqdm

from sklearn_overseg import label_candidates, load_pretrained
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.datasets import make_randomized_tissue, oversegment
from sklearn_overseg.screening._contact import _contact_pairs, contact_per_larger

COLUMNS = (
    "data set", "volumes x rounds", "touching pairs", "skipped (% pairs)",
    "skipped (% crop voxels)", "merged (full)", "merges lost", "unsure lost",
    "true splits (lost)", "same merges", "smallest ratio merged",
    "smallest ratio, true splits", "CPU s full / cascade",
)


def ratios(volume: np.ndarray) -> dict:
    """``(upper, lower) -> contact_per_larger`` of every touching pair."""
    geometry = LabelGeometry.from_volume(volume)
    pairs, _, physical = _contact_pairs(volume, (1.0, 1.0, 1.0))
    values = contact_per_larger(volume, geometry, pairs, physical, (1.0, 1.0, 1.0))
    return {tuple(p): v for p, v in zip(pairs.tolist(), values)}


class Tally:
    """Counts of one data set."""

    def __init__(self):
        self.n = self.skipped = self.merged = self.lost = self.unsure_lost = 0
        self.true = self.true_lost = 0
        self.voxels = self.voxels_skipped = 0
        self.same = True
        self.min_merged = self.min_true = np.inf
        self.cpu = [0.0, 0.0]

    def add(self, full, cascade, cands, truth_y, ratio_of, cpu):
        kept = {(r["upper"], r["lower"]) for r in cascade}
        for r, c, y in zip(full, cands, truth_y):
            key = (r["upper"], r["lower"])
            skip = key not in kept
            self.n += 1
            self.voxels += c.crop.size
            self.skipped += skip
            self.voxels_skipped += c.crop.size * skip
            self.merged += r["merged"]
            self.lost += r["merged"] and skip
            self.unsure_lost += r["decision"] == "unsure" and skip
            self.true += int(y)
            self.true_lost += int(y) and skip
            if r["merged"]:
                self.min_merged = min(self.min_merged, ratio_of[key])
            if y:
                self.min_true = min(self.min_true, ratio_of[key])
        merged_full = {(r["upper"], r["lower"]) for r in full if r["merged"]}
        merged_cascade = {(r["upper"], r["lower"]) for r in cascade if r["merged"]}
        self.same &= merged_full == merged_cascade
        self.cpu = [a + b for a, b in zip(self.cpu, cpu)]

    def row(self, name, shape):
        return [
            name, shape, self.n, f"{100 * self.skipped / max(self.n, 1):.1f}",
            f"{100 * self.voxels_skipped / max(self.voxels, 1):.1f}", self.merged,
            self.lost, self.unsure_lost, f"{self.true} ({self.true_lost})",
            "yes" if self.same else "no", f"{self.min_merged:.3f}",
            f"{self.min_true:.3f}", f"{self.cpu[0]:.1f} / {self.cpu[1]:.1f}",
        ]


def run_set(name, volumes, rounds, seed, full, cascade, bar) -> list:
    tally = Tally()
    for i, truth in enumerate(volumes):
        n_cells = int(np.count_nonzero(np.unique(truth)))
        for r in range(rounds):
            with quiet():
                flawed, _ = oversegment(
                    truth, n_splits=max(1, round(0.25 * n_cells)), mode="tilted",
                    random_state=seed + 100 * i + r,
                )
            cpu = []
            records = []
            for corrector in (full, cascade):
                start = time.process_time()
                records.append(corrector.predict_merges(flawed))
                cpu.append(time.process_time() - start)
            cands = full.screener_.transform([flawed])
            y = label_candidates(cands, [flawed], [truth])
            tally.add(*records, cands, y, ratios(flawed), cpu)
            bar.update()
    return tally.row(name, f"{len(volumes)} x {rounds}")


def synthetic_sets(n_randomized: int) -> dict:
    """Held-out synthetic ground truths, by set."""
    import _lodo_data as lodo
    from bench_synthesized import HELD_OUT, held_out_volumes

    sets = {name: held_out_volumes(name) for name in HELD_OUT}
    sets.update({f"family: {f}": lodo.family_volumes(f) for f in lodo.FAMILIES})
    sets["randomised tissue"] = [
        make_randomized_tissue(lodo.RANDOM_SHAPE, random_state=300 + s,
                               **lodo.RANDOM_SETTINGS)
        for s in range(n_randomized)
    ]
    return sets


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=0.07)
    parser.add_argument("--rounds", type=int, default=2,
                        help="damage rounds per synthetic volume")
    parser.add_argument("--real-rounds", type=int, default=10)
    parser.add_argument("--randomized", type=int, default=8,
                        help="domain-randomised tissues")
    args = parser.parse_args(argv)
    print_environment("python benchmarks/bench_tilted_cascade.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    full, cascade = load_pretrained("tilted"), load_pretrained("tilted")
    for corrector, ratio in ((full, 0.0), (cascade, args.ratio)):
        corrector.screener_.set_params(min_contact_ratio=ratio)
    print(f"shipped tilted model, screened with min_contact_ratio=0 (full) and "
          f"{args.ratio} (cascade); threshold {full.threshold}\n")

    import _lodo_data as lodo
    from _shared_data import ALL_NAMES, available

    sets = synthetic_sets(args.randomized)
    real = lodo.real_volumes() if available(ALL_NAMES) else {}
    total = (sum(len(v) for v in sets.values()) * args.rounds
             + len(real) * args.real_rounds)
    bar = tqdm(total=total, desc="cascade", file=sys.stderr)
    rows = [run_set(name, vols, args.rounds, 50_000 + 1000 * k, full, cascade, bar)
            for k, (name, vols) in enumerate(sets.items())]
    real_rows = [
        run_set(name, [vol], args.real_rounds, 60_000 + 1000 * k, full, cascade, bar)
        for k, (name, vol) in enumerate(real.items())
    ]
    bar.close()
    print("### Held-out synthetic tissue\n")
    print(markdown_table(COLUMNS, rows) + "\n")
    if real_rows:
        print("### Real cells (../shared/data)\n")
        print(markdown_table(COLUMNS, real_rows) + "\n")
    else:
        print("SKIP real volumes: ../shared/data not found\n")


if __name__ == "__main__":
    main()

"""Why the default corrector misses stitch splits that the one-line rule joins.

On the perfect 2D sections of the six shared ground truths, stitched by
cellpose's ``stitch3D`` (z steps 1 and 2, thresholds 0.25 and 0.5, as in
``bench_stitch.py``), every join of the issue's rule at 0.7 (``A``'s last
layer faces ``B``'s first layer in the next layer, one to one, overlap at
least 0.7 of the smaller mask) that joins two labels of one true cell is
looked up among the default corrector's candidate pairs:

* **merged** / **kept apart** / **unsure**: the pair was screened and the
  corrector decided so (unsure: in the review band or outside the training
  range, not merged);
* **not screened**: the screener's one-to-one matching gave ``A`` or ``B``
  to another pair; the table says which (a gapped or a gap-0 pair, to the
  same true cell or to another).

It also counts the corrector's wrong merges (pairs of two true cells) by
route. ``--no-near-match`` screens as before near matches were matched first
(:func:`sklearn_overseg.screening._matching.near_matches` switched off).

Run ``python benchmarks/bench_stitch_misses.py [--no-near-match]`` (about a
minute).
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator

import numpy as np
from _shared_data import ALL_NAMES, require_shared_data
from _stitch_eval import owners
from bench_stitch import CONFIGS, stitched_volumes, stitcher

import sklearn_overseg.screening._axis as axis_screening
from sklearn_overseg import load_pretrained
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.screening._facing_overlaps import RowLookup, facing_overlaps
from sklearn_overseg.screening._matching import match_one_to_one

RULE_FRACTION = 0.7


def rule_pairs(seg: np.ndarray) -> list[tuple[int, int]]:
    """The label pairs the one-line rule at :data:`RULE_FRACTION` joins."""
    geometry = LabelGeometry.from_volume(seg)
    up, low, overlap, last, first = facing_overlaps(
        seg, geometry, RowLookup(geometry.labels), max_gap=0, min_gap=0
    )
    keep = overlap >= RULE_FRACTION * np.maximum(np.minimum(last[up], first[low]), 1)
    up, low, overlap = up[keep], low[keep], overlap[keep]
    kept = match_one_to_one(up, low, np.lexsort((low, up, -overlap)))
    labels = geometry.labels
    return [(int(labels[up[i]]), int(labels[low[i]])) for i in kept]


def outcomes(corrector, seg, truth) -> Iterator[tuple[str, str]]:
    """``(kind, outcome)`` of the rule's right joins and the wrong merges."""
    own = owners(seg, truth)
    try:
        cands = corrector.screen(seg)
    except ValueError as err:  # every label one layer thick: nothing screened
        if "one z layer thick" not in str(err):
            raise
        return
    decisions = corrector.decide(seg, cands, corrector.score_pairs(
        cands, return_features=True))
    found = {}
    for i, c in enumerate(cands):
        found[(int(c.upper), int(c.lower))] = (c.n_gap_layers, decisions.decision[i])
        same = own[int(c.upper)] == own[int(c.lower)] != 0
        if decisions.merged[i] and not same:
            yield "wrong merges", "gap 0" if c.n_gap_layers == 0 else "gapped"
    for a, b in rule_pairs(seg):
        if own[a] != own[b] or own[a] == 0:
            continue
        if (a, b) in found:
            yield "rule 0.7 right joins", f"screened, {found[(a, b)][1]}"
            continue
        for (u, v), (gap, decision) in found.items():
            if u == a or v == b:
                other = v if u == a else u
                kind = "gap-0" if gap == 0 else "gapped"
                cell = "same cell" if own[other] == own[a] else "another cell"
                yield ("rule 0.7 right joins",
                       f"not screened: partner taken by a {kind} pair to {cell} "
                       f"({decision})")
                break
        else:
            yield "rule 0.7 right joins", "not screened: no candidate"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-near-match", action="store_true",
                        help="screen as before near matches were matched first")
    args = parser.parse_args(argv)
    require_shared_data(ALL_NAMES)
    if args.no_near_match:
        axis_screening.near_matches = lambda n_gap, fraction: np.zeros(
            len(n_gap), dtype=bool)
    which, stitch = stitcher()
    print(f"stitcher: {which}; near matches first: {not args.no_near_match}")
    corrector = load_pretrained()
    counts = collections.Counter()
    for name in ALL_NAMES:
        for _, _, _, seg, truth in stitched_volumes(name, stitch, CONFIGS,
                                                    sources=("sections",)):
            counts.update(outcomes(corrector, seg, truth))
    print("\n| pairs | outcome | count |\n|---|---|---|")
    for (kind, outcome), n in sorted(counts.items()):
        print(f"| {kind} | {outcome} | {n} |")


if __name__ == "__main__":
    main()

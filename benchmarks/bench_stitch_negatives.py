"""Hard negatives for the stitch route: different cells stacked at gap 0.

The default corrector's stitch ensemble (``GapRoutedClassifier.stitch_``)
decides gap-0 pairs and, with ``gapped="both"``, vetoes gapped ones. Most of
its wrong joins on stitched real sections and on held-out synthetic families
are two different cells touching across consecutive layers. This benchmark
retrains that ensemble (same features, scaler refitted, a seed ensemble of
``--networks`` MergeNets) on the shipped recipe's pairs plus hard negatives
and scores each recipe, all held out:

* **real**: the six shared ground truths as perfect 2D sections and raw 2D
  segmentations, stitched by cellpose's ``stitch3D`` (z steps 1, 2;
  thresholds 0.25, 0.5; EM every 4th layer first), repaired by the
  corrector's own ``decide`` and ``apply`` (gap-0 pairs: the retrained stitch
  ensemble; gapped pairs: the smaller of the shipped gap ensemble's and the
  retrained stitch ensemble's probability, as ``gapped="both"`` does);
* **families**: ``bench_lodo.py``'s held-out synthetic families (seeds from
  5001, damage seeds from 10 000): true splits and distinct-cell pairs with
  ``p >= 0.5``, and pairs merged on the untouched ground truths.

Hard-negative sources (gap-0 pairs only, so that the gap ensemble, trained on
the gapped pairs, would not change), from :data:`POOL_TISSUES` domain-randomised
tissues (small, flat, drifting cells, half of them cut by the volume faces;
tissue seeds 7000-7011, damage seeds 7100 and 7200; no benchmark uses seeds
in 7000-7999):

* ``truth``: every gap-0 pair of the untouched tissues (all distinct cells);
* ``axis``: the gap-0 pairs of their axis damage (``make_training_candidates``);
* ``stitch``: the gap-0 pairs of their stitch damage (``stitch_candidates``,
  positives too).

Recipes: ``shipped`` (the pretrained stitch ensemble), ``synthetic`` (the
shipped recipe's pairs, retrained here: the baseline of the others), ``+src``
(plus a source), ``%f`` (a random share ``f`` of a source), ``@w``
(positive-class weight ``w`` of every network, ``MergeNet(class_weight=w)``),
``#shape`` (four more features of the facing masks, :func:`shape_features`:
whether each fragment narrows towards the interface, and where the smaller
facing mask lies on the larger one), ``#context`` (the seven
``PairContextFeatures``: the labels above, below and beside the pair, as the
screener measured them on the whole volume), ``#ctx0`` (the same, zero for
gapped pairs), ``!chain`` (the same networks, then a chain veto at decision
time, :func:`chain_veto`: a one-layer piece joined both upwards and
downwards keeps only its more probable join unless the cells on either side
overlap). ``--per-file`` also prints each file's sections at thresholds 0.5
and 0.7.
The sections are also repaired at stricter decision thresholds
(:data:`THRESHOLDS`): a recipe helps only if it beats the shipped model's
trade-off between right and wrong joins, not merely moves along it.

Run ``python benchmarks/bench_stitch_negatives.py`` (about 15 minutes on 2 shared
cores).
"""

from __future__ import annotations

import argparse
import time

import _lodo_data as data
import numpy as np
from _shared_data import ALL_NAMES, require_shared_data
from _stitch_eval import extra_fragments, join_counts
from bench_common import quiet
from bench_stitch import CONFIGS, stitched_volumes, stitcher
from scipy import ndimage as ndi
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_overseg import (
    PairContextFeatures,
    label_candidates,
    load_pretrained,
    make_training_candidates,
)
from sklearn_overseg._candidates import CONTEXT_NAMES, fragment_layers
from sklearn_overseg.datasets import make_randomized_tissue
from sklearn_overseg.pretrained import axis_training_candidates, stitch_candidates
from sklearn_overseg.pretrained.train import seed_ensemble

#: Hard-negative tissues: count, shape and ``make_randomized_tissue`` ranges.
POOL_TISSUES = 12
POOL_SHAPE = (24, 64, 64)
POOL_SETTINGS = dict(mode="dense", anisotropy=(2.0, 8.0), cell_radius=(4.0, 9.0),
                     elongation=(0.8, 2.0), warp=(0.0, 5.0), drift=(0.0, 1.5),
                     crop=0.5)
POOL_SEED = 7000
RECIPES = ("shipped", "synthetic", "synthetic@0.5", "+truth", "+truth%0.3",
           "+truth@2", "+stitch", "+truth+axis+stitch", "synthetic#shape",
           "+truth#shape")
#: Decision thresholds of the sections' trade-off columns (the model's is 0.5).
THRESHOLDS = (0.6, 0.7, 0.8)


#: Number of :func:`shape_features`, appended after the shipped features.
N_SHAPE = 4


def shape_features(candidate) -> list[float]:
    """Cap or new cell? Four scale-free features of a pair's facing masks.

    The area of each fragment's facing mask over its next mask away from the
    interface (1 for a one-layer fragment; a cell's end narrows, a cell cut
    by a flat interface does not), capped at 4; the distance between the
    centroids of the facing masks and the mean depth of the smaller facing
    mask inside the larger one (0 where it sticks out), both over the larger
    mask's equivalent radius (a cap sits inside, near the middle).
    """
    upper, lower = fragment_layers(candidate)
    a_up = upper.sum(axis=(1, 2)).astype(float)
    a_lo = lower.sum(axis=(1, 2)).astype(float)
    end = a_up[-1] / a_up[-2] if len(a_up) > 1 and a_up[-2] else 1.0
    start = a_lo[0] / a_lo[1] if len(a_lo) > 1 and a_lo[1] else 1.0
    big, small = sorted((upper[-1], lower[0]), key=np.count_nonzero)[::-1]
    if not small.any():
        return [min(end, 4.0), min(start, 4.0), 0.0, 0.0]
    radius = np.sqrt(np.count_nonzero(big) / np.pi)
    offset = np.subtract(ndi.center_of_mass(big), ndi.center_of_mass(small))
    depth = ndi.distance_transform_edt(np.pad(big, 1))[1:-1, 1:-1][small].mean()
    return [min(end, 4.0), min(start, 4.0), float(np.hypot(*offset)) / radius,
            float(depth) / radius]


#: Number of context features (``PairContextFeatures``), appended last.
N_CONTEXT = len(CONTEXT_NAMES)


def with_shape(features, cands) -> np.ndarray:
    """The stitch route's features of ``cands``, their shape, their context.

    A last column marks the gap-0 pairs (not a feature: ``recipe_columns``
    drops it; ``#ctx0`` reads it).
    """
    shape = np.array([shape_features(c) for c in cands]).reshape(-1, N_SHAPE)
    context = PairContextFeatures().fit(cands).transform(cands)
    return np.hstack([features.transform(cands), shape, context,
                      gap0(cands)[:, None].astype(float)])


def recipe_columns(recipe: str, n_columns: int) -> np.ndarray:
    """Boolean mask of the feature columns a recipe uses (see ``with_shape``)."""
    keep = np.ones(n_columns, dtype=bool)
    end = n_columns - 1
    keep[end - N_CONTEXT - N_SHAPE:end - N_CONTEXT] = "#shape" in recipe
    keep[end - N_CONTEXT:end] = "#context" in recipe or "#ctx0" in recipe
    keep[end] = False
    return keep


def recipe_features(X: np.ndarray, recipe: str) -> np.ndarray:
    """``X`` as a recipe sees it: ``#ctx0`` zeroes the context of gapped pairs."""
    if "#ctx0" in recipe:
        X = X.copy()
        X[X[:, -1] == 0, -1 - N_CONTEXT:-1] = 0.0
    return X[:, recipe_columns(recipe, X.shape[1])]


def chain_veto(seg, cands, p, threshold: float) -> np.ndarray:
    """Keep one of the two gap-0 joins of a one-layer piece joined both ways.

    A one-layer piece ``u`` in an accepted pair ``(c, u)`` above and an
    accepted pair ``(u, l)`` below joins ``c`` and ``l``; unless ``c``'s last
    mask and ``l``'s first mask overlap by half the smaller one (one cell
    through the piece), the join with the smaller probability is dropped.
    """
    p = np.array(p, dtype=float)
    accepted = (p >= threshold) & gap0(cands)
    as_upper = {c.upper: i for i, c in enumerate(cands) if accepted[i]}
    as_lower = {c.lower: i for i, c in enumerate(cands) if accepted[i]}
    for piece in sorted(set(as_upper) & set(as_lower)):
        i, j = as_lower[piece], as_upper[piece]
        z0, z1 = cands[i].meta["z_extents"][1]
        if z1 - z0 != 1 or z0 < 1 or z1 >= seg.shape[0]:
            continue
        above, below = seg[z0 - 1] == cands[i].upper, seg[z1] == cands[j].lower
        overlap = np.count_nonzero(above & below)
        if overlap >= 0.5 * max(min(above.sum(), below.sum()), 1):
            continue
        p[i if p[i] < p[j] else j] = 0.0
    return p


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def gap0(cands) -> np.ndarray:
    return np.array([c.n_gap_layers == 0 for c in cands], dtype=bool)


class Pools:
    """Stitch-route features of the recipe's pairs and of each negative source."""

    def __init__(self, corrector):
        self.features = corrector.classifier_.stitch_[0]
        screener = corrector.screener_
        x, y, _ = axis_training_candidates(seed=0, screener=screener)
        self.base = (with_shape(self.features, x), y)
        log(f"recipe: {len(y)} pairs, gap 0: {int(y[gap0(x)].sum())} true / "
            f"{int((y[gap0(x)] == 0).sum())} distinct")
        tissues = [make_randomized_tissue(POOL_SHAPE, random_state=POOL_SEED + k,
                                          **POOL_SETTINGS)
                   for k in range(POOL_TISSUES)]
        sources = {"truth": (screener.transform(tissues), None)}
        sources["truth"] = (sources["truth"][0], label_candidates(
            sources["truth"][0], tissues, tissues))
        x, y, _ = make_training_candidates(tissues, screener=screener, mode="axis",
                                           n_rounds=2, random_state=POOL_SEED + 100)
        sources["axis"] = (x, y)
        sources["stitch"] = stitch_candidates(tissues, screener, seed=POOL_SEED + 200)
        self.pools = {}
        for name, (x, y) in sources.items():
            keep = gap0(x)
            self.pools[name] = (with_shape(self.features, x[keep]), y[keep])
            log(f"{name}: {int(keep.sum())} gap-0 pairs, "
                f"{int((y[keep] == 0).sum())} distinct")

    def fit(self, recipe: str, networks: int) -> Pipeline:
        X, y, weight = recipe_training(recipe, self.base, self.pools)
        kw = {} if weight is None else {"class_weight": weight}
        head = Pipeline([("scale", StandardScaler()),
                         ("clf", seed_ensemble(networks, **kw))])
        head.fit(X, y)
        head.recipe_ = recipe
        return head


def recipe_training(recipe: str, base: tuple, pools: dict) -> tuple:
    """Features, labels and positive-class weight (or None) of ``recipe``.

    ``"synthetic+truth%0.3+axis@0.5"``: the ``base`` pairs, a seeded random
    share 0.3 of ``pools["truth"]``, all of ``pools["axis"]``, weight 0.5.
    The shape and context columns are kept only with ``#shape`` and
    ``#context`` (or ``#ctx0``) in the recipe; ``!chain`` changes nothing here.
    """
    body, _, weight = recipe.partition("@")
    body = body.replace("!chain", "")
    flags = body
    for flag in ("#shape", "#context", "#ctx0"):
        body = body.replace(flag, "")
    X, y = [base[0]], [base[1]]
    for part in body.split("+")[1:]:
        name, _, share = part.partition("%")
        px, py = pools[name]
        keep = np.random.RandomState(0).rand(len(py)) < float(share or 1)
        X.append(px[keep])
        y.append(py[keep])
    X = recipe_features(np.vstack(X), flags)
    return X, np.concatenate(y), float(weight) if weight else None


def prepare(corrector, features, seg, truth) -> dict | None:
    """Screen, gap-route probabilities and stitch features of one test volume."""
    try:
        cands = corrector.screen(seg)
    except ValueError as err:  # every label one layer thick: left unchanged
        if "one z layer thick" not in str(err):
            raise
        return None
    if not len(cands):
        return None
    touch = gap0(cands)
    gaps = np.zeros(len(cands))
    if (~touch).any():
        gaps[~touch] = corrector.classifier_.gaps_.predict_proba(cands[~touch])[:, 1]
    return dict(cands=cands, touch=touch, gaps=gaps, X=with_shape(features, cands),
                y=label_candidates(cands, [seg], [truth]))


def probabilities(head, d) -> np.ndarray:
    # the shipped head takes the stitch route's features only
    X = recipe_features(d["X"], getattr(head, "recipe_", ""))
    stitch = head.predict_proba(X)[:, 1]
    return np.where(d["touch"], stitch, np.minimum(d["gaps"], stitch))


def decided(corrector, head, r, threshold: float):
    """The corrector's decisions on one stitched volume (chain veto if asked)."""
    p = probabilities(head, r["d"])
    if getattr(head, "chain_", False):
        p = chain_veto(r["seg"], r["d"]["cands"], p, threshold)
    return corrector.decide(r["seg"], r["d"]["cands"], p)


def joins(corrector, head, real, source: str, threshold: float = 0.5) -> tuple:
    """Right and wrong joins summed over the stitched volumes of ``source``."""
    corrector.set_params(threshold=threshold)
    right = wrong = 0
    for r in real:
        if r["source"] == source and r["d"] is not None:
            dec = decided(corrector, head, r, threshold)
            a, b = join_counts(r["seg"], corrector.apply(r["seg"], dec), r["truth"])
            right, wrong = right + a, wrong + b
    corrector.set_params(threshold=0.5)
    return right, wrong


def per_file_tradeoff(corrector, head, real) -> str:
    """Sections, right / wrong joins per file at thresholds 0.5 and 0.7."""
    cells = []
    for name in ALL_NAMES:
        mine = [r for r in real if r["name"] == name]
        cells.append(f"{name}: " + " ; ".join(
            "{} / {}".format(*joins(corrector, head, mine, "sections", t))
            for t in (0.5, 0.7)))
    return " | ".join(cells)


def score(corrector, head, real, families) -> dict:
    out = {"trade-off": [joins(corrector, head, real, "sections", t)
                         for t in THRESHOLDS]}
    for source in ("sections", "raw"):
        right = wrong = extra = 0
        per_file = {}
        for r in real:
            if r["source"] != source:
                continue
            extra += r["extra"]
            if r["d"] is None:
                continue
            dec = decided(corrector, head, r, 0.5)
            made = join_counts(r["seg"], corrector.apply(r["seg"], dec), r["truth"])
            right, wrong = right + made[0], wrong + made[1]
            f = per_file.setdefault(r["name"], [0, 0])
            f[0], f[1] = f[0] + made[0], f[1] + made[1]
        out[source] = (right, wrong, extra, per_file)
    counts = np.zeros(7, dtype=int)
    for f in families:
        d = f["d"]
        if d is None:
            continue
        merged, y = probabilities(head, d) >= 0.5, d["y"]
        if f["untouched"]:
            counts[6] += int(merged.sum())
            continue
        counts[:6] += [(merged & (y == 1)).sum(), (y == 1).sum(),
                       (merged & (y == 0) & d["touch"]).sum(),
                       ((y == 0) & d["touch"]).sum(),
                       (merged & (y == 0) & ~d["touch"]).sum(),
                       ((y == 0) & ~d["touch"]).sum()]
    out["families"] = counts
    return out


def clone_head(head):
    """The shipped head, as a new Pipeline object (attributes set on it stay)."""
    return Pipeline(list(head.steps))


def row(recipe: str, s: dict) -> str:
    cells = [recipe]
    for source in ("sections", "raw"):
        right, wrong, extra, _ = s[source]
        cells.append(f"{right} / {wrong} ({right / max(extra, 1):.0%} / "
                     f"{wrong / max(right + wrong, 1):.1%})")
    per = s["sections"][3]
    cells.append(" ; ".join(f"{per[n][0]} / {per[n][1]}" for n in
                            ("ovule_plantseg", "em_medulla_gala")))
    cells.append(" ; ".join(f"{a} / {b}" for a, b in s["trade-off"]))
    c = s["families"]
    cells += [f"{c[0]} / {c[1]}", f"{c[2]} / {c[3]}", f"{c[4]} / {c[5]}", str(c[6])]
    return "| " + " | ".join(cells) + " |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=5)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--per-file", action="store_true",
                        help="also print each file's sections at 0.5 and 0.7")
    args = parser.parse_args(argv)
    require_shared_data(ALL_NAMES)
    corrector = load_pretrained()
    features = corrector.classifier_.stitch_[0]
    which, stitch = stitcher()
    log(f"stitcher: {which}")
    real = []
    for name in ALL_NAMES:
        for source, _, _, seg, gt in stitched_volumes(name, stitch, CONFIGS):
            real.append(dict(name=name, source=source, seg=seg, truth=gt,
                             extra=extra_fragments(seg, gt),
                             d=prepare(corrector, features, seg, gt)))
    families = []
    for j, family in enumerate(data.FAMILIES):
        for k, vol in enumerate(data.family_volumes(family)):
            with quiet():  # bench_lodo.py's test damage
                cases = data.axis_test(vol, data.test_seeds(6, family=(j, k)))
            families += [dict(untouched=False, d=prepare(
                corrector, features, case["flawed"], case["truth"])) for case in cases]
            families.append(dict(untouched=True,
                                 d=prepare(corrector, features, vol, vol)))
    log(f"test data: {len(real)} stitched volumes, {len(families)} family volumes")
    pools = Pools(corrector)
    print("\n| recipe | sections: right / wrong (removed / wrong) | raw: right / "
          "wrong (removed / wrong) | sections ovule ; EM | sections at threshold "
          f"{' ; '.join(map(str, THRESHOLDS))} | families: true splits "
          "merged | distinct gap-0 merged | distinct gapped merged | untouched "
          "truths: merged |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    heads, per_file = {}, []
    for recipe in args.recipes:
        trained = recipe.replace("!chain", "")
        if trained not in heads:  # "x!chain" reuses the networks of "x"
            heads[trained] = (clone_head(corrector.classifier_.stitch_[1:])
                              if trained == "shipped"
                              else pools.fit(trained, args.networks))
        head = clone_head(heads[trained])
        head.recipe_ = getattr(heads[trained], "recipe_", "")
        head.chain_ = "!chain" in recipe
        print(row(recipe, score(corrector, head, real, families)), flush=True)
        if args.per_file:
            per_file.append(f"{recipe}: {per_file_tradeoff(corrector, head, real)}")
    for line in per_file:
        print(line)


if __name__ == "__main__":
    main()

"""Does ``screening.detect_stitched`` tell stitched volumes from the others?

Calibration (synthetic only): ground truths of ``make_tissue`` (dense, loose
and nuclei at anisotropy 1.5, 3 and 5), ``make_randomized_tissue`` (seeds
300-307) and the six held-out families of ``bench_lodo.py``, each

* **not stitched**: as it is, axis-damaged (``bench_synthesized.damage``:
  one-layer splits, noise, shrinkage, distinct stacked cells) and cut by
  tilted planes (``oversegment(mode="tilted")``);
* **stitched**: ``slice_and_stitch`` at thresholds 0.1, 0.25, 0.5 and 0.7,
  z steps 1 and 2, with perfect, default and strong 2D flaws.

Judgement (real data the calibration never saw, ``../shared/data``): the six
ground truths as they are, axis-damaged and tilted-cut (not stitched), and
their stitched versions as ``bench_stitch.py`` builds them (perfect sections
and raw 2D segmentations, z steps 1 and 2, thresholds 0.25 and 0.5, cellpose's
``stitch3D`` when installed), also after cellpose's own clean-up
(``fill_holes_and_remove_small_masks``, as ``cellpose`` runs it after
stitching). Both kinds also cropped in (y, x) to their central 60% (a region
of interest cut from a larger volume).

Other stitching rules (``--part rules``, real data): the perfect sections of
the six files stitched by rules other than cellpose's greedy IoU
(``stitch_slices(..., match=...)``): a one-to-one IoU matching that
maximises the summed IoU of each pair of layers (Hungarian), and a greedy
match on the overlap over the smaller mask. The
table says how many volumes are called stitched and how many gap-0 pairs
("starts under another label") the volumes called "not stitched" hold: the
stitch splits ``stitch_splits="auto"`` leaves to ``stitch_splits=True``.

Run ``python benchmarks/bench_detect_stitched.py [--part synthetic|real|rules]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_common import print_environment, quiet

from sklearn_overseg.datasets import (
    make_randomized_tissue,
    make_tissue,
    oversegment,
    slice_and_stitch,
    stitch_slices,
)
from sklearn_overseg.screening import detect_stitched

THRESHOLDS = (0.1, 0.25, 0.5, 0.7)
Z_STEPS = (1, 2)
FLAWS = {
    "perfect": dict(jitter=0.0, p_resize=0.0, p_split=0.0, p_miss=0.0,
                    false_masks=0.0),
    "default": {},
    "strong": dict(jitter=1.5, p_resize=0.5, p_split=0.05, p_miss=0.05,
                   false_masks=1.0),
}


def synthetic_truths() -> dict[str, np.ndarray]:
    from _lodo_data import FAMILIES, family_volumes

    truths = {}
    for mode in ("dense", "loose", "nuclei"):
        for k, aniso in enumerate((1.5, 3.0, 5.0)):
            truths[f"{mode} a{aniso}"] = make_tissue(
                (32, 96, 96), 40 if mode == "nuclei" else 60, mode=mode,
                anisotropy=aniso, random_state=300 + k)
    for seed in range(300, 308):
        truths[f"randomised {seed}"] = make_randomized_tissue(
            (32, 96, 96), random_state=seed)
    for name in FAMILIES:
        truths[f"family {name}"] = family_volumes(name)[0]
    return truths


def unstitched(truth: np.ndarray, seed: int):
    """``(kind, volume)``: the truth, axis-damaged and tilted-cut."""
    from bench_synthesized import damage

    yield "as it is", truth
    yield "axis damage", damage(truth, seed=seed)[0]
    n = max(2, int(np.count_nonzero(np.unique(truth))) // 4)
    with quiet():
        yield "tilted cuts", oversegment(truth, n_splits=n, mode="tilted",
                                         random_state=seed)[0]


def crop(volume: np.ndarray) -> np.ndarray:
    """The central 60% of a volume in y and x (a region of interest)."""
    _, ny, nx = volume.shape
    return volume[:, ny // 5 : ny - ny // 5, nx // 5 : nx - nx // 5]


def record(evidence, **info) -> dict:
    return dict(info, stitched=evidence.stitched, score=evidence.score,
                threshold=evidence.threshold, n_starts=evidence.n_starts,
                n_violations=evidence.n_violations)


def per_start(r) -> float:
    return r["n_violations"] / r["n_starts"] if r["n_starts"] else float("nan")


def synthetic() -> list[dict]:
    rows = []
    for i, (name, truth) in enumerate(synthetic_truths().items()):
        for kind, volume in unstitched(truth, seed=10 + i):
            rows.append(record(detect_stitched(volume), truth=name, kind=kind,
                               truly=False))
            rows.append(record(detect_stitched(crop(volume)), truth=name,
                               kind=f"{kind}, cropped", truly=False))
        for t in THRESHOLDS:
            for z in Z_STEPS:
                for flaw, settings in FLAWS.items():
                    volume, _ = slice_and_stitch(truth, stitch_threshold=t, z_step=z,
                                                 random_state=i, **settings)
                    rows.append(record(detect_stitched(volume), truth=name,
                                       kind=f"stitched {flaw}", truly=True,
                                       t=t, z=z))
                    if flaw == "default":
                        rows.append(record(detect_stitched(crop(volume)),
                                           truth=name, truly=True, t=t, z=z,
                                           kind="stitched default, cropped"))
    return rows


def real() -> list[dict]:
    from _lodo_data import real_volumes
    from _shared_data import ALL_NAMES, require_shared_data
    from bench_stitch import CONFIGS, stitched_volumes, stitcher

    require_shared_data(ALL_NAMES)
    which, stitch = stitcher()
    print(f"stitcher: {which}")
    try:
        from cellpose.utils import fill_holes_and_remove_small_masks as clean
    except ImportError:
        clean = None
    rows = []
    for name, truth in real_volumes().items():
        for kind, volume in unstitched(truth, seed=10000):
            rows.append(record(detect_stitched(volume), file=name, kind=kind,
                               truly=False))
            rows.append(record(detect_stitched(crop(volume)), file=name,
                               kind=f"{kind}, cropped", truly=False))
        with quiet():
            for source, z, t, seg, _ in stitched_volumes(name, stitch, CONFIGS):
                rows.append(record(detect_stitched(seg), file=name, truly=True,
                                   kind=f"stitched {source}", z=z, t=t))
                rows.append(record(detect_stitched(crop(seg)), file=name,
                                   truly=True, kind=f"stitched {source}, cropped",
                                   z=z, t=t))
                if clean is not None:
                    cleaned = clean(np.array(seg, dtype=np.int32), min_size=15)
                    rows.append(record(detect_stitched(cleaned), file=name,
                                       truly=True, z=z, t=t,
                                       kind=f"stitched {source} + clean-up"))
    return rows


RULES = (("hungarian", 0.25), ("hungarian", 0.5), ("smaller", 0.3),
         ("smaller", 0.5), ("smaller", 0.8))


def other_rules() -> None:
    from _lodo_data import real_volumes
    from _shared_data import ALL_NAMES, require_shared_data
    from _stitch_eval import cross_sections

    require_shared_data(ALL_NAMES)
    print("| rule | threshold | volumes | called stitched | gap-0 pairs (starts): "
          "called stitched | gap-0 pairs (starts): called not stitched |")
    print("|---|---|---|---|---|---|")
    sections = {name: cross_sections(truth)
                for name, truth in real_volumes().items()}
    for rule, t in RULES:
        found = [detect_stitched(stitch_slices(s[::z], t, match=rule))
                 for s in sections.values() for z in Z_STEPS]
        hit = [e for e in found if e.stitched]
        miss = [e for e in found if not e.stitched]
        print(f"| {rule} | {t} | {len(found)} | {len(hit)} | "
              f"{sum(e.n_starts for e in hit)} | {sum(e.n_starts for e in miss)} |")


def summary(rows, key: str) -> None:
    print(f"| {key} | volumes | called stitched | no start under another label "
          "| violations per start: min / median / max | implied threshold - "
          "true: max abs |")
    print("|---|---|---|---|---|---|")
    groups = sorted({r[key] for r in rows}, key=lambda k: [r[key] for r in
                                                           rows].index(k))
    for g in groups:
        chosen = [r for r in rows if r[key] == g]
        ratios = np.array([per_start(r) for r in chosen])
        ratios = ratios[~np.isnan(ratios)]
        err = [abs(r["threshold"] - r["t"]) for r in chosen
               if r.get("t") is not None and r["threshold"] is not None]
        spread = (f"{ratios.min():.2f} / {np.median(ratios):.2f} / "
                  f"{ratios.max():.2f}" if ratios.size else "-")
        print(f"| {g} | {len(chosen)} | {sum(r['stitched'] for r in chosen)} | "
              f"{sum(r['n_starts'] == 0 for r in chosen)} | {spread} | "
              f"{max(err):.3f} |" if err else
              f"| {g} | {len(chosen)} | {sum(r['stitched'] for r in chosen)} | "
              f"{sum(r['n_starts'] == 0 for r in chosen)} | {spread} | - |")


def confusion(rows) -> None:
    print("| file | not stitched: volumes | called stitched (wrong) | stitched: "
          "volumes | called stitched (right) | missed |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["file"] for r in rows):
        neg = [r for r in rows if r["file"] == name and not r["truly"]]
        pos = [r for r in rows if r["file"] == name and r["truly"]]
        hit = sum(r["stitched"] for r in pos)
        missed = ", ".join(f"{r['kind']} z{r['z']} t{r['t']} ({r['n_starts']} "
                           f"starts, {r['n_violations']} violations)"
                           for r in pos if not r["stitched"]) or "-"
        print(f"| {name} | {len(neg)} | {sum(r['stitched'] for r in neg)} | "
              f"{len(pos)} | {hit} | {missed} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["synthetic", "real", "rules", "both"],
                        default="both")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print_environment("python benchmarks/bench_detect_stitched.py"
                      + (f" --part {args.part}" if args.part != "both" else ""))
    if args.part in ("synthetic", "both"):
        start = time.perf_counter()
        rows = synthetic()
        print(f"\nSynthetic calibration ({len(rows)} volumes, "
              f"{time.perf_counter() - start:.0f} s):\n")
        summary(rows, "kind")
        print()
        summary([r for r in rows if r["truly"]], "t")
    if args.part in ("real", "both"):
        start = time.perf_counter()
        rows = real()
        print(f"\nReal data ({len(rows)} volumes, {time.perf_counter() - start:.0f}"
              " s):\n")
        summary(rows, "kind")
        print()
        confusion(rows)
    if args.part == "rules":
        print("\nOther stitching rules, perfect sections of the six real files, "
              "z steps 1 and 2:\n")
        other_rules()


if __name__ == "__main__":
    main()

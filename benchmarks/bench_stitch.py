"""Repairing what 2D-per-slice segmentation plus IoU stitching produces (issue 13).

For every shared ground truth (``em_medulla_gala`` subsampled to every 4th
layer, as it is isotropic), the 2D masks of each slice are stitched into 3D
by IoU with cellpose's own ``cellpose.utils.stitch3D`` (the ``bench`` extra;
without cellpose the package's ``datasets.stitch_slices`` is used and the
output says so). Two sources of 2D masks:

* ``sections`` - perfect 2D cross-sections of the truth (each connected piece
  of a cell in a slice is one mask);
* ``raw`` - classical 2D segmentation of the raw image
  (``benchmarks/_flawed_segmentation.py``).

at z steps 1 and 2 and stitch thresholds 0.25 and 0.5. Each stitched volume
is repaired by the default corrector (``load_pretrained()``), by the one-line
rule baseline (fractions 0.5 and 0.7) and by a perfect merger (each label
joined to the true cell it mostly lies in). Reported: extra fragments before
and after, joins right and wrong, AP50, VOI split / merge and seconds.

With ``--image`` the corrector also gets the raw image of each volume
(``correct(labels, image=raw)``; the EM image inverted, so that boundaries
are bright as in a membrane stain), for a model with image features
(``--model``, see ``bench_stitch_image.py``).

Run ``python benchmarks/bench_stitch.py`` (about 5 minutes; ``--quick`` runs
z step 1 and threshold 0.25 only).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _flawed_segmentation import (
    SETTINGS,
    segment_membrane_slices,
    segment_nuclei_slices,
)
from _shared_data import ALL_NAMES, load, require_shared_data
from _stitch_eval import (
    cross_sections,
    extra_fragments,
    join_counts,
    perfect_merger,
    rule_merger,
    scores,
)

from sklearn_overseg import load_model, load_pretrained
from sklearn_overseg.datasets import stitch_slices

#: Raw-image 2D segmentation of the EM volume (inverted: dark membranes),
#: chosen on the 2D AP50 of its slices like the others in ``SETTINGS``.
EM_SETTINGS = ("membrane", dict(sigma=1.0, h=60.0))
#: Layers kept of isotropic volumes before the z steps (light-microscopy-like).
BASE_STEP = {"em_medulla_gala": 4}
METHODS = ("stitched", "model", "rule 0.5", "rule 0.7", "perfect")
#: ``--stitch-splits auto``: the model with ``stitch_splits="auto"`` too.
AUTO_CORRECTOR = None
#: (z step, stitch threshold) of every setting; ``--quick`` runs the first.
CONFIGS = ((1, 0.25), (1, 0.5), (2, 0.25), (2, 0.5))


def stitcher():
    """cellpose's ``stitch3D`` when installed, else the package's stitcher."""
    try:
        from cellpose.utils import stitch3D
    except ImportError:
        return "sklearn_overseg.datasets.stitch_slices (cellpose absent)", stitch_slices

    def run(slices, threshold):
        return stitch3D(np.array(slices, dtype=np.int32), stitch_threshold=threshold)

    return "cellpose.utils.stitch3D", run


def two_d(name: str, source: str, truth, raw) -> np.ndarray:
    """Per-slice 2D masks of one volume."""
    if source == "sections":
        return cross_sections(truth)
    kind, params = EM_SETTINGS if name == "em_medulla_gala" else SETTINGS[name]
    if name == "em_medulla_gala":
        raw = 255.0 - raw
    segment = segment_membrane_slices if kind == "membrane" else segment_nuclei_slices
    return segment(raw, **params)


def bright_boundaries(name: str, raw: np.ndarray) -> np.ndarray:
    """The raw image for image features: EM inverted (dark membranes)."""
    raw = np.asarray(raw, dtype=np.float32)
    return 255.0 - raw if name == "em_medulla_gala" else raw


def repair(method: str, seg, truth, corrector, image=None):
    if method == "model, auto":  # stitch_splits="auto": decided per volume
        corrector = AUTO_CORRECTOR
        method = "model"
    if method == "stitched":
        return seg
    if method == "perfect":
        return perfect_merger(seg, truth)
    if method.startswith("rule"):
        return rule_merger(seg, float(method.split()[1]))
    try:
        return corrector.correct(seg, image=image)
    except ValueError as err:  # every label one layer thick: nothing stitched
        if "one z layer thick" not in str(err):
            raise
        print(f"  corrector refused the volume: {str(err)[:60]}...", flush=True)
        return seg


def stitched_volumes(name: str, stitch, configs, sources=("sections", "raw"),
                     *, with_image: bool = False):
    """``(source, z_step, threshold, stitched, truth)`` of every setting of a file.

    With ``with_image`` each tuple ends with the volume's raw image as the
    image features want it (:func:`bright_boundaries`).
    """
    truth, raw, _ = load(name)
    base = BASE_STEP.get(name, 1)
    for source in sources:
        for z_step, threshold in configs:
            step = base * z_step
            gt, image = truth[::step], raw[::step].astype(float)
            seg = stitch(two_d(name, source, gt, image), threshold)
            if with_image:
                yield (source, z_step, threshold, seg, gt,
                       bright_boundaries(name, raw[::step]))
            else:
                yield source, z_step, threshold, seg, gt


def score_repair(seg, out, truth, seconds: float, extra: int | None = None) -> dict:
    """The numbers of one repaired volume (one row of the tables)."""
    right, wrong = join_counts(seg, out, truth)
    extra = extra_fragments(seg, truth) if extra is None else extra
    return dict(extra_before=extra, extra_after=extra_fragments(out, truth),
                right=right, wrong=wrong, seconds=seconds, **scores(truth, out))


def run_one(seg, truth, corrector, methods=METHODS, image=None) -> dict:
    extra = extra_fragments(seg, truth)
    rows = {}
    for method in methods:
        start = time.perf_counter()
        out = repair(method, seg, truth, corrector, image)
        rows[method] = score_repair(seg, out, truth, time.perf_counter() - start,
                                    extra)
    return rows


def summary(records, keys, methods=METHODS) -> list[str]:
    """Markdown rows summed (counts) or averaged (scores) over ``records``."""
    lines = []
    for method in methods:
        rows = [r["methods"][method] for r in records]
        extra = sum(r["extra_before"] for r in rows)
        right, wrong = sum(r["right"] for r in rows), sum(r["wrong"] for r in rows)
        after = sum(r["extra_after"] for r in rows)
        lines.append(
            f"| {keys} | {method} | {extra} | {after} | {right} | {wrong} | "
            f"{right / max(extra, 1):.0%} | {wrong / max(right + wrong, 1):.1%} | "
            f"{np.mean([r['AP50'] for r in rows]):.3f} | "
            f"{np.mean([r['VOI_split'] for r in rows]):.3f} | "
            f"{np.mean([r['VOI_merge'] for r in rows]):.3f} | "
            f"{sum(r['seconds'] for r in rows):.1f} |"
        )
    return lines


HEADER = ("| setting | method | extra before | extra after | joins right | "
          "joins wrong | removed | wrong joins | AP50 | VOI split | VOI merge | "
          "seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--model", help="a saved corrector (default: pretrained)")
    parser.add_argument("--files", nargs="+", default=ALL_NAMES)
    parser.add_argument("--image", action="store_true",
                        help="give the corrector the raw image (a model with "
                             "image features, --model)")
    parser.add_argument("--sources", nargs="+", default=["sections", "raw"],
                        choices=["sections", "raw"])
    parser.add_argument("--stitch-splits", choices=["auto"],
                        help="also repair with load_pretrained(stitch_splits="
                             "'auto') (row 'model, auto')")
    args = parser.parse_args(argv)
    methods = METHODS
    if args.stitch_splits:
        global AUTO_CORRECTOR
        AUTO_CORRECTOR = load_pretrained(stitch_splits="auto")
        methods = (*METHODS[:2], "model, auto", *METHODS[2:])
    require_shared_data(ALL_NAMES)
    which, stitch = stitcher()
    print(f"stitcher: {which}")
    corrector = load_model(args.model) if args.model else load_pretrained()
    configs = CONFIGS[:1] if args.quick else CONFIGS
    records = []
    for name in args.files:
        for source, z_step, threshold, seg, gt, image in stitched_volumes(
            name, stitch, configs, args.sources, with_image=True
        ):
            records.append(dict(file=name, source=source, z_step=z_step,
                                threshold=threshold,
                                methods=run_one(seg, gt, corrector, methods,
                                                image=(image if args.image
                                                       else None))))
            m = records[-1]["methods"]["model"]
            print(f"{name} {source} z{z_step} t{threshold}: extra "
                  f"{m['extra_before']} right {m['right']} wrong {m['wrong']}",
                  flush=True)
    print(f"\nStitcher: {which}. Sums over the {len(ALL_NAMES)} files "
          "(AP50 and VOI: means).\n")
    print(HEADER)
    for source in args.sources:
        for z_step, threshold in configs:
            chosen = [r for r in records if (r["source"], r["z_step"],
                                             r["threshold"]) == (source, z_step,
                                                                 threshold)]
            print("\n".join(summary(chosen, f"{source}, z{z_step}, t{threshold}",
                                    methods)))
        print("\n".join(summary([r for r in records if r["source"] == source],
                                f"**{source}, all**", methods)))
    print("\nPer file, every setting summed:\n")
    print(HEADER)
    for name in args.files:
        for source in args.sources:
            chosen = [r for r in records if (r["file"], r["source"]) == (name, source)]
            print("\n".join(row for row in summary(chosen, f"{name}, {source}",
                                                    methods)
                            if "| model" in row or "| rule 0.5 |" in row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()

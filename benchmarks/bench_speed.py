"""Speed of screening, features, EMD and end-to-end correction.

(a) Screening and both feature sets on a 100 x 400 x 400 synthetic tissue of
    100 cells with 15 axis splits: median wall time of 5 runs and its ratio
    to one ``scipy.ndimage.find_objects`` pass over the same volume, measured
    in the same run (target: under 2 s; the paper's code takes about 2 min).
(b) Earth mover's distance between random 2D masks of about 100, 1000 and
    10000 pixels: relative error of ``sliced``, ``multiscale``, ``auto`` and
    ``exact`` (default pooling) against the exact network simplex on all
    pixels, and time per call. Pairs are "layer-like" (a correlated shape,
    shifted by up to 0.3 radius, area within +-25%) or "independent" (an
    unrelated shape up to 1.5 radii away, area x0.5-2). At 10000 pixels the
    exact reference costs a minute or more per pair unless the two masks
    have equal areas (the shared mass then cancels), so only equal-area
    layer-like pairs are measured there.
(c) End-to-end ``MergeCorrector.correct`` with the pretrained axis model on
    synthetic flawed stacks of 10 M (200 x 224 x 224) and 100 M
    (2000 x 224 x 224, the paper's size, which it reports at about 22 minutes
    on CPU) voxels, one cell per 15 000 voxels, 5% of the cells split: wall
    time, peak resident memory of a fresh subprocess (``VmHWM``) and the
    ratio to one ``find_objects`` pass in that subprocess (target: under
    30 s); each stack is corrected with ``n_jobs`` 1, 2 and -1 and in place
    (``out=volume``), each in its own subprocess, with the speed-up over
    ``n_jobs=1``, the CPU time of the subprocess and its worker processes,
    the load average when ``correct`` started, and the peak memory over the
    label array (whole process, and its rise during ``correct``). The "2nd
    volume" columns time a second ``correct`` in the same subprocess (not in
    place), whose worker processes are already up, as when one session
    corrects several volumes.
(d), (e): gap interpolation, and ``correct`` over ``predict_merges`` and
    ``find_objects``: see ``_speed_ratios.py``.

Usage::

    python benchmarks/bench_speed.py [--parts a b c d e] [--sizes 10M 100M]
        [--tilted-repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _speed_ratios import part_d, part_e
from bench_common import (
    children_cpu_s,
    markdown_table,
    peak_rss_mb,
    print_environment,
    quiet,
)
from scipy import ndimage as ndi
from tqdm import tqdm

from sklearn_overseg import (
    GeoWassersteinFeatures,
    TopologyFeatures,
    geo_wasserstein,
    load_pretrained,
)
from sklearn_overseg.datasets import make_tissue, oversegment

REPEATS = 5
SIZES = {"10M": (200, 224, 224), "100M": (2000, 224, 224)}
VOXELS_PER_CELL = 15_000


def median_time(func, repeats: int = REPEATS) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


# ----------------------------------------------------------- (a) screening
def part_a() -> str:
    """Screening + features on a 100 x 400 x 400 tissue with 15 splits."""
    truth = make_tissue((100, 400, 400), 100, random_state=0)
    with quiet():
        flawed, pairs = oversegment(truth, n_splits=15, random_state=0)
    screener = load_pretrained("axis").screener_
    t_find, _ = median_time(lambda: ndi.find_objects(flawed))
    t_screen, cands = median_time(lambda: screener.transform([flawed]))
    rows = [["find_objects (reference)", "-", t_find, 1.0]]
    rows.append([f"screening ({screener!r})", len(cands), t_screen,
                 t_screen / t_find])
    for feature_set in ("paper", "extended"):
        geo = GeoWassersteinFeatures(feature_set=feature_set).fit(cands)
        topo = TopologyFeatures(feature_set=feature_set).fit(cands)
        t_feat, _ = median_time(
            lambda g=geo, t=topo: (g.transform(cands), t.transform(cands))
        )
        rows.append([f"features, {feature_set} ({geo.n_features_out_} + "
                     f"{topo.n_features_out_})", len(cands), t_feat,
                     t_feat / t_find])
        rows.append([f"screening + {feature_set} features", len(cands),
                     t_screen + t_feat, (t_screen + t_feat) / t_find])
    header = (f"volume {flawed.shape} {flawed.dtype}, "
              f"{len(np.unique(flawed)) - 1} labels, {len(pairs)} true splits; "
              f"median of {REPEATS} runs\n\n")
    return header + markdown_table(
        ["step", "pairs", "seconds", "x find_objects"], rows
    )


# ----------------------------------------------------------------- (b) EMD
def _field(rng, size: int, radius: float) -> np.ndarray:
    f = ndi.gaussian_filter(rng.normal(size=(size, size)), radius / 3)
    return f / f.std()


def _blob(n_px: int, noise: np.ndarray, center) -> np.ndarray:
    """The ``n_px`` pixels of highest ``noise - (r / R)^2``, largest piece."""
    radius = np.sqrt(n_px / np.pi)
    yy, xx = np.indices(noise.shape)
    score = 1.2 * noise - ((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / radius**2
    mask = score >= np.partition(score.ravel(), -n_px)[-n_px]
    pieces, n = ndi.label(mask)
    if n > 1:
        mask = pieces == np.argmax(np.bincount(pieces.ravel())[1:]) + 1
    return mask


def mask_pair(rng, n_px: int, kind: str):
    """Two random masks: ``"layer"``, ``"layer equal"`` or ``"independent"``."""
    radius = np.sqrt(n_px / np.pi)
    size = int(7 * radius) + 10
    center = np.array([size / 2, size / 2])
    noise_a = _field(rng, size, radius)
    a = _blob(n_px, noise_a, center)
    if kind.startswith("layer"):
        noise_b = 0.85 * noise_a + 0.53 * _field(rng, size, radius)
        shift = rng.uniform(-0.3, 0.3, 2) * radius
        n_b = int(a.sum()) if kind == "layer equal" else int(
            n_px * rng.uniform(0.8, 1.25)
        )
    else:
        noise_b = _field(rng, size, radius)
        shift = rng.uniform(-1.5, 1.5, 2) * radius
        n_b = int(n_px * rng.uniform(0.5, 2.0))
    b = _blob(n_b, noise_b, center + shift)
    if kind == "layer equal" and b.sum() != a.sum():  # a piece was dropped
        a = _blob(int(b.sum()), noise_a, center)
    return a, b


EMD_CASES = (
    (100, "layer", 30), (100, "independent", 30),
    (1000, "layer", 20), (1000, "independent", 20),
    (10000, "layer equal", 6),
)
EMD_METHODS = ("sliced", "multiscale", "auto", "exact")


def part_b() -> str:
    """Accuracy and time of the EMD methods against the unpooled exact EMD."""
    rng = np.random.default_rng(0)
    rows = []
    bar = tqdm(total=sum(n for *_, n in EMD_CASES), desc="EMD", file=sys.stderr)
    for n_px, kind, n_pairs in EMD_CASES:
        errors = {m: [] for m in EMD_METHODS}
        times = {m: [] for m in ("reference", *EMD_METHODS)}
        for _ in range(n_pairs):
            a, b = mask_pair(rng, n_px, kind)
            start = time.perf_counter()
            ref = geo_wasserstein(a, b, "exact", max_exact_pixels=10**7)
            times["reference"].append(time.perf_counter() - start)
            for method in EMD_METHODS:
                start = time.perf_counter()
                value = geo_wasserstein(a, b, method)
                times[method].append(time.perf_counter() - start)
                errors[method].append((value - ref) / ref)
            bar.update()
        for method in EMD_METHODS:
            err = np.asarray(errors[method])
            worst = err[np.argmax(np.abs(err))]
            rows.append([
                n_px, kind, n_pairs, method, f"{100 * np.median(err):+.2f}",
                f"{100 * worst:+.2f}",
                f"{100 * np.mean(np.abs(err) <= 0.03):.0f}",
                f"{1000 * np.median(times[method]):.2f}",
                f"{1000 * np.median(times['reference']):.1f}",
            ])
    bar.close()
    return markdown_table(
        ["pixels", "pair kind", "n pairs", "method", "median rel. err. %",
         "worst rel. err. %", "% within 3%", "ms per call",
         "exact (unpooled) ms"], rows,
    )


# ------------------------------------------------------- (c) end to end
def build_stack(name: str, path: Path) -> dict:
    """A flawed synthetic stack saved to ``path`` (``.npy``); its description."""
    shape = SIZES[name]
    n_cells = int(np.prod(shape) // VOXELS_PER_CELL)
    start = time.perf_counter()
    truth = make_tissue(shape, n_cells, random_state=1)
    with quiet():
        flawed, pairs = oversegment(
            truth, n_splits=n_cells // 20, n_noise_masks=n_cells // 100,
            shrink=1, random_state=1,
        )
    del truth
    np.save(path, flawed)
    return {"shape": shape, "cells": n_cells, "splits": len(pairs),
            "dtype": str(flawed.dtype), "build_s": time.perf_counter() - start}


def timed_correct(corrector, volume, out) -> tuple[float, float, object]:
    """Wall and CPU seconds (this process and its workers) of one ``correct``."""
    cpu = time.process_time() + children_cpu_s()
    start = time.perf_counter()
    corrected = corrector.correct(volume, out=out)
    wall = time.perf_counter() - start
    return wall, time.process_time() + children_cpu_s() - cpu, corrected


def child(path: str, n_jobs: int, inplace: bool) -> None:
    """Subprocess: load, find_objects, correct (twice); print timings as JSON."""
    volume = np.load(path)
    corrector = load_pretrained("axis").set_params(n_jobs=n_jobs)
    rss_loaded = peak_rss_mb()
    t_find, _ = median_time(lambda: ndi.find_objects(volume), repeats=3)
    labels_before = int(len(np.unique(volume)) - 1)
    rss_before = peak_rss_mb()
    load = os.getloadavg()[0]
    t_correct, cpu, corrected = timed_correct(
        corrector, volume, volume if inplace else None
    )
    peak = peak_rss_mb()  # before the label counts below, which sort copies
    labels_after = int(len(np.unique(corrected)) - 1)
    # a second volume in the same process: the worker processes are up
    second = None if inplace else timed_correct(corrector, volume, None)[0]
    print(json.dumps({
        "find_objects_s": t_find,
        "correct_s": t_correct,
        "cpu_s": cpu,
        "second_s": second,
        "load": load,
        "labels_before": labels_before,
        "labels_after": labels_after,
        "rss_loaded_mb": rss_loaded,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "volume_mb": volume.nbytes / 2**20,
    }))


#: (n_jobs, in place) runs of part (c), each in a fresh subprocess.
RUNS = ((1, False), (2, False), (-1, False), (1, True))


def part_c(sizes) -> str:
    """End-to-end correction of 10 M and 100 M voxel stacks in subprocesses."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        for name in tqdm(sizes, desc="end to end", file=sys.stderr):
            path = Path(tmp) / f"{name}.npy"
            info = build_stack(name, path)
            serial = serial_second = None
            for n_jobs, inplace in RUNS:
                start = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(path),
                     "--n-jobs", str(n_jobs)] + ["--inplace"] * inplace,
                    capture_output=True, text=True, check=True,
                )
                wall = time.perf_counter() - start
                res = json.loads(out.stdout.strip().splitlines()[-1])
                serial = serial or res["correct_s"]
                serial_second = serial_second or res["second_s"]
                second = res["second_s"]
                rise = (res["peak_rss_mb"] - res["rss_before_mb"]) / res["volume_mb"]
                rows.append([
                    name, "x".join(map(str, info["shape"])), info["cells"],
                    info["splits"], n_jobs, "yes" if inplace else "no",
                    f"{res['labels_before']} -> {res['labels_after']}",
                    f"{res['find_objects_s']:.2f}", f"{res['correct_s']:.1f}",
                    f"{res['cpu_s']:.1f}",
                    f"{res['correct_s'] / res['find_objects_s']:.0f}",
                    f"{serial / res['correct_s']:.2f}",
                    "-" if second is None else f"{second:.1f}",
                    "-" if second is None else f"{serial_second / second:.2f}",
                    f"{res['load']:.1f}",
                    f"{res['volume_mb']:.0f}", f"{res['rss_loaded_mb']:.0f}",
                    f"{res['peak_rss_mb']:.0f}",
                    f"{res['peak_rss_mb'] / res['volume_mb']:.2f}",
                    f"{rise:.2f}",
                    f"{wall:.1f}",
                ])
            path.unlink()
    return markdown_table(
        ["stack", "shape", "cells", "true splits", "n_jobs", "in place",
         "labels", "find_objects s", "correct s", "CPU s", "x find_objects",
         "speed-up vs n_jobs=1", "2nd volume s", "2nd volume speed-up",
         "load average", "volume MB", "RSS after load MB",
         "peak RSS MB", "peak RSS / labels", "peak rise / labels",
         "subprocess wall s"], rows,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c", "d", "e"],
                        choices=["a", "b", "c", "d", "e"])
    parser.add_argument("--tilted-repeats", type=int, default=1)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES),
                        choices=list(SIZES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--inplace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n_jobs, args.inplace)
        return
    print_environment("python benchmarks/bench_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    if "a" in args.parts:
        print("### (a) Screening and features, 100 x 400 x 400, 15 splits\n")
        print(part_a() + "\n")
    if "b" in args.parts:
        print("### (b) Earth mover's distance: error vs unpooled exact, time\n")
        print(part_b() + "\n")
    if "c" in args.parts:
        print("### (c) End-to-end correction (pretrained axis model), "
              "fresh subprocess\n")
        print(part_c(args.sizes) + "\n")
    if "d" in args.parts:
        print("### (d) Gap interpolation: accuracy and time per gap, one run\n")
        print(part_d() + "\n")
    if "e" in args.parts:
        print("### (e) Correction against detection and find_objects, one "
              "process\n")
        print(part_e(args.tilted_repeats) + "\n")


if __name__ == "__main__":
    main()

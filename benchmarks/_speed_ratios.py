"""Parts (d) and (e) of ``bench_speed.py``: gap interpolation and step ratios.

(d) Gap interpolation, today's ``boundary_ot`` against the reference path
    (exact network simplex on every outline vertex, skimage fills, the whole
    frame: the implementation before the fast path) and ``distance``, in the
    same loop: on the shared real volumes, every interior layer of every cell
    (area >= 20 pixels, box margin 2: ``metrics.interior_layers``, the
    protocol of ``metrics.layer_recovery_ious``) is removed and rebuilt from
    its two neighbours; median IoU with the true
    mask and milliseconds per gap. Then the 15 one-layer gaps of the dense
    100 x 400 x 400 tissue of part (a), median of 3 passes.
(e) Ratios measured in one process: ``correct`` over ``predict_merges`` on
    that dense tissue (pretrained axis model, medians of 3), and the
    pretrained tilted model's ``correct`` on 100 x 400 x 400 with 10 tilted
    cuts over one ``find_objects`` pass (median of ``tilted_repeats``).
"""

from __future__ import annotations

import time

import numpy as np
from _shared_data import NAMES, available, load
from bench_common import markdown_table, quiet
from scipy import ndimage as ndi

from sklearn_overseg import interpolate_masks, load_pretrained
from sklearn_overseg._candidates import LOWER, UPPER
from sklearn_overseg.correction._ot_reference import boundary_ot_reference
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import interior_layers

__all__ = ["part_d", "part_e"]


def _iou(a, b) -> float:
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def _real_triples(name):
    """(above, truth, below) of every interior layer, and the in-plane pixel size."""
    labels, _, voxel_size = load(name)
    return interior_layers(labels), np.asarray(voxel_size[1:], float)


def _methods():
    """name -> function(above, below, n_missing, pixel size) -> layers."""
    return {
        "reference": lambda a, b, n, px: np.stack(boundary_ot_reference(
            a, b, np.arange(1, n + 1) / (n + 1), px, 2000)),
        "boundary_ot": lambda a, b, n, px: interpolate_masks(a, b, n, voxel_size=px),
        "distance": lambda a, b, n, px: interpolate_masks(
            a, b, n, voxel_size=px, method="distance"),
    }


def _dense_gaps():
    """Masks around the gaps of the dense tissue's true axis candidates."""
    truth = make_tissue((100, 400, 400), 100, random_state=0)
    with quiet():
        flawed, _ = oversegment(truth, n_splits=15, random_state=0)
    cands = load_pretrained("axis").screener_.transform([flawed])
    return flawed, [
        (c.crop[c.gap[0] - 1] == UPPER, c.crop[c.gap[1]] == LOWER,
         c.gap[1] - c.gap[0], np.asarray(c.voxel_size[1:], float))
        for c in cands
        if c.kind == "axis" and c.gap is not None and c.gap[1] > c.gap[0]
    ]


def part_d() -> str:
    """Interpolation accuracy and ms per gap, reference vs fast, one run."""
    methods = _methods()
    import ot  # noqa: F401  (the reference's import is not timed)

    rows = []
    names = NAMES if available() else ()
    for name in names:
        triples, px = _real_triples(name)
        scores = {m: [] for m in methods}
        times = dict.fromkeys(methods, 0.0)
        for above, truth, below in triples:
            for m, func in methods.items():
                start = time.perf_counter()
                layer = func(above, below, 1, px)[0]
                times[m] += time.perf_counter() - start
                scores[m].append(_iou(layer, truth))
        n = len(triples)
        rows.append([name, n] + [f"{np.median(scores[m]):.4f}" for m in methods]
                    + [f"{1e3 * times[m] / n:.1f}" for m in methods]
                    + [f"{times['reference'] / times['boundary_ot']:.1f}"])
    _, gaps = _dense_gaps()
    passes = {m: [] for m in methods}
    for _ in range(3):
        for m, func in methods.items():
            start = time.perf_counter()
            for above, below, n, px in gaps:
                func(above, below, n, px)
            passes[m].append(1e3 * (time.perf_counter() - start) / len(gaps))
    ms = {m: float(np.median(v)) for m, v in passes.items()}
    rows.append(["dense synthetic 100x400x400 (gaps of the true splits)", len(gaps)]
                + ["-"] * 3 + [f"{ms[m]:.1f}" for m in methods]
                + [f"{ms['reference'] / ms['boundary_ot']:.1f}"])
    columns = (["volume", "gaps"] + [f"median IoU {m}" for m in methods]
               + [f"ms/gap {m}" for m in methods] + ["speed-up vs reference"])
    return markdown_table(columns, rows)


def _median_time(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def part_e(tilted_repeats: int = 1) -> str:
    """correct / predict_merges (dense) and tilted correct / find_objects."""
    flawed, gaps = _dense_gaps()
    axis = load_pretrained("axis")
    axis.correct(flawed)  # warm-up: imports, caches
    t_find = _median_time(lambda: ndi.find_objects(flawed), 3)
    t_predict = _median_time(lambda: axis.predict_merges(flawed), 3)
    t_correct = _median_time(lambda: axis.correct(flawed), 3)
    rows = [
        ["dense 100x400x400, 15 axis splits", "axis", f"{t_find:.3f}",
         f"{t_predict:.2f}", f"{t_correct:.2f}", f"{t_correct / t_predict:.2f}",
         f"{t_correct / t_find:.0f}"],
    ]
    truth = make_tissue((100, 400, 400), 100, random_state=0)
    with quiet():
        tilted_volume, _ = oversegment(truth, 10, mode="tilted", random_state=0)
    tilted = load_pretrained("tilted")
    t_find = _median_time(lambda: ndi.find_objects(tilted_volume), 3)
    t_predict = _median_time(lambda: tilted.predict_merges(tilted_volume),
                             tilted_repeats)
    t_correct = _median_time(lambda: tilted.correct(tilted_volume), tilted_repeats)
    rows.append(["100x400x400, 10 tilted cuts", "tilted", f"{t_find:.3f}",
                 f"{t_predict:.1f}", f"{t_correct:.1f}",
                 f"{t_correct / t_predict:.2f}", f"{t_correct / t_find:.0f}"])
    return markdown_table(
        ["volume", "model", "find_objects s", "predict_merges s", "correct s",
         "correct / predict_merges", "correct / find_objects"], rows,
    )

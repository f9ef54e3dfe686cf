"""Speed of the tilted (contact) pair pipeline on every touching pair.

Issue 5's target: all touching pairs of a 100 x 400 x 400 volume with about
100 cells (cut by 10 tilted planes, ``oversegment(mode="tilted")``) through
``load_pretrained("tilted").predict_merges`` in under 30 s on 2 cores.

Each configuration runs in a fresh subprocess: first one end-to-end
``predict_merges`` (wall time, and the peak resident memory ``VmHWM`` of the
process, which holds the volume, the model and every candidate's crops), then
``--repeats`` staged runs that time each step: screening, reslicing,
Geo-Wasserstein, topology and contact features, scaling and classifier, merge
decisions. Times are medians over the repeats. ``n_jobs=2`` runs everything
under ``joblib.parallel_config(backend=..., n_jobs=2)``, which the ``n_jobs=None``
of every step follows: the per-pair steps (reslicing, features) then run in
``loky`` worker processes when the crops are work enough
(``sklearn_overseg._parallel.map_batches``), whatever the backend, which
applies to scikit-learn's own loops (default ``threading``).

``--baseline DIR`` also measures the ``sklearn_overseg`` package found in
``DIR`` (an export of an older commit, e.g. ``git archive <commit>
sklearn_overseg | tar -x -C DIR``) in the same run, so that its ratios to the
current code are measured under the same machine load. ``--cpu`` times the
steps in CPU seconds of the process (``time.process_time``), which a busy
shared machine disturbs far less than wall time (``n_jobs=1`` only: the
workers' time is not counted). ``--rounds N`` runs every configuration N
times, alternating (each time in a fresh process), and takes the medians over
all of them, so that a busy moment of a shared machine does not fall on one
configuration only; the 1-minute load average at the end of each child is
reported.

A second table splits the CPU time of each run (the first ``predict_merges``
and the staged runs): CPU seconds of the main thread, of the whole process
and of its worker processes, and the lower bound of the wall time these give
on an idle 2-core machine (the larger of the main thread's CPU time and half
the total), with the speed-up bound over one job: on a shared machine these
columns, not the wall times, are what to read.

Usage::

    python benchmarks/bench_tilted_speed.py [--sizes 100x400x400 50x200x200]
        [--jobs 1 2] [--repeats 3] [--rounds 1] [--cpu] [--backend threading]
        [--baseline DIR]
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
from bench_common import (
    children_cpu_s,
    markdown_table,
    peak_rss_mb,
    print_environment,
    quiet,
)
from tqdm import tqdm

#: name -> (shape, cells); the small volume keeps the cell size of the large.
SIZES = {
    "100x400x400": ((100, 400, 400), 100),
    "50x200x200": ((50, 200, 200), 12),
}
STAGES = (
    "screening",
    "reslice",
    "geo features",
    "topology features",
    "contact features",
    "scale + classifier",
    "merge decisions",
)


# ----------------------------------------------------------------- child
def cpu_now() -> tuple:
    """Wall, main-thread, process and worker-process seconds so far."""
    return (time.perf_counter(), time.thread_time(), time.process_time(),
            children_cpu_s())


def cpu_since(before: tuple) -> dict:
    """The seconds of :func:`cpu_now` spent since ``before``."""
    keys = ("wall", "main", "process", "workers")
    return {k: now - then for k, now, then in zip(keys, cpu_now(), before)}


def staged_run(corrector, volume, decide, clock=time.perf_counter) -> dict:
    """One pass over the tilted pipeline, step by step; seconds per step."""
    times = {}
    before = cpu_now()
    start = clock()
    candidates = corrector.screener_.transform([volume])
    times["screening"] = clock() - start
    pipe = corrector.classifier_
    start = clock()
    resliced = pipe["reslice"].transform(candidates)
    times["reslice"] = clock() - start
    blocks = []
    for name, transformer in pipe["features"].transformer_list:
        start = clock()
        blocks.append(np.asarray(transformer.transform(resliced)))
        times[f"{name} features"] = clock() - start
    start = clock()
    scaled = pipe["scale"].transform(np.hstack(blocks))
    proba = np.asarray(pipe["clf"].predict_proba(scaled))[:, 1]
    times["scale + classifier"] = clock() - start
    if decide is not None:
        start = clock()
        decide(volume, candidates, proba, corrector.threshold)
        times["merge decisions"] = clock() - start
    times["pairs"] = len(candidates)
    times["cpu"] = cpu_since(before)
    return times


def child(path: str, n_jobs: int, backend: str, repeats: int, cpu: bool) -> None:
    """Subprocess: one end-to-end run, then staged runs; JSON on stdout."""
    from joblib import parallel_config

    import sklearn_overseg
    from sklearn_overseg import load_pretrained

    try:  # private helper; it moved between modules over time
        from sklearn_overseg.correction._steps import decide_merges
    except ImportError:
        try:
            from sklearn_overseg.correction._corrector import decide_merges
        except ImportError:
            decide_merges = None
    volume = np.load(path)
    corrector = load_pretrained("tilted")
    rss_loaded = peak_rss_mb()
    config = {} if n_jobs == 1 else {"backend": backend, "n_jobs": n_jobs}
    with parallel_config(**config), quiet():
        before = cpu_now()
        records = corrector.predict_merges(volume)
        first = cpu_since(before)
        end_to_end = first["wall"]
        peak = peak_rss_mb()
        clock = time.process_time if cpu else time.perf_counter
        runs = [staged_run(corrector, volume, decide_merges, clock)
                for _ in range(repeats)]
    print(json.dumps({
        "package": str(Path(sklearn_overseg.__file__).parent),
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "end_to_end_s": end_to_end,
        "pairs": len(records),
        "merged": int(sum(r["merged"] for r in records)),
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": peak,
        "stages": {k: [r[k] for r in runs if k in r] for k in STAGES},
        "cpu": {"first": [first], "staged": [r["cpu"] for r in runs]},
    }))


# ---------------------------------------------------------------- parent
def combined(runs: list) -> dict:
    """One configuration's children: stage times pooled, the rest medians."""
    out = dict(runs[0])
    for key in ("end_to_end_s", "peak_rss_mb", "rss_loaded_mb", "load"):
        out[key] = float(np.median([r.get(key, np.nan) for r in runs]))
    out["stages"] = {k: [t for r in runs for t in r["stages"].get(k, [])]
                     for k in STAGES}
    out["cpu"] = {k: [t for r in runs for t in r.get("cpu", {}).get(k, [])]
                  for k in ("first", "staged")}
    return out


def cpu_table(results: dict) -> str:
    """Main-thread, process and worker CPU seconds; the idle 2-core bound."""
    rows, serial = [], {}
    for (version, n_jobs), res in sorted(results.items(), key=lambda kv: kv[0][1]):
        for run in ("first", "staged"):
            cpu = res["cpu"].get(run)
            if not cpu:
                continue
            med = {k: float(np.median([c[k] for c in cpu])) for k in cpu[0]}
            totals = [c["process"] + c["workers"] for c in cpu]
            bounds = [max(c["main"], t / 2) for c, t in zip(cpu, totals)]
            bound = float(np.median(bounds))
            serial.setdefault((version, run), bound)
            rows.append([
                version, n_jobs, run, len(cpu), f"{med['wall']:.2f}",
                f"{med['main']:.2f}", f"{med['process']:.2f}",
                f"{med['workers']:.2f}", f"{float(np.median(totals)):.2f}",
                f"{bound:.2f}", f"{serial[(version, run)] / bound:.2f}",
            ])
    return markdown_table(
        ["version", "n_jobs", "run", "runs", "wall s", "CPU s, main thread",
         "CPU s, process", "CPU s, workers", "CPU s, total",
         "idle 2-core bound s", "speed-up bound"], rows,
    )


def build_volume(name: str, path: Path) -> dict:
    """The flawed volume of ``name`` saved to ``path``; its description."""
    from sklearn_overseg.datasets import make_tissue, oversegment

    shape, cells = SIZES[name]
    truth = make_tissue(shape, cells, random_state=0)
    with quiet():
        flawed, pairs = oversegment(truth, 10, mode="tilted", random_state=0)
    np.save(path, flawed)
    return {"labels": len(np.unique(flawed)) - 1, "splits": len(pairs),
            "dtype": str(flawed.dtype)}


def run_child(path: Path, n_jobs: int, args, baseline: str | None) -> dict:
    env = dict(os.environ)
    if baseline:
        env["PYTHONPATH"] = os.pathsep.join(
            [baseline] + [p for p in [env.get("PYTHONPATH")] if p]
        )
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--n-jobs", str(n_jobs),
         "--backend", args.backend, "--repeats", str(args.repeats)]
        + (["--cpu"] if args.cpu else []),
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_table(results: dict) -> str:
    """Stages (rows) by configuration (columns), with baseline ratios."""
    configs = list(results)
    header = ["step"] + [f"{v}, n_jobs={j} (s)" for v, j in configs]
    pairs_of_ratios = [
        (("baseline", j), ("current", j)) for v, j in configs
        if v == "current" and ("baseline", j) in results
    ]
    header += [f"baseline / current, n_jobs={c[1]}" for _, c in pairs_of_ratios]

    def median(res, stage):
        values = res["stages"].get(stage, [])
        return float(np.median(values)) if values else float("nan")

    rows = []
    for stage in STAGES:
        row = [stage] + [median(results[c], stage) for c in configs]
        row += [median(results[b], stage) / median(results[c], stage)
                for b, c in pairs_of_ratios]
        rows.append(row)
    totals = {c: sum(median(results[c], s) for s in STAGES
                     if results[c]["stages"].get(s)) for c in configs}
    rows.append(["**total (staged, median)**"] + [totals[c] for c in configs]
                + [totals[b] / totals[c] for b, c in pairs_of_ratios])
    rows.append(["predict_merges, first run (median)"]
                + [results[c]["end_to_end_s"] for c in configs]
                + [results[b]["end_to_end_s"] / results[c]["end_to_end_s"]
                   for b, c in pairs_of_ratios])
    rows.append(["peak RSS (MiB)"] + [results[c]["peak_rss_mb"] for c in configs]
                + [results[b]["peak_rss_mb"] / results[c]["peak_rss_mb"]
                   for b, c in pairs_of_ratios])
    rows.append(["RSS after loading (MiB)"]
                + [results[c]["rss_loaded_mb"] for c in configs]
                + ["" for _ in pairs_of_ratios])
    for key, label in (("pairs", "touching pairs"), ("merged", "pairs merged"),
                       ("load", "load average (1 min, median at child ends)")):
        rows.append([label] + [results[c][key] for c in configs]
                    + ["" for _ in pairs_of_ratios])
    rows = [[f"{v:.2f}" if isinstance(v, float) else v for v in row]
            for row in rows]
    return markdown_table(header, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100x400x400"],
                        choices=list(SIZES))
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cpu", action="store_true",
                        help="time the steps in CPU seconds of the process "
                        "(steady on a shared machine; n_jobs=1 only)")
    parser.add_argument("--backend", default="threading",
                        choices=["threading", "loky"])
    parser.add_argument("--baseline", help="folder holding an older sklearn_overseg")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n_jobs, args.backend, args.repeats, args.cpu)
        return
    if args.baseline and not (Path(args.baseline) / "sklearn_overseg").is_dir():
        parser.error(f"no sklearn_overseg package in {args.baseline}")
    print_environment("python benchmarks/bench_tilted_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    versions = [("current", None)] + (
        [("baseline", args.baseline)] if args.baseline else []
    )
    with tempfile.TemporaryDirectory(prefix="bench_tilted_") as tmp:
        for name in args.sizes:
            path = Path(tmp) / f"{name}.npy"
            info = build_volume(name, path)
            results = {}
            todo = [(v, d, j) for _ in range(args.rounds) for v, d in versions
                    for j in args.jobs]
            for version, folder, n_jobs in tqdm(todo, desc=name, file=sys.stderr):
                results.setdefault((version, n_jobs), []).append(
                    run_child(path, n_jobs, args, folder))
            results = {k: combined(v) for k, v in results.items()}
            print(f"### {name}: {info['labels']} labels ({info['dtype']}), "
                  f"{info['splits']} tilted cuts\n")
            print(("Steps timed in CPU seconds of the process (`--cpu`). "
                   if args.cpu else "")
                  + f"n_jobs=2: joblib backend `{args.backend}`; median of "
                  f"{args.repeats} staged runs in each of {args.rounds} "
                  "alternating rounds"
                  + (f"; baseline package: `{args.baseline}` (with its own "
                     "shipped `tilted` model)" if args.baseline else "") + "\n")
            print(size_table(results) + "\n")
            print("CPU split (medians over the runs; `first`: the first "
                  "`predict_merges` of each child, `staged`: the staged runs)\n")
            print(cpu_table(results) + "\n")


if __name__ == "__main__":
    main()

"""What starting costs: the package import, the command line, a worker process.

(a) ``import sklearn_overseg`` and ``overseg --help`` (``python -m
    sklearn_overseg.cli --help``, without the launcher script of the
    environment): median wall time of ``--repeats`` fresh processes.
(b) A worker process of the pair steps (``sklearn_overseg._worker_pool``): CPU
    and wall seconds until its first task (``_ready``, the imports of the
    pair features' batches) returns, median of ``--repeats`` fresh pools;
    then the worker's CPU seconds for its first batch of each tilted step
    (``TiltedReslicer`` and ``ContactFeatures`` batch functions on one small
    pair: their imports, as a worker unpickles them).
(c) With ``--volume``: the first and the second ``MergeCorrector.correct``
    of a fresh process on the 100 M-voxel stack of ``bench_speed.py`` (c)
    (pretrained axis model), ``n_jobs`` 1 and 2, each in its own subprocess:
    wall time, CPU seconds of the main thread, of the whole process and of
    its worker processes, and the lower bound of the wall time that these
    CPU times give on an idle 2-core machine (the larger of the main
    thread's CPU time and half the total), with the speed-up bound over one
    job. On a shared machine the CPU columns are what to read.

Usage::

    python benchmarks/bench_startup.py [--repeats 5] [--volume [--stack S.npy]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import children_cpu_s, markdown_table, print_environment

SNIPPET_IMPORT = (
    "import time; t = time.perf_counter(); import sklearn_overseg; "
    "print(time.perf_counter() - t)"
)


def wall_of(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def worker_child() -> None:
    """Subprocess: start one worker, wait for its first task, then give it a
    batch of each tilted step on one small pair; print JSON."""
    from functools import partial

    import numpy as np

    from sklearn_overseg import _worker_pool
    from sklearn_overseg._candidates import Candidate
    from sklearn_overseg.tilted._contact_features import _chunk_features
    from sklearn_overseg.tilted._reslice import _reslice_chunk

    start = time.perf_counter()
    executor = _worker_pool._executor(1)
    _worker_pool._started["ready"][0].result()
    wall = time.perf_counter() - start
    ready = children_cpu_s()
    crop = np.zeros((8, 10, 10), dtype=np.uint8)
    crop[1:7, 1:9, 1:5] = 1
    crop[1:7, 1:9, 5:9] = 2
    pair = [Candidate(0, 3, 7, crop, kind="contact")]
    params = dict(spacing=None, min_contact_points=10, fill_holes=True, max_layers=8)
    executor.submit(partial(_reslice_chunk, params=params), pair).result()
    resliced = children_cpu_s()
    executor.submit(partial(_chunk_features, region="slab"), pair).result()
    print(json.dumps({"wall": wall, "cpu": ready, "reslice": resliced - ready,
                      "contact": children_cpu_s() - resliced}))


def correct_child(path: str, n_jobs: int) -> None:
    """Subprocess: two ``correct`` calls; their CPU split as JSON."""
    import numpy as np

    from sklearn_overseg import load_pretrained

    volume = np.load(path)
    corrector = load_pretrained("axis").set_params(n_jobs=n_jobs)
    calls = {}
    for call in ("first", "second"):
        cpu, main, workers = time.process_time(), time.thread_time(), children_cpu_s()
        start = time.perf_counter()
        corrector.correct(volume)
        calls[call] = {
            "wall": time.perf_counter() - start,
            "main": time.thread_time() - main,
            "process": time.process_time() - cpu,
            "workers": children_cpu_s() - workers,
            "load": os.getloadavg()[0],
        }
    print(json.dumps(calls))


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_ab(repeats: int) -> str:
    py = [sys.executable]
    imports = [wall_of(py + ["-c", SNIPPET_IMPORT]) for _ in range(repeats)]
    helps = [
        wall_of(py + ["-m", "sklearn_overseg.cli", "--help"]) for _ in range(repeats)
    ]
    bare = [wall_of(py + ["-c", "pass"]) for _ in range(repeats)]
    workers = [run_child("--worker") for _ in range(repeats)]
    rows = [
        ["python -c pass (reference)", f"{statistics.median(bare):.2f}", "-"],
        ["import sklearn_overseg", f"{statistics.median(imports):.2f}", "-"],
        ["overseg --help", f"{statistics.median(helps):.2f}", "-"],
        [
            "a worker process, until its first task returns",
            f"{statistics.median(w['wall'] for w in workers):.2f}",
            f"{statistics.median(w['cpu'] for w in workers):.2f}",
        ],
        [
            "then its first TiltedReslicer batch (one small pair)", "-",
            f"{statistics.median(w['reslice'] for w in workers):.2f}",
        ],
        [
            "then its first ContactFeatures batch (one small pair)", "-",
            f"{statistics.median(w['contact'] for w in workers):.2f}",
        ],
    ]
    return markdown_table(["what (fresh process)", "wall s", "CPU s"], rows)


def part_c(stack: str | None) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_speed import build_stack

    rows, serial = [], {}
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        path = Path(tmp) / "100M.npy"
        if stack is None:
            build_stack("100M", path)
        else:  # a stack saved by an earlier run (same seed, same volume)
            path = Path(stack)
        for n_jobs in (1, 2):
            res = run_child("--correct", str(path), "--n-jobs", str(n_jobs))
            for call, r in res.items():
                total = r["process"] + r["workers"]
                bound = max(r["main"], total / 2)
                serial.setdefault(call, bound)
                rows.append([
                    n_jobs, call, f"{r['wall']:.1f}", f"{r['main']:.2f}",
                    f"{r['process']:.2f}", f"{r['workers']:.2f}", f"{total:.2f}",
                    f"{bound:.2f}", f"{serial[call] / bound:.2f}", f"{r['load']:.1f}",
                ])
    return markdown_table(
        ["n_jobs", "call", "wall s", "CPU s, main thread", "CPU s, process",
         "CPU s, workers", "CPU s, total", "idle 2-core bound s",
         "speed-up bound", "load average"], rows,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--volume", action="store_true",
                        help="also (c): correct the 100 M-voxel stack")
    parser.add_argument("--stack", help="(c) on this saved .npy stack instead")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--correct", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_child()
    if args.correct:
        return correct_child(args.correct, args.n_jobs)
    command = " ".join(["python benchmarks/bench_startup.py", *(argv or sys.argv[1:])])
    print_environment(command)
    print(part_ab(args.repeats))
    if args.volume:
        print()
        print(part_c(args.stack))


if __name__ == "__main__":
    main()

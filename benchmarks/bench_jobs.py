"""``overseg correct --jobs N`` on a small volume: is more jobs faster?

Runs the command line, as a user would, on a synthetic flawed 24 x 128 x 128
tissue (40 cells, 8 split along z, 3 distinct-cell gaps) with ``--jobs 1``
and ``-1`` (every core), alternating, ``REPEATS`` times each, and prints the median
wall time of each setting and its ratio to ``--jobs 1`` measured in the same
run. Every run is a fresh process, so the cost of starting worker processes
is included, as it is for a user.

Usage::

    python benchmarks/bench_jobs.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import markdown_table, print_environment, quiet

from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import write_labels

SHAPE = (24, 128, 128)
SETTINGS = ("1", "-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print_environment("python benchmarks/bench_jobs.py " + " ".join(sys.argv[1:]))
    truth = make_tissue(SHAPE, 40, mode="loose", random_state=0)
    with quiet():
        flawed, pairs = oversegment(truth, n_splits=8, n_stacked_confounders=3,
                                    shrink=1, random_state=0)
    folder = Path(tempfile.mkdtemp())
    write_labels(folder / "flawed.tif", flawed.astype(np.uint16))
    times: dict[str, list[float]] = {s: [] for s in SETTINGS}
    for _ in range(args.repeats):
        for jobs in SETTINGS:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "sklearn_overseg.cli", "correct",
                 "flawed.tif", "-o", f"fixed{jobs}.tif", "--jobs", jobs, "-q"],
                cwd=folder, check=True, capture_output=True,
            )
            times[jobs].append(time.perf_counter() - start)
    base = float(np.median(times["1"]))
    rows = [
        [f"--jobs {jobs}", float(np.median(times[jobs])),
         float(np.median(times[jobs])) / base]
        for jobs in SETTINGS
    ]
    print(f"volume {SHAPE}, {len(np.unique(flawed)) - 1} labels, {len(pairs)} true "
          f"splits; median of {args.repeats} runs of the command line\n")
    print(markdown_table(["setting", "seconds", "x --jobs 1"], rows))


if __name__ == "__main__":
    main()

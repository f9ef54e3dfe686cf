"""Progress in logs: one line per step when stderr is not a terminal."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np

from sklearn_overseg import _progress
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import write_labels

# the command line with every step reported (no one-second delay)
RUN = (
    "import sys; from sklearn_overseg import _progress; _progress.DELAY = 0.0; "
    "from sklearn_overseg.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_cli_writes_one_line_per_step_to_a_log(tmp_path):
    truth = make_tissue((16, 64, 64), 15, mode="loose", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed, _ = oversegment(truth, n_splits=3, shrink=1, random_state=0)
    write_labels(tmp_path / "in.tif", flawed.astype(np.uint16))
    with open(tmp_path / "log.txt", "w") as log:  # stderr is a file, as in a job
        result = subprocess.run(
            [sys.executable, "-c", RUN, "correct", "in.tif", "-o", "out.tif"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True,
            timeout=600,
        )
    assert result.returncode == 0
    text = (tmp_path / "log.txt").read_text()
    assert "\r" not in text
    lines = text.splitlines()
    steps = [line.split(":")[0] for line in lines]
    assert steps == ["reading in.tif", "screening", "pair features",
                     "classifying pairs", "interpolating gaps", "writing out.tif"]
    for line in lines:
        assert re.fullmatch(r"[^:]+: (\d+ \w+, )?\d+\.\d s", line), line
    assert re.fullmatch(r"pair features: \d+ pairs, \d+\.\d s", lines[2])


def test_a_terminal_still_gets_bars(monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setattr(_progress, "_is_terminal", lambda: True)
    assert sum(_progress.progress(range(3), desc="adding")) == 3
    assert "\r" in capsys.readouterr().err


def test_log_lines_count_updates_and_skip_failed_steps(monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    with _progress.progress(desc="features", total=5, unit="pair") as bar:
        bar.update(2)
        bar.update(3)
    assert capsys.readouterr().err.startswith("features: 5 pairs, ")
    try:
        with _progress.stage("reading"):
            raise KeyError("missing")
    except KeyError:
        pass
    assert capsys.readouterr().err == ""  # the error says it; no step line
    monkeypatch.setattr(_progress, "DELAY", 60.0)  # quick steps stay silent
    with _progress.stage("reading"):
        pass
    assert list(_progress.progress(range(2), desc="x")) == [0, 1]
    assert capsys.readouterr().err == ""

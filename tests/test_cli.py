"""The ``overseg`` command line, end to end.

A few runs go through the real entry point in subprocesses (started at once,
two at a time, while the in-process tests run); everything else calls
``main(argv)`` in-process, where the pretrained corrector is loaded once.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sklearn_overseg import MergeCorrector, _progress, load_pretrained
from sklearn_overseg.cli import _commands as commands
from sklearn_overseg.cli import _corrector_options, main
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import read_labels, read_voxel_size, write_labels

pytest.importorskip("h5py")
pytest.importorskip("zarr")

VOXEL = (2.0, 0.5, 0.5)


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained("axis")


@pytest.fixture
def fast_models(monkeypatch, pretrained):
    """In-process runs get a copy of the loaded corrector instead of re-loading."""
    monkeypatch.setattr(_corrector_options, "load_pretrained",
                        lambda name="axis": copy.deepcopy(pretrained))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Truth and flawed volumes in every format, with a voxel size where possible."""
    folder = tmp_path_factory.mktemp("cli")
    truth = make_tissue((24, 80, 80), 30, mode="loose", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed, _ = oversegment(truth, n_splits=5, n_stacked_confounders=2,
                                n_noise_masks=2, shrink=1, random_state=0)
    flawed16, truth16 = flawed.astype(np.uint16), truth.astype(np.uint16)
    write_labels(folder / "flawed.tif", flawed16, voxel_size=VOXEL)
    write_labels(folder / "truth.tif", truth16, voxel_size=VOXEL)
    np.save(folder / "flawed.npy", flawed.astype(np.int32))
    write_labels(str(folder / "cells.h5") + ":seg/flawed", flawed16)
    write_labels(str(folder / "cells.zarr") + ":truth", truth16, voxel_size=VOXEL)
    write_labels(str(folder / "cells.zarr") + ":flawed", flawed16)
    return dict(folder=folder, flawed=flawed16, truth=truth16)


def _command() -> list[str]:
    script = Path(sys.executable).with_name("overseg")
    return [str(script)] if script.exists() else [sys.executable, "-m",
                                                  "sklearn_overseg.cli"]


def _run(folder: Path, *args: str, after=None) -> subprocess.CompletedProcess:
    if after is not None:
        after.result()
    argv = [sys.executable, "-m", "sklearn_overseg.cli", *args]
    if args[0] == "demo":  # the console script itself, once
        argv = [*_command(), *args]
    return subprocess.run(argv, cwd=folder, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def runs(data):
    """The subprocess runs, started together; each test waits for its own."""
    folder = data["folder"]
    pool = ThreadPoolExecutor(max_workers=2)
    jobs = {}
    jobs["tif"] = pool.submit(_run, folder, "correct", "flawed.tif", "-o",
                              "fixed.tif", "--report", "report")
    jobs["npy_h5"] = pool.submit(_run, folder, "correct", "flawed.npy", "-o",
                                 "fixed.h5:out/labels")
    jobs["evaluate"] = pool.submit(_run, folder, "evaluate", "cells.h5:seg/flawed",
                                   "cells.zarr:truth", "--json")
    jobs["train"] = pool.submit(_run, folder, "train", "truth.tif", "--flawed",
                                "flawed.tif", "-o", "model.json", "--classifier",
                                "logistic", "--quiet")
    jobs["demo"] = pool.submit(_run, folder, "demo", "--shape", "24", "64", "64",
                               "--cells", "20", "--splits", "3")
    (folder / "broken.json").write_text('{"format": "sklearn_overseg-model", ')
    (folder / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    jobs["corrupt_model"] = pool.submit(_run, folder, "correct", "flawed.tif", "-o",
                                        "x.tif", "--model", "broken.json")
    jobs["apply"] = pool.submit(_run, folder, "apply-decisions", "flawed.tif",
                                "report/decisions.csv", "-o", "reviewed.tif",
                                after=jobs["tif"])
    yield jobs
    pool.shutdown(wait=True)


def _ok(job) -> subprocess.CompletedProcess:
    result = job.result()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("overseg: error: ")
    assert "Traceback" not in text
    return lines[0]


# ------------------------------------------------------------ in-process runs
def test_help_of_every_command(runs, capsys):
    # requesting ``runs`` first starts the subprocesses behind the other tests
    for command in ("correct", "train", "evaluate", "demo", "apply-decisions"):
        assert main([command, "--help"]) == 0
        assert "usage: overseg " + command in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_voxel_size_option_overrides_the_file(data, fast_models):
    folder = data["folder"]
    out = folder / "override.tif"
    code = main(["correct", str(folder / "flawed.tif"), "-o", str(out),
                 "--voxel-size", "3", "1", "1", "--threshold", "0.9", "-q"])
    assert code == 0
    assert read_voxel_size(out) == pytest.approx((3.0, 1.0, 1.0))


def test_progress_bars_and_quiet(data, fast_models, monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY", 0.0)  # show every bar at once
    folder = data["folder"]
    args = ["correct", str(folder / "flawed.tif"), "-o", str(folder / "p.tif")]
    assert main(args) == 0
    err = capsys.readouterr().err
    for step in ("screening", "pair features", "classifying", "interpolating"):
        assert step in err
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_corrector_verbose_shows_progress(data, pretrained, monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    corrector = copy.deepcopy(pretrained).set_params(verbose=1)
    out = corrector.transform([data["flawed"], data["flawed"]])
    assert len(out) == 2
    err = capsys.readouterr().err
    assert "correcting volumes" in err and "interpolating gaps" in err
    corrector.set_params(verbose=0).correct(data["flawed"])
    assert capsys.readouterr().err == ""


def test_evaluate_perfect_text_output(data, capsys):
    truth = str(data["folder"] / "truth.tif")
    assert main(["evaluate", truth, truth]) == 0
    lines = dict(line.rsplit(None, 1) for line in capsys.readouterr().out.splitlines())
    assert float(lines["mAP@0.75"]) == 1.0 and float(lines["VOI split"]) == 0.0


def test_train_from_ground_truth_only(data, capsys):
    folder = data["folder"]
    code = main(["train", str(folder / "truth.tif"), "-o", str(folder / "gt.json"),
                 "--classifier", "logistic", "--rounds", "1", "-q"])
    assert code == 0, capsys.readouterr().err
    assert isinstance(commands.load_corrector(str(folder / "gt.json")),
                      MergeCorrector)


def test_configure_sets_jobs_and_the_model_keeps_its_units(pretrained):
    corrector = copy.deepcopy(pretrained)
    params = corrector.screener_.get_params()
    commands.configure(corrector, threshold=0.7, jobs=2)
    assert corrector.threshold == 0.7 and corrector.n_jobs == 2
    routed = corrector.classifier_  # the axis model: one pipeline per pair kind
    for part in (routed.stitch_, routed.gaps_):
        assert part.get_params()["features__geo__n_jobs"] == 2
    assert corrector.screener_.get_params() == params  # fitted steps untouched
    # trained in voxels (no voxel size): it keeps measuring in voxels
    assert corrector.working_voxel_size((2.0, 0.5, 0.5)) == (1.0, 1.0, 1.0)
    # trained with a voxel size: it gets the file's, relative to x
    corrector.voxel_size_ = (3.0, 1.0, 1.0)
    assert corrector.working_voxel_size((2.0, 0.5, 0.5)) == (4.0, 1.0, 1.0)
    assert corrector.working_voxel_size() == (3.0, 1.0, 1.0)


def _bad_inputs(folder: Path) -> list[tuple[list[str], str]]:
    np.save(folder / "float.npy", np.random.default_rng(0).random((3, 8, 8)))
    np.save(folder / "flat.npy", np.ones((8, 8), dtype=np.uint16))
    (folder / "damaged.tif").write_bytes(b"II*\x00" + b"\xff" * 12)
    (folder / "wrong.csv").write_text("a,b\n1,2\n")
    (folder / "maybe.csv").write_text("upper,lower,merged\n1,2,maybe\n")
    (folder / "alien.csv").write_text("upper,lower,merged\n9999,9998,yes\n")
    flawed, out = str(folder / "flawed.tif"), str(folder / "never.tif")
    return [
        (["correct", str(folder / "absent.tif"), "-o", out], "absent.tif"),
        (["correct", str(folder / "cells.h5") + ":nope", "-o", out], "nope"),
        (["correct", str(folder / "cells.zarr") + ":nope", "-o", out], "nope"),
        (["correct", str(folder / "float.npy"), "-o", out], "non-integer values"),
        (["correct", str(folder / "flat.npy"), "-o", out], "3D"),
        (["correct", str(folder / "damaged.tif"), "-o", out], "damaged.tif"),
        (["correct", flawed, "-o", str(folder / "no" / "dir.tif")], "does not exist"),
        (["correct", flawed, "-o", str(folder / "out.png")], ".png"),
        (["correct", flawed, "-o", out, "--model", "sideways"], "sideways"),
        (["correct", flawed, "-o", out, "--threshold", "1.5"], "threshold"),
        (["correct", flawed, "-o", out, "--voxel-size", "1", "-2", "1"], "positive"),
        (["correct", flawed], "required"),
        (["evaluate", flawed, str(folder / "flat.npy")], "3D"),
        (["evaluate", flawed, str(folder / "cells.zarr") + ":nope"], "nope"),
        (["apply-decisions", flawed, str(folder / "wrong.csv"), "-o", out], "upper"),
        (["apply-decisions", flawed, str(folder / "maybe.csv"), "-o", out], "maybe"),
        (["apply-decisions", flawed, str(folder / "alien.csv"), "-o", out], "9998"),
        (["apply-decisions", flawed, str(folder / "none.csv"), "-o", out], "none.csv"),
        (["train", flawed, "-o", str(folder / "m.pkl")], ".json"),
        (["train", flawed, "--flawed", flawed, flawed, "-o", str(folder / "m.json")],
         "ground truth"),
        (["frobnicate"], "invalid choice"),
        ([], "COMMAND"),
    ]


def test_user_errors_give_one_line(data, fast_models, capsys):
    for argv, expected in _bad_inputs(data["folder"]):
        code = main(argv)
        line = _one_error_line(capsys.readouterr().err)
        assert code in (1, 2), argv
        assert expected in line, (argv, line)
    assert not (data["folder"] / "never.tif").exists()


def _float_tiff(path: Path, values: np.ndarray) -> None:
    """A float32 ImageJ stack with the voxel size, as Fiji saves 32-bit labels."""
    import tifffile

    tifffile.imwrite(path, values.astype(np.float32), imagej=True,
                     resolution=(1 / VOXEL[2], 1 / VOXEL[1]),
                     metadata={"axes": "ZYX", "spacing": VOXEL[0]})


def test_correct_whole_number_float_tiff(data, pretrained, fast_models, capsys):
    folder = data["folder"]
    _float_tiff(folder / "float_labels.tif", data["flawed"])
    out = folder / "from_float.tif"
    assert main(["correct", str(folder / "float_labels.tif"), "-o", str(out),
                 "-q"]) == 0
    assert capsys.readouterr().err == ""
    fixed, voxel = read_labels(out, return_voxel_size=True)
    assert fixed.dtype == np.min_scalar_type(int(data["flawed"].max()))
    assert voxel == pytest.approx(VOXEL)
    np.testing.assert_array_equal(fixed, pretrained.correct(data["flawed"]))


def test_correct_float_tiff_with_nan_fails_in_one_line(data, fast_models, capsys):
    folder = data["folder"]
    values = data["flawed"].astype(np.float32)
    values[3, 10, 2] = np.nan
    _float_tiff(folder / "nan_labels.tif", values)
    out = folder / "from_nan.tif"
    code = main(["correct", str(folder / "nan_labels.tif"), "-o", str(out)])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and not out.exists()
    assert "nan_labels.tif" in line
    assert "holds NaN values (first at z=3, y=10, x=2: nan)" in line


# ----------------------------------------------------------- subprocess runs
def test_correct_tiff_keeps_dtype_voxel_size_and_matches_api(runs, data, pretrained):
    result = _ok(runs["tif"])
    assert "merged" in result.stdout
    folder = data["folder"]
    fixed, voxel = read_labels(folder / "fixed.tif", return_voxel_size=True)
    assert fixed.dtype == np.uint16
    assert voxel == pytest.approx(VOXEL)
    np.testing.assert_array_equal(fixed, pretrained.correct(data["flawed"]))
    assert len(np.unique(fixed)) < len(np.unique(data["flawed"]))
    assert (folder / "report" / "index.html").exists()


def test_correct_other_formats(runs, data, fast_models, capsys):
    folder = data["folder"]
    code = main(["correct", str(folder / "cells.zarr") + ":flawed", "-o",
                 str(folder / "fixed.zarr") + ":labels", "--quiet"])
    assert code == 0 and capsys.readouterr().err == ""
    _ok(runs["npy_h5"])
    from_npy = read_labels(str(folder / "fixed.h5") + ":out/labels")
    from_zarr = read_labels(str(folder / "fixed.zarr") + ":labels")
    assert from_npy.dtype == np.int32 and from_zarr.dtype == np.uint16
    np.testing.assert_array_equal(from_npy, from_zarr)


def test_evaluate_reads_containers(runs):
    scores = json.loads(_ok(runs["evaluate"]).stdout)
    assert set(scores) == {"mAP@0.25", "mAP@0.5", "mAP@0.75", "mAP", "Jaccard",
                           "VOI split", "VOI merge"}
    assert scores["mAP@0.5"] < 1 and scores["VOI split"] > 0


def test_train_then_correct_with_the_model(runs, data):
    assert "trained on" in _ok(runs["train"]).stdout
    folder = data["folder"]
    assert (folder / "model.json").exists() and (folder / "model.npz").exists()
    out = folder / "by_model.npy"
    code = main(["correct", str(folder / "flawed.npy"), "-o", str(out), "--model",
                 str(folder / "model.json"), "-q"])
    assert code == 0
    assert read_labels(out).dtype == np.int32


def test_demo_console_script(runs):
    result = _ok(runs["demo"])
    assert "mAP" in result.stdout and "merged" in result.stdout
    # every score is explained in the user's terms, then the next step
    out = result.stdout
    assert "VOI split: cells still split" in out
    assert "VOI merge: cells wrongly joined" in out
    assert "precision: share of the merges made" in out
    assert "recall: share of the split cells" in out
    assert "mAP: how many cells match" in out
    assert out.strip().splitlines()[-1].endswith(
        "overseg correct your_labels.tif -o corrected.tif --report review/")


def test_user_error_in_a_subprocess(runs):
    result = runs["corrupt_model"].result()
    assert result.returncode == 1
    assert "broken" in _one_error_line(result.stderr)


def test_apply_decisions_accepting_all_reproduces_correct(runs, data):
    _ok(runs["apply"])
    folder = data["folder"]
    reviewed, voxel = read_labels(folder / "reviewed.tif", return_voxel_size=True)
    np.testing.assert_array_equal(reviewed, read_labels(folder / "fixed.tif"))
    assert voxel == pytest.approx(VOXEL)


def test_apply_decisions_rejecting_all_gives_the_input(runs, data, fast_models):
    _ok(runs["tif"])
    folder = data["folder"]
    with open(folder / "report" / "decisions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert any(r["merged"] == "yes" for r in rows)
    for r in rows:
        r["merged"] = "no"
    edited = folder / "rejected.csv"
    with open(edited, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    out = folder / "rejected.tif"
    code = main(["apply-decisions", str(folder / "flawed.tif"), str(edited), "-o",
                 str(out), "-q"])
    assert code == 0
    np.testing.assert_array_equal(read_labels(out), data["flawed"])


def test_correct_summary_counts_unsure_pairs(data, fast_models, capsys):
    folder = data["folder"]
    args = ["correct", str(folder / "flawed.tif"), "-o", str(folder / "u.tif")]
    assert main([*args, "--abstain", "0", "-q"]) == 0
    assert " 0 unsure (not merged)" in capsys.readouterr().out
    assert main([*args, "--abstain", "0.5", "-q"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"(\d+) candidate pairs, (\d+) merged, (\d+) unsure", out)
    n, merged, unsure = map(int, match.groups())
    assert unsure > 0 and merged + unsure <= n and "--report" in out

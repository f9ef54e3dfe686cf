"""Outputs never destroy inputs: no writing over the input, no half-written file."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import _labels, read_labels, write_labels
from sklearn_overseg.io._common import resolve_format
from sklearn_overseg.io._labels import same_data_as


@pytest.fixture(scope="module")
def flawed():
    truth = make_tissue((16, 48, 48), 10, mode="loose", random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        volume, _ = oversegment(truth, n_splits=2, shrink=1, random_state=1)
    return volume.astype(np.uint16)


def _overseg(folder, *args):
    return subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", *args], cwd=folder,
        capture_output=True, text=True, timeout=600,
    )


def _refused(result) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("overseg: error: "), result.stderr
    assert "would destroy your segmentation" in lines[0]
    assert "--overwrite" in lines[0]
    return lines[0]


def test_cli_refuses_to_write_over_its_input(tmp_path, flawed):
    write_labels(tmp_path / "in.tif", flawed)
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "in.tif", tmp_path / "link.tif")
    (tmp_path / "d.csv").write_text("upper,lower,merged\n1,2,yes\n")
    before = (tmp_path / "in.tif").read_bytes()
    for output in ("in.tif", "link.tif", "sub/../in.tif", str(tmp_path / "in.tif")):
        _refused(_overseg(tmp_path, "correct", "in.tif", "-o", output, "-q"))
        _refused(_overseg(tmp_path, "apply-decisions", "in.tif", "d.csv", "-o",
                          output, "-q"))
    assert (tmp_path / "in.tif").read_bytes() == before


def test_cli_overwrites_its_input_when_asked(tmp_path, flawed):
    write_labels(tmp_path / "in.tif", flawed, voxel_size=(2, 1, 1))
    result = _overseg(tmp_path, "correct", "in.tif", "-o", "in.tif", "--overwrite",
                      "-q")
    assert result.returncode == 0, result.stderr
    corrected, voxel_size = read_labels(tmp_path / "in.tif", return_voxel_size=True)
    assert len(np.unique(corrected)) < len(np.unique(flawed))  # merged in place
    assert voxel_size == (2.0, 1.0, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]  # no leftovers


def test_same_data_as(tmp_path):
    pytest.importorskip("h5py")
    volume = np.ones((2, 3, 3), dtype=np.uint8)
    write_labels(tmp_path / "a.npz", volume)
    write_labels(str(tmp_path / "c.h5") + ":one", volume)
    assert same_data_as(tmp_path / "a.npz", tmp_path / "a.npz")
    # any key: an .npz is rewritten whole
    assert same_data_as(str(tmp_path / "a.npz") + ":raw", tmp_path / "a.npz")
    assert not same_data_as(tmp_path / "a.npz", tmp_path / "b.npz")  # not there
    h5 = str(tmp_path / "c.h5")
    assert same_data_as(h5 + ":one", h5 + ":/one")
    assert same_data_as(h5, h5 + ":one")  # the only dataset
    assert not same_data_as(h5 + ":one", h5 + ":two")  # the input dataset stays


# adding a dataset to an existing HDF5 file happens in place (its other
# datasets stay), so that case is not here
CASES = [(suffix, existing) for suffix in (".tif", ".npy", ".npz", ".h5", ".zarr")
         for existing in (False, True) if (suffix, existing) != (".h5", True)]


@pytest.mark.parametrize(("suffix", "existing"), CASES)
def test_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch, suffix,
                                               existing):
    if suffix in (".h5", ".zarr"):
        pytest.importorskip({".h5": "h5py", ".zarr": "zarr"}[suffix])
    path = tmp_path / f"cells{suffix}"
    old = np.full((2, 4, 4), 3, dtype=np.uint16)
    if existing:
        write_labels(path, old)
    fmt = resolve_format(path)
    real = _labels._WRITERS[fmt]

    def interrupted(target, *args, **kwargs):
        real(target, *args, **kwargs)  # the data is written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setitem(_labels._WRITERS, fmt, interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_labels(path, np.ones((2, 4, 4), dtype=np.uint16))
    if existing:
        np.testing.assert_array_equal(read_labels(path), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        [path.name] if existing else []
    )


def test_written_file_gets_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_labels(tmp_path / "new.tif", np.ones((2, 3, 3), dtype=np.uint8))
    assert (tmp_path / "new.tif").stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(tmp_path / "new.tif", 0o640)
    write_labels(tmp_path / "new.tif", np.ones((2, 3, 3), dtype=np.uint8))
    assert (tmp_path / "new.tif").stat().st_mode & 0o777 == 0o640


def test_writing_through_a_symlink_keeps_the_link(tmp_path):
    write_labels(tmp_path / "real.npy", np.ones((2, 3, 3), dtype=np.uint8))
    os.symlink(tmp_path / "real.npy", tmp_path / "link.npy")
    write_labels(tmp_path / "link.npy", np.full((2, 3, 3), 5, dtype=np.uint8))
    assert (tmp_path / "link.npy").is_symlink()
    assert read_labels(tmp_path / "real.npy").max() == 5

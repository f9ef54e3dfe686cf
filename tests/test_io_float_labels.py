"""Float label files: whole numbers are read as unsigned labels, the rest refused.

``read_labels`` accepts float data of every format when all values are finite
whole numbers ``>= 0`` and returns the smallest unsigned dtype holding the
largest label, eagerly or lazily (block by block, memory-bounded). NaN,
infinite, negative, non-integer and too large values are refused with a
``ValueError`` naming the file, the problem and the first voxel.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from sklearn_overseg.io import _float_labels, read_labels
from sklearn_overseg.io._float_labels import WholeNumberLabels

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

FORMATS = [".npy", ".npz", ".tif", ".h5", ".zarr"]
LAZY_FORMATS = [".npy", ".tif", ".h5", ".zarr"]


def labels_with_max(largest: int, dtype=np.float64) -> np.ndarray:
    labels = np.zeros((4, 9, 7), dtype=dtype)
    labels[1:3, 2:6, 1:5] = 3
    labels[3, 8, 6] = largest
    return labels


def save_float(path, values: np.ndarray) -> None:
    """Store ``values`` as they are (write_labels refuses floats on purpose)."""
    suffix = path.suffix
    if suffix == ".npy":
        np.save(path, values)
    elif suffix == ".npz":
        np.savez(path, labels=values)
    elif suffix == ".tif":
        tifffile.imwrite(path, values, photometric="minisblack")
    elif suffix == ".h5":
        with h5py.File(path, "w") as f:
            f.create_dataset("seg", data=values, chunks=(2, 4, 4))
    else:
        array = zarr.open_array(str(path), mode="w", shape=values.shape,
                                dtype=values.dtype, chunks=(2, 4, 4))
        array[...] = values


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("float_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("largest", "expected"),
    [(0, np.uint8), (255, np.uint8), (256, np.uint16), (70_000, np.uint32),
     (2**32, np.uint64)],
)
def test_whole_numbers_become_the_smallest_unsigned_dtype(
    tmp_path, suffix, float_dtype, largest, expected
):
    values = labels_with_max(largest, float_dtype)
    path = tmp_path / f"cells{suffix}"
    save_float(path, values)
    labels = read_labels(path)
    assert labels.dtype == expected
    np.testing.assert_array_equal(labels, values.astype(np.uint64))


def test_negative_zero_is_background(tmp_path):
    values = labels_with_max(9)
    values[0] = -0.0
    path = tmp_path / "cells.npy"
    save_float(path, values)
    np.testing.assert_array_equal(read_labels(path), values.astype(np.uint8))


def _bad(kind: str) -> tuple[np.ndarray, str, str]:
    """A float volume with one bad voxel at (2, 5, 3), and its message."""
    values = labels_with_max(40)
    bad_value, problem, shown = {
        "nan": (np.nan, "NaN values", "nan"),
        "inf": (np.inf, "infinite values", "inf"),
        "minus_inf": (-np.inf, "infinite values", "-inf"),
        "negative": (-4.0, "negative values", "-4"),
        "fraction": (1.5, "non-integer values", "1.5"),
    }[kind]
    values[2, 5, 3] = bad_value
    values[3, 7, 6] = bad_value  # a later one is not the one reported
    return values, problem, f"(first at z=2, y=5, x=3: {shown})"


BAD_KINDS = ["nan", "inf", "minus_inf", "negative", "fraction"]


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_floats_are_refused_naming_file_problem_and_voxel(tmp_path, suffix,
                                                               kind):
    values, problem, where = _bad(kind)
    path = tmp_path / f"bad{suffix}"
    save_float(path, values)
    with pytest.raises(ValueError) as error:
        read_labels(path)
    message = str(error.value)
    assert f"bad{suffix}" in message and problem in message and where in message


@pytest.mark.parametrize("suffix", LAZY_FORMATS)
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_lazy_reads_refuse_bad_floats_too(tmp_path, suffix, kind):
    values, problem, where = _bad(kind)
    path = tmp_path / f"bad{suffix}"
    save_float(path, values)
    with pytest.raises(ValueError, match=problem) as error:
        read_labels(path, lazy=True)
    assert f"bad{suffix}" in str(error.value) and where in str(error.value)


def test_labels_beyond_uint64_are_refused(tmp_path):
    path = tmp_path / "huge.h5"
    save_float(path, labels_with_max(2.0**64))
    for lazy in (False, True):
        with pytest.raises(ValueError, match=r"huge\.h5.*too large for 64-bit"):
            read_labels(path, lazy=lazy)


def test_largest_uint64_label_is_kept(tmp_path):
    path = tmp_path / "big.npy"
    save_float(path, labels_with_max(2.0**63))
    labels = read_labels(path)
    assert labels.dtype == np.uint64 and labels.max() == 2**63


@pytest.mark.parametrize("suffix", LAZY_FORMATS)
def test_lazy_float_reads_convert_every_block(tmp_path, suffix):
    values = labels_with_max(300, np.float32)
    path = tmp_path / f"cells{suffix}"
    save_float(path, values)
    lazy = read_labels(path, lazy=True)
    assert lazy.dtype == np.uint16 and lazy.shape == values.shape
    assert lazy.ndim == 3 and len(lazy) == values.shape[0]
    part = lazy[1:4, ::2, 3]
    assert isinstance(part, np.ndarray) and part.dtype == np.uint16
    np.testing.assert_array_equal(part, values[1:4, ::2, 3])
    np.testing.assert_array_equal(np.asarray(lazy), values)
    copy = pickle.loads(pickle.dumps(lazy))  # HDF5 is reopened by name
    np.testing.assert_array_equal(copy[3], values[3])


def test_mmap_of_float_npy_is_refused(tmp_path):
    path = tmp_path / "cells.npy"
    save_float(path, labels_with_max(5))
    with pytest.raises(ValueError, match=r"cells\.npy.*memory-mapped.*lazy=True"):
        read_labels(path, mmap=True)
    assert read_labels(path, lazy=True).dtype == np.uint8


class _CountingArray:
    """A lazy array that records how many voxels each read returns."""

    def __init__(self, values: np.ndarray, chunks):
        self.values, self.chunks = values, chunks
        self.shape, self.dtype = values.shape, values.dtype
        self.reads: list[int] = []

    def __getitem__(self, key):
        out = self.values[key]
        self.reads.append(out.size)
        return out


@pytest.mark.parametrize("chunks", [None, (3, 8, 8), (1, 40, 40)])
def test_lazy_check_reads_bounded_blocks_and_finds_the_right_voxel(
    monkeypatch, chunks
):
    monkeypatch.setattr(_float_labels, "BLOCK_VOXELS", 500)
    values = np.zeros((12, 40, 40))
    values[5:9, 10:30, 10:30] = 7
    source = _CountingArray(values, chunks)
    view = WholeNumberLabels(source, "'big.zarr'")
    assert view.dtype == np.uint8
    largest_chunk = int(np.prod(chunks)) if chunks else 40
    assert sum(source.reads) == values.size  # every voxel checked once
    assert max(source.reads) <= max(500, largest_chunk)
    values[10, 33, 21] = 0.25
    with pytest.raises(ValueError, match=r"z=10, y=33, x=21: 0\.25"):
        WholeNumberLabels(_CountingArray(values, chunks), "'big.zarr'")


def test_in_memory_check_leaves_the_input_alone():
    values = labels_with_max(9)
    before = values.copy()
    labels = _float_labels.whole_number_labels(values, "'x.npy'")
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(values, before)
    assert values.dtype == np.float64


# -------------------------------------------------- distributed VolumeReader
def test_volume_reader_takes_whole_number_float_stores(tmp_path):
    pytest.importorskip("dask")
    from sklearn_overseg.distributed import VolumeReader

    values = labels_with_max(1000, np.float32)
    for suffix in (".zarr", ".h5"):
        path = tmp_path / f"cells{suffix}"
        save_float(path, values)
        reader = VolumeReader(path)
        assert reader.dtype == np.uint16 and reader.chunks == (2, 4, 4)
        copy = pickle.loads(pickle.dumps(reader))
        np.testing.assert_array_equal(copy[1:3], values[1:3])
    with h5py.File(tmp_path / "cells.h5", "r") as f:  # a dataset, not a path
        assert VolumeReader(f["seg"]).dtype == np.uint16
    direct = VolumeReader(zarr.open_array(str(tmp_path / "cells.zarr"), mode="r"))
    np.testing.assert_array_equal(direct[3], values[3])


def test_volume_reader_refuses_bad_float_stores(tmp_path):
    pytest.importorskip("dask")
    from sklearn_overseg.distributed import VolumeReader

    values, problem, where = _bad("nan")
    save_float(tmp_path / "bad.zarr", values)
    with pytest.raises(ValueError, match=problem) as error:
        VolumeReader(tmp_path / "bad.zarr")
    assert "bad.zarr" in str(error.value) and where in str(error.value)
    array = zarr.open_array(str(tmp_path / "bad.zarr"), mode="r")
    with pytest.raises(ValueError, match=r"source holds NaN values"):
        VolumeReader(array)

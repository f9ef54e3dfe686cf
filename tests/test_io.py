"""Tests for sklearn_overseg.io: round trips, key syntax and clear errors."""

import sys

import numpy as np
import pytest

from sklearn_overseg.io import (
    parse_path_key,
    read_labels,
    read_voxel_size,
    write_labels,
)

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

SUFFIXES = [".npy", ".npz", ".tif", ".tiff", ".h5", ".hdf5", ".zarr"]
DTYPES = [np.uint8, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def make_labels(dtype=np.uint16, shape=(5, 12, 10), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=dtype)
    labels[1:4, 2:9, 1:8] = rng.integers(1, 50, size=(3, 7, 7))
    return labels


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_keeps_values_and_dtype(tmp_path, suffix, dtype):
    labels = make_labels(dtype)
    path = tmp_path / f"cells{suffix}"
    write_labels(path, labels)
    back = read_labels(path)
    assert back.dtype == labels.dtype
    np.testing.assert_array_equal(back, labels)


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s != ".npy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint64])
@pytest.mark.parametrize("voxel_size", [(2.0, 0.5, 0.25), (1.3, 0.3, 0.7)])
def test_round_trip_keeps_voxel_size(tmp_path, suffix, dtype, voxel_size):
    labels = make_labels(dtype)
    path = tmp_path / f"cells{suffix}"
    write_labels(path, labels, voxel_size=voxel_size)
    back, stored = read_labels(path, return_voxel_size=True)
    np.testing.assert_array_equal(back, labels)
    np.testing.assert_allclose(stored, voxel_size, rtol=1e-6)
    assert read_voxel_size(path) == stored


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_voxel_size_reads_none(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    write_labels(path, make_labels())
    assert read_voxel_size(path) is None


def test_npy_warns_that_voxel_size_is_dropped(tmp_path):
    path = tmp_path / "cells.npy"
    with pytest.warns(UserWarning, match="cannot store a voxel size"):
        write_labels(path, make_labels(), voxel_size=(2, 1, 1))
    assert read_voxel_size(path) is None


def test_scalar_voxel_size_is_isotropic(tmp_path):
    path = tmp_path / "cells.h5"
    write_labels(path, make_labels(), voxel_size=0.5)
    assert read_voxel_size(path) == (0.5, 0.5, 0.5)


def test_uint16_tiff_is_imagej_calibrated(tmp_path):
    import tifffile

    path = tmp_path / "cells.tif"
    write_labels(path, make_labels(np.uint16), voxel_size=(2.0, 0.5, 0.25))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["spacing"] == 2.0


def test_reads_foreign_tiff_calibration(tmp_path):
    import tifffile

    labels = make_labels(np.uint8)
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path,
        labels,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.1),
        metadata={"spacing": 1.5, "unit": "micron", "axes": "ZYX"},
    )
    np.testing.assert_allclose(read_voxel_size(path), (1.5, 0.1, 0.2))


def test_tiff_without_z_step_has_no_voxel_size(tmp_path):
    import tifffile

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, make_labels(np.uint8), resolution=(2.0, 2.0))
    assert read_voxel_size(path) is None


def test_reads_shared_data_style_npz(tmp_path):
    labels = make_labels(np.uint16)
    path = tmp_path / "data.npz"
    raw = np.zeros(labels.shape, dtype=np.uint8)
    np.savez(path, labels=labels, raw=raw, voxel_size_um=np.array([1.0, 0.2, 0.2]))
    back, voxel_size = read_labels(path, return_voxel_size=True)
    np.testing.assert_array_equal(back, labels)
    assert voxel_size == (1.0, 0.2, 0.2)


def test_npz_single_array_needs_no_key(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, seg=make_labels())
    np.testing.assert_array_equal(read_labels(path), make_labels())


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".zarr"])
def test_path_key_syntax(tmp_path, suffix):
    labels = make_labels(np.int32)
    path = tmp_path / f"cells{suffix}"
    write_labels(f"{path}:seg", labels, voxel_size=(3, 1, 1))
    np.testing.assert_array_equal(read_labels(f"{path}:seg"), labels)
    np.testing.assert_array_equal(read_labels(path, key="seg"), labels)
    assert read_voxel_size(f"{path}:seg") == (3.0, 1.0, 1.0)


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_container_keeps_other_datasets(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    first, second = make_labels(seed=1), make_labels(seed=2)
    write_labels(path, first, key="group/first")
    write_labels(path, second, key="group/second")
    write_labels(path, second, key="group/first")  # replace one of them
    np.testing.assert_array_equal(read_labels(f"{path}:group/first"), second)
    np.testing.assert_array_equal(read_labels(f"{path}:group/second"), second)


def test_parse_path_key():
    assert parse_path_key("a/b/vol.h5:/seg/cells") == (
        parse_path_key("a/b/vol.h5")[0],
        "/seg/cells",
    )
    path, key = parse_path_key("store.zarr:labels/s0")
    assert (path.name, key) == ("store.zarr", "labels/s0")
    path, key = parse_path_key("C:/data/vol.tif")
    assert key is None and path.name == "vol.tif"
    assert parse_path_key("x.HDF5:k")[1] == "k"
    with pytest.raises(ValueError, match="Empty key"):
        parse_path_key("vol.h5:")


def test_conflicting_keys(tmp_path):
    path = tmp_path / "cells.h5"
    write_labels(path, make_labels(), key="a")
    with pytest.raises(ValueError, match="Two different keys"):
        read_labels(f"{path}:a", key="b")


def test_h5_single_dataset_needs_no_key(tmp_path):
    path = tmp_path / "cells.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("deep/inside/seg", data=make_labels())
    np.testing.assert_array_equal(read_labels(path), make_labels())


@pytest.mark.parametrize("suffix", [".h5", ".zarr", ".npz"])
def test_ambiguous_missing_key_lists_keys(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    if suffix == ".npz":
        np.savez(path, first=make_labels(), second=make_labels())
    else:
        write_labels(path, make_labels(), key="first")
        write_labels(path, make_labels(), key="second")
    with pytest.raises(ValueError, match="'first', 'second'"):
        read_labels(path)


@pytest.mark.parametrize("suffix", [".h5", ".zarr", ".npz"])
def test_wrong_key_lists_keys(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    write_labels(path, make_labels(), key="seg")
    with pytest.raises(KeyError, match="'seg'") as info:
        read_labels(path, key="nope")
    assert "nope" in str(info.value)


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_key_naming_a_group(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    write_labels(path, make_labels(), key="group/seg")
    with pytest.raises(KeyError, match="group, not"):
        read_labels(path, key="group")


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_key_on_single_array_format(tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    write_labels(path, make_labels())
    with pytest.raises(ValueError, match="no key"):
        read_labels(path, key="seg")


def test_key_on_zarr_root_array(tmp_path):
    path = tmp_path / "cells.zarr"
    write_labels(path, make_labels())
    with pytest.raises(KeyError, match="single zarr array"):
        read_labels(path, key="seg")
    with pytest.raises(ValueError, match="single zarr array"):
        write_labels(path, make_labels(), key="seg")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_file_names_path(tmp_path, suffix):
    path = tmp_path / f"absent{suffix}"
    with pytest.raises(FileNotFoundError, match=f"absent{suffix}"):
        read_labels(path)
    with pytest.raises(FileNotFoundError, match="absent"):
        read_voxel_size(f"{path}:key" if suffix in (".h5", ".zarr") else path)


def test_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"'\.png'.*supported suffixes"):
        read_labels(tmp_path / "cells.png")
    with pytest.raises(ValueError, match="no suffix"):
        write_labels(tmp_path / "cells", make_labels())


def test_missing_folder_on_write(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_labels(tmp_path / "nowhere" / "cells.npy", make_labels())


def save_as_is(path, array, h5_key):
    """Store ``array`` unchecked in the format of ``path``'s suffix (write_labels
    refuses floats and non-3D arrays on purpose)."""
    import tifffile

    if path.suffix == ".npy":
        np.save(path, array)
    elif path.suffix == ".npz":
        np.savez(path, labels=array)
    elif path.suffix == ".tif":
        tifffile.imwrite(path, array, photometric="minisblack")
    elif path.suffix == ".h5":
        with h5py.File(path, "w") as f:
            f[h5_key] = array
    else:
        zarr.save_array(str(path), array)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".zarr", ".tif"])
def test_non_integer_float_dataset_is_refused_naming_it(tmp_path, suffix):
    image = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    path = tmp_path / f"raw{suffix}"
    save_as_is(path, image, h5_key="raw")
    # whole-number floats are labels (tests/test_io_float_labels.py); these
    # are not: the error names the file, the problem and the first voxel
    with pytest.raises(ValueError, match=r"raw.*non-integer values \(first at "
                       r"z=0, y=0, x=0: 0\.\d+\)"):
        read_labels(path)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".zarr", ".tif"])
def test_not_3d_is_rejected(tmp_path, suffix):
    image = np.ones((4, 5), dtype=np.uint16)
    path = tmp_path / f"flat{suffix}"
    save_as_is(path, image, h5_key="seg")
    with pytest.raises(ValueError, match=r"3D.*\(4, 5\)"):
        read_labels(path)


def test_negative_labels_in_file_are_rejected(tmp_path):
    path = tmp_path / "neg.npy"
    np.save(path, -make_labels(np.int32))
    with pytest.raises(ValueError, match="negative"):
        read_labels(path)


def test_write_refuses_float_bool_and_bad_shapes(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(TypeError, match="float64"):
        write_labels(path, make_labels().astype(float))
    with pytest.raises(TypeError, match="boolean"):
        write_labels(path, make_labels() > 0)
    with pytest.raises(ValueError, match="3D"):
        write_labels(path, np.ones((3, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="negative"):
        write_labels(path, -make_labels(np.int32))
    with pytest.raises(ValueError, match="voxel_size"):
        write_labels(path, make_labels(), voxel_size=(1, 2))
    assert not path.exists()


def test_write_does_not_modify_input(tmp_path):
    labels = make_labels()
    before = labels.copy()
    write_labels(tmp_path / "a.zarr", labels, voxel_size=(2, 1, 1))
    np.testing.assert_array_equal(labels, before)


def test_mmap_npy(tmp_path):
    path = tmp_path / "cells.npy"
    write_labels(path, make_labels())
    mapped = read_labels(path, mmap=True)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, make_labels())
    with pytest.raises(ValueError, match="mmap=True works for .npy"):
        read_labels(tmp_path / "other.h5", mmap=True)


def test_lazy_h5_zarr_tiff(tmp_path):
    labels = make_labels(np.uint16)
    for suffix in (".h5", ".zarr", ".tif"):
        path = tmp_path / f"cells{suffix}"
        write_labels(path, labels)
        view = read_labels(path, lazy=True)
        assert not isinstance(view, np.ndarray) or isinstance(view, np.memmap)
        assert view.shape == labels.shape
        np.testing.assert_array_equal(view[1:3], labels[1:3])
        if suffix == ".h5":
            assert isinstance(view, h5py.Dataset)
            view.file.close()


def test_lazy_compressed_tiff_falls_back_to_reading(tmp_path):
    import tifffile

    path = tmp_path / "packed.tif"
    tifffile.imwrite(path, make_labels(np.uint16), compression="zlib")
    with pytest.warns(UserWarning, match="cannot be memory-mapped"):
        view = read_labels(path, lazy=True)
    np.testing.assert_array_equal(view, make_labels(np.uint16))


def test_lazy_npz_is_refused(tmp_path):
    path = tmp_path / "cells.npz"
    write_labels(path, make_labels())
    with pytest.raises(ValueError, match="cannot be read lazily"):
        read_labels(path, lazy=True)


def test_lazy_still_checks_header(tmp_path):
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.zeros((2, 3, 4), dtype=np.complex64)
    with pytest.raises(TypeError, match="raw.*complex64"):
        read_labels(path, lazy=True)


def test_background_only_volume_can_be_read(tmp_path):
    path = tmp_path / "empty.npz"
    write_labels(path, np.zeros((2, 3, 4), dtype=np.uint8))
    assert not read_labels(path).any()


def test_invalid_stored_voxel_size(tmp_path):
    path = tmp_path / "cells.h5"
    write_labels(path, make_labels(), key="seg")
    with h5py.File(path, "a") as f:
        f["seg"].attrs["voxel_size"] = [1.0, -2.0, 1.0]
    with pytest.raises(ValueError, match="voxel_size"):
        read_voxel_size(path)
    read_labels(path)  # labels alone are still readable


@pytest.mark.parametrize("module, suffix", [("h5py", ".h5"), ("zarr", ".zarr")])
def test_missing_optional_package_explains_extra(tmp_path, monkeypatch, module, suffix):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"sklearn_overseg\[formats\]"):
        write_labels(tmp_path / f"cells{suffix}", make_labels())


def test_read_image_lazily(tmp_path):
    from sklearn_overseg.io import read_image

    raw = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "raw.npy", raw)
    lazy = read_image(tmp_path / "raw.npy", lazy=True)
    assert isinstance(lazy, np.memmap)  # read on demand, not loaded
    np.testing.assert_array_equal(lazy[1:, :2], raw[1:, :2])
    np.savez(tmp_path / "raw.npz", raw=raw)
    np.testing.assert_array_equal(read_image(f"{tmp_path / 'raw.npz'}:raw"), raw)
    with pytest.raises(ValueError, match="cannot be read lazily"):
        read_image(f"{tmp_path / 'raw.npz'}:raw", lazy=True)

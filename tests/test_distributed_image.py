"""The raw image in the block-wise correction: same evidence as in memory."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import MergeCorrector, make_pair_pipeline
from sklearn_overseg._image import check_image
from sklearn_overseg.datasets import make_tissue, make_tissue_image, oversegment

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

from sklearn_overseg.distributed import VolumeReader, correct_zarr  # noqa: E402
from sklearn_overseg.distributed._image_source import (  # noqa: E402
    ImageReader,
    _sample_positions,
    normalised_image,
)
from sklearn_overseg.distributed._source import block_grid  # noqa: E402


@pytest.fixture(scope="module")
def tissue():
    """Training truths and images, and a flawed volume with its image."""
    truth = [make_tissue((20, 64, 64), n_cells=18, mode="loose", random_state=s)
             for s in range(3)]
    images = [make_tissue_image(t, "membrane", random_state=s)
              for s, t in enumerate(truth)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flawed, _ = oversegment(truth[2], n_splits=6, n_stacked_confounders=3,
                                random_state=4)
    # a brighter lower half: the median and spread are not those of any block
    raw = images[2] * np.linspace(1, 3, flawed.shape[0])[:, None, None]
    return truth[:2], images[:2], flawed.astype(np.uint32), raw.astype(np.float32)


@pytest.fixture(scope="module")
def image_model(tissue):
    truth, images, _, _ = tissue
    pipe = make_pair_pipeline(LogisticRegression(max_iter=2000), image=True)
    return MergeCorrector(classifier=pipe, damage="axis", n_rounds=2).fit(
        truth, images=images)


def to_zarr(volume, path, chunks=(8, 24, 40)):
    array = zarr.open_array(store=str(path), mode="w", shape=volume.shape,
                            dtype=volume.dtype, chunks=chunks)
    array[...] = volume
    return array


@pytest.mark.parametrize("shape, block, step", [
    ((7, 9, 11), (3, 4, 5), 1), ((7, 9, 11), (3, 4, 5), 7),
    ((5, 6, 13), (2, 6, 4), 50), ((4, 4, 4), (4, 4, 4), 100),
])
def test_block_samples_are_the_strided_sample(shape, block, step):
    flat = np.concatenate([_sample_positions(b, shape, step)[1]
                           for b in block_grid(shape, block)])
    np.testing.assert_array_equal(np.sort(flat), np.arange(0, np.prod(shape), step))
    volume = np.arange(np.prod(shape)).reshape(shape)
    for b in block_grid(shape, block):  # positions are block-local
        local, flat = _sample_positions(b, shape, step)
        np.testing.assert_array_equal(volume[b][local], flat)


@pytest.mark.parametrize("sample", [4_000_000, 1000])
def test_blockwise_normalisation_equals_check_image(tissue, monkeypatch, sample):
    _, _, flawed, raw = tissue
    # a small sample makes the strided sample skip voxels (large volumes)
    monkeypatch.setattr("sklearn_overseg._image._SAMPLE", sample)
    expected = check_image(raw, flawed)
    image = normalised_image(ImageReader(raw), VolumeReader(flawed),
                             block_shape=(6, 24, 40))
    np.testing.assert_array_equal(image[:, :, :], expected)
    box = (slice(3, 9), slice(10, 30), slice(0, 7))
    np.testing.assert_array_equal(image[box], expected[box])
    assert image[box].dtype == np.float32


def test_correct_zarr_with_image_equals_in_memory(image_model, tissue, tmp_path):
    _, _, flawed, raw = tissue
    expected = image_model.correct(flawed, image=raw)
    assert len(np.unique(expected)) < len(np.unique(flawed))  # it merges
    # the image matters: another image gives other probabilities
    noise = np.random.default_rng(0).random(raw.shape)
    without = image_model.predict_merges(flawed, image=noise)
    assert [r["probability"] for r in without] != pytest.approx(
        [r["probability"] for r in image_model.predict_merges(flawed, image=raw)])
    source = to_zarr(flawed, tmp_path / "flawed.zarr")
    for k, image in enumerate([
        to_zarr(raw, tmp_path / "raw.zarr"),
        da.from_array(raw, chunks=(5, 32, 32)),
        raw,
        str(tmp_path / "raw.zarr"),
    ]):
        result = correct_zarr(source, tmp_path / f"fixed{k}.zarr", image_model,
                              chunks=(8, 24, 40), image=image)
        np.testing.assert_array_equal(result[...], expected)
    assert np.array_equal(source[...], flawed)
    # labels as a dask array too: its chunks become the target's
    lazy = da.from_array(flawed, chunks=(8, 24, 40))
    result = correct_zarr(lazy, tmp_path / "dask.zarr", image_model, image=raw)
    assert result.chunks == (8, 24, 40)
    np.testing.assert_array_equal(result[...], expected)


def test_correct_zarr_image_from_hdf5(image_model, tissue, tmp_path):
    h5py = pytest.importorskip("h5py")
    _, _, flawed, raw = tissue
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f.create_dataset("raw", data=raw, chunks=(4, 32, 32))
    result = correct_zarr(flawed, tmp_path / "fixed.zarr", image_model,
                          image=f"{tmp_path / 'raw.h5'}:raw")
    np.testing.assert_array_equal(result[...], image_model.correct(flawed, image=raw))


def test_correct_zarr_bad_images(image_model, tissue, tmp_path):
    _, _, flawed, raw = tissue
    with pytest.raises(ValueError, match="uses the raw image.*image="):
        correct_zarr(flawed, tmp_path / "a.zarr", image_model)
    assert not (tmp_path / "a.zarr").exists()  # refused before any output
    with pytest.raises(ValueError, match=r"image has shape \(20, 64, 63\)"):
        correct_zarr(flawed, tmp_path / "b.zarr", image_model, image=raw[..., :-1])
    nan = raw.copy()
    nan[13, 4, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        correct_zarr(flawed, tmp_path / "c.zarr", image_model, image=nan)
    with pytest.raises(TypeError, match="real numbers"):
        correct_zarr(flawed, tmp_path / "d.zarr", image_model, image=raw > 0)
    with pytest.raises(ValueError, match="3D"):
        correct_zarr(flawed, tmp_path / "e.zarr", image_model, image=raw[0])
    with pytest.raises(TypeError, match="'corrector' parameter of correct_zarr"):
        correct_zarr(flawed, tmp_path / "g.zarr", "axis", image=raw)
    with pytest.raises(ValueError, match="'overwrite' parameter of correct_zarr"):
        correct_zarr(flawed, tmp_path / "g.zarr", image_model, overwrite="yes")
    with pytest.warns(UserWarning, match="looks like a label volume"):
        correct_zarr(flawed, tmp_path / "f.zarr", image_model,
                     image=flawed.astype(np.float32))


def test_label_only_model_ignores_the_image(tissue, tmp_path):
    truth, _, flawed, raw = tissue
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=2000)),
        damage="axis", n_rounds=1,
    ).fit(truth)
    with pytest.warns(UserWarning, match="labels only; image= is ignored"):
        result = correct_zarr(flawed, tmp_path / "a.zarr", corrector, image=raw)
    np.testing.assert_array_equal(result[...], corrector.correct(flawed))

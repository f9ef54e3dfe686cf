"""Tests of the block-wise (dask) correction and of the memory-lean in-memory path."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from sklearn_overseg import CandidateScreener, GeoWassersteinFeatures, load_pretrained
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.correction._merging import relabel_volume
from sklearn_overseg.datasets import make_tissue, oversegment

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from sklearn_overseg.distributed import (  # noqa: E402
    VolumeReader,
    blockwise_geometry,
    correct_zarr,
)
from sklearn_overseg.distributed._screening import screen_axis_pairs  # noqa: E402


@pytest.fixture(scope="module")
def corrector():
    return load_pretrained("axis")


@pytest.fixture(scope="module", params=[0, 1])
def flawed(request) -> np.ndarray:
    """A 32x128x128 segmentation with splits of 1-2 layers and noise masks."""
    seed = request.param
    truth = make_tissue(
        (32, 128, 128), n_cells=45, mode=("dense", "loose")[seed], random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volume, _ = oversegment(
            truth, n_splits=8, gap_layers=1 + seed, n_noise_masks=4, random_state=seed
        )
    return volume.astype(np.uint32)


@pytest.fixture(scope="module")
def loose() -> np.ndarray:
    """One volume for the tests that need not see both kinds of tissue."""
    truth = make_tissue((24, 96, 96), n_cells=25, mode="loose", random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volume, _ = oversegment(truth, n_splits=5, n_noise_masks=2, random_state=2)
    return volume.astype(np.uint32)


def to_zarr(volume, path, chunks=(8, 48, 40)):
    array = zarr.open_array(
        store=str(path), mode="w", shape=volume.shape, dtype=volume.dtype,
        chunks=chunks,
    )
    array[...] = volume
    return array


# ---------------------------------------------------------------- in memory
def test_relabel_volume_in_slabs_in_place_and_into_views():
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 40, (9, 70, 60)).astype(np.uint16)
    mapping = {3: 1, 17: 2, 39: 0}
    expected = volume.copy()
    for old, new in mapping.items():
        expected[volume == old] = new
    assert np.array_equal(relabel_volume(volume, mapping), expected)
    inplace = volume.copy()
    assert relabel_volume(inplace, mapping, out=inplace) is inplace
    assert np.array_equal(inplace, expected)
    view = np.zeros((9, 70, 80), np.uint16)[:, :, 10:70]
    relabel_volume(volume, mapping, out=view)
    assert np.array_equal(view, expected)
    huge = volume.astype(np.int64) << 40
    shifted = {old << 40: new << 40 for old, new in mapping.items()}
    expected_huge = expected.astype(np.int64) << 40
    assert np.array_equal(relabel_volume(huge, shifted), expected_huge)


def test_correct_into_out_equals_copy(corrector, loose):
    expected = corrector.correct(loose)
    work = loose.copy()
    assert corrector.correct(work, out=work) is work
    assert np.array_equal(work, expected)
    target = np.empty_like(loose)
    corrector.correct(loose, out=target)
    assert np.array_equal(target, expected)


def test_correct_rejects_bad_out(corrector, loose):
    with pytest.raises(ValueError, match="shape"):
        corrector.correct(loose, out=np.empty((2, 2, 2), loose.dtype))
    with pytest.raises(ValueError, match="dtype"):
        corrector.correct(loose, out=np.empty(loose.shape, np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        corrector.correct(loose, out=[0])
    with pytest.raises(ValueError, match="overlaps"):
        corrector.correct(loose, out=loose[::-1])


# ------------------------------------------------------------ block-wise
def test_blockwise_geometry_equals_one_pass(loose):
    expected = LabelGeometry.from_volume(loose)
    for shape in [(5, 33, 50), (32, 128, 128), (1, 200, 7)]:
        geom = blockwise_geometry(loose, block_shape=shape)
        assert np.array_equal(geom.labels, expected.labels)
        assert np.array_equal(geom.starts, expected.starts)
        assert np.array_equal(geom.stops, expected.stops)
    huge = loose.astype(np.int64)
    huge[huge > 0] += 1 << 40
    geom = blockwise_geometry(huge, block_shape=(8, 64, 64))
    assert np.array_equal(geom.labels, LabelGeometry.from_volume(huge).labels)


@pytest.mark.parametrize(
    "settings",
    [
        dict(max_gap=2),
        dict(max_gap=1, rule="paper", min_overlap=0.0),
        dict(max_gap=3, one_to_one=False, padding=0),
    ],
)
def test_blockwise_screening_selects_the_same_candidates(flawed, settings):
    screener = CandidateScreener(**settings)
    expected = screener.fit_transform(flawed)
    geometry = LabelGeometry.from_volume(flawed)
    pairs = screen_axis_pairs(
        VolumeReader(flawed), geometry, screener.get_params(), block_shape=(3, 50, 64)
    )
    labels = geometry.labels
    found = [(labels[p.upper_row], labels[p.lower_row]) for p in pairs]
    assert found == [(c.upper, c.lower) for c in expected]
    assert [p.gap_labels for p in pairs] == [c.gap_labels for c in expected]
    assert [p.overlap for p in pairs] == [c.score for c in expected]


def test_correct_zarr_equals_in_memory_correct(corrector, flawed, tmp_path):
    expected = corrector.correct(flawed)
    source = to_zarr(flawed, tmp_path / "flawed.zarr")
    result = correct_zarr(
        source, tmp_path / "fixed.zarr", corrector, chunks=(8, 96, 40)
    )
    assert result.dtype == flawed.dtype
    assert np.array_equal(result[...], expected)
    assert np.array_equal(source[...], flawed)  # the source is left alone


def test_correct_zarr_other_screener_settings(corrector, loose, tmp_path):
    other = copy.deepcopy(corrector)
    other.screener_ = CandidateScreener(max_gap=3, one_to_one=False, min_overlap=0.0)
    expected = other.correct(loose)
    source = to_zarr(loose, tmp_path / "loose.zarr")
    result = correct_zarr(source, tmp_path / "fixed.zarr", other)
    assert np.array_equal(result[...], expected)


def test_correct_zarr_from_hdf5_path(corrector, loose, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "loose.h5", "w") as f:
        f.create_dataset("seg/cells", data=loose, chunks=(8, 64, 64))
    result = correct_zarr(
        f"{tmp_path / 'loose.h5'}:seg/cells", str(tmp_path / "fixed.zarr"), corrector
    )
    assert np.array_equal(result[...], corrector.correct(loose))


def test_local_cluster_and_joblib_dask_backend(corrector, loose, tmp_path):
    from joblib import effective_n_jobs, parallel_backend

    source = to_zarr(loose, tmp_path / "loose.zarr")
    candidates = corrector.screener_.transform(loose)
    sequential = GeoWassersteinFeatures().fit_transform(candidates)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False,
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = correct_zarr(
            source, tmp_path / "fixed.zarr", corrector, client=client
        )
        with parallel_backend("dask"):
            assert effective_n_jobs(-1) == 2  # the cluster's two threads
            parallel = GeoWassersteinFeatures(n_jobs=-1).fit_transform(candidates)
            proba = corrector.predict_proba(candidates)
    assert np.array_equal(result[...], corrector.correct(loose))
    assert np.array_equal(parallel, sequential)
    assert np.allclose(proba, corrector.predict_proba(candidates))


def test_correct_zarr_rejects_bad_input(corrector, loose, tmp_path):
    source = to_zarr(loose, tmp_path / "loose.zarr")
    to_zarr(loose, tmp_path / "taken.zarr")
    with pytest.raises(FileExistsError, match="overwrite"):
        correct_zarr(source, tmp_path / "taken.zarr", corrector)
    with pytest.raises(ValueError, match="multiples"):
        correct_zarr(
            source, tmp_path / "a.zarr", corrector, chunks=(5, 48, 40), overwrite=True
        )
    contact = copy.deepcopy(corrector)
    contact.screener_ = CandidateScreener(mode="contact")
    with pytest.raises(ValueError, match="mode='axis'"):
        correct_zarr(source, tmp_path / "b.zarr", contact)
    # an empty tile is valid: an unchanged copy
    empty = correct_zarr(np.zeros((4, 8, 8), np.uint8), tmp_path / "c.zarr", corrector)
    assert empty.shape == (4, 8, 8) and not np.asarray(empty[...]).any()
    with pytest.raises(TypeError, match="integer"):
        correct_zarr(np.ones((4, 8, 8), complex), tmp_path / "d.zarr", corrector)
    with pytest.raises(ValueError, match="non-integer"):  # whole numbers are fine
        correct_zarr(np.full((4, 8, 8), 1.5), tmp_path / "d.zarr", corrector)
    with pytest.raises(ValueError, match="shape"):
        wrong = zarr.open_array(
            store=str(tmp_path / "e.zarr"), mode="w", shape=(2, 2, 2), dtype="u4"
        )
        correct_zarr(source, wrong, corrector)
    with pytest.raises(ValueError, match="negative"):
        correct_zarr(-np.ones((4, 8, 8), np.int16), tmp_path / "f.zarr", corrector)

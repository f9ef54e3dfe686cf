"""A microscope image given as labels is caught by cheap statistics."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from sklearn_overseg import load_pretrained
from sklearn_overseg._image_check import check_not_image, image_statistics
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import read_labels

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _image_of(labels: np.ndarray, dtype, seed: int = 0) -> np.ndarray:
    """A fake fluorescence image of a tissue: blurred walls plus noise."""
    rng = np.random.default_rng(seed)
    walls = ndimage.morphological_gradient(labels, size=3) > 0
    signal = ndimage.gaussian_filter(walls.astype(float), 1.0)
    top = np.iinfo(dtype).max * 0.8
    image = top * signal / signal.max() + rng.normal(20, 8, labels.shape)
    return np.clip(image, 1, None).astype(dtype)


@pytest.fixture(scope="module")
def tissue():
    return make_tissue((24, 96, 96), 40, random_state=0)


@pytest.mark.parametrize("mode", ["dense", "loose", "nuclei"])
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_label_volumes_are_never_flagged(mode, seed):
    truth = make_tissue((24, 96, 96), 40, mode=mode, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed, _ = oversegment(truth, n_splits=6, n_stacked_confounders=2,
                                n_noise_masks=3, random_state=seed)
    for volume in (truth, flawed, truth.astype(np.uint16)):
        check_not_image(volume, "volume")  # no error
        assert image_statistics(volume)["equal_neighbours"] > 0.8


def test_many_small_cells_are_not_flagged():
    truth = make_tissue((32, 128, 128), 600, random_state=3)
    assert image_statistics(truth)["distinct"] >= 100
    check_not_image(truth, "volume")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_image_is_flagged_with_the_likely_mistake(tissue, dtype):
    image = _image_of(tissue, dtype)
    with pytest.raises(ValueError, match="looks like a microscope image") as info:
        check_not_image(image, "'cells.npz:raw'")
    message = str(info.value)
    assert message.startswith("'cells.npz:raw' looks like")
    assert "instead of the segmentation" in message
    assert "--assume-labels" in message and "assume_labels=True" in message
    stats = image_statistics(image)
    assert stats["foreground"] > 0.9 and stats["equal_neighbours"] < 0.3


def test_python_api_refuses_images_unless_told(tissue, tmp_path):
    image = _image_of(tissue, np.uint16)
    corrector = load_pretrained("axis")
    for call in (corrector.correct, corrector.predict_merges, corrector.transform):
        with pytest.raises(ValueError, match="^volume looks like a microscope"):
            call(image)
    np.savez(tmp_path / "cells.npz", labels=tissue, raw=image)
    with pytest.raises(ValueError, match="cells.npz:raw' looks like a microscope"):
        read_labels(str(tmp_path / "cells.npz") + ":raw")
    raw = read_labels(str(tmp_path / "cells.npz") + ":raw", assume_labels=True)
    np.testing.assert_array_equal(raw, image)
    small = raw[:4, :32, :32]  # a small crop: quick to "correct"
    assert corrector.correct(small, assume_labels=True).shape == small.shape
    np.testing.assert_array_equal(read_labels(tmp_path / "cells.npz"), tissue)


def test_cli_refuses_an_image_and_accepts_it_with_assume_labels(tissue, tmp_path):
    image = _image_of(tissue, np.uint8)[:6, :40, :40]
    np.savez(tmp_path / "cells.npz", labels=tissue, raw=image)

    def overseg(*args):
        return subprocess.run(
            [sys.executable, "-m", "sklearn_overseg.cli", *args], cwd=tmp_path,
            capture_output=True, text=True, timeout=600,
        )

    refused = overseg("correct", "cells.npz:raw", "-o", "out.tif", "-q")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(
        "overseg: error: 'cells.npz:raw' looks like a microscope image, not labels")
    assert "--assume-labels" in lines[0]
    assert not (tmp_path / "out.tif").exists()
    refused = overseg("evaluate", "cells.npz:raw", "cells.npz:raw")
    assert refused.returncode == 1 and "looks like a microscope" in refused.stderr
    accepted = overseg("evaluate", "cells.npz:raw", "cells.npz:raw",
                       "--assume-labels", "--json")
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_real_labels_pass_and_their_images_are_caught():
    files = sorted(SHARED.glob("*.npz"))
    assert files
    for path in files:
        labels = read_labels(f"{path}:labels")
        check_not_image(labels[::4], "volume")  # also at light-sheet anisotropy
        with pytest.raises(ValueError, match="looks like a microscope image"):
            read_labels(f"{path}:raw")

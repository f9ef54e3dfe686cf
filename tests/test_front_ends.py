"""Every way into the corrector takes the data the Python API takes.

``correct(labels, voxel_size=..., image=...)`` is the reference; the batch
methods (``transform``, ``score``), the later adjustments (``calibrate``,
``fine_tune``) and the command line's ``train`` take the voxel size and one
raw image per volume too. (The block-wise path and napari have their own
tests: ``test_distributed_image.py``, ``test_napari_*.py``.)
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import MergeCorrector, load_model, make_pair_pipeline
from sklearn_overseg.datasets import make_tissue, make_tissue_image, oversegment
from sklearn_overseg.features import uses_image
from sklearn_overseg.metrics import mean_average_precision


@pytest.fixture(scope="module")
def tissue():
    truth = [make_tissue((20, 56, 56), n_cells=16, random_state=s) for s in range(3)]
    images = [make_tissue_image(t, "membrane", random_state=s)
              for s, t in enumerate(truth)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flawed = [oversegment(t, n_splits=3, n_stacked_confounders=2,
                              random_state=s)[0] for s, t in enumerate(truth)]
    return truth, images, flawed


@pytest.fixture(scope="module")
def image_model(tissue):
    truth, images, _ = tissue
    pipe = make_pair_pipeline(LogisticRegression(max_iter=2000), image=True)
    return MergeCorrector(classifier=pipe, damage="axis", n_rounds=2,
                          random_state=0).fit(truth[:2], images=images[:2])


def test_transform_takes_one_image_per_volume(image_model, tissue):
    _, images, flawed = tissue
    corrected = image_model.transform(flawed, images=images)
    for c, f, i in zip(corrected, flawed, images):
        np.testing.assert_array_equal(c, image_model.correct(f, image=i))
    one = image_model.transform(flawed[0], images=images[0])  # one volume
    np.testing.assert_array_equal(one[0], corrected[0])
    with pytest.raises(ValueError, match="uses the raw image"):
        image_model.transform(flawed)
    with pytest.raises(ValueError, match="2 images for 3 volumes"):
        image_model.transform(flawed, images=images[:2])


def test_score_takes_images(image_model, tissue):
    truth, images, flawed = tissue
    expected = np.mean([
        mean_average_precision(t, image_model.correct(f, image=i),
                               thresholds=(0.5, 0.75))
        for t, f, i in zip(truth, flawed, images)
    ])
    assert image_model.score(flawed, truth, images=images) == pytest.approx(expected)
    # without y: damaged copies of the truths keep their images
    f1 = image_model.score(truth[2:], images=images[2:])
    assert 0 <= f1 <= 1
    with pytest.raises(ValueError, match="uses the raw image"):
        image_model.score(truth[2:])


def test_calibrate_takes_images_and_the_voxel_size(image_model, tissue, monkeypatch):
    from sklearn.base import clone

    truth, images, _ = tissue
    with pytest.raises(ValueError, match="needs the raw image"):
        clone(image_model).fit(truth[:2], images=images[:2]).calibrate(truth[2:])
    seen = []
    import sklearn_overseg.correction._corrector_training as training

    original = training.calibrate_classifier
    monkeypatch.setattr(training, "calibrate_classifier",
                        lambda clf, cands, *a: seen.append(cands) or original(
                            clf, cands, *a))
    units = clone(image_model).fit(truth[:2], images=images[:2],
                                   voxel_size=(2.0, 0.5, 0.5))
    units.calibrate(truth[2:], images=images[2:], method="sigmoid")
    assert {c.voxel_size for c in seen[-1]} == {(4.0, 1.0, 1.0)}  # training's
    units.calibrate(truth[2:], images=images[2:], method="sigmoid",
                    voxel_size=(3.0, 1.0, 1.0))
    assert {c.voxel_size for c in seen[-1]} == {(3.0, 1.0, 1.0)}
    assert all(c.image is not None for c in seen[-1])
    assert uses_image(units.classifier_)


def test_fine_tune_takes_images(tissue):
    from sklearn_overseg import MergeNet

    truth, images, _ = tissue
    net = MergeNet(max_epochs=2, module__hidden=(8,), random_state=0)
    model = MergeCorrector(
        classifier=make_pair_pipeline(net, image=True), damage="axis", n_rounds=1,
        random_state=0,
    ).fit(truth[:2], images=images[:2])
    model.fine_tune(truth[2:], images=images[2:], epochs=1)
    assert model.n_fine_tuning_pairs_ > 0
    with pytest.raises(ValueError, match="needs the raw image"):
        model.fine_tune(truth[2:], epochs=1)


def test_cli_train_with_images_makes_an_image_model(tissue, tmp_path):
    truth, images, flawed = tissue
    for k in range(2):
        np.save(tmp_path / f"truth{k}.npy", truth[k])
        np.save(tmp_path / f"raw{k}.npy", images[k])
    np.save(tmp_path / "seg.npy", flawed[2])
    np.save(tmp_path / "raw2.npy", images[2])
    run = [sys.executable, "-m", "sklearn_overseg.cli"]
    done = subprocess.run(
        run + ["train", "truth0.npy", "truth1.npy", "--images", "raw0.npy",
               "raw1.npy", "-o", "model.json", "--classifier", "logistic",
               "--rounds", "2", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    model = load_model(tmp_path / "model.json")
    assert uses_image(model.classifier_)
    done = subprocess.run(
        run + ["correct", "seg.npy", "--image", "raw2.npy", "--model", "model.json",
               "-o", "out.npy", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  model.correct(flawed[2], image=images[2]))
    wrong = subprocess.run(
        run + ["train", "truth0.npy", "truth1.npy", "--images", "raw0.npy",
               "-o", "m2.json", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert wrong.returncode == 1
    assert "1 image(s) for 2 volume(s)" in wrong.stderr


def test_apply_decisions_needs_no_image_and_checks_its_corrector(image_model, tissue):
    from sklearn_overseg import apply_decisions

    _, images, flawed = tissue
    records = image_model.predict_merges(flawed[2], voxel_size=(2.0, 1.0, 1.0),
                                         image=images[2])
    np.testing.assert_array_equal(
        apply_decisions(flawed[2], records, corrector=image_model,
                        voxel_size=(2.0, 1.0, 1.0)),
        image_model.correct(flawed[2], voxel_size=(2.0, 1.0, 1.0), image=images[2]),
    )
    with pytest.raises(TypeError, match="'corrector' parameter of apply_decisions"):
        apply_decisions(flawed[2], records, corrector="axis")

"""The Qt-free parts of the napari plugin: queue, steps, layer checks, manifest.

These run without napari. The package and the plugin's Qt-free modules must
import with napari and every Qt binding blocked.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import sklearn_overseg
from sklearn_overseg import (
    MergeCorrector,
    apply_decisions,
    load_pretrained,
    make_pair_pipeline,
)
from sklearn_overseg.datasets import make_tissue, make_tissue_image
from sklearn_overseg.napari._queue import ReviewQueue
from sklearn_overseg.napari._sample import make_sample_data
from sklearn_overseg.napari._steps import apply_reviewed
from sklearn_overseg.napari._worker import (
    image_problem,
    labels_problem,
    layer_voxel_size,
    screening_job,
)

BLOCKED = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy",
           "superqt", "magicgui")


def test_package_imports_without_qt_or_napari():
    probe = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import sklearn_overseg, sklearn_overseg.napari
        import sklearn_overseg.napari._queue, sklearn_overseg.napari._sample
        import sklearn_overseg.napari._worker
        loaded = [m for m in sys.modules if m.split(".")[0] in {BLOCKED!r}]
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _run(job):
    steps = []
    try:
        while True:
            steps.append(next(job))
    except StopIteration as stop:
        return steps, stop.value


@pytest.fixture(scope="module")
def screened():
    truth = [make_tissue((20, 64, 64), 16, mode="loose", random_state=s)
             for s in range(2)]
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), damage="axis"
    ).fit(truth)
    (_, _, _), (labels, _, _) = make_sample_data((20, 64, 64), n_cells=16,
                                                 n_splits=5, random_state=1)
    steps, (corrector, screening) = _run(screening_job(corrector, labels))
    return corrector, labels, screening, steps


def test_screening_job_leaves_out_gap_0_pairs_of_unstitched_labels():
    corrector = load_pretrained("axis")
    (_, _, _), (labels, _, _) = make_sample_data((16, 48, 48), n_cells=8,
                                                 n_splits=3, random_state=2)
    _, (used, screening) = _run(screening_job(corrector, labels, stitched=False))
    assert used is not corrector and corrector.screener_.min_gap == "auto"
    assert used.screener_.min_gap == 1
    assert all(c.n_gap_layers >= 1 for c in screening.candidates)
    tilted = load_pretrained("tilted")  # no gap-0 pairs to leave out
    _, (used, _) = _run(screening_job(tilted, labels[:, :24, :24], stitched=False))
    assert used is tilted


def test_screening_job_reports_progress(screened):
    corrector, labels, screening, steps = screened
    assert [s[0] for s in steps] == [0, 1, 2, 3] and all(s[1] == 4 for s in steps)
    n = len(screening.candidates)
    assert n >= 3 and screening.probabilities.shape == screening.merged.shape == (n,)
    expected = corrector.predict_merges(labels)
    assert [r["merged"] for r in expected] == screening.merged.tolist()
    for a, b in screening.candidates.pairs.tolist():
        assert screening.sizes[a] == np.count_nonzero(labels == a)


def test_queue_order_verdicts_and_undo(screened):
    _, _, screening, _ = screened
    queue = ReviewQueue(screening)
    distance = [abs(queue.row(p).probability - screening.threshold)
                for p in range(len(queue))]
    assert distance == sorted(distance)
    assert np.array_equal(queue.merge_mask(), screening.merged)
    position = next(p for p in range(len(queue)) if queue.row(p).merge)
    queue.set_verdict(position, "rejected")
    assert not queue.merge_mask()[queue.row(position).index]
    assert queue.next_pending(position) != position
    queue.set_verdict(position, "skipped")  # skipped follows the model again
    assert queue.merge_mask()[queue.row(position).index]
    queue.follow_model = False
    assert not queue.merge_mask().any()
    queue.follow_model = True
    assert queue.undo() and queue.row(position).status == "rejected"
    assert queue.undo() and queue.row(position).status == "pending"
    assert not queue.undo()
    with pytest.raises(ValueError, match="verdict"):
        queue.set_verdict(0, "maybe")


def test_reviewed_apply_matches_apply_decisions(screened, tmp_path):
    corrector, labels, screening, _ = screened
    queue = ReviewQueue(screening)
    queue.set_verdict(0, "rejected" if queue.row(0).merge else "accepted")
    result = apply_reviewed(corrector, labels, screening, queue.merge_mask())
    path = queue.save(tmp_path / "decisions.csv")
    assert np.array_equal(apply_decisions(labels, path, corrector=corrector),
                          result)
    # nothing chosen: an unchanged copy
    none = apply_reviewed(corrector, labels, screening,
                          np.zeros(len(screening.candidates), bool))
    assert np.array_equal(none, labels) and none is not labels
    # the saved verdicts load back, and foreign pairs are reported
    fresh = ReviewQueue(screening)
    rows = sklearn_overseg.read_decisions(path)
    unknown = fresh.load(rows + [dict(upper=9998, lower=9999, merged=True)])
    assert np.array_equal(fresh.merge_mask(), queue.merge_mask())
    assert unknown == [(9998, 9999)]


@pytest.mark.parametrize("data, words", [
    (np.zeros((8, 8), np.uint16), "2D"),
    (np.zeros((2, 4, 8, 8), np.uint16), "4D"),
    (np.zeros((4, 8, 8), np.float32), "floating-point"),
    (np.zeros((4, 8, 8), bool), "integers"),
])
def test_labels_problem(data, words):
    assert words in labels_problem(data, "layer")


def test_labels_problem_accepts_integer_volumes():
    assert labels_problem(np.zeros((4, 8, 8), np.uint32), "layer") is None


def test_sample_data_is_damaged_tissue():
    (image, image_meta, kind), (labels, meta, labels_kind) = make_sample_data(
        (16, 48, 48), n_cells=8, n_splits=2, random_state=0)
    assert (kind, labels_kind) == ("image", "labels")
    assert image.shape == labels.shape == (16, 48, 48)
    assert labels.dtype.kind in "iu" and image.dtype == np.float32
    assert meta["scale"] == image_meta["scale"]


def test_manifest_names_existing_commands():
    npe2 = pytest.importorskip("npe2")
    folder = Path(sklearn_overseg.__file__).parent / "napari"
    manifest = npe2.PluginManifest.from_file(folder / "napari.yaml")
    import importlib

    for command in manifest.contributions.commands:
        module, name = command.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name))
    assert manifest.contributions.widgets and manifest.contributions.sample_data


class _Layer:
    """What the widget reads of a napari layer: ``scale``."""

    def __init__(self, scale):
        self.scale = np.asarray(scale, float)


def test_layer_voxel_size_is_the_scale_unless_napari_default():
    assert layer_voxel_size(_Layer((1, 1, 1))) is None
    assert layer_voxel_size(_Layer((2, 0.5, 0.5))) == (2.0, 0.5, 0.5)
    assert layer_voxel_size(_Layer((1, 3, 1, 1))) == (3.0, 1.0, 1.0)  # (t, z, y, x)


@pytest.mark.parametrize("data, words", [
    (np.zeros((4, 8, 9), np.float32), "has shape (4, 8, 9) but the labels"),
    (np.zeros((4, 8, 8, 3), np.uint8), "4D (4, 8, 8, 3) (RGB or channels)"),
    (np.zeros((8, 8), np.uint8), "2D"),
    (np.zeros((4, 8, 8), bool), "not a microscope image"),
])
def test_image_problem(data, words):
    problem = image_problem(data, "raw", (4, 8, 8), "cells")
    assert words in problem and "'raw'" in problem


def test_image_problem_accepts_a_matching_image():
    assert image_problem(np.zeros((4, 8, 8), np.uint16), "raw", (4, 8, 8),
                         "cells") is None


@pytest.fixture(scope="module")
def tissues():
    truth = [make_tissue((20, 64, 64), 16, mode="loose", random_state=s)
             for s in range(2)]
    images = [make_tissue_image(t, "membrane", random_state=s)
              for s, t in enumerate(truth)]
    return truth, images


def test_screening_job_passes_the_voxel_size(tissues):
    truth, _ = tissues
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), damage="axis"
    ).fit(truth, voxel_size=(1, 1, 1))  # a model that measures in units
    (_, _, _), (labels, _, _) = make_sample_data((20, 64, 64), n_cells=16,
                                                 n_splits=5, random_state=1)
    for voxel_size in [(3.0, 1.0, 1.0), None]:
        _, (_, screening) = _run(screening_job(corrector, labels, voxel_size))
        assert screening.voxel_size == voxel_size
        working = corrector.working_voxel_size(voxel_size)
        assert all(c.voxel_size == pytest.approx(working)
                   for c in screening.candidates)
        expected = corrector.predict_merges(labels, voxel_size=voxel_size)
        assert [r["probability"] for r in expected] == pytest.approx(
            screening.probabilities.tolist())
        assert [r["decision"] for r in expected] == (
            screening.decisions.decision.tolist())


def test_screening_job_gives_the_image_to_an_image_model(tissues):
    truth, images = tissues
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=2000),
                                      image=True),
        damage="axis", n_rounds=1,
    ).fit(truth, images=images)
    (image, _, _), (labels, _, _) = make_sample_data(
        (20, 64, 64), n_cells=16, n_splits=5, random_state=1)
    _, (_, screening) = _run(screening_job(corrector, labels, None, image))
    assert screening.used_image
    assert all(c.image is not None for c in screening.candidates)
    expected = corrector.predict_merges(labels, image=image)
    assert [r["probability"] for r in expected] == pytest.approx(
        screening.probabilities.tolist())
    with pytest.raises(ValueError, match="uses the raw image.*under 'image'"):
        _run(screening_job(corrector, labels))


def test_screening_job_keeps_the_image_from_a_label_only_model(screened):
    corrector, labels, screening, _ = screened
    image = make_tissue_image(labels, "membrane", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "image= is ignored" warning
        _, (_, with_image) = _run(screening_job(corrector, labels, None, image))
    assert not with_image.used_image
    assert np.array_equal(with_image.probabilities, screening.probabilities)

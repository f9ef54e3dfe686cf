"""The napari dock widget, off-screen: run, review, apply, undo, save.

Skipped cleanly without napari and pytest-qt
(``pip install 'sklearn_overseg[napari-test]'``). A fast logistic-regression
corrector stands in for the shipped model where the model is not under test.
``OVERSEG_DOCS_SCREENSHOTS=1`` makes the screenshot test write the PNGs of
``docs/napari.md`` into ``docs/images/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from sklearn_overseg import (  # noqa: E402
    MergeCorrector,
    apply_decisions,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.datasets import make_tissue, make_tissue_image  # noqa: E402
from sklearn_overseg.io import read_labels, write_labels  # noqa: E402
from sklearn_overseg.napari._sample import make_sample_data  # noqa: E402
from sklearn_overseg.napari._view import HIGHLIGHT_NAME  # noqa: E402
from sklearn_overseg.napari._widget import MODEL_FILE, ReviewWidget  # noqa: E402

WAIT_MS = 120_000
SCALE = (3.0, 1.0, 1.0)


@pytest.fixture(autouse=True)
def _images_without_opengl(monkeypatch):
    """Let Image layers be made where Qt has no OpenGL context (off-screen).

    napari asks the GPU whether it has float textures and how large a texture
    may be when it makes an Image layer; the off-screen Qt platform has no GL
    context to ask, so the answers are given here (Labels need neither).
    """
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        return
    monkeypatch.setattr("napari._vispy.layers.image.get_gl_extensions",
                        lambda: "", raising=False)
    monkeypatch.setattr("napari._vispy.layers.image.get_max_texture_sizes",
                        lambda: (4096, 2048), raising=False)


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory) -> Path:
    truth = [make_tissue((20, 64, 64), 16, mode="loose", random_state=s)
             for s in range(2)]
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression()), damage="axis"
    ).fit(truth)
    return save_model(corrector, tmp_path_factory.mktemp("model") / "fast.json")


@pytest.fixture(scope="module")
def sample():
    """(membranes, damaged labels) of a small damaged tissue."""
    (image, _, _), (labels, _, _) = make_sample_data(
        (20, 64, 64), n_cells=16, n_splits=5, random_state=1
    )
    return image, labels


def _widget(make_napari_viewer, qtbot, labels, model, image=None):
    viewer = make_napari_viewer()
    if image is not None:
        viewer.add_image(image, name="membranes", scale=SCALE)
    layer = viewer.add_labels(labels.copy(), name="cells", scale=SCALE)
    widget = ReviewWidget(viewer)
    qtbot.addWidget(widget)
    widget.labels_combo.setCurrentText("cells")
    if str(model).endswith(".json"):
        widget.model_combo.setCurrentText(MODEL_FILE)
        widget.model_path.setText(str(model))
    else:
        widget.model_combo.setCurrentText(model)
    return viewer, layer, widget


def _run(widget, qtbot) -> None:
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)
    assert widget.queue is not None, widget.message.text()


def _apply(widget, qtbot) -> np.ndarray:
    widget.apply()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)
    return widget.output.data


def _row_with(widget, merge: bool) -> int:
    return next(p for p in range(len(widget.queue))
                if widget.queue.row(p).merge == merge)


def test_widget_runs_queue_follows_uncertainty(make_napari_viewer, qtbot,
                                               sample, fast_model):
    image, labels = sample
    viewer, layer, widget = _widget(make_napari_viewer, qtbot, labels, fast_model,
                                    image)
    widget.image_combo.setCurrentText("membranes")
    _run(widget, qtbot)
    queue = widget.queue
    assert len(queue) >= 3 and widget.table.rowCount() == len(queue)
    shown = [float(widget.table.item(r, 0).text()) for r in range(len(queue))]
    distance = np.abs(np.array(shown) - queue.screening.threshold)
    assert np.all(np.diff(distance) >= -1e-3)  # most unsure first
    assert "candidate pairs" in widget.message.text()
    # the first row is selected: view centred on it, both fragments highlighted
    row = queue.row(0)
    highlight = viewer.layers[HIGHLIGHT_NAME]
    assert set(np.unique(highlight.data)) == {0, 1, 2}
    cand = queue.screening.candidates[row.index]
    z = round(viewer.dims.point[0] / SCALE[0])
    assert z == cand.origin[0] + cand.gap[0] - 1  # the last layer above the gap
    assert (highlight.data[z - cand.origin[0]] == 1).any()
    assert viewer.layers.selection.active is layer
    # selecting another row moves the z slider to that pair
    widget.table.selectRow(len(queue) - 1)
    cand = queue.screening.candidates[queue.row(len(queue) - 1).index]
    z = round(viewer.dims.point[0] / SCALE[0])
    assert z == cand.origin[0] + cand.gap[0] - 1
    assert np.allclose(viewer.camera.center[1:], [
        (o + (n - 1) / 2) * s for o, n, s in
        zip(cand.origin[1:], cand.crop.shape[1:], SCALE[1:])])
    assert np.array_equal(layer.data, labels)


def test_accept_reject_apply_undo(make_napari_viewer, qtbot, sample, fast_model):
    _, labels = sample
    viewer, layer, widget = _widget(make_napari_viewer, qtbot, labels, fast_model)
    _run(widget, qtbot)
    model_result = _apply(widget, qtbot).copy()
    assert widget.output is not layer and tuple(widget.output.scale) == SCALE
    # rejecting a pair the model merges keeps its two labels apart
    position = _row_with(widget, merge=True)
    row = widget.queue.row(position)
    widget.table.selectRow(position)
    widget.set_verdict("rejected")
    rejected = _apply(widget, qtbot).copy()
    assert {row.upper, row.lower} <= set(np.unique(rejected).tolist())
    assert not {row.upper, row.lower} <= set(np.unique(model_result).tolist())
    # accepting it again (keyboard shortcut) merges it again
    widget.table.selectRow(position)
    qtbot.keyClick(widget.table, "a")
    assert widget.queue.row(position).status == "accepted"
    assert np.array_equal(_apply(widget, qtbot), model_result)
    # undo: the previous result, then the previous verdicts
    widget.undo()
    assert np.array_equal(widget.output.data, rejected)
    widget.undo()
    assert widget.queue.row(position).status == "rejected"
    widget.undo()
    assert np.array_equal(widget.output.data, model_result)
    assert np.array_equal(layer.data, labels)  # the input is never modified


def test_only_accepted_pairs_without_the_model(make_napari_viewer, qtbot, sample,
                                               fast_model):
    _, labels = sample
    _, layer, widget = _widget(make_napari_viewer, qtbot, labels, fast_model)
    widget.follow_model.setChecked(False)
    _run(widget, qtbot)
    assert np.array_equal(_apply(widget, qtbot), labels)
    widget.table.selectRow(0)
    row = widget.queue.row(0)
    qtbot.keyClick(widget.table, "a")
    merged = _apply(widget, qtbot)
    assert np.count_nonzero(merged != labels) > 0
    assert len(np.unique(merged)) == len(np.unique(labels)) - 1
    assert not {row.upper, row.lower} <= set(np.unique(merged).tolist())
    assert widget.queue.row(1).status == "pending"
    assert np.array_equal(layer.data, labels)


def test_csv_round_trips_with_apply_decisions(make_napari_viewer, qtbot, sample,
                                              fast_model, tmp_path):
    _, labels = sample
    _, layer, widget = _widget(make_napari_viewer, qtbot, labels, fast_model)
    _run(widget, qtbot)
    widget.table.selectRow(_row_with(widget, merge=True))
    widget.set_verdict("rejected")
    widget.table.selectRow(_row_with(widget, merge=False))
    widget.set_verdict("accepted")
    result = _apply(widget, qtbot).copy()
    csv = tmp_path / "decisions.csv"
    widget.save_decisions(csv)
    assert csv.read_text().startswith("upper,lower,probability,merged")
    # the command line makes the same volume of the saved decisions
    write_labels(tmp_path / "in.tif", labels, voxel_size=SCALE)
    subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", "apply-decisions",
         str(tmp_path / "in.tif"), str(csv), "-o", str(tmp_path / "out.tif"),
         "--model", str(fast_model), "-q"], check=True, timeout=300,
    )
    assert np.array_equal(read_labels(tmp_path / "out.tif"), result)
    assert np.array_equal(
        apply_decisions(labels, csv, corrector=load_model(fast_model)), result
    )
    # loading the CSV into a fresh review gives the same merges
    mask = widget.queue.merge_mask()
    _run(widget, qtbot)
    widget.load_decisions(csv)
    assert np.array_equal(widget.queue.merge_mask(), mask)
    assert np.array_equal(_apply(widget, qtbot), result)
    # the corrected labels are written with the layer's voxel size
    widget.write_corrected(tmp_path / "corrected.tif")
    out, voxel_size = read_labels(tmp_path / "corrected.tif",
                                  return_voxel_size=True)
    assert np.array_equal(out, result) and np.allclose(voxel_size, SCALE)
    assert np.array_equal(layer.data, labels)


def test_shipped_model(make_napari_viewer, qtbot):
    (_, _, _), (labels, _, _) = make_sample_data((16, 48, 48), n_cells=8,
                                                 n_splits=3, random_state=2)
    _, layer, widget = _widget(make_napari_viewer, qtbot, labels, "axis")
    _run(widget, qtbot)
    assert len(widget.queue) >= 1
    corrected = _apply(widget, qtbot)
    assert len(np.unique(corrected)) < len(np.unique(labels))
    assert np.array_equal(layer.data, labels)


def test_unticking_stitched_leaves_out_gap_0_pairs(make_napari_viewer, qtbot):
    # three rounded cells, cut by the volume's top face, whose last layers an
    # IoU stitcher cut off: gap-0 pairs in a volume that looks stitched
    zz, yy, xx = np.indices((12, 32, 96))
    labels = np.zeros((12, 32, 96), dtype=np.uint16)
    for k, x0 in enumerate((16, 48, 80)):
        cell = (((zz + 0.5) / 10.3) ** 2 + ((yy - 16) / 11) ** 2
                + ((xx - x0) / 9) ** 2 <= 1)
        labels[cell] = 1 + k
        last = np.flatnonzero(cell.any(axis=(1, 2)))[-1]
        labels[last][cell[last]] = 4 + k
    _, layer, widget = _widget(make_napari_viewer, qtbot, labels, "axis")
    assert widget.stitched.isChecked()  # the default: stitch_splits="auto"
    _run(widget, qtbot)
    pairs = widget.queue.screening.candidates
    assert len(pairs) == 3 and all(p.n_gap_layers == 0 for p in pairs)
    assert widget.table.item(0, 1).text() == "stitch split"
    widget.stitched.setChecked(False)
    _run(widget, qtbot)
    assert len(widget.queue.screening.candidates) == 0
    assert load_pretrained(stitch_splits=False).predict_merges(labels) == []
    assert np.array_equal(layer.data, labels)


@pytest.mark.parametrize("data, words", [
    (np.ones((8, 8), np.uint16), "2D"),
    (np.ones((2, 4, 8, 8), np.uint16), "4D"),
    (np.ones((4, 8, 8), np.float32), "floating-point"),
])
def test_bad_layers_get_a_message(make_napari_viewer, qtbot, data, words):
    viewer = make_napari_viewer()
    if data.dtype.kind == "f":  # napari keeps floats out of Labels layers
        viewer.add_image(data, name="bad")
    else:
        viewer.add_labels(data, name="bad")
    widget = ReviewWidget(viewer)
    qtbot.addWidget(widget)
    widget.labels_combo.setCurrentText("bad")
    widget.run()
    assert widget.worker is None and widget.queue is None
    assert words in widget.message.text()


def test_bad_model_and_empty_volume_get_messages(make_napari_viewer, qtbot,
                                                 sample, tmp_path):
    _, labels = sample
    viewer, _, widget = _widget(make_napari_viewer, qtbot, labels,
                                tmp_path / "no.json")
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)
    assert "not found" in widget.message.text() and widget.queue is None
    viewer.add_labels(np.zeros((6, 16, 16), np.uint16), name="empty")
    widget.labels_combo.setCurrentText("empty")
    widget.run()  # all background is valid input, with nothing to review
    assert widget.worker is None and "only background" in widget.message.text()
    widget.set_verdict("accepted")
    assert "select a pair" in widget.message.text()


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    """A fast model with image features, trained in units (voxel size given)."""
    truth = [make_tissue((20, 64, 64), 16, mode="loose", random_state=s)
             for s in range(2)]
    images = [make_tissue_image(t, "membrane", random_state=s)
              for s, t in enumerate(truth)]
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=2000),
                                      image=True),
        damage="axis", n_rounds=1,
    ).fit(truth, voxel_size=(1, 1, 1), images=images)
    return save_model(corrector, tmp_path_factory.mktemp("model") / "image.json")


def test_image_layer_and_scale_reach_the_corrector(make_napari_viewer, qtbot,
                                                    sample, image_model):
    image, labels = sample
    _, layer, widget = _widget(make_napari_viewer, qtbot, labels, image_model,
                               image)
    widget.image_combo.setCurrentText("(none)")
    widget.run()  # an image model without its image: a message, no queue
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)
    assert widget.queue is None
    assert "uses the raw image" in widget.message.text()
    widget.image_combo.setCurrentText("membranes")
    _run(widget, qtbot)
    screening = widget.queue.screening
    assert screening.used_image and screening.voxel_size == SCALE
    assert "3, 1, 1" in widget.message.text()
    # the same decisions as the Python API given the same inputs
    expected = load_model(image_model).predict_merges(
        labels, voxel_size=SCALE, image=image)
    assert [r["probability"] for r in expected] == pytest.approx(
        screening.probabilities.tolist())
    assert [r["decision"] for r in expected] == screening.decisions.decision.tolist()
    assert np.array_equal(layer.data, labels)


def test_default_scale_gives_no_voxel_size(make_napari_viewer, qtbot, sample,
                                           fast_model, tmp_path):
    image, labels = sample
    viewer = make_napari_viewer()
    viewer.add_image(image, name="membranes")
    viewer.add_labels(labels.copy(), name="cells")  # napari's scale (1, 1, 1)
    widget = ReviewWidget(viewer)
    qtbot.addWidget(widget)
    widget.labels_combo.setCurrentText("cells")
    widget.image_combo.setCurrentText("membranes")
    widget.model_combo.setCurrentText(MODEL_FILE)
    widget.model_path.setText(str(fast_model))
    _run(widget, qtbot)
    assert widget.queue.screening.voxel_size is None
    # a label-only model: the image is shown, not given to it
    assert not widget.queue.screening.used_image
    assert "'membranes' is shown, not used" in widget.message.text()
    _apply(widget, qtbot)
    widget.write_corrected(tmp_path / "out.tif")
    _, voxel_size = read_labels(tmp_path / "out.tif", return_voxel_size=True)
    assert voxel_size is None and "no voxel size" in widget.message.text()


@pytest.mark.parametrize("image, words", [
    (np.zeros((20, 64, 63), np.float32), "has shape (20, 64, 63) but the labels"),
    (np.zeros((20, 64, 64, 3), np.uint8), "RGB or channels"),
])
def test_bad_image_layer_gets_a_message(make_napari_viewer, qtbot, sample,
                                        fast_model, image, words):
    _, labels = sample
    viewer, _, widget = _widget(make_napari_viewer, qtbot, labels, fast_model)
    viewer.add_image(image, name="raw", rgb=image.ndim == 4)
    widget.image_combo.setCurrentText("raw")
    widget.run()
    assert widget.worker is None and widget.queue is None
    assert words in widget.message.text() and "'raw'" in widget.message.text()


def test_second_run_is_refused(make_napari_viewer, qtbot, sample, fast_model):
    _, labels = sample
    _, _, widget = _widget(make_napari_viewer, qtbot, labels, fast_model)
    widget.run()
    widget.run()
    assert "in progress" in widget.message.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)
    assert widget.queue is not None


def test_screenshots(make_napari_viewer, qtbot, fast_model, tmp_path):
    """Screenshots of the widget at work (the PNGs of ``docs/napari.md``).

    Off-screen, Qt has no OpenGL, so only the dock widget is grabbed; under a
    virtual X server (``xvfb-run``) the whole window is captured too::

        OVERSEG_DOCS_SCREENSHOTS=1 QT_QPA_PLATFORM=xcb xvfb-run -a python -m pytest \\
            tests/test_napari_widget.py -k screenshots
    """
    folder = tmp_path
    if os.environ.get("OVERSEG_DOCS_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[1] / "docs" / "images"
        folder.mkdir(exist_ok=True)
    viewer = make_napari_viewer()
    for data, kwargs, kind in make_sample_data((24, 96, 96), n_cells=24, n_splits=6):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Oversegmentation review")
    widget.labels_combo.setCurrentText("damaged segmentation")
    widget.image_combo.setCurrentText("membranes")
    widget.model_combo.setCurrentText("axis")
    _run(widget, qtbot)
    widget.table.selectRow(0)
    widget.set_verdict("accepted")  # moves on to the next pair
    viewer.window.resize(1300, 760)
    qtbot.wait(100)
    assert widget.grab().save(str(folder / "napari_widget.png"))
    assert (folder / "napari_widget.png").stat().st_size > 1000
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return  # no OpenGL canvas to capture
    viewer.camera.zoom = 3.0
    qtbot.wait(200)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot.shape[2] == 4
    from PIL import Image

    for name in ("napari_widget.png", "napari_review.png"):  # small PNGs
        path = folder / name
        image = Image.fromarray(shot) if name == "napari_review.png" else (
            Image.open(path))
        image.convert("RGB").quantize(128).save(path, optimize=True)

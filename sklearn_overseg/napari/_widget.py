"""The dock widget: run the corrector, review the queue, apply, save.

All correction work goes through the corrector's steps (:mod:`._steps`), run
in worker threads; the widget only shows the queue and records verdicts.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QEvent, Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ..models import available_pretrained
from ._actions import ReviewActions
from ._queue import ReviewQueue
from ._view import HIGHLIGHT_NAME
from ._worker import (
    image_problem,
    labels_problem,
    layer_data,
    layer_voxel_size,
    screening_job,
    start_worker,
)

__all__ = ["ReviewWidget"]

MODEL_FILE = "model file…"
COLUMNS = ("p", "kind", "pair", "voxels", "verdict", "merge")
SHORTCUTS = {"A": "accepted", "R": "rejected", "S": "skipped"}


class ReviewWidget(ReviewActions, QWidget):
    """Correct a Labels layer and proofread the merges, pair by pair.

    The corrector gets what the Python API takes: the labels, their voxel
    size (the layer's ``scale``, z, y, x; napari's default ``(1, 1, 1)``
    means none was set) and, when the model has image features, the raw
    image chosen under *image* (same shape as the labels). A label-only
    model (the shipped ones) does not use the image; it is shown only.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (napari passes it when it opens the widget).
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.queue: ReviewQueue | None = None
        self.corrector = None
        self.volume: np.ndarray | None = None
        self.source = None  # the input layer the queue was made on
        self.output = None  # the layer holding the applied correction
        self.worker = None
        self._build()
        for event in ("inserted", "removed", "moved"):
            getattr(self.viewer.layers.events, event).connect(self._refresh_layers)
        self._refresh_layers()

    # ---------------------------------------------------------------- layout
    def _button(self, text: str, slot, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build(self) -> None:
        self.labels_combo, self.image_combo = QComboBox(), QComboBox()
        self.model_combo = QComboBox()
        self.model_combo.addItems([*available_pretrained(), MODEL_FILE])
        self.model_path = QLineEdit(placeholderText="path to a model .json")
        self.stitched = QCheckBox("labels stitched from 2D slices")
        self.stitched.setChecked(True)
        self.stitched.setToolTip(
            "axis models: also propose pieces touching across two consecutive "
            "layers, as an IoU stitcher leaves them; untick for labels of a 3D "
            "segmenter, where such pairs are mostly two different cells")
        self.follow_model = QCheckBox("unreviewed pairs follow the model")
        self.follow_model.setChecked(True)
        self.follow_model.toggled.connect(self._follow_model_changed)
        self.run_button = self._button("Run", self.run, "screen and score the pairs")
        self.progress, self.message = QProgressBar(), QLabel("")
        self.message.setWordWrap(True)
        form = QGridLayout()
        rows = [("labels", self.labels_combo), ("image", self.image_combo),
                ("model", self.model_combo), ("", self.model_path)]
        for r, (text, widget) in enumerate(rows):
            form.addWidget(QLabel(text), r, 0)
            form.addWidget(widget, r, 1)
        form.addWidget(self._button("…", self._browse_model, "choose a model file"),
                       3, 2)
        form.addWidget(self.stitched, len(rows), 1)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.setMinimumWidth(400)
        self.table.itemSelectionChanged.connect(self._show_selected)
        verdicts = QHBoxLayout()
        for key, verdict in SHORTCUTS.items():
            label = {"accepted": "Accept", "rejected": "Reject"}.get(verdict, "Skip")
            verdicts.addWidget(self._button(
                f"{label} ({key})", lambda _=False, v=verdict: self.set_verdict(v),
                f"{label.lower()} the selected pair and go to the next one"))
        self.table.installEventFilter(self)
        actions = QGridLayout()
        for i, (text, slot, tip) in enumerate([
            ("Apply", self.apply, "merge into a new Labels layer"),
            ("Undo", self.undo, "undo the last verdict, load or apply (Ctrl+Z)"),
            ("Save CSV…", self._save_csv, "decisions for overseg apply-decisions"),
            ("Load CSV…", self._load_csv, "take the verdicts of a decisions CSV"),
            ("Write labels…", self._write_labels, "save the corrected labels"),
        ]):
            actions.addWidget(self._button(text, slot, tip), i // 3, i % 3)
        layout = QVBoxLayout(self)
        for item in (form, self.run_button, self.progress, self.message,
                     self.table, self.follow_model, verdicts, actions):
            (layout.addLayout if isinstance(item, QGridLayout | QHBoxLayout)
             else layout.addWidget)(item)

    def eventFilter(self, source, event) -> bool:  # noqa: N802 (Qt's name)
        """Keyboard shortcuts in the table: A, R, S and Ctrl+Z."""
        if source is self.table and event.type() == QEvent.KeyPress:
            if event.matches(QKeySequence.Undo):
                self.undo()
                return True
            verdict = SHORTCUTS.get(event.text().upper())
            if verdict and not event.modifiers() & ~Qt.ShiftModifier:
                self.set_verdict(verdict)
                return True
        return super().eventFilter(source, event)

    def _refresh_layers(self, event=None) -> None:
        from napari.layers import Image, Labels

        for combo, kinds, extra in ((self.labels_combo, (Labels, Image), []),
                                    (self.image_combo, (Image,), ["(none)"])):
            current = combo.currentText()
            names = [ly.name for ly in self.viewer.layers
                     if isinstance(ly, kinds) and ly.name != HIGHLIGHT_NAME]
            if combo is self.labels_combo:  # Labels layers first
                names.sort(key=lambda n: not isinstance(self.viewer.layers[n], Labels))
            combo.clear()
            combo.addItems(extra + names)
            if current in extra + names:
                combo.setCurrentText(current)

    def say(self, text: str, error: bool = False) -> None:
        """Show a message in the widget (red for a problem)."""
        self.message.setStyleSheet("color: #e0584a;" if error else "")
        self.message.setText(text)

    def _layer(self, combo):
        name = combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # ------------------------------------------------------------------- run
    def _model_choice(self):
        choice = self.model_combo.currentText()
        return self.model_path.text().strip() if choice == MODEL_FILE else choice

    def run(self) -> None:
        """Screen and score the chosen layer in a worker thread."""
        if self.worker is not None:
            self.say("A run is in progress; wait for it to finish.", error=True)
            return
        layer = self._layer(self.labels_combo)
        if layer is None:
            self.say("Add or choose a Labels layer first.", error=True)
            return
        problem = labels_problem(layer.data, layer.name)
        if problem:
            self.say(problem, error=True)
            return
        image_layer = self._layer(self.image_combo)
        image = None
        if image_layer is not None:
            image = layer_data(image_layer)
            problem = image_problem(image, image_layer.name, np.shape(layer.data),
                                    layer.name)
            if problem:
                self.say(problem, error=True)
                return  # (a lazy image is read in the worker thread)
        volume = np.array(layer.data, copy=True)  # later edits do not matter
        if not volume.any():
            self.say(f"'{layer.name}' holds only background (label 0): nothing "
                     "to correct.")
            return
        self.say(f"Running on '{layer.name}'…")
        self._start(screening_job, self._model_choice(), volume,
                    layer_voxel_size(layer), image, self.stitched.isChecked(),
                    done=lambda out: self._screened(layer, volume, *out, image_layer))

    def _start(self, job, *args, done) -> None:
        self.run_button.setEnabled(False)
        self.worker = start_worker(
            job, *args, on_progress=self._progress, on_done=done,
            on_error=lambda exc: self.say(f"Failed: {exc}", error=True),
            on_finished=self._finished,
        )

    def _progress(self, update) -> None:
        step, total, text = update
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.say(text[0].upper() + text[1:] + "…")

    def _finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)
        self.progress.setValue(self.progress.maximum())

    def _screened(self, layer, volume, corrector, screening, image=None) -> None:
        self.corrector, self.volume, self.source = corrector, volume, layer
        self.queue = ReviewQueue(screening)
        self.queue.follow_model = self.follow_model.isChecked()
        self.output = None
        n, merged = len(self.queue), int(screening.merged.sum())
        text = (f"{n} candidate pairs, {merged} merged by the model; the most "
                "unsure come first." if n else "No candidate pairs found.")
        if screening.voxel_size is not None:
            text += " Voxel size (z, y, x) from the layer's scale: " + ", ".join(
                f"{v:g}" for v in screening.voxel_size) + "."
        if image is not None and not screening.used_image:
            text += (f" The model uses the labels only: '{image.name}' is shown, "
                     "not used.")
        self.say(text)
        self._fill_table()
        if n:
            self.table.selectRow(0)

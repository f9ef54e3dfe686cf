"""The review half of the dock widget: table, verdicts, apply, undo, files.

A mixin of :class:`~._widget.ReviewWidget`, which provides ``viewer``,
``queue``, ``corrector``, ``volume``, ``source``, ``output``, ``worker``,
``table``, ``say`` and ``_start``.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QFileDialog, QTableWidgetItem

from ..io import write_labels
from ..review import read_decisions
from ._view import show_pair
from ._worker import apply_job, layer_voxel_size

__all__ = ["ReviewActions"]

#: how the table names a candidate's kind: a gap along z, a stitch split (no
#: layer between the pieces), or touching labels
KINDS = {
    "axis": "gap", "stitch": "stitch split", "contact": "touching",
    "tilted": "touching",
}


class ReviewActions:
    """Verdicts, apply, undo and files of the review widget."""

    # ----------------------------------------------------------------- table
    def _fill_table(self) -> None:
        queue = self.queue
        keep = self.table.currentRow()
        self.table.blockSignals(True)
        self.table.setRowCount(0 if queue is None else len(queue))
        for position in range(0 if queue is None else len(queue)):
            row = queue.row(position)
            cells = (f"{row.probability:.3f}", KINDS.get(row.kind, row.kind),
                     f"{row.upper} – {row.lower}",
                     f"{row.upper_size} / {row.lower_size}", row.status,
                     "yes" if row.merge else "no")
            for column, text in enumerate(cells):
                self.table.setItem(position, column, QTableWidgetItem(text))
        self.table.blockSignals(False)
        if queue is not None and 0 <= keep < len(queue):
            self.table.selectRow(keep)
        self.table.resizeColumnsToContents()

    def _show_selected(self) -> None:
        position = self.table.currentRow()
        if self.queue is None or not 0 <= position < len(self.queue):
            return
        candidate = self.queue.screening.candidates[self.queue.row(position).index]
        image = self._layer(self.image_combo)
        show_pair(self.viewer, self.source, self.volume, candidate, image)

    # -------------------------------------------------------------- verdicts
    def set_verdict(self, verdict: str) -> None:
        """Give the selected pair a verdict and move to the next pending one."""
        position = self.table.currentRow()
        if self.queue is None or not 0 <= position < len(self.queue):
            self.say("Run the corrector and select a pair first.", error=True)
            return
        self.queue.set_verdict(position, verdict)
        following = self.queue.next_pending(position)
        self._fill_table()
        self.table.selectRow(position if following is None else following)

    def _follow_model_changed(self, checked: bool) -> None:
        if self.queue is not None:
            self.queue.follow_model = bool(checked)
            self._fill_table()

    # ----------------------------------------------------------------- apply
    def apply(self) -> None:
        """Merge the chosen pairs into a new Labels layer (worker thread)."""
        if self.queue is None:
            self.say("Run the corrector first.", error=True)
            return
        if self.worker is not None:
            self.say("A run is in progress; wait for it to finish.", error=True)
            return
        self._start(apply_job, self.corrector, self.volume, self.queue.screening,
                    self.queue.merge_mask(), done=self._applied)

    def _applied(self, result: np.ndarray) -> None:
        self.queue.set_result(result)
        self._show_result()
        merged = int(self.queue.merge_mask().sum())
        self.say(f"Applied {merged} merges to '{self.output.name}'.")

    def _show_result(self) -> None:
        result = self.queue.result
        if result is None:
            if self.output is not None and self.output in self.viewer.layers:
                self.viewer.layers.remove(self.output)
            self.output = None
        elif self.output is not None and self.output in self.viewer.layers:
            self.output.data = result
        else:
            self.output = self.viewer.add_labels(
                result, name=f"{self.source.name} corrected",
                scale=self.source.scale, translate=self.source.translate,
            )

    def undo(self) -> None:
        """Undo the last verdict, loaded CSV or applied correction."""
        if self.queue is None or not self.queue.can_undo():
            self.say("Nothing to undo.")
            return
        before = self.queue.result
        self.queue.undo()
        if self.queue.result is not before:
            self._show_result()
        self._fill_table()
        self.say("Undone.")

    # ----------------------------------------------------------------- files
    def save_decisions(self, path) -> None:
        """Write the decisions CSV (the format ``overseg apply-decisions`` reads)."""
        if self.queue is None:
            self.say("Run the corrector first.", error=True)
            return
        try:
            written = self.queue.save(path)
        except OSError as exc:
            self.say(f"Could not save: {exc}", error=True)
            return
        self.say(f"Saved the decisions to {written}.")

    def load_decisions(self, path) -> None:
        """Take the verdicts of a decisions CSV."""
        if self.queue is None:
            self.say("Run the corrector first, on the volume the CSV was made on.",
                     error=True)
            return
        try:
            unknown = self.queue.load(read_decisions(path))
        except (OSError, ValueError) as exc:
            self.say(f"Could not load: {exc}", error=True)
            return
        self._fill_table()
        note = (f"; {len(unknown)} of its pairs are not candidates here, e.g. "
                f"{unknown[0]}" if unknown else "")
        self.say(f"Loaded the decisions of {path}{note}.", error=bool(unknown))

    def write_corrected(self, path) -> None:
        """Write the applied correction, with the input layer's voxel size.

        The voxel size is the layer's ``scale`` (z, y, x); napari's default
        scale ``(1, 1, 1)`` means none was set, and the file then stores none.
        """
        if self.queue is None or self.queue.result is None:
            self.say("Apply the merges first.", error=True)
            return
        voxel_size = layer_voxel_size(self.source)
        try:
            write_labels(path, self.queue.result, voxel_size=voxel_size)
        except (OSError, ValueError, TypeError, ImportError) as exc:
            self.say(f"Could not write: {exc}", error=True)
            return
        self.say(f"Wrote {path} " + (
            f"(voxel size {voxel_size})." if voxel_size else
            "(no voxel size: the layer's scale is napari's default, 1, 1, 1)."))

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "*.json")
        if path:
            self.model_path.setText(path)
            self.model_combo.setCurrentIndex(self.model_combo.count() - 1)

    def _save_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save decisions", "", "*.csv")
        if path:
            self.save_decisions(path)

    def _load_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load decisions", "", "*.csv")
        if path:
            self.load_decisions(path)

    def _write_labels(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Write corrected labels", "", "Labels (*.tif *.h5 *.zarr *.npz)")
        if path:
            self.write_corrected(path)

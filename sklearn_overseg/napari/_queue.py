"""The review queue: candidate pairs, a person's verdicts, and their history.

Qt-free, so that it is tested without a display. Pairs are listed from the
most unsure (probability closest to the corrector's threshold) to the surest.
A pair a person has not judged (pending or skipped) follows the model's
decision, as in the decisions CSV of the review report (or, with
``follow_model=False``, is not merged); accepting merges it, rejecting keeps
it apart. Every verdict, loaded CSV and applied result can be
undone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..review import write_decisions
from ._steps import Screening

__all__ = ["ReviewQueue", "VERDICTS"]

#: The states of a pair, as shown in the widget's table.
VERDICTS = ("pending", "accepted", "rejected", "skipped")


@dataclass(frozen=True)
class Row:
    """One line of the review table."""

    index: int
    upper: int
    lower: int
    probability: float
    kind: str  # "axis" (a gap), "stitch" (no layer between), "contact", "tilted"
    upper_size: int
    lower_size: int
    status: str
    merge: bool


class ReviewQueue:
    """Candidate pairs ordered by the model's uncertainty, with verdicts.

    Parameters
    ----------
    screening : Screening
        What the corrector found (:func:`~._steps.run_steps`).

    Attributes
    ----------
    order : ndarray of int
        Candidate indices from the most unsure pair to the surest.
    status : ndarray of str
        Verdict of each candidate (screening order), one of :data:`VERDICTS`.
    result : ndarray or None
        The last applied correction, ``None`` before the first.
    """

    def __init__(self, screening: Screening):
        self.screening = screening
        distance = np.abs(screening.probabilities - screening.threshold)
        self.order = np.argsort(distance, kind="stable")
        self.status = np.full(len(screening.candidates), "pending", dtype=object)
        self.result: np.ndarray | None = None
        #: whether pending and skipped pairs take the model's decision
        self.follow_model = True
        self._history: list[tuple[np.ndarray, np.ndarray | None]] = []

    def __len__(self) -> int:
        return len(self.order)

    def row(self, position: int) -> Row:
        """The table row at ``position`` in queue order."""
        i = int(self.order[position])
        s = self.screening
        cand = s.candidates[i]
        kind = cand.kind
        if kind == "axis" and cand.n_gap_layers == 0:
            kind = "stitch"  # no layer between the pieces
        return Row(
            i, int(cand.upper), int(cand.lower), float(s.probabilities[i]),
            kind, s.sizes.get(int(cand.upper), 0),
            s.sizes.get(int(cand.lower), 0), str(self.status[i]),
            bool(self.merge_mask()[i]),
        )

    def merge_mask(self) -> np.ndarray:
        """Whether each pair (screening order) is to be merged."""
        mask = self.screening.merged.copy() if self.follow_model else (
            np.zeros(len(self.status), bool)
        )
        mask[self.status == "accepted"] = True
        mask[self.status == "rejected"] = False
        return mask

    def next_pending(self, position: int) -> int | None:
        """The first pending position after ``position`` (wrapping), if any."""
        n = len(self)
        for step in range(1, n + 1):
            p = (position + step) % n
            if self.status[self.order[p]] == "pending":
                return p
        return None

    # -------------------------------------------------------------- changes
    def _remember(self) -> None:
        self._history.append((self.status.copy(), self.result))

    def set_verdict(self, position: int, verdict: str) -> None:
        """Accept, reject, skip (or reset to pending) the pair at ``position``."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        self._remember()
        self.status[self.order[position]] = verdict

    def set_result(self, result: np.ndarray) -> None:
        """Record a newly applied correction (undoable)."""
        self._remember()
        self.result = result

    def can_undo(self) -> bool:
        """Whether there is a change to undo."""
        return bool(self._history)

    def undo(self) -> bool:
        """Restore the verdicts and result before the last change."""
        if not self._history:
            return False
        self.status, self.result = self._history.pop()
        return True

    # ------------------------------------------------------------ decisions
    def records(self) -> list[dict]:
        """One record per pair, as :func:`write_decisions` takes them."""
        merge = self.merge_mask()
        return [{**record, "merged": bool(m)}
                for record, m in zip(self.screening.decisions.records(), merge)]

    def save(self, path: str | os.PathLike):
        """Write the decisions CSV read by ``overseg apply-decisions``.

        Pairs to merge and unsure pairs are listed; a pair left out is not
        merged by ``apply-decisions``, and is not merged here either.
        """
        return write_decisions(
            self.records(), path, threshold=self.screening.threshold
        )

    def load(self, decisions: list[dict]) -> list[tuple[int, int]]:
        """Take the verdicts of a decisions CSV (rows of ``read_decisions``).

        A pair in the file gets its ``merged`` verdict; a pair missing from it
        is not merged (as ``apply-decisions`` does). Returns the pairs of the
        file that are not in this queue (decisions made on another volume or
        with another model); the change is undoable.
        """
        verdicts = {
            frozenset((int(d["upper"]), int(d["lower"]))): bool(d["merged"])
            for d in decisions
        }
        self._remember()
        known = set()
        merge = self.merge_mask()
        for i, (a, b) in enumerate(self.screening.candidates.pairs.tolist()):
            key = frozenset((a, b))
            if key in verdicts:
                known.add(key)
                self.status[i] = "accepted" if verdicts[key] else "rejected"
            elif merge[i]:
                self.status[i] = "rejected"
        return [tuple(sorted(k)) for k in verdicts if k not in known]

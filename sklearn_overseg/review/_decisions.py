"""Human review of merge decisions: the CSV to edit, written and read back.

The review report writes ``decisions.csv``: one row per merged, unsure or
borderline pair, unsure pairs first, with columns ``upper, lower,
probability, merged, gap_start, gap_stop, kind, borderline, decision,
out_of_range``. ``decision`` is the corrector's (``merged``, ``kept apart``
or ``unsure``: left to a person, not merged). A person sets ``merged`` to
``yes`` or ``no`` (in a spreadsheet or a text editor), and
:func:`~sklearn_overseg.review.apply_decisions` merges exactly the pairs
marked ``yes`` in the original segmentation.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "decision_of",
    "is_borderline",
    "read_decisions",
    "review_order",
    "write_decisions",
]

COLUMNS = (
    "upper", "lower", "probability", "merged", "gap_start", "gap_stop", "kind",
    "borderline", "decision", "out_of_range",
)
_YES = {"yes", "y", "true", "1", "x", "merge", "merged"}
_NO = {"no", "n", "false", "0", "", "reject", "rejected"}


def is_borderline(probability: float, threshold: float, borderline: float) -> bool:
    """Whether a pair is unsure: ``|probability - threshold| <= borderline``."""
    return abs(probability - threshold) <= borderline


def decision_of(record: Mapping) -> str:
    """A record's decision (records made before the review band: by ``merged``)."""
    return str(record.get("decision") or (
        "merged" if record["merged"] else "kept apart"
    ))


def review_order(
    records: Sequence[Mapping], threshold: float, borderline: float
) -> list:
    """The records a person should see, in the order to review them.

    Unsure pairs first (the corrector left them undecided), then the other
    borderline or merged pairs; each group from the probability closest to
    the threshold outwards. Confident rejections are left out.
    """
    def unsure(r) -> bool:
        return decision_of(r) == "unsure"

    rows = [
        r for r in records
        if r["merged"] or unsure(r)
        or is_borderline(r["probability"], threshold, borderline)
    ]
    return sorted(
        rows, key=lambda r: (not unsure(r), abs(r["probability"] - threshold))
    )


def write_decisions(
    records: Sequence[Mapping],
    path: str | os.PathLike,
    *,
    threshold: float = 0.5,
    borderline: float = 0.2,
) -> Path:
    """Write the unsure, merged and borderline pairs as a CSV for review.

    Parameters
    ----------
    records : list of dict
        Records of :meth:`MergeCorrector.predict_merges`.
    path : str or path-like
        The CSV file to write.
    threshold : float, default=0.5
        The corrector's decision threshold.
    borderline : float, default=0.2
        Pairs with ``|probability - threshold| <= borderline`` are listed
        even when they were not merged (``borderline`` column).

    Returns
    -------
    Path
        The file written. The pairs the corrector left unsure come first
        (``merged`` is ``no`` for them: set it to ``yes`` to merge), then the
        others, each group from the most borderline pair to the surest.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_overseg.review import read_decisions, write_decisions
    >>> records = [dict(upper=1, lower=2, probability=0.9, merged=True,
    ...                 gap_start=3, gap_stop=4, kind="axis")]
    >>> path = write_decisions(records, pathlib.Path(tempfile.mkdtemp()) / "d.csv")
    >>> read_decisions(path)[0]["merged"]
    True
    """
    rows = review_order(records, threshold, borderline)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([
                r["upper"], r["lower"], f"{r['probability']:.4f}",
                "yes" if r["merged"] else "no",
                "" if r.get("gap_start") is None else r["gap_start"],
                "" if r.get("gap_stop") is None else r["gap_stop"],
                r.get("kind", "axis"),
                "yes" if is_borderline(r["probability"], threshold, borderline)
                else "no",
                decision_of(r), "yes" if r.get("out_of_range") else "no",
            ])
    return path


def _integer(text: str, column: str, line: int) -> int:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(
            f"decisions line {line}: {column} must be a label number, got {text!r}"
        )
    return int(value)


def _yes_no(text: str, line: int) -> bool:
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError(
        f"decisions line {line}: merged must be yes or no, got {text.strip()!r}"
    )


def read_decisions(path: str | os.PathLike) -> list[dict]:
    """Read a decisions CSV (comma, semicolon or tab separated).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`write_decisions`, possibly edited. Needed
        columns: ``upper``, ``lower`` and ``merged`` (``yes``/``no``; an empty
        cell counts as ``no``); ``probability`` and ``kind`` are used when
        present.

    Returns
    -------
    list of dict
        One dict per row with ``upper``, ``lower`` (int), ``merged`` (bool),
        ``probability`` (float or None) and ``kind`` (str).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a column is missing or a cell cannot be read; the message names the
        line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decisions file not found: '{path}'")
    text = path.read_text(encoding="utf-8-sig")  # Excel may add a BOM
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max(",;\t", key=first.count)
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in ("upper", "lower", "merged") if c not in fields]
    if missing:
        raise ValueError(
            f"'{path}' is not a decisions file: column(s) {', '.join(missing)} "
            f"missing (found: {', '.join(fields) or 'nothing'})"
        )
    decisions = []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        probability = row.get("probability", "")
        try:
            probability = float(probability) if probability else None
        except ValueError:
            raise ValueError(
                f"decisions line {line}: probability must be a number, "
                f"got {probability!r}"
            ) from None
        decisions.append(dict(
            upper=_integer(row["upper"], "upper", line),
            lower=_integer(row["lower"], "lower", line),
            merged=_yes_no(row["merged"], line),
            probability=probability,
            kind=row.get("kind") or "axis",
        ))
    return decisions

"""Human review of merge decisions: a CSV to edit, and re-applying it.

The review report writes ``decisions.csv``: one row per merged, unsure or
borderline pair, unsure pairs first, with columns ``upper, lower,
probability, merged, gap_start, gap_stop, kind, borderline, decision,
out_of_range``. ``decision`` is the corrector's (``merged``, ``kept apart``
or ``unsure``: left to a person, not merged). A person sets ``merged`` to
``yes`` or ``no`` (in a spreadsheet or a text editor) and
:func:`apply_decisions`
merges exactly the pairs marked ``yes`` in the original segmentation, with
the corrector's own merging (union-find, top to bottom) and gap
interpolation, so that unedited decisions reproduce ``correct``'s output.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from .._validation import check_label_volume
from ..correction import MergeDecisions, label_z_extents, resolve_merges

__all__ = [
    "apply_decisions",
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
    >>> from sklearn_overseg.review._decisions import read_decisions, write_decisions
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


def _check_rows(decisions) -> list[dict]:
    """Validate decisions given in memory (dicts with upper, lower, merged)."""
    rows = []
    for i, row in enumerate(decisions):
        if not isinstance(row, Mapping):
            raise TypeError(
                f"decisions[{i}] must be a dict with keys upper, lower and merged "
                f"(as read_decisions returns), got {type(row).__name__}"
            )
        missing = [k for k in ("upper", "lower", "merged") if k not in row]
        if missing:
            raise ValueError(f"decisions[{i}] lacks key(s) {', '.join(missing)}")
        labels = []
        for key in ("upper", "lower"):
            value = row[key]
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, np.integer)
            ) or value < 0:
                raise ValueError(
                    f"decisions[{i}]['{key}'] must be a label number, got {value!r}"
                )
            labels.append(int(value))
        rows.append({**row, "upper": labels[0], "lower": labels[1],
                     "merged": bool(row["merged"])})
    return rows


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


@validate_params(
    {
        "volume": "no_validation",  # check_label_volume
        "decisions": "no_validation",  # read_decisions, _check_rows
        "corrector": [HasMethods(["screen", "apply"]), None],
        "voxel_size": "no_validation",  # the corrector's screen
    },
    prefer_skip_nested_validation=True,
)
def apply_decisions(
    volume, decisions, *, corrector=None, voxel_size=None
) -> np.ndarray:
    """Merge the pairs marked ``yes`` in reviewed decisions.

    Parameters
    ----------
    volume : ndarray of shape (z, y, x)
        The original (uncorrected) segmentation the decisions were made on.
    decisions : str, path-like or list of dict
        A decisions CSV or the rows of :func:`read_decisions`.
    corrector : MergeCorrector, default=None
        The fitted corrector that made the decisions: its screener finds the
        gaps to rebuild and its interpolation settings are used. ``None``
        loads the pretrained ``"axis"`` corrector.
    voxel_size : float, sequence of 3 floats or None, default=None
        Voxel size (z, y, x) of ``volume``, for the corrector's screening
        (see :meth:`MergeCorrector.working_voxel_size`).

    Returns
    -------
    ndarray of shape (z, y, x)
        A corrected copy with the input's dtype.

    Notes
    -----
    No raw image is needed, even for a model with image features: the
    decisions are made, and rebuilding the gap layers of the approved pairs
    reads the labels only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import apply_decisions
    >>> vol = np.zeros((7, 8, 8), dtype=np.uint16)
    >>> vol[:3, 2:6, 2:6], vol[4:, 2:6, 2:6] = 1, 2
    >>> out = apply_decisions(vol, [dict(upper=1, lower=2, merged=True)])
    >>> np.unique(out).tolist(), bool((out[3] == 1).any())
    ([0, 1], True)
    """
    volume = check_label_volume(volume, name="volume", allow_background_only=True)
    if not isinstance(decisions, (list, tuple)):
        decisions = read_decisions(decisions)
    decisions = _check_rows(decisions)
    if corrector is None:
        from ..models import load_pretrained

        corrector = load_pretrained("axis")
    check_is_fitted(corrector)
    approved = sorted(
        (d for d in decisions if d["merged"]),
        key=lambda d: -(1.0 if d.get("probability") is None else d["probability"]),
    )
    z_extents = label_z_extents(volume)
    absent = sorted({
        lab for d in approved for lab in (d["upper"], d["lower"])
        if lab not in z_extents
    })
    if absent:
        raise ValueError(
            f"the decisions merge labels absent from the volume ({absent[:5]}); "
            "give the segmentation the decisions were made on"
        )
    pairs = np.array([(d["upper"], d["lower"]) for d in approved], np.int64)
    mapping, merged = resolve_merges(
        pairs.reshape(-1, 2), np.ones(len(approved)), 0.5, z_extents=z_extents,
        check_z=[d.get("kind", "axis") == "axis" for d in approved],
    )
    for d in (d for d, m in zip(approved, merged) if not m):
        warnings.warn(
            f"pair {d['upper']}-{d['lower']} not merged: the two cells would "
            "share z layers", UserWarning, stacklevel=2,
        )
    done = {frozenset(p) for p, m in zip(pairs.tolist(), merged) if m}
    accepted = []
    gaps = {frozenset((d["upper"], d["lower"])) for d in approved
            if d.get("kind", "axis") == "axis"} & done
    if gaps and corrector.interpolate:
        candidates = corrector.screen(volume, voxel_size=voxel_size,
                                      assume_labels=True)
        accepted = [c for c in candidates if frozenset((c.upper, c.lower)) in done]
        lost = gaps - {frozenset((c.upper, c.lower)) for c in accepted}
        if lost:
            warnings.warn(
                f"{len(lost)} approved pair(s) not found by screening, merged "
                "without rebuilding their gap layers (was another --model used?)",
                UserWarning, stacklevel=2,
            )
    reviewed = MergeDecisions(
        CandidateSet(accepted), np.ones(len(accepted)),
        np.ones(len(accepted), bool), mapping,
    )
    return corrector.apply(volume, reviewed)

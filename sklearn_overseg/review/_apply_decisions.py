"""Re-apply reviewed decisions: merge exactly the pairs a person approved.

The pairs come from a decisions CSV (:func:`read_decisions`) or from memory.
They are merged with the corrector's own steps (union-find, top to bottom,
then gap interpolation), so unedited decisions reproduce ``correct``'s output.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from .._candidates import CandidateSet
from .._validation import check_label_volume
from .._warnings import warn_user
from ..correction import MergeDecisions, label_z_extents, resolve_merges
from ._decisions import read_decisions

__all__ = ["apply_decisions"]


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
        warn_user(
            f"pair {d['upper']}-{d['lower']} not merged: the two cells would "
            "share z layers",
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
            warn_user(
                f"{len(lost)} approved pair(s) not found by screening, merged "
                "without rebuilding their gap layers (was another --model used?)",
            )
    reviewed = MergeDecisions(
        CandidateSet(accepted), np.ones(len(accepted)),
        np.ones(len(accepted), bool), mapping,
    )
    return corrector.apply(volume, reviewed)

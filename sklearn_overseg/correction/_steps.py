"""The corrector's steps after screening: decide, describe, apply.

:class:`MergeDecisions` is what :meth:`MergeCorrector.decide` returns and
:meth:`MergeCorrector.apply` takes: the candidates, their probabilities, which
pairs merge and the label mapping. Every front end (Python, command line and
report, dask, napari, reviewed decisions) goes through these steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .._candidates import CandidateSet
from .._geometry import LabelGeometry
from .._parallel import map_batches
from .._progress import progress
from .._threads import slab_threads
from ._gap_writes import fold_gap_fills, gap_fill, gap_region, paint_writes
from ._merging import relabel_alongside, relabel_volume, resolve_merges

__all__ = [
    "KEPT_APART",
    "MERGED",
    "UNSURE",
    "MergeDecisions",
    "PairScores",
    "apply_merges",
    "decide_merges",
    "label_z_extents",
]

#: Gaps a worker process must get (a few seconds of interpolation) to pay off.
_GAPS_PER_JOB = 200


#: The three decisions a candidate pair can get.
MERGED, KEPT_APART, UNSURE = "merged", "kept apart", "unsure"


@dataclass(frozen=True)
class PairScores:
    """Merge probabilities of candidate pairs, with the features behind them.

    Attributes
    ----------
    probabilities : ndarray of shape (n_pairs,)
    features : ndarray of shape (n_pairs, n_features) or None
        The raw pair features, when the classifier is a features-then-model
        pipeline.
    standardised : ndarray or None
        The features as the final model saw them (after a standard scaler).
    feature_names : list of str or None
    out_of_range : ndarray of bool, shape (n_pairs,), or None
        Whether each pair's features fall outside the range of the training
        features (``None`` when the model knows no training range); with
        ``MergeCorrector(out_of_range="unsure")`` only the pairs whose
        decision changes when their features are clipped to the range.
    """

    probabilities: np.ndarray
    features: np.ndarray | None = None
    standardised: np.ndarray | None = None
    feature_names: list[str] | None = None
    out_of_range: np.ndarray | None = None


@dataclass
class MergeDecisions:
    """Which candidate pairs of one volume merge, and the resulting label map.

    Attributes
    ----------
    candidates : CandidateSet
    probabilities : ndarray of shape (n_pairs,)
    merged : ndarray of bool, shape (n_pairs,)
        Whether each pair is merged (threshold, chains and the z-extent rule
        applied).
    mapping : dict
        ``label -> merged label`` for every label that changes.
    decision : ndarray of str, shape (n_pairs,), optional
        ``"merged"``, ``"kept apart"`` or ``"unsure"`` (not merged, left to a
        person: probability in the corrector's review band, or features
        outside the training range). ``None`` derives it from ``merged``.
    out_of_range : ndarray of bool, shape (n_pairs,), optional
        Whether each pair's features fall outside the training range.
    """

    candidates: CandidateSet
    probabilities: np.ndarray
    merged: np.ndarray
    mapping: dict = field(default_factory=dict)
    decision: np.ndarray | None = None
    out_of_range: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.merged = np.asarray(self.merged, dtype=bool)
        if self.decision is None:
            self.decision = np.where(self.merged, MERGED, KEPT_APART)
        self.decision = np.asarray(self.decision, dtype=object)
        if self.out_of_range is None:
            self.out_of_range = np.zeros(len(self.merged), dtype=bool)

    @property
    def unsure(self) -> np.ndarray:
        """Boolean mask of the pairs left to a person (not merged)."""
        return self.decision == UNSURE

    @property
    def accepted(self) -> list:
        """The merged candidates, in screening order."""
        return [c for c, m in zip(self.candidates, self.merged) if m]

    def records(self) -> list[dict]:
        """One review record per candidate (see ``predict_merges``)."""
        records = []
        for c, p, m, d, o in zip(
            self.candidates, self.probabilities, self.merged, self.decision,
            self.out_of_range,
        ):
            gap = (None, None)
            if c.kind == "axis" and c.gap is not None:
                gap = (c.origin[0] + c.gap[0], c.origin[0] + c.gap[1])
            records.append(dict(
                upper=int(c.upper), lower=int(c.lower), probability=float(p),
                merged=bool(m), decision=str(d), out_of_range=bool(o),
                kind=c.kind, score=float(c.score),
                gap_start=gap[0], gap_stop=gap[1],
            ))
        return records


def label_z_extents(volume) -> dict[int, tuple[int, int]]:
    """``label -> (first layer, one past last layer)`` for every label present.

    ``volume`` is a label volume or its :class:`LabelGeometry`.
    """
    geom = volume if isinstance(volume, LabelGeometry) else (
        LabelGeometry.from_volume(volume)
    )
    return {
        int(lab): (int(a), int(b))
        for lab, a, b in zip(geom.labels, geom.z_starts, geom.z_stops)
    }


def _recorded_z_extents(candidates) -> dict | None:
    """The labels' z-extents that the screener recorded in the candidates.

    ``None`` when a candidate has none (built by hand, or not a
    :class:`CandidateSet`): the volume's geometry is computed instead.
    """
    if not isinstance(candidates, CandidateSet) or not len(candidates):
        return None
    extents = {}
    for c in candidates:
        recorded = c.meta.get("z_extents")
        if recorded is None:
            return None
        extents[int(c.upper)], extents[int(c.lower)] = recorded
    return extents


def unsure_pairs(
    probabilities, threshold: float, abstain: float, out_of_range=None
) -> np.ndarray:
    """Pairs left to a person: ``|p - threshold| < abstain`` or out of range.

    Examples
    --------
    >>> from sklearn_overseg.correction._steps import unsure_pairs
    >>> unsure_pairs([0.1, 0.45, 0.55, 0.9], 0.5, 0.1).tolist()
    [False, True, True, False]
    """
    p = np.asarray(probabilities, dtype=float).ravel()
    unsure = np.abs(p - threshold) < abstain
    if out_of_range is not None:
        unsure |= np.asarray(out_of_range, dtype=bool).ravel()
    return unsure


def decide_merges(
    volume, candidates, probabilities, threshold: float, *, unsure=None
):
    """Label mapping and per-pair merge decisions of one volume's candidates.

    ``candidates`` needs ``pairs`` (n, 2) and ``kinds``; ``volume`` is the
    label volume or its :class:`LabelGeometry`, whose z-extents are read
    only when the candidates do not carry those the screener recorded
    (``meta["z_extents"]``). Pairs flagged ``unsure`` (boolean mask) are
    never merged.
    """
    probabilities = np.asarray(probabilities, dtype=float).ravel()
    if unsure is not None:
        probabilities = np.where(unsure, -1.0, probabilities)
    z_extents = _recorded_z_extents(candidates)
    return resolve_merges(
        candidates.pairs,
        probabilities,
        threshold,
        z_extents=label_z_extents(volume) if z_extents is None else z_extents,
        check_z=np.asarray(candidates.kinds) == "axis",
    )


def _has_gap(candidate) -> bool:
    return candidate.kind == "axis" and candidate.gap is not None and (
        candidate.gap[1] > candidate.gap[0]
    )


def _gap_fills(gaps, method: str, verbose: int) -> list:
    """:func:`gap_fill` of a batch of ``(candidate, current gap labels)``."""
    bar = progress(gaps, desc="interpolating gaps", enabled=verbose > 0)
    return [gap_fill(c, current, method) for c, current in bar]


def apply_merges(
    volume: np.ndarray,
    accepted,
    mapping: dict[int, int],
    *,
    interpolate: bool = True,
    interpolation: str = "boundary_ot",
    n_jobs: int | None = None,
    verbose: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Relabel merged groups and rebuild the gap layers of accepted axis pairs.

    ``accepted`` are the merged candidates (in screening order) and
    ``mapping`` the label mapping of the decisions; returns a corrected copy
    of ``volume``, written into ``out`` when given (``out`` may be ``volume``
    itself: every voxel is read before it is written).
    """
    gapped = [c for c in accepted if _has_gap(c)] if interpolate else []
    overlap = bool(gapped) and slab_threads(n_jobs, volume.size) > 1
    # the gap labels are read while the helper threads write ``out``: copies
    # when ``out`` may be ``volume`` itself
    copy = overlap and out is not None and np.may_share_memory(out, volume)
    gaps = [
        (c, np.array(volume[gap_region(c)]) if copy else volume[gap_region(c)])
        for c in gapped
    ]

    def interpolate_gaps() -> list:
        # worker processes only when the gaps are work enough to pay for them
        batches = map_batches(
            partial(_gap_fills, method=interpolation, verbose=verbose),
            gaps,
            n_jobs=n_jobs,
            min_work_per_job=_GAPS_PER_JOB,
            # about a second of imports in a worker: worth it for many gaps only
            worker_imports=("sklearn", "ot"),
        )
        return [fill for batch in batches for fill in batch]

    if not overlap:
        mapping, writes = fold_gap_fills(interpolate_gaps(), mapping)
        out = relabel_volume(volume, mapping, out=out)
    else:
        # the (serial) interpolation runs while helper threads relabel with
        # the decided mapping; the noise labels its fills absorb are then
        # relabelled in ``out``: never a key or value of the decided mapping,
        # so two passes give what one pass with the final mapping gives
        out, fills = relabel_alongside(
            volume, mapping, interpolate_gaps, out=out, n_jobs=n_jobs
        )
        final, writes = fold_gap_fills(fills, mapping)
        absorbed = {k: v for k, v in final.items() if k not in mapping}
        if absorbed:
            relabel_volume(out, absorbed, out=out)
    paint_writes(out, (0, 0, 0), writes)
    return out

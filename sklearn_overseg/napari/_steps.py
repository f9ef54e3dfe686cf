"""The corrector's steps as the widget calls them (no logic of its own).

The widget screens, scores, decides and merges only through the fitted
:class:`~sklearn_overseg.MergeCorrector`. This module names those calls in one
place, so the widget and its worker thread stay free of correction logic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._candidates import CandidateSet

__all__ = ["Screening", "apply_reviewed", "run_steps"]


# --- TEMPORARY FALLBACK: remove once MergeCorrector has its public steps ------
# (screen, score_pairs, decide, apply; issue 15). Until then the same calls go
# to today's functions, which those steps wrap.
def _screen(corrector, volume):
    if hasattr(corrector, "screen"):
        return corrector.screen(volume)
    return corrector.screener_.transform([volume])


def _score(corrector, candidates):
    if hasattr(corrector, "score_pairs"):
        return corrector.score_pairs(candidates)
    return corrector.predict_proba(candidates)


def _decide(corrector, volume, candidates, probabilities):
    if hasattr(corrector, "decide"):
        return corrector.decide(volume, candidates, probabilities)
    from types import SimpleNamespace

    from .._correction import decide_merges

    mapping, merged = decide_merges(
        volume, candidates, probabilities, corrector.threshold
    )
    return SimpleNamespace(candidates=candidates, probabilities=probabilities,
                           merged=merged, mapping=mapping)


def _apply(corrector, volume, decisions):
    if hasattr(corrector, "apply"):
        return corrector.apply(volume, decisions)
    from .._correction import apply_merges

    accepted = [c for c, m in zip(decisions.candidates, decisions.merged) if m]
    return apply_merges(
        volume, accepted, decisions.mapping, interpolate=corrector.interpolate,
        interpolation=corrector.interpolation, n_jobs=corrector.n_jobs,
    )
# --- end of the temporary fallback -------------------------------------------


@dataclass(frozen=True)
class Screening:
    """What the corrector found in one volume.

    Attributes
    ----------
    candidates : CandidateSet
        The candidate pairs, in screening order.
    probabilities : ndarray of shape (n,)
        The model's merge probability of each pair.
    merged : ndarray of bool, shape (n,)
        Whether the corrector, left alone, merges each pair.
    sizes : dict
        ``label -> number of voxels`` for the labels of the pairs.
    threshold : float
        The corrector's decision threshold.
    """

    candidates: CandidateSet
    probabilities: np.ndarray
    merged: np.ndarray
    sizes: dict
    threshold: float


def _sizes(volume: np.ndarray, candidates: CandidateSet) -> dict[int, int]:
    """Voxel count of every label named by a candidate pair."""
    wanted = np.unique(candidates.pairs)
    labels, counts = np.unique(volume, return_counts=True)
    found = dict(zip(labels.tolist(), counts.tolist()))
    return {int(lab): int(found.get(int(lab), 0)) for lab in wanted}


def run_steps(corrector, volume: np.ndarray):
    """Screen, score and decide, yielding a progress message before each step.

    A generator, so that a worker thread can report progress: it yields
    ``(step, n_steps, message)`` tuples and returns a :class:`Screening`.

    Parameters
    ----------
    corrector : MergeCorrector
        A fitted corrector.
    volume : ndarray of shape (z, y, x)
        The label volume (not modified).
    """
    yield 1, 4, "screening candidate pairs"
    candidates = _screen(corrector, volume)
    yield 2, 4, f"scoring {len(candidates)} pairs"
    probabilities = np.asarray(_score(corrector, candidates), dtype=float)
    yield 3, 4, "deciding"
    decisions = _decide(corrector, volume, candidates, probabilities)
    sizes = _sizes(volume, candidates)
    return Screening(
        candidates, probabilities, np.asarray(decisions.merged, bool), sizes,
        float(corrector.threshold),
    )


def apply_reviewed(
    corrector, volume: np.ndarray, screening: Screening, merge: np.ndarray
) -> np.ndarray:
    """A corrected copy of ``volume`` merging exactly the pairs marked in ``merge``.

    The pairs to merge go through the corrector's own ``decide`` (chains top
    to bottom, the z-layer rule) and ``apply`` (relabelling, gap
    interpolation), in the order :func:`~sklearn_overseg.apply_decisions`
    uses for a reviewed CSV (most probable first), so the result is what
    ``overseg apply-decisions`` makes of the saved decisions.

    Parameters
    ----------
    corrector : MergeCorrector
        The fitted corrector that screened ``volume``.
    volume : ndarray of shape (z, y, x)
        The uncorrected labels (not modified).
    screening : Screening
        The result of :func:`run_steps` on ``volume``.
    merge : ndarray of bool, shape (n,)
        The pairs a person (or the model, for pairs left unreviewed) merges.
    """
    chosen = np.flatnonzero(np.asarray(merge, bool))
    candidates = screening.candidates[chosen]
    # every chosen pair is approved; the ranks keep the most probable first
    # when chains must be resolved, as apply_decisions does
    threshold = float(corrector.threshold)
    rank = screening.probabilities[chosen]
    approved = threshold + (1.0 - threshold) * np.clip(rank, 0.0, 1.0)
    decisions = _decide(corrector, volume, candidates, approved)
    return _apply(corrector, volume, decisions)

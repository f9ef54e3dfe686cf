"""The corrector's steps as the widget calls them (no logic of its own).

The widget screens, scores, decides and merges only through the fitted
:class:`~sklearn_overseg.MergeCorrector`. This module names those calls in one
place, so the widget and its worker thread stay free of correction logic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._candidates import CandidateSet
from ..correction import MergeDecisions

__all__ = ["Screening", "apply_reviewed", "run_steps"]


@dataclass(frozen=True)
class Screening:
    """What the corrector found in one volume, and what it would merge.

    Attributes
    ----------
    decisions : MergeDecisions
        The corrector's own decisions (``corrector.decide``).
    sizes : dict
        ``label -> number of voxels`` for the labels of the pairs.
    threshold : float
        The corrector's decision threshold.
    voxel_size : tuple of 3 float or None
        The voxel size (z, y, x) given to the corrector (``None``: none).
    used_image : bool
        Whether the raw image was given to the corrector (its model has
        image features).
    """

    decisions: MergeDecisions
    sizes: dict
    threshold: float
    voxel_size: tuple | None = None
    used_image: bool = False

    @property
    def candidates(self) -> CandidateSet:
        """The candidate pairs, in screening order."""
        return self.decisions.candidates

    @property
    def probabilities(self) -> np.ndarray:
        """The model's merge probability of each pair."""
        return self.decisions.probabilities

    @property
    def merged(self) -> np.ndarray:
        """Whether the corrector, left alone, merges each pair."""
        return np.asarray(self.decisions.merged, bool)


def _sizes(volume: np.ndarray, candidates: CandidateSet) -> dict[int, int]:
    """Voxel count of every label named by a candidate pair."""
    wanted = np.unique(candidates.pairs)
    labels, counts = np.unique(volume, return_counts=True)
    found = dict(zip(labels.tolist(), counts.tolist()))
    return {int(lab): int(found.get(int(lab), 0)) for lab in wanted}


def run_steps(corrector, volume: np.ndarray, *, voxel_size=None, image=None):
    """Screen, score and decide, yielding a progress message before each step.

    A generator, so that a worker thread can report progress: it yields
    ``(step, n_steps, message)`` tuples and returns a :class:`Screening`.
    The decisions are those of ``corrector.predict_merges(volume,
    voxel_size=voxel_size, image=image)``.

    Parameters
    ----------
    corrector : MergeCorrector
        A fitted corrector.
    volume : ndarray of shape (z, y, x)
        The label volume (not modified).
    voxel_size : float, sequence of 3 floats or None, default=None
        Its voxel size (z, y, x), see
        :meth:`~sklearn_overseg.MergeCorrector.working_voxel_size`.
    image : ndarray of shape (z, y, x), optional
        The raw image, for a model with image features (see
        :meth:`~sklearn_overseg.MergeCorrector.screen`).
    """
    yield 1, 4, "screening candidate pairs"
    candidates = corrector.screen(volume, voxel_size=voxel_size, image=image)
    yield 2, 4, f"scoring {len(candidates)} pairs"
    scores = corrector.score_pairs(candidates, return_features=True)
    yield 3, 4, "deciding"
    decisions = corrector.decide(volume, candidates, scores)
    if voxel_size is not None:
        voxel_size = tuple(float(v) for v in np.broadcast_to(voxel_size, 3))
    return Screening(decisions, _sizes(volume, candidates),
                     float(corrector.threshold), voxel_size, image is not None)


def apply_reviewed(
    corrector, volume: np.ndarray, screening: Screening, merge: np.ndarray
) -> np.ndarray:
    """A corrected copy of ``volume`` merging exactly the pairs marked in ``merge``.

    The person's verdicts go through the corrector's own ``decide``
    (``reviewed=``: chains top to bottom, the z-layer rule, most probable
    pair first, as :func:`~sklearn_overseg.apply_decisions` does for a
    reviewed CSV) and ``apply`` (relabelling, gap interpolation), so the
    result is what ``overseg apply-decisions`` makes of the saved decisions.

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
    decisions = corrector.decide(
        volume, screening.candidates, screening.probabilities, reviewed=merge
    )
    return corrector.apply(volume, decisions)

"""The tasks of correct_zarr that work on batches of screened pairs.

Each task reads what its pairs need from the store and nothing else: the box
of each pair (:func:`pair_candidate`, the crop the in-memory screener cuts),
then either classifies the batch with the fitted corrector shipped to the
worker (:func:`classify_pairs`: merge probabilities and out-of-range flags,
with the pair context and, for a model with image features, the image
crops) or rebuilds the gaps of accepted pairs (:func:`pair_gap_fills`).
:class:`PairTable` hands the screened pairs to
:meth:`MergeCorrector.decide` without crops.
"""

from __future__ import annotations

import numpy as np

from .._candidates import CandidateSet
from .._image import attach_image
from ..correction import GapFill, gap_fill, gap_region
from ..screening import add_pair_context, axis_candidate
from ._source import Window

__all__ = [
    "PAIR_BATCH",
    "PairTable",
    "classify_pairs",
    "pair_candidate",
    "pair_gap_fills",
]


class PairTable:
    """Screened pairs as :meth:`MergeCorrector.decide` reads them (no crops)."""

    def __init__(self, labels: np.ndarray, pairs) -> None:
        rows = np.array([(p.upper_row, p.lower_row) for p in pairs], np.int64)
        self.pairs = labels[rows.reshape(-1, 2)] if len(pairs) else rows.reshape(0, 2)
        self.kinds = np.full(len(pairs), "axis")


#: Pairs classified (or interpolated) per task.
PAIR_BATCH = 32


def pair_candidate(reader, geometry, pair, crop_settings):
    """The candidate of one pair and its box, read from the store at once."""
    box = geometry.pair_box(
        (pair.upper_row, pair.lower_row), crop_settings["padding"]
    )
    window = Window(reader, box)
    return axis_candidate(window, geometry, pair, **crop_settings), window


def classify_pairs(reader, geometry, pairs, corrector, crop_settings, image=None,
                   typical_extent=None) -> np.ndarray:
    """Merge probabilities and out-of-range flags (n, 2) of a batch of pairs."""
    candidates = CandidateSet(
        pair_candidate(reader, geometry, p, crop_settings)[0] for p in pairs
    )
    # what lies around each pair, as the in-memory screener measures it
    add_pair_context(reader, geometry, candidates, typical_extent)
    if image is not None:  # each pair reads its crop of the normalised image
        candidates = attach_image(candidates, image)
    scores = corrector.score_pairs(candidates, return_features=True)
    outside = scores.out_of_range
    if outside is None:
        outside = np.zeros(len(candidates), dtype=bool)
    return np.column_stack([scores.probabilities, outside])


def pair_gap_fills(reader, geometry, pairs, crop_settings, method) -> list[GapFill]:
    """The gap fills of a batch of accepted pairs, reading their crops."""
    fills = []
    for pair in pairs:
        cand, window = pair_candidate(reader, geometry, pair, crop_settings)
        fills.append(gap_fill(cand, window[gap_region(cand)], method))
    return fills

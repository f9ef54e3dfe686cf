"""Step 1: label volumes in, candidate pairs of fragments out.

:class:`CandidateScreener` proposes axis pairs (fragments facing each other
across missing layers) and contact pairs (fragments touching across a tilted
boundary).
"""

from ._axis import AxisPair, axis_candidate, gap_verdict, select_axis_pairs
from ._contact import contact_pairs
from ._facing_overlaps import dense_overlaps, facing_counts, sparse_count
from ._screener import CandidateScreener

# Public: CandidateScreener and contact_pairs. The others are the building
# blocks that the block-wise path (sklearn_overseg.distributed) reuses.
__all__ = [
    "AxisPair",
    "CandidateScreener",
    "axis_candidate",
    "contact_pairs",
    "dense_overlaps",
    "facing_counts",
    "gap_verdict",
    "select_axis_pairs",
    "sparse_count",
]

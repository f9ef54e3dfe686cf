"""Step 1: label volumes in, candidate pairs of fragments out.

:class:`CandidateScreener` proposes axis pairs (fragments facing each other
across missing layers, or touching across two consecutive layers: stitch
splits) and contact pairs (fragments touching across a tilted
boundary). :func:`detect_stitched` tells whether a volume was stitched from 2D
slices by IoU, which decides whether stitch splits are screened
(``min_gap="auto"``).
"""

from ._axis import AxisPair, axis_candidate, gap_verdict, select_axis_pairs
from ._contact import contact_pairs
from ._facing_overlaps import dense_overlaps, facing_counts, sparse_count
from ._pair_context import add_pair_context, typical_z_extent
from ._screener import CandidateScreener
from ._stacking import check_stitched
from ._stitch_evidence import StitchEvidence, detect_stitched, evidence_from_links
from ._stitch_links import join_links, layer_pairs, stitch_links

# Public: CandidateScreener, contact_pairs and detect_stitched. The others are
# the building blocks that the block-wise path (sklearn_overseg.distributed)
# reuses.
__all__ = [
    "AxisPair",
    "CandidateScreener",
    "StitchEvidence",
    "add_pair_context",
    "axis_candidate",
    "check_stitched",
    "contact_pairs",
    "dense_overlaps",
    "detect_stitched",
    "evidence_from_links",
    "facing_counts",
    "gap_verdict",
    "join_links",
    "layer_pairs",
    "select_axis_pairs",
    "sparse_count",
    "stitch_links",
    "typical_z_extent",
]

"""Step 5: the corrector and its steps (screen, score, decide, apply).

:class:`MergeCorrector` is the one correction flow that every front end
(Python, command line and report, dask, napari, reviewed decisions) calls.
"""

from ._corrector import MergeCorrector
from ._corrector_fit import fit_feature_range
from ._gap_writes import GapFill, fold_gap_fills, gap_fill, gap_region, paint_writes
from ._interpolation import interpolate_masks
from ._labelling import attach_images, label_candidates
from ._merging import relabel_volume, resolve_merges
from ._steps import MergeDecisions, PairScores, label_z_extents
from ._training import make_training_candidates

__all__ = [
    "GapFill",
    "attach_images",
    "MergeCorrector",
    "MergeDecisions",
    "PairScores",
    "fit_feature_range",
    "fold_gap_fills",
    "gap_fill",
    "gap_region",
    "label_z_extents",
    "paint_writes",
    "relabel_volume",
    "resolve_merges",
    "interpolate_masks",
    "label_candidates",
    "make_training_candidates",
]

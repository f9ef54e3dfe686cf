"""Step 5: the corrector and its steps (screen, score, decide, apply).

:class:`MergeCorrector` is the one correction flow that every front end
(Python, command line and report, dask, napari, reviewed decisions) calls.
"""

from ._corrector import MergeCorrector
from ._interpolation import interpolate_masks
from ._training import label_candidates, make_training_candidates

__all__ = [
    "MergeCorrector",
    "interpolate_masks",
    "label_candidates",
    "make_training_candidates",
]

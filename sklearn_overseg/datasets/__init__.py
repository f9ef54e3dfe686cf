"""Synthetic label volumes and an oversegmentation simulator.

* :func:`make_tissue` draws dense plant-like tissue, loose tissue with
  intercellular spaces, or separated nuclei.
* :func:`make_randomized_tissue` draws the kind, anisotropy, cell size and
  shape per volume, bends cells, shifts layers sideways (drift) and cuts
  cells at the faces: varied training data and held-out test families.
* :func:`oversegment` damages a correct label volume the way segmentation
  pipelines do (cells split by a missing layer or by a tilted boundary) and
  returns the pairs that truly belong together, plus hard negatives.
"""

from ._oversegment import oversegment
from ._randomized import make_randomized_tissue
from ._tissue import make_tissue

__all__ = ["make_randomized_tissue", "make_tissue", "oversegment"]

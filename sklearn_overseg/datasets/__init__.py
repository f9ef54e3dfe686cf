"""Synthetic label volumes and oversegmentation simulators.

* :func:`make_tissue` draws dense plant-like tissue, loose tissue with
  intercellular spaces, or separated nuclei.
* :func:`make_randomized_tissue` draws the kind, anisotropy, cell size and
  shape per volume, bends cells, shifts layers sideways (drift) and cuts
  cells at the faces: varied training data and held-out test families.
* :func:`oversegment` damages a correct label volume the way segmentation
  pipelines do (cells split by a missing layer or by a tilted boundary) and
  returns the pairs that truly belong together, plus hard negatives.
* :func:`slice_and_stitch` segments a correct volume slice by slice with the
  flaws of 2D segmenters and stitches the slices by IoU (cellpose-style,
  :func:`stitch_slices`), returning the pairs that belong together.
* :func:`make_tissue_image` draws a membrane or nuclear-stain image for a
  label volume, so synthetic training can use image evidence too.
"""

from ._images import make_tissue_image
from ._oversegment import oversegment
from ._pieces import keep_largest_pieces, relabel_consecutive
from ._randomized import make_randomized_tissue
from ._slice_damage import slice_and_stitch
from ._stitching import stitch_slices
from ._tissue import make_tissue

__all__ = [
    "keep_largest_pieces",
    "make_randomized_tissue",
    "make_tissue",
    "make_tissue_image",
    "oversegment",
    "relabel_consecutive",
    "slice_and_stitch",
    "stitch_slices",
]

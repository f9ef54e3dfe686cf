"""Segmentation and merge metrics for 3D (or any-D) instance label volumes.

* :func:`average_precision`, :func:`mean_average_precision`,
  :func:`jaccard_index`: IoU-based matching of true and predicted cells.
* :func:`variation_of_information`: split (oversegmentation) and merge
  (undersegmentation) conditional entropies.
* :func:`merge_scores`, :func:`merge_scores_from_volumes`: precision and
  recall of merge decisions against true fragment pairs.
* :func:`layer_recovery_ious`, :func:`interior_layers`: how well
  :func:`~sklearn_overseg.interpolate_masks` rebuilds a deleted layer of each
  cell from its two neighbours.
* :func:`expected_calibration_error`: how far merge probabilities are from
  the observed share of true splits.

All are computed from a sparse overlap table, without loops over voxels.
"""

from ._calibration import expected_calibration_error
from ._information import variation_of_information
from ._layer_recovery import interior_layers, layer_recovery_ious
from ._matching import average_precision, jaccard_index, mean_average_precision
from ._merge import merge_scores, merge_scores_from_volumes

__all__ = [
    "average_precision",
    "expected_calibration_error",
    "interior_layers",
    "jaccard_index",
    "layer_recovery_ious",
    "mean_average_precision",
    "merge_scores",
    "merge_scores_from_volumes",
    "variation_of_information",
]

"""Is a label volume a stitched 3D stack at all? Two inputs the screen refuses.

Oversegmentation along z needs several layers and labels that span them. A
volume of one z layer has nothing to repair (a warning); a stack of 2D masks
that were never stitched, so that every label is one layer thick, would have
every cell "split" in every layer (an error, with a hint to stitch first).
"""

from __future__ import annotations

import numpy as np

from .._warnings import warn_user

__all__ = ["MIN_STACKED_LABELS", "check_stitched"]

#: A few one-layer labels may be genuine pieces (two one-layer halves of a
#: flat cell); a volume is refused as unstitched only from this many labels.
MIN_STACKED_LABELS = 10


def check_stitched(n_layers: int, z_starts, z_stops) -> None:
    """Refuse 2D masks stacked without stitching; warn about one-layer volumes.

    ``z_starts`` and ``z_stops`` are the first and one-past-last layers of
    every label (those of a ``LabelGeometry``).
    A volume of one z layer has nothing to repair along z (a warning; it is
    returned unchanged). A volume of several layers whose labels (at least
    :data:`MIN_STACKED_LABELS` of them) are all one layer thick is a stack of
    independent 2D segmentations: every cell would look split in every layer,
    so it is refused with a hint to stitch first.

    Examples
    --------
    >>> from sklearn_overseg.screening._stacking import check_stitched
    >>> check_stitched(12, range(12), range(1, 13))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: all 12 labels are one z layer thick: ...
    """
    z_starts, z_stops = np.asarray(z_starts), np.asarray(z_stops)
    if n_layers == 1:
        warn_user(
            "the volume has a single z layer: there is nothing to repair along z, "
            "so no pair is proposed. Pass a 3D stack (z, y, x) with several layers.",
        )
        return
    if z_starts.size >= MIN_STACKED_LABELS and np.all(z_stops - z_starts == 1) and (
        np.unique(z_starts).size > 1
    ):
        raise ValueError(
            f"all {z_starts.size} labels are one z layer thick: this looks like 2D "
            "masks stacked without stitching, where every cell is split in every "
            "layer. Stitch the slices into 3D cells first, for example with "
            "sklearn_overseg.datasets.stitch_slices(volume, threshold=0.25) (the "
            "stitcher of the slice_and_stitch simulator) or cellpose.utils.stitch3D"
            ", then correct the stitched volume."
        )

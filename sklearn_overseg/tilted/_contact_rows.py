"""Contact feature rows of candidate pairs, without validation.

The computation of :class:`~._contact_features.ContactFeatures`: one row of
:data:`FEATURES` per contact or tilted candidate (:func:`_chunk_features`, the
batch function of its worker processes). NumPy and SciPy only: a worker
imports it without scikit-learn.
"""

from __future__ import annotations

import numpy as np

from .._candidates import Candidate
from ._contact_geometry import _KINKS, _contact_area, contact_shape, section_profile
from ._reslice_core import BATCH_IMPORTS, _reslice
from ._slab_shape import slab_shape

__all__ = ["BATCH_IMPORTS", "FEATURES", "SLAB_LAYERS", "_chunk_features"]

FEATURES = (
    "volume_log_ratio",
    "contact_per_smaller",
    "contact_per_larger",
    "union_solidity",
    "smaller_solidity",
    "larger_solidity",
    "hull_excess",
    "slab_hull_excess",
    "slab_solidity",
    "section_jump",
    "section_overlap",
    "kink_near",
    "kink_mid",
    "kink_far",
    "smaller_section_share",
    "larger_section_share",
)


#: Layers kept on each side of the gap when ``region="slab"`` reslices a raw
#: contact candidate itself: the deepest layer the kink features read.
SLAB_LAYERS = max(far for _, far in _KINKS)


def _pair_features(
    candidate: Candidate, cache: dict | None = None, region: str = "whole"
) -> np.ndarray:
    """Raw feature row of one contact or tilted candidate.

    ``cache`` keeps the hulls of whole fragments between the pairs of a batch.
    """
    if candidate.gap is None:
        layers = SLAB_LAYERS if region == "slab" else None
        candidate = _reslice(candidate, max_layers=layers)
    meta = candidate.meta
    crop = meta["contact_crop"]
    voxel_size = np.asarray(meta["source_voxel_size"], dtype=float)
    origin = np.asarray(candidate.origin, dtype=float) * voxel_size
    contact = meta.get("contact_area")  # recorded by the reslicer
    if contact is None:
        contact = _contact_area(crop, voxel_size)
    features = contact_shape(
        crop, voxel_size, np.asarray(meta["centroid"]) - origin, meta["normal"],
        cache, contact=contact, slab=region == "whole",
    )
    if region == "slab":
        features.update(slab_shape(candidate, contact))
    features.update(section_profile(candidate))
    return np.array([features[name] for name in FEATURES], dtype=float)


def _chunk_features(candidates, region: str = "whole") -> np.ndarray:
    cache: dict = {}  # a label is in about ten pairs: its hull is computed once
    rows = [_pair_features(c, cache, region) for c in candidates]
    return np.array(rows).reshape(-1, len(FEATURES))

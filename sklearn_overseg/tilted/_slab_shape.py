"""Convexity of a contact pair read from its resliced slab.

Helper of :class:`~sklearn_overseg.ContactFeatures` with ``region="slab"``.
The hull features of :func:`._contact_geometry.contact_shape` take the whole
fragments in the contact crop, whose cost grows with the cells; here they
take the part of each fragment that :class:`~sklearn_overseg.TiltedReslicer`
kept: the layers parallel to the contact plane, at most ``max_layers`` on
each side (8 in the shipped ``tilted`` model, the deepest layer the kink
features read). Those few layers are what tells a cut through one cell (the
union near the contact is as convex as its parts) from the crease between two
cells; they come already sampled on an isotropic grid, so no distance map to
the plane and no pass over the contact crop is needed beyond counting each
fragment's voxels (whose volumes keep their meaning: the screener's first
stage reads the same contact ratio).

The reslicer blanks the layer on the plane (the gap). For the union's hull,
the lower fragment's layers are moved up by one layer, closing the gap, so
that a cut cell's union is as convex as its parts instead of carrying an
empty layer between them.
"""

from __future__ import annotations

import numpy as np

from .._candidates import LOWER, UPPER, Candidate
from ._contact_geometry import _hull, _line_ends

#: Most layers on each side of the gap in the narrow slab (``slab_*``
#: features): half the depth the kink features read.
SLAB_HALF_LAYERS = 4


def _part_hulls(crop: np.ndarray, g: int, first: int, last: int, size) -> tuple:
    """Voxel counts and hull volumes of both fragments and of their union.

    Layers ``g - first .. g - 1`` of the upper fragment and ``g + 1 .. g +
    last`` of the lower one, in a resliced crop with its gap at layer ``g``;
    the lower part is moved up by one layer for the union (the gap closed).
    """
    start = max(0, g - first)
    upper = crop[start:g] == UPPER
    lower = crop[g + 1 : g + 1 + last] == LOWER
    counts = np.array([np.count_nonzero(upper), np.count_nonzero(lower)], float)
    hulls, vertices = [], []
    for mask, shift in ((upper, start), (lower, g)):
        volume, points = _hull(_line_ends(mask), size)
        hulls.append(volume)
        vertices.append(points + [shift, 0, 0])
    hulls.append(_hull(np.concatenate(vertices), size)[0])
    return counts, np.array(hulls)


def slab_shape(resliced: Candidate, volumes: np.ndarray, contact: float) -> dict:
    """Contact features of a resliced pair, hulls from its layers only.

    Parameters
    ----------
    resliced : Candidate
        Output of :func:`reslice_pair` (``kind="tilted"``), whose layers
        before the gap hold the upper fragment and after it the lower one.
    volumes : ndarray of shape (2,)
        Physical volumes of the whole upper and lower fragments.
    contact : float
        Physical contact area.

    Returns
    -------
    dict
        The nine features of :func:`contact_shape`, under the same names.
    """
    crop, g = resliced.crop, resliced.gap[0]
    step = float(resliced.meta["spacing"])
    size = np.full(3, step)
    voxel = step**3
    source = np.asarray(resliced.meta["source_voxel_size"], dtype=float)
    small, large = np.sort(volumes)
    order = np.argsort(volumes)
    depth = crop.shape[0]
    counts, hulls = _part_hulls(crop, g, depth, depth, size)
    parts = counts * voxel
    solidity = parts / np.maximum(hulls[:2], voxel)
    # The narrow slab: layers within max(2 voxels, sqrt(contact) / 2) of the
    # plane (as in the whole-crop features), at most SLAB_HALF_LAYERS.
    width = max(2.0 * float(source.max()), 0.5 * np.sqrt(contact))
    half = int(np.clip(np.floor(width / step + 1e-9), 1, SLAB_HALF_LAYERS))
    slab_counts, slab_hulls = _part_hulls(crop, g, half, half, size)
    slab_volume = slab_counts.sum() * voxel
    return {
        "volume_log_ratio": float(np.log(large / small)),
        "contact_per_smaller": contact / small ** (2 / 3),
        "contact_per_larger": contact / large ** (2 / 3),
        "union_solidity": parts.sum() / max(hulls[2], voxel),
        "smaller_solidity": float(solidity[order[0]]),
        "larger_solidity": float(solidity[order[1]]),
        "hull_excess": (hulls[2] - hulls[0] - hulls[1]) / max(parts.sum(), voxel),
        "slab_hull_excess": (slab_hulls[2] - slab_hulls[0] - slab_hulls[1])
        / max(slab_volume, voxel),
        "slab_solidity": slab_volume / max(slab_hulls[2], voxel),
    }

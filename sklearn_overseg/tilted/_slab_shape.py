"""The contact's narrow-slab convexity, read from the resliced layers.

Helper of :class:`~sklearn_overseg.ContactFeatures` with ``region="slab"``.
:func:`._contact_geometry.contact_shape` measures the union's convexity near
the contact plane (``slab_hull_excess``, ``slab_solidity``) on the voxels of
the contact crop within a distance of the plane, which needs a distance map
and masks over the pair's whole bounding box: the costliest part of the
contact features. The same slab is already sampled by
:class:`~sklearn_overseg.TiltedReslicer`, on an isotropic grid whose layers
are parallel to the plane: the slab is then a run of layers next to the gap,
at most as many as the reslicer kept (``max_layers``; 8 in the shipped
``tilted`` model, the deepest layer the kink features read).

The reslicer blanks the layer on the plane (the gap). For the union's hull,
the lower fragment's layers are moved up by one layer, closing the gap, so
that a cut cell's union is as convex as its parts instead of carrying an
empty layer between them. The resliced parts meet along a flat face, so a
cut cell's excess is about 0, not slightly negative as on the staircase of
the voxels.
"""

from __future__ import annotations

import numpy as np

from .._candidates import LOWER, UPPER, Candidate
from ._contact_geometry import _hull, _line_ends


def _part_hulls(crop: np.ndarray, g: int, half: int, size) -> tuple:
    """Voxel counts and hull volumes of both fragments and of their union.

    Layers ``g - half .. g - 1`` of the upper fragment and ``g + 1 .. g +
    half`` of the lower one, in a resliced crop with its gap at layer ``g``;
    the lower part is moved up by one layer for the union (the gap closed).
    """
    start = max(0, g - half)
    upper = crop[start:g] == UPPER
    lower = crop[g + 1 : g + 1 + half] == LOWER
    counts = np.array([np.count_nonzero(upper), np.count_nonzero(lower)], float)
    hulls, vertices = [], []
    for mask, shift in ((upper, start), (lower, g)):
        volume, points = _hull(_line_ends(mask), size)
        hulls.append(volume)
        vertices.append(points + [shift, 0, 0])
    hulls.append(_hull(np.concatenate(vertices), size)[0])
    return counts, np.array(hulls)


def slab_shape(resliced: Candidate, contact: float) -> dict:
    """``slab_hull_excess`` and ``slab_solidity`` of a resliced pair.

    The slab holds the layers within ``max(2 voxels, sqrt(contact) / 2)`` of
    the contact plane (voxels of the source crop; layers of the reslice's
    step), as many as the reslice has.

    Parameters
    ----------
    resliced : Candidate
        Output of :func:`reslice_pair` (``kind="tilted"``), whose layers
        before the gap hold the upper fragment and after it the lower one.
    contact : float
        Physical contact area.

    Returns
    -------
    dict
        The two features, under the names of :func:`contact_shape`.
    """
    crop, g = resliced.crop, resliced.gap[0]
    step = float(resliced.meta["spacing"])
    voxel = step**3
    source = np.asarray(resliced.meta["source_voxel_size"], dtype=float)
    width = max(2.0 * float(source.max()), 0.5 * np.sqrt(contact))
    half = max(1, int(np.floor(width / step + 1e-9)))
    counts, hulls = _part_hulls(crop, g, half, np.full(3, step))
    volume = counts.sum() * voxel
    return {
        "slab_hull_excess": (hulls[2] - hulls[0] - hulls[1]) / max(volume, voxel),
        "slab_solidity": volume / max(hulls[2], voxel),
    }

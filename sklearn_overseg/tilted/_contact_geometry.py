"""Geometry of a contact pair: convexity of the union, cross-sections.

Helpers of :class:`~sklearn_overseg.ContactFeatures`. Convex hulls are those
of the voxel cubes (not of the voxel centres), in physical units, and come
from the few voxels that can be hull vertices; the union's hull reuses the
parts' vertices. Cross-sections are read from the resliced crop, whose layers
are parallel to the contact plane.

Masks are scanned within their bounding boxes, with elementwise operations and
one flat ``nonzero`` each: the contact crops of real cells hold millions of
voxels, most of them background.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from .._candidates import LOWER, UPPER, Candidate
from ._plane_fit import _bounding_box, _shared_faces

# Resliced layers, counted from the gap, compared by the kink features.
_KINKS = ((1, 3), (2, 5), (3, 8))
# Corners of a voxel, in voxel units around its centre.
_CORNERS = np.array(
    [[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)]
)


def _line_ends(mask: np.ndarray) -> np.ndarray:
    """Voxels that are the first or last of their line along every axis.

    Every vertex of the convex hull of the voxel centres is such a voxel (a
    voxel strictly inside a line segment of the mask is not extreme). Rows in
    C order (as ``np.argwhere``).
    """
    box = _bounding_box(mask)
    if box is None:
        return np.zeros((0, 3), dtype=np.intp)
    mask = mask[box]
    keep = mask.copy()
    for axis in range(3):
        inner = [slice(None)] * 3
        before = [slice(None)] * 3
        after = [slice(None)] * 3
        inner[axis], before[axis], after[axis] = (
            slice(1, -1),
            slice(None, -2),
            slice(2, None),
        )
        interior = keep[tuple(inner)]
        interior &= ~(mask[tuple(before)] & mask[tuple(after)])
    index = np.unravel_index(np.flatnonzero(keep), keep.shape)
    return np.stack(index, axis=1) + [k.start for k in box]


def _hull(points: np.ndarray, voxel_size: np.ndarray):
    """Volume and vertices of the convex hull of the voxel cubes at ``points``.

    ``points`` (voxel indices) must include every extreme voxel. The hull of
    the cubes is the hull ``K`` of the centres grown by one voxel box ``B``
    (sides ``a``); its volume is ``|K| + sum_i a_i P_i + sum_{i<j} a_i a_j
    w_k + a_1 a_2 a_3``, with ``P_i`` the area of ``K``'s projection along
    axis ``i`` and ``w_k`` its width along the third axis ``k``. Returns
    ``(volume, vertex voxels)``.
    """
    if len(points) == 0:
        return 0.0, points
    box = float(np.prod(voxel_size))
    physical = points * voxel_size
    try:
        hull = ConvexHull(physical)
    except QhullError:  # flat or tiny: the hull of the cubes' corners
        corners = (physical[:, None, :] + _CORNERS[None] * voxel_size).reshape(-1, 3)
        return float(ConvexHull(corners).volume), points
    triangles = physical[hull.simplices]
    areas = 0.5 * np.linalg.norm(
        np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]),
        axis=1,
    )
    projected = 0.5 * np.abs(hull.equations[:, :3]).T @ areas
    vertices = physical[hull.vertices]
    widths = vertices.max(axis=0) - vertices.min(axis=0)
    a = voxel_size
    volume = (
        hull.volume
        + a @ projected
        + a[0] * a[1] * widths[2]
        + a[0] * a[2] * widths[1]
        + a[1] * a[2] * widths[0]
        + box
    )
    return float(volume), points[hull.vertices]


def _signed_distance(shape, voxel_size, centroid, normal, box=None) -> np.ndarray:
    """Signed physical distance of the voxel centres of a crop to a plane.

    Within ``box`` (slices of the crop) when given.
    """
    box = box or (slice(None),) * 3
    axes = [
        ((np.arange(n) * s - c) * w)[k]
        for n, s, c, w, k in zip(shape, voxel_size, centroid, normal, box)
    ]
    return axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]


def _contact_area(crop: np.ndarray, voxel_size: np.ndarray) -> float:
    """Total area of the faces shared by codes 1 and 2 (codes 0-2 only)."""
    areas = [
        np.full(
            np.count_nonzero(_shared_faces(crop, axis)),
            np.prod(np.delete(voxel_size, axis)),
        )
        for axis in range(3)
    ]
    return float(np.concatenate(areas).sum())


def _fragment_hull(mask: np.ndarray, voxel_size: np.ndarray, cache) -> tuple:
    """Hull volume and vertex voxels (crop indices) of a whole fragment.

    The hull is computed in the coordinates of the fragment's own bounding
    box, so it depends on the fragment's shape only: a label is in about ten
    contact pairs, and ``cache`` (a dict, or ``None``) keeps each shape's hull,
    keyed by the box's shape and a digest of its voxels.
    """
    box = _bounding_box(mask)
    if box is None:
        return 0.0, np.zeros((0, 3), dtype=np.intp)
    local = mask[box]
    key = None
    if cache is not None:
        digest = hashlib.blake2b(np.packbits(local).tobytes(), digest_size=16)
        key = (local.shape, tuple(voxel_size), digest.digest())
    if key is not None and key in cache:
        volume, vertices = cache[key]
    else:
        volume, vertices = _hull(_line_ends(local), voxel_size)
        if key is not None:
            cache[key] = volume, vertices
    return volume, vertices + [k.start for k in box]


def contact_shape(
    crop, voxel_size, centroid, normal, cache=None, contact=None, slab=True
) -> dict:
    """Features of the contact crop: sizes, contact area and convexity.

    ``crop`` holds codes 0, 1 and 2 only. ``cache``: a dict shared by the
    pairs of one batch, which keeps the hulls of whole fragments (see
    :func:`_fragment_hull`). ``contact``: the contact area when known (the
    reslicer records it), else measured here. ``slab=False`` leaves out the
    two features of the slab around the plane (see :mod:`._slab_shape`).
    """
    upper, lower = crop == UPPER, crop == LOWER
    voxel = float(np.prod(voxel_size))
    volumes = np.array(
        [np.count_nonzero(upper), np.count_nonzero(lower)], dtype=float
    ) * voxel
    small, large = np.sort(volumes)
    if contact is None:
        contact = _contact_area(crop, voxel_size)
    hulls, vertices = [], []
    for mask in (upper, lower):
        volume, points = _fragment_hull(mask, voxel_size, cache)
        hulls.append(volume)
        vertices.append(points)
    hulls.append(_hull(np.concatenate(vertices), voxel_size)[0])
    solidity = volumes / np.maximum(hulls[:2], voxel)
    order = np.argsort(volumes)
    features = {
        "volume_log_ratio": float(np.log(large / small)),
        "contact_per_smaller": contact / small ** (2 / 3),
        "contact_per_larger": contact / large ** (2 / 3),
        "union_solidity": volumes.sum() / max(hulls[2], voxel),
        "smaller_solidity": float(solidity[order[0]]),
        "larger_solidity": float(solidity[order[1]]),
        "hull_excess": (hulls[2] - hulls[0] - hulls[1]) / volumes.sum(),
    }
    if not slab:
        return features
    # The same, restricted to a slab around the contact plane (the pair's
    # bounding box holds every voxel that matters).
    width = max(2.0 * float(voxel_size.max()), 0.5 * np.sqrt(contact))
    box = _bounding_box(upper | lower)
    distance = _signed_distance(crop.shape, voxel_size, centroid, normal, box)
    near = np.abs(distance, out=distance) <= width
    offset = [k.start for k in box]
    slab_volume, slab_hulls, slab_vertices = 0.0, [], []
    for mask in (upper, lower):
        mask = mask[box] & near
        slab_volume += np.count_nonzero(mask) * voxel
        volume, points = _hull(_line_ends(mask) + offset, voxel_size)
        slab_hulls.append(volume)
        slab_vertices.append(points)
    slab_hulls.append(_hull(np.concatenate(slab_vertices), voxel_size)[0])
    features["slab_hull_excess"] = (
        slab_hulls[2] - slab_hulls[0] - slab_hulls[1]
    ) / max(slab_volume, voxel)
    features["slab_solidity"] = slab_volume / max(slab_hulls[2], voxel)
    return features


def _layer_counts(layers: np.ndarray, code: int) -> np.ndarray:
    """Pixels of ``code`` in each layer (one flat count per layer)."""
    return np.array([np.count_nonzero(layer == code) for layer in layers], dtype=int)


def section_profile(resliced: Candidate) -> dict:
    """Features of the cross-sections next to the gap of a resliced pair."""
    crop, g = resliced.crop, resliced.gap[0]
    n_layers = crop.shape[0]
    depth = max(far for _, far in _KINKS)
    upper = [
        np.count_nonzero(crop[g - k] == UPPER) if g - k >= 0 else 0
        for k in range(1, depth + 1)
    ]
    lower = [
        np.count_nonzero(crop[g + k] == LOWER) if g + k < n_layers else 0
        for k in range(1, depth + 1)
    ]
    a, b = np.array([0.0, *upper]), np.array([0.0, *lower])
    scale = a[1] + b[1] + 2.0
    first_a, first_b = crop[g - 1] == UPPER, crop[g + 1] == LOWER
    shared = np.count_nonzero(first_a & first_b)
    largest = [
        max(1, int(_layer_counts(crop[:g], UPPER).max())),
        max(1, int(_layer_counts(crop[g + 1 :], LOWER).max())),
    ]
    shares = np.sort([a[1] / largest[0], b[1] / largest[1]])
    features = {
        "section_jump": float(abs(np.log((a[1] + 1) / (b[1] + 1)))),
        "section_overlap": shared / max(1, np.count_nonzero(first_a | first_b)),
        "smaller_section_share": float(shares[0]),
        "larger_section_share": float(shares[1]),
    }
    for name, (near, far) in zip(("kink_near", "kink_mid", "kink_far"), _KINKS):
        features[name] = float((a[near] - a[far] + b[near] - b[far]) / scale)
    return features

"""The contact plane of two touching fragments and the frame it defines.

The contact surface is the set of voxel faces shared by fragment A (code 1)
and fragment B (code 2). It is fitted with a plane by weighted PCA of the face
centres, in physical units, with robust refits and fallbacks for small or
line-like contacts. Helper of :mod:`sklearn_overseg.tilted._reslice_core`,
which samples the pair on a grid whose layers are parallel to that plane; the
public, validated fit is :func:`~._plane.fit_contact_plane`. NumPy only: the
worker processes of the tilted steps import it without scikit-learn.

Every full pass over a crop here is an elementwise or contiguous operation on
``uint8`` codes (no multi-dimensional ``nonzero``): for the crops of a few
million voxels that contact pairs of real cells have, these passes dominate
the cost of a fit.
"""

from __future__ import annotations

import numpy as np

from .._candidates import LOWER, UPPER

# Contacts whose second principal spread is below this fraction of the
# smallest voxel size are treated as lines.
_LINE_SPREAD = 0.5
# Robust refits of the contact plane (faces far off the plane are dropped).
_REFITS = 3


def _shared_faces(crop: np.ndarray, axis: int) -> np.ndarray:
    """Where a voxel and its next one along ``axis`` hold codes 1 and 2.

    ``crop`` holds codes 0, 1 and 2 only (the product is 2 for 1 and 2 only).
    """
    before = crop[(slice(None),) * axis + (slice(None, -1),)]
    after = crop[(slice(None),) * axis + (slice(1, None),)]
    return (before * after) == UPPER * LOWER


def _contact_faces(crop: np.ndarray, voxel_size: np.ndarray):
    """Physical centres and areas of the faces shared by codes 1 and 2.

    ``crop`` holds codes 0, 1 and 2 only. Faces come axis by axis, each axis
    in C order of the lower voxel (the order of ``np.argwhere``).
    """
    centres, areas = [], []
    for axis in range(3):
        shared = _shared_faces(crop, axis)
        index = np.stack(
            np.unravel_index(np.flatnonzero(shared), shared.shape), axis=1
        ).astype(float)
        index[:, axis] += 0.5
        centres.append(index * voxel_size)
        face = np.prod(np.delete(voxel_size, axis))
        areas.append(np.full(len(index), face))
    return np.concatenate(centres), np.concatenate(areas)


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding a 3D mask's voxels (``None``: empty).

    Works on boolean or code arrays (nonzero = inside), with reductions that
    are elementwise over layers or along contiguous rows.
    """
    if mask.size == 0:
        return None
    layers = np.flatnonzero(mask.reshape(len(mask), -1).max(axis=1))
    if len(layers) == 0:
        return None
    plane = mask.max(axis=0)
    rows = np.flatnonzero(plane.max(axis=1))
    cols = np.flatnonzero(plane.max(axis=0))
    return tuple(slice(k[0], k[-1] + 1) for k in (layers, rows, cols))


def _count_profiles(mask: np.ndarray) -> list[np.ndarray]:
    """Voxel counts of a boolean mask per z layer, per y row and per x column."""
    small = len(mask) < np.iinfo(np.uint16).max  # uint16 sums are much faster
    plane = np.add.reduce(
        mask.view(np.uint8), axis=0, dtype=np.uint16 if small else np.int64
    ).astype(np.int64)
    per_z = np.array([np.count_nonzero(layer) for layer in mask], dtype=np.int64)
    return [per_z, plane.sum(axis=1), plane.sum(axis=0)]


def _centroid(mask: np.ndarray) -> np.ndarray:
    """Mean voxel index of a non-empty mask, from its three axis profiles."""
    profiles = _count_profiles(mask)
    return np.array([np.arange(len(p)) @ p for p in profiles]) / profiles[0].sum()


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else None


def _weighted_pca(points: np.ndarray, weights: np.ndarray):
    """Weighted centroid, principal spreads (descending) and axes (rows)."""
    centroid = np.average(points, axis=0, weights=weights)
    scaled = (points - centroid) * np.sqrt(weights / weights.sum())[:, None]
    _, spread, axes = np.linalg.svd(scaled, full_matrices=False)
    return centroid, spread, axes


def _plane(codes, voxel_size, min_points):
    """``(centroid, normal, method, n_faces, centroid_a, centroid_b, area)``.

    ``codes`` holds codes 0, 1 and 2 only; ``area`` is the contact area, the
    sum of the shared faces' areas.
    """
    voxel_size = np.asarray(voxel_size, dtype=float)
    cen_a = _centroid(codes == UPPER) * voxel_size
    cen_b = _centroid(codes == LOWER) * voxel_size
    points, weights = _contact_faces(codes, voxel_size)
    towards_b = cen_b - cen_a
    centroid = (cen_a + cen_b) / 2
    if len(points):
        centroid = np.average(points, axis=0, weights=weights)
    normal, method = None, "centroids"
    if len(points) >= min_points:
        centroid, spread, axes = _weighted_pca(points, weights)
        if spread[1] >= _LINE_SPREAD * voxel_size.min():
            # Refits without the faces far off the plane (islands of a rugged
            # cut); staircase noise (under a voxel) is always kept.
            near = np.ones(len(points), dtype=bool)
            for _ in range(_REFITS):
                distance = np.abs((points - centroid) @ axes[2])
                limit = max(4.5 * np.median(distance[near]), voxel_size.max())
                if np.array_equal(distance <= limit, near):
                    break
                near = distance <= limit
                if near.sum() < min_points:
                    break
                centroid, spread, axes = _weighted_pca(points[near], weights[near])
            normal, method = axes[2], "pca"
        else:  # a line of faces: the plane through it facing B
            line = axes[0]
            normal = _unit(towards_b - (towards_b @ line) * line)
            method = "line"
    if normal is None:
        normal = _unit(towards_b)
        method = "centroids"
    if normal is None:  # coincident centroids: nothing better than z
        normal, method = np.array([1.0, 0.0, 0.0]), "z"
    if normal @ towards_b < 0:
        normal = -normal
    # Each fragment's centroid must lie on its own side of the plane.
    if (cen_a - centroid) @ normal >= 0 or (cen_b - centroid) @ normal <= 0:
        centroid = (cen_a + cen_b) / 2
    area = float(weights.sum())
    return centroid, normal, method, len(points), cen_a, cen_b, area


def _pair_codes(crop: np.ndarray) -> np.ndarray:
    """The crop as ``uint8`` codes 0, 1, 2 (other codes become 0).

    The crop itself, without a copy, when it already is such an array.
    """
    if crop.size and crop.min() >= 0 and crop.max() <= LOWER:
        return crop if crop.dtype == np.uint8 else crop.astype(np.uint8)
    return np.where((crop == UPPER) | (crop == LOWER), crop, 0).astype(np.uint8)


def _check_crop(crop: np.ndarray, voxel_size) -> np.ndarray:
    if crop.dtype.kind not in "iu":
        raise TypeError(f"crop must hold integer codes, got dtype {crop.dtype}.")
    if crop.ndim != 3:
        raise ValueError(f"crop must be 3D (z, y, x), got shape {crop.shape}.")
    try:
        voxel_size = np.asarray(voxel_size, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            f"voxel_size must be 3 positive numbers, got {voxel_size!r}."
        ) from None
    if voxel_size.shape != (3,) or not np.all(
        np.isfinite(voxel_size) & (voxel_size > 0)
    ):
        raise ValueError(f"voxel_size must be 3 positive numbers, got {voxel_size}.")
    for code in (UPPER, LOWER):
        if not np.any(crop == code):
            raise ValueError(f"crop has no voxel of code {code}; both are needed.")
    return voxel_size


def _frame(normal: np.ndarray) -> np.ndarray:
    """Rows (n, u, v): the normal and two in-plane axes (u ~ y, v ~ x for z)."""
    seed = np.eye(3)[1] if abs(normal[1]) < 0.9 else np.eye(3)[2]
    u = _unit(seed - (seed @ normal) * normal)
    return np.stack([normal, u, np.cross(normal, u)])

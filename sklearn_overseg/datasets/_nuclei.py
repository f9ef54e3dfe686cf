"""Random shapes for synthetic tissue: spread-out seeds, ellipsoid metrics, nuclei.

Seeds are placed by best-candidate sampling (each new seed is the candidate
farthest from the seeds already placed), which spaces cells evenly without a
regular lattice. Shapes are ellipsoids in physical coordinates given by a
positive definite form ``M`` (a point ``p`` is inside when
``(p - c)^T M (p - c) <= 1``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_FILL_FRACTION = 0.2
_PLACEMENT_TRIES = 10


def spread_points(n: int, extent: np.ndarray, axes: np.ndarray, rng) -> np.ndarray:
    """Best-candidate points in ``[0, extent)``; distances are divided by ``axes``."""
    points = np.empty((n, 3))
    points[0] = rng.uniform(0.0, extent)
    for i in range(1, n):
        candidates = rng.uniform(0.0, extent, size=(12, 3))
        diff = (candidates[:, None, :] - points[None, :i, :]) / axes
        nearest = np.min(np.sum(diff**2, axis=2), axis=1)
        points[i] = candidates[np.argmax(nearest)]
    return points


def relative_axes(elongation: float) -> np.ndarray:
    """Semi-axes ``(z, y, x)`` with product 1 and ``z / y = elongation``."""
    return elongation ** np.array([2 / 3, -1 / 3, -1 / 3])


def ellipsoid_forms(n: int, axes: np.ndarray, rng) -> np.ndarray:
    """Random positive definite forms with unit determinant, long axis near z.

    ``axes`` gives the mean relative semi-axes ``(z, y, x)``; each shape gets
    random proportions, a tilt of its first axis away from z (about 15 degrees,
    at most 35) and a random rotation about it.
    """
    lengths = axes * np.exp(rng.normal(0.0, 0.15, (n, 3)))
    lengths /= np.prod(lengths, axis=1, keepdims=True) ** (1 / 3)
    tilt = np.minimum(np.abs(rng.normal(0.0, np.radians(15), n)), np.radians(35))
    azimuth = rng.uniform(0, 2 * np.pi, n)
    first = np.stack(
        [np.cos(tilt), np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth)],
        axis=1,
    )
    helper = rng.normal(size=(n, 3))
    second = helper - np.sum(helper * first, axis=1, keepdims=True) * first
    second /= np.linalg.norm(second, axis=1, keepdims=True)
    third = np.cross(first, second)
    rotation = np.stack([first, second, third], axis=2)
    return np.einsum("nij,nj,nkj->nik", rotation, lengths**-2.0, rotation)


def local_grid(start, stop, scale, origin) -> np.ndarray:
    """Physical coordinates, relative to ``origin``, of the voxels of a box.

    Returns an array of shape ``(*box_shape, 3)``.
    """
    axes = [np.arange(a, b) * s - o for a, b, s, o in zip(start, stop, scale, origin)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def draw_nuclei(shape, n: int, anisotropy: float, elongation: float, rng) -> np.ndarray:
    """Separated ellipsoids: no two nuclei touch, even diagonally.

    About ``_FILL_FRACTION`` of the volume is filled. A nucleus that would
    touch another is moved to a random free place (a few tries, then dropped).
    """
    scale = np.array([anisotropy, 1.0, 1.0])
    extent = np.array(shape) * scale
    axes = relative_axes(elongation)
    radius = (_FILL_FRACTION * np.prod(extent) / n * 3 / (4 * np.pi)) ** (1 / 3)
    centers = spread_points(n, extent, axes, rng)
    radii = radius * np.exp(rng.normal(0.0, 0.1, n))
    forms = ellipsoid_forms(n, axes, rng) / radii[:, None, None] ** 2
    reach = 1.0 / np.sqrt(np.linalg.eigvalsh(forms)[:, 0])
    labels = np.zeros(shape, dtype=np.int32)
    cube = np.ones((3, 3, 3), dtype=bool)
    next_label = 1
    for i in range(n):
        for attempt in range(_PLACEMENT_TRIES):
            center = centers[i] if attempt == 0 else rng.uniform(0.0, extent)
            lo = np.maximum(np.floor((center - reach[i]) / scale).astype(int) - 1, 0)
            hi = np.minimum(np.ceil((center + reach[i]) / scale).astype(int) + 2, shape)
            p = local_grid(lo, hi, scale, center)
            inside = np.einsum("...i,ij,...j->...", p, forms[i], p) <= 1.0
            if np.count_nonzero(inside) < 8:
                continue
            box = tuple(slice(a, b) for a, b in zip(lo, hi))
            if np.any(labels[box][ndi.binary_dilation(inside, cube)]):
                continue
            labels[box][inside] = next_label
            next_label += 1
            break
    return labels

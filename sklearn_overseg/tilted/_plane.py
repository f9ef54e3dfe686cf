"""Public fit of the contact plane of a crop (:func:`fit_contact_plane`).

The computation, without validation, lives in :mod:`._plane_fit` (NumPy
only: the worker processes of the reslicer import it without scikit-learn).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ._plane_fit import _check_crop, _pair_codes, _plane

__all__ = ["fit_contact_plane"]


@validate_params(
    {
        "crop": "no_validation",  # _check_crop
        "voxel_size": "no_validation",
        "min_contact_points": [Interval(Integral, 3, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def fit_contact_plane(
    crop, voxel_size=(1.0, 1.0, 1.0), *, min_contact_points: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Plane of the contact surface between the two fragments of a crop.

    The contact surface is the set of voxel faces shared by a voxel of code
    ``1`` (fragment A) and one of code ``2`` (fragment B). The plane passes
    through the area-weighted centroid of the face centres; its normal is the
    direction of least variance of those centres (weighted PCA), oriented
    from A towards B (positive dot product with ``centroid(B) - centroid(A)``).
    Up to three refits drop the faces farther from the plane than 4.5 times
    the median distance (about 3 standard deviations) and at least one voxel,
    so that islands of a rugged cut do not tilt the plane.

    Fallbacks, in order: fewer than ``min_contact_points`` faces, or no
    contact at all - the normal is the direction from A's centroid to B's and
    the plane passes through the faces' centroid (or the midpoint of the
    fragments' centroids); faces along a line (second principal spread under
    half the smallest voxel size) - the normal is that direction made
    perpendicular to the line; coincident centroids - the z axis. If a
    fragment's centroid does not lie strictly on its own side of the plane,
    the plane is moved to the midpoint of the two centroids.

    Parameters
    ----------
    crop : array-like of shape (z, y, x)
        Integer codes: ``1`` for A, ``2`` for B, anything else ignored. Both
        codes must be present.
    voxel_size : sequence of 3 floats, default=(1, 1, 1)
        Physical size (z, y, x) of a crop voxel.
    min_contact_points : int, default=10
        Fewest shared faces for a PCA plane (at least 3).

    Returns
    -------
    centroid : ndarray of shape (3,)
        A point of the plane, physical (z, y, x) coordinates in the crop.
    normal : ndarray of shape (3,)
        Unit normal (z, y, x), pointing from A to B.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.tilted import fit_contact_plane
    >>> crop = np.ones((6, 8, 8), dtype=np.uint8)
    >>> crop[:, :, 4:] = 2      # A at small x, B at large x
    >>> centroid, normal = fit_contact_plane(crop)
    >>> centroid.round(2).tolist(), normal.round(2).tolist()
    ([2.5, 3.5, 3.5], [0.0, 0.0, 1.0])
    """
    crop = np.asarray(crop)
    voxel_size = _check_crop(crop, voxel_size)
    centroid, normal = _plane(_pair_codes(crop), voxel_size, min_contact_points)[:2]
    return centroid, normal

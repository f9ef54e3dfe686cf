"""Is this "label volume" really a microscope image? Cheap statistics say.

A common mistake is to give the image instead of its segmentation, for
example ``cells.npz:raw`` instead of ``cells.npz:labels``: both are 3D
integer arrays, so the type checks pass, and the corrector would then treat
every grey value as a cell. Three statistics tell them apart, computed on a
fixed random sample of voxels, so the check costs the same on any volume:

* the share of non-zero voxels (an image has almost no exact zeros);
* the number of distinct values (an image has hundreds or thousands of grey
  levels, a label volume one value per cell);
* how often a voxel equals its next neighbour along an axis, among non-zero
  pairs (in a label volume most neighbours belong to the same cell, in an
  image noise makes them differ).

On the real volumes of ``../shared/data`` the labels have 93-100 % equal
neighbours and their images 1-13 %; the thresholds below sit far from both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_not_image", "image_statistics"]

#: voxels sampled (with one neighbour along each axis)
SAMPLE_SIZE = 20_000
#: volumes smaller than this are not checked (too few voxels to judge)
MIN_VOXELS = 4_096
#: an image: most voxels non-zero, ...
MIN_FOREGROUND = 0.5
#: ... many distinct values in the sample, ...
MIN_DISTINCT = 100
#: ... and neighbours rarely equal
MAX_EQUAL_NEIGHBOURS = 0.3


def image_statistics(volume: np.ndarray) -> dict | None:
    """Foreground share, distinct values and equal-neighbour share of a sample.

    Parameters
    ----------
    volume : ndarray of shape (z, y, x)
        An integer volume.

    Returns
    -------
    dict or None
        ``foreground`` (share of non-zero voxels), ``distinct`` (distinct
        values in the sample) and ``equal_neighbours`` (share of sampled
        non-zero voxel pairs, adjacent along an axis, that hold the same
        value); ``None`` for volumes too small to judge.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._image_check import image_statistics
    >>> labels = np.ones((16, 32, 32), dtype=np.uint16)
    >>> image_statistics(labels)["equal_neighbours"]
    1.0
    """
    if volume.size < MIN_VOXELS:
        return None
    rng = np.random.default_rng(0)
    where = [rng.integers(0, n, SAMPLE_SIZE) for n in volume.shape]
    values = volume[tuple(where)]
    equal = total = 0
    for axis, n in enumerate(volume.shape):
        if n < 2:
            continue
        start = [w.copy() for w in where]
        start[axis] = np.minimum(where[axis], n - 2)
        first = volume[tuple(start)]
        start[axis] += 1
        second = volume[tuple(start)]
        both = (first != 0) & (second != 0)
        equal += int(np.count_nonzero(first[both] == second[both]))
        total += int(np.count_nonzero(both))
    return dict(
        foreground=float(np.count_nonzero(values) / values.size),
        distinct=int(len(np.unique(values))),
        equal_neighbours=float(equal / total) if total else 1.0,
    )


def check_not_image(volume: np.ndarray, name: str) -> None:
    """Raise a ``ValueError`` naming the likely mistake if ``volume`` is an image.

    Parameters
    ----------
    volume : ndarray of shape (z, y, x)
        An integer volume, given as labels.
    name : str
        How the volume is named in the message (a file name, "volume").

    Raises
    ------
    ValueError
        When most voxels are non-zero, the sample holds at least
        ``MIN_DISTINCT`` distinct values and neighbouring voxels are equal
        less than ``MAX_EQUAL_NEIGHBOURS`` of the time.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._image_check import check_not_image
    >>> image = np.random.default_rng(0).integers(1, 4000, (16, 32, 32))
    >>> check_not_image(image, "'cells.npz:raw'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'cells.npz:raw' looks like a microscope image, not labels: ...
    """
    stats = image_statistics(volume)
    if stats is None or not (
        stats["foreground"] >= MIN_FOREGROUND
        and stats["distinct"] >= MIN_DISTINCT
        and stats["equal_neighbours"] < MAX_EQUAL_NEIGHBOURS
    ):
        return
    raise ValueError(
        f"{name} looks like a microscope image, not labels: "
        f"{stats['foreground']:.0%} of its voxels are non-zero, a sample holds "
        f"{stats['distinct']} distinct values, and neighbouring voxels are "
        f"equal only {stats['equal_neighbours']:.0%} of the time (in a "
        "segmentation most neighbours belong to the same cell). Did you give "
        "the image instead of the segmentation, e.g. 'file.npz:raw' instead of "
        "'file.npz:labels'? If it does hold labels, add --assume-labels "
        "(command line) or assume_labels=True (Python)"
    )

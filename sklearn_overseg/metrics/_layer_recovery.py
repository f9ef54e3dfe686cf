"""How well missing layers are rebuilt: delete a layer, rebuild it, compare.

The protocol behind the package's interpolation numbers: every interior layer
of every cell of a label volume (a layer whose cell has at least
``min_area`` pixels there and is present on both neighbouring layers) is
removed and rebuilt by :func:`~sklearn_overseg.interpolate_masks` from the
cell's masks on the layers just above and below; the score is the IoU of the
rebuilt mask with the true one. Each cell is cut out with a margin of
``margin`` pixels around its bounding box, so the outlines never touch the
frame. Only the in-plane part (y, x) of the voxel size matters.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import check_label_volume
from .._voxel_size import check_pixel_size

__all__ = ["interior_layers", "layer_recovery_ious"]

_AREA = Interval(numbers.Integral, 1, None, closed="left")
_MARGIN = Interval(numbers.Integral, 0, None, closed="left")


def _interior_layers(
    labels: np.ndarray, min_area: int, margin: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = (box[0],) + tuple(
            slice(max(s.start - margin, 0), s.stop + margin) for s in box[1:]
        )
        cell = labels[box] == label
        areas = cell.sum(axis=(1, 2))
        for z in range(1, len(cell) - 1):
            if areas[z] >= min_area and areas[z - 1] and areas[z + 1]:
                yield cell[z - 1], cell[z], cell[z + 1]


@validate_params(
    {"labels": ["array-like"], "min_area": [_AREA], "margin": [_MARGIN]},
    prefer_skip_nested_validation=True,
)
def interior_layers(
    labels, *, min_area: int = 20, margin: int = 2
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every interior layer of every cell, with the cell's masks around it.

    Parameters
    ----------
    labels : array-like of shape (z, y, x)
        Integer instance labels, ``0`` is background.
    min_area : int, default=20
        Smallest area (pixels) of the cell on the layer.
    margin : int, default=2
        Pixels kept around the cell's bounding box in y and x.

    Returns
    -------
    list of (above, layer, below)
        Boolean 2D masks of one cell on three consecutive layers, cut to the
        cell's box; by label, then from top to bottom.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.metrics import interior_layers
    >>> labels = np.zeros((4, 12, 12), dtype=np.uint8)
    >>> labels[:, 3:9, 3:9] = 1
    >>> triples = interior_layers(labels)
    >>> len(triples), triples[0][1].shape
    (2, (10, 10))
    """
    labels = check_label_volume(labels, allow_background_only=True)
    return list(_interior_layers(labels, min_area, margin))


@validate_params(
    {
        "labels": ["array-like"],
        "voxel_size": "no_validation",
        "method": [StrOptions({"boundary_ot", "distance"})],
        "min_area": [_AREA],
        "margin": [_MARGIN],
    },
    prefer_skip_nested_validation=True,
)
def layer_recovery_ious(
    labels,
    *,
    voxel_size=None,
    method: str = "boundary_ot",
    min_area: int = 20,
    margin: int = 2,
) -> np.ndarray:
    """IoU of each interior layer of each cell rebuilt from its two neighbours.

    Parameters
    ----------
    labels : array-like of shape (z, y, x)
        Integer instance labels, ``0`` is background (true cells).
    voxel_size : None, float or sequence of float, default=None
        Voxel size (z, y, x) or pixel size (y, x), as for
        :func:`~sklearn_overseg.interpolate_masks` (z is not used).
    method : {"boundary_ot", "distance"}, default="boundary_ot"
        The interpolation method.
    min_area : int, default=20
        Smallest area (pixels) of the cell on the deleted layer.
    margin : int, default=2
        Pixels kept around each cell's bounding box in y and x.

    Returns
    -------
    ndarray of shape (n_layers,)
        One IoU per layer of :func:`interior_layers`, in its order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.datasets import make_tissue
    >>> from sklearn_overseg.metrics import layer_recovery_ious
    >>> labels = make_tissue((12, 48, 48), n_cells=6, random_state=0)
    >>> ious = layer_recovery_ious(labels, voxel_size=(2.0, 1.0, 1.0))
    >>> bool(np.median(ious) > 0.8)
    True
    """
    from ..correction import interpolate_masks

    pixel_size = check_pixel_size(voxel_size)
    triples = interior_layers(labels, min_area=min_area, margin=margin)
    return np.array(
        [
            _iou(interpolate_masks(a, b, voxel_size=pixel_size, method=method)[0], t)
            for a, t, b in triples
        ],
        dtype=float,
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)

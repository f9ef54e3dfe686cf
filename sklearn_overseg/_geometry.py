"""Per-label geometry of a label volume, computed in one pass.

Bounding boxes and z-extents of every label come from a single
:func:`scipy.ndimage.find_objects` pass. Labels that are huge and sparse (for
example ``2**63 - 1``) would make ``find_objects`` allocate one slot per
possible value, so such volumes are relabelled sequentially first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._threads import map_slabs

__all__ = ["LabelGeometry", "RowLookup", "require_int64_labels"]

# find_objects allocates one entry per label value up to the maximum label.
_MAX_DIRECT_LABEL = 1 << 24
# Labels are handled as int64 (only uint64 volumes can hold larger values).
_MAX_LABEL = (1 << 63) - 1


def require_int64_labels(volume: np.ndarray) -> int:
    """Largest label of ``volume``; a ``ValueError`` if it exceeds ``2**63 - 1``."""
    max_label = int(volume.max()) if volume.size else 0
    if max_label > _MAX_LABEL:
        raise ValueError(
            f"label {max_label} is larger than 2**63 - 1, the largest label "
            "supported; relabel the volume (e.g. with "
            "skimage.segmentation.relabel_sequential)."
        )
    return max_label


def _slab_boxes(volume, layers: slice, max_label: int):
    """``(label - 1, starts, stops)`` of the labels present in ``volume[layers]``."""
    slices = ndi.find_objects(volume[layers], max_label=max_label)
    present = [i for i, s in enumerate(slices) if s is not None]
    boxes = np.array(
        [[(s.start, s.stop) for s in slices[i]] for i in present], dtype=np.intp
    ).reshape(-1, 3, 2)
    boxes[:, 0] += layers.start
    return (np.asarray(present, dtype=np.int64),
            np.ascontiguousarray(boxes[..., 0]), np.ascontiguousarray(boxes[..., 1]))


def _merge_boxes(parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounding boxes of whole labels from those of their slab pieces."""
    if len(parts) == 1:
        return parts[0]
    index, inverse = np.unique(
        np.concatenate([p[0] for p in parts]), return_inverse=True
    )
    starts = np.full((len(index), 3), np.iinfo(np.intp).max, dtype=np.intp)
    stops = np.zeros((len(index), 3), dtype=np.intp)
    np.minimum.at(starts, inverse, np.concatenate([p[1] for p in parts]))
    np.maximum.at(stops, inverse, np.concatenate([p[2] for p in parts]))
    return index, starts, stops


@dataclass(frozen=True)
class LabelGeometry:
    """Bounding boxes and z-extents of the labels of one volume.

    Attributes
    ----------
    labels : ndarray of shape (n_labels,)
        The foreground labels present, in increasing order.
    starts : ndarray of shape (n_labels, 3)
        Inclusive lower corner (z, y, x) of each label's bounding box.
    stops : ndarray of shape (n_labels, 3)
        Exclusive upper corner (z, y, x) of each label's bounding box.
    shape : tuple of int
        Shape of the volume.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._geometry import LabelGeometry
    >>> vol = np.zeros((4, 5, 5), dtype=np.uint16)
    >>> vol[1:3, 1:4, 2:4] = 7
    >>> geom = LabelGeometry.from_volume(vol)
    >>> geom.labels.tolist(), geom.z_extent(7)
    ([7], (1, 3))
    """

    labels: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    shape: tuple[int, int, int]

    @classmethod
    def from_volume(cls, volume: np.ndarray) -> LabelGeometry:
        """Compute the geometry of every label in one pass over ``volume``."""
        volume = np.asarray(volume)
        max_label = require_int64_labels(volume)
        if max_label == 0:
            empty = np.zeros((0, 3), dtype=np.intp)
            return cls(np.zeros(0, dtype=np.int64), empty, empty.copy(), volume.shape)
        if max_label <= _MAX_DIRECT_LABEL:
            # one find_objects pass per z-slab (on threads for a large volume)
            labels, starts, stops = _merge_boxes(map_slabs(
                lambda layers: _slab_boxes(volume, layers, max_label),
                volume.shape[0], volume.size,
            ))
            return cls(labels + 1, starts, stops, tuple(volume.shape))
        label_values, inverse = np.unique(volume, return_inverse=True)
        slices = ndi.find_objects(inverse.reshape(volume.shape))
        present = [i for i, s in enumerate(slices) if s is not None]
        starts = np.array(
            [[s.start for s in slices[i]] for i in present], dtype=np.intp
        ).reshape(-1, 3)
        stops = np.array(
            [[s.stop for s in slices[i]] for i in present], dtype=np.intp
        ).reshape(-1, 3)
        labels = np.asarray(label_values[np.asarray(present) + 1], dtype=np.int64)
        return cls(labels, starts, stops, tuple(volume.shape))

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, label: int) -> int:
        """Row of ``label`` in :attr:`labels` (``KeyError`` if absent)."""
        i = int(np.searchsorted(self.labels, label))
        if i >= len(self.labels) or self.labels[i] != label:
            raise KeyError(f"label {label} is not present in the volume")
        return i

    def pair_box(
        self, rows: tuple[int, int], padding: int
    ) -> tuple[slice, slice, slice]:
        """Union bounding box of two labels (by row), padded in y and x.

        Clipped to the volume. The z range is not padded: it runs from the
        first layer of either label to the last layer of either label.
        """
        rows = list(rows)
        lo = self.starts[rows].min(axis=0)
        hi = self.stops[rows].max(axis=0)
        box = [slice(int(lo[0]), int(hi[0]))]
        for axis in (1, 2):
            box.append(slice(
                max(int(lo[axis]) - padding, 0),
                min(int(hi[axis]) + padding, self.shape[axis]),
            ))
        return tuple(box)

    @property
    def z_starts(self) -> np.ndarray:
        """First z layer of each label."""
        return self.starts[:, 0]

    @property
    def z_stops(self) -> np.ndarray:
        """One past the last z layer of each label."""
        return self.stops[:, 0]

    def z_extent(self, label: int) -> tuple[int, int]:
        """``(first layer, one past last layer)`` of ``label``."""
        i = self.index(label)
        return int(self.starts[i, 0]), int(self.stops[i, 0])

    def bbox(self, label: int) -> tuple[slice, slice, slice]:
        """Bounding box of ``label`` as a tuple of slices."""
        i = self.index(label)
        return tuple(
            slice(int(a), int(b)) for a, b in zip(self.starts[i], self.stops[i])
        )

    def union_bbox(self, *labels: int) -> tuple[slice, slice, slice]:
        """Smallest box containing all given labels."""
        rows = [self.index(lab) for lab in labels]
        lo = self.starts[rows].min(axis=0)
        hi = self.stops[rows].max(axis=0)
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


# Labels up to this value are mapped to rows with a dense lookup table (int32).
_MAX_LOOKUP_TABLE_LABEL = 1 << 22


class RowLookup:
    """Map label values to rows of a :class:`LabelGeometry` (background -> n)."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.n = len(labels)
        top = int(labels[-1]) if self.n else 0
        self.table = None
        if top <= _MAX_LOOKUP_TABLE_LABEL:
            self.table = np.full(top + 1, self.n, dtype=np.int32)
            self.table[labels] = np.arange(self.n, dtype=np.int32)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return self.table[values]
        # uint64 against the int64 labels would be searched as float64, where
        # labels near 2**63 collide; they fit int64 (LabelGeometry checks it)
        values = np.asarray(values).astype(np.int64, copy=False)
        pos = np.minimum(np.searchsorted(self.labels, values), self.n - 1)
        return np.where(self.labels[pos] == values, pos, self.n)

    def per_label(self, per_row: np.ndarray, fill) -> np.ndarray | None:
        """Table label value -> ``per_row[row]`` (``fill`` for background)."""
        if self.table is None:
            return None
        return np.append(per_row, fill).astype(np.int32)[self.table]

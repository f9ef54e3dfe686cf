"""Candidate pairs of fragments: the samples of the pair pipeline.

A scikit-learn ``Pipeline`` cannot change the number of samples, so the
screener turns label volumes into a :class:`CandidateSet`: an indexable,
picklable sequence of :class:`Candidate` pairs. Each candidate carries its own
crop, so it can be processed on its own (in another process or machine), and
``CandidateSet`` supports ``len`` plus integer, slice and boolean-mask
indexing, so cross-validation splitters and ``GridSearchCV`` work on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CONTEXT_NAMES", "Candidate", "CandidateSet", "UPPER", "LOWER", "GAP_NOISE"]

#: Crop code of the fragment before the gap (smaller z).
UPPER = 1
#: Crop code of the fragment after the gap (larger z).
LOWER = 2
#: Crop code of a noisy partial mask inside the gap.
GAP_NOISE = 3
#: Keys of an axis candidate's ``meta["context"]``: what lies around the pair
#: in the whole volume (measured by the screener, read by
#: :class:`~sklearn_overseg.PairContextFeatures`).
CONTEXT_NAMES = (
    "upper_above_cover",
    "upper_above_iou",
    "lower_below_cover",
    "lower_below_iou",
    "lower_other_parent",
    "upper_other_child",
    "merged_extent_ratio",
)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate pair of fragments that may be one split cell.

    Parameters
    ----------
    volume_index : int
        Index of the volume the pair comes from.
    upper, lower : int
        Labels of the two fragments. For axis candidates ``upper`` is the
        fragment at smaller z and ``lower`` the one after the gap.
    crop : ndarray of shape (n_layers, height, width), dtype uint8
        Codes ``0`` (anything else), ``UPPER``, ``LOWER`` and ``GAP_NOISE``
        over the pair's bounding box; layers run along the stacking axis (z for
        axis candidates, the plane normal for resliced tilted candidates).
    gap : tuple of int or None
        ``(start, stop)`` of the gap layers in crop coordinates; ``None`` for
        contact candidates that have not been resliced yet.
    origin : tuple of int
        Position (z, y, x) of ``crop[0, 0, 0]`` in the volume (for resliced
        candidates, the origin of the pair's bounding box in the volume).
    voxel_size : tuple of float
        Physical size of a crop voxel along its three axes.
    kind : {"axis", "contact", "tilted"}
        How the candidate was found.
    score : float
        Overlap area across the gap (axis) or contact area (contact, tilted),
        in pixels or faces.
    gap_labels : tuple of int
        Labels of the noisy partial masks inside the gap (code ``GAP_NOISE``).
    meta : dict
        Extra information (for example the reslicing plane).
    image : ndarray of float32 or None, default=None
        The normalised raw image over the pair's volume-space crop (``crop``
        for axis and contact candidates, ``meta["contact_crop"]`` for
        resliced ones), when the user gave one (``image=``); ``None`` for
        label-only pairs. See :class:`~sklearn_overseg.ImageFeatures`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate
    >>> crop = np.zeros((5, 4, 4), dtype=np.uint8)
    >>> crop[:2, 1:3, 1:3] = 1
    >>> crop[3:, 1:3, 1:3] = 2
    >>> c = Candidate(0, 4, 9, crop, gap=(2, 3), origin=(10, 0, 0))
    >>> c.fragment(1).shape, c.n_gap_layers
    ((2, 4, 4), 1)
    """

    volume_index: int
    upper: int
    lower: int
    crop: np.ndarray
    gap: tuple[int, int] | None = None
    origin: tuple[int, int, int] = (0, 0, 0)
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    kind: str = "axis"
    score: float = 0.0
    gap_labels: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)
    image: np.ndarray | None = None

    @property
    def n_gap_layers(self) -> int:
        """Number of gap layers (0 when there is no gap)."""
        return 0 if self.gap is None else self.gap[1] - self.gap[0]

    def fragment(self, code: int) -> np.ndarray:
        """Boolean masks of one fragment over its own layers.

        Parameters
        ----------
        code : int
            ``UPPER`` or ``LOWER``.

        Returns
        -------
        ndarray of shape (n_layers_of_fragment, height, width), dtype bool
            For axis candidates, the upper fragment's layers are those before
            the gap and the lower fragment's those after it.
        """
        if self.gap is None:
            return self.crop == code
        if code == UPPER:
            return self.crop[: self.gap[0]] == UPPER
        if code == LOWER:
            return self.crop[self.gap[1] :] == LOWER
        raise ValueError(f"code must be UPPER (1) or LOWER (2), got {code}")

    @property
    def key(self) -> tuple[int, int, int]:
        """``(volume_index, upper, lower)``."""
        return (int(self.volume_index), int(self.upper), int(self.lower))


class CandidateSet(Sequence):
    """An indexable, picklable sequence of candidate pairs.

    Indexing with an integer returns a :class:`Candidate`; with a slice, an
    integer array, a list or a boolean mask it returns a ``CandidateSet``, which
    is what scikit-learn's cross-validation needs. The ``shape`` attribute
    ``(n_candidates,)`` lets scikit-learn count the samples.

    Parameters
    ----------
    candidates : iterable of Candidate
        The pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate, CandidateSet
    >>> crop = np.ones((3, 2, 2), dtype=np.uint8)
    >>> cs = CandidateSet([Candidate(0, 1, 2, crop), Candidate(1, 3, 5, crop)])
    >>> len(cs), cs.pairs.tolist(), len(cs[np.array([False, True])])
    (2, [[1, 2], [3, 5]], 1)
    """

    def __init__(self, candidates: Iterable[Candidate] = ()):
        self._candidates = list(candidates)
        for c in self._candidates:
            if not isinstance(c, Candidate):
                raise TypeError(
                    f"CandidateSet holds Candidate objects, got {type(c).__name__}"
                )

    def __len__(self) -> int:
        return len(self._candidates)

    @property
    def shape(self) -> tuple[int]:
        """``(n_candidates,)``, for scikit-learn's sample counting."""
        return (len(self._candidates),)

    def __getitem__(self, key):
        if isinstance(key, tuple):  # scikit-learn indexes arrays as X[key, ...]
            key = tuple(k for k in key if k is not Ellipsis)
            if len(key) != 1:
                raise IndexError("CandidateSet is one-dimensional")
            key = key[0]
        if isinstance(key, (int, np.integer)):
            return self._candidates[key]
        if isinstance(key, slice):
            return CandidateSet(self._candidates[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(
                    f"boolean index of shape {idx.shape} does not match "
                    f"{len(self)} candidates"
                )
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = idx.astype(np.intp)
        elif idx.dtype.kind not in "iu":
            raise IndexError(f"cannot index a CandidateSet with {idx.dtype} keys")
        return CandidateSet(self._candidates[i] for i in idx.ravel())

    def __iter__(self):
        return iter(self._candidates)

    def __add__(self, other: CandidateSet) -> CandidateSet:
        if not isinstance(other, CandidateSet):
            return NotImplemented
        return CandidateSet(self._candidates + other._candidates)

    def __repr__(self) -> str:
        kinds = sorted({c.kind for c in self._candidates})
        return f"CandidateSet(n_candidates={len(self)}, kinds={kinds})"

    @property
    def pairs(self) -> np.ndarray:
        """``(n, 2)`` integer array of (upper, lower) labels."""
        return np.array(
            [(c.upper, c.lower) for c in self._candidates], dtype=np.int64
        ).reshape(-1, 2)

    @property
    def volume_index(self) -> np.ndarray:
        """``(n,)`` integer array: the volume each pair comes from."""
        return np.array([c.volume_index for c in self._candidates], dtype=np.int64)

    @property
    def kinds(self) -> np.ndarray:
        """``(n,)`` array of candidate kinds (``"axis"``, ``"contact"``, ...)."""
        return np.array([c.kind for c in self._candidates], dtype=object)

    @property
    def scores(self) -> np.ndarray:
        """``(n,)`` float array of overlap or contact areas."""
        return np.array([c.score for c in self._candidates], dtype=float)

    @classmethod
    def concatenate(cls, sets: Iterable[CandidateSet]) -> CandidateSet:
        """Join several candidate sets into one."""
        return cls(c for s in sets for c in s)


def check_candidate_set(X, estimator: str) -> CandidateSet:
    """Raise a clear ``TypeError`` unless ``X`` is a :class:`CandidateSet`."""
    if not isinstance(X, CandidateSet):
        raise TypeError(
            f"{estimator} expects a CandidateSet (from CandidateScreener), "
            f"got {type(X).__name__}."
        )
    return X


def fragment_layers(candidate: Candidate) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty boolean masks of the upper and lower fragments of a pair.

    Empty layers of a fragment carry no shape and are dropped. A contact
    candidate (``gap is None``) or a fragment without any pixel raises a
    ``ValueError``.
    """
    if candidate.gap is None:
        raise ValueError(
            f"candidate {candidate.key} has no gap (a raw contact candidate); "
            "reslice contact candidates with TiltedReslicer first."
        )
    stacks = []
    for code, name in ((UPPER, "upper"), (LOWER, "lower")):
        masks = candidate.fragment(code)
        masks = masks[masks.any(axis=(1, 2))]
        if len(masks) == 0:
            raise ValueError(
                f"candidate {candidate.key}: the {name} fragment has no pixel."
            )
        stacks.append(masks)
    return stacks[0], stacks[1]

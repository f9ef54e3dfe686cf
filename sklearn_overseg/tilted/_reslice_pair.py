"""Reslice one contact pair parallel to its contact plane (:func:`reslice_pair`).

The public, validated function; the computation lives in
:mod:`._reslice_core` (NumPy and SciPy only, for the worker processes).
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, validate_params

from .._candidates import Candidate
from ._reslice_core import _reslice

__all__ = ["reslice_pair"]


@validate_params(
    {
        "candidate": "no_validation",  # checked below
        "spacing": [Interval(Real, 0, None, closed="neither"), None],
        "min_contact_points": [Interval(Integral, 3, None, closed="left")],
        "fill_holes": ["boolean"],
        "max_layers": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def reslice_pair(
    candidate: Candidate,
    *,
    spacing: float | None = None,
    min_contact_points: int = 10,
    fill_holes: bool = True,
    max_layers: int | None = None,
) -> Candidate:
    """Reslice a contact candidate parallel to its contact plane.

    See :class:`TiltedReslicer` for the method and the output.

    Parameters
    ----------
    candidate : Candidate
        A contact candidate (``gap is None``) whose crop holds both codes.
    spacing : float or None, default=None
        Isotropic sampling step, physical units; ``None`` uses the smallest
        voxel size of the candidate.
    min_contact_points : int, default=10
        Fewest contact faces for a PCA plane (see :func:`fit_contact_plane`).
    fill_holes : bool, default=True
        Fill 2D holes of each fragment in each resliced layer.
    max_layers : int or None, default=None
        Keep at most this many layers on each side of the gap.

    Returns
    -------
    Candidate
        ``kind="tilted"``, ``gap=(g, g + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg._candidates import Candidate
    >>> from sklearn_overseg.tilted import reslice_pair
    >>> crop = np.zeros((8, 10, 10), dtype=np.uint8)
    >>> crop[1:7, 1:9, 1:5] = 1
    >>> crop[1:7, 1:9, 5:9] = 2     # cut along x, not z
    >>> out = reslice_pair(Candidate(0, 3, 7, crop, kind="contact"))
    >>> out.kind, out.gap, out.crop.shape, out.meta["normal"].round(2).tolist()
    ('tilted', (4, 5), (8, 8, 6), [0.0, 0.0, 1.0])
    """
    if not isinstance(candidate, Candidate):
        raise TypeError(f"expected a Candidate, got {type(candidate).__name__}.")
    if candidate.gap is not None:
        raise ValueError(
            f"candidate {candidate.key} already has a gap; only contact "
            "candidates (gap=None) are resliced."
        )
    return _reslice(
        candidate,
        spacing=spacing,
        min_contact_points=min_contact_points,
        fill_holes=fill_holes,
        max_layers=max_layers,
    )

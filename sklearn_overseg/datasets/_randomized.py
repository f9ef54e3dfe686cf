"""Domain-randomised synthetic tissue: one generator, many kinds of data.

A model trained on one tissue generator learns that generator. To make
training data (and held-out test families) with the variety of real images,
:func:`make_randomized_tissue` draws, per volume, the tissue kind, the
anisotropy, the cell size and elongation, then bends the cells by a smooth
random warp (irregular, non-convex shapes), shifts every layer sideways by a
random walk (the lateral drift of resampled or badly aligned electron
microscopy stacks) and cuts a random sub-box out of a larger tissue, so that
cells are truncated by the volume's faces (thin slabs at the faces).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._pieces import keep_largest_pieces, relabel_consecutive
from ._tissue import _MODES, check_shape, make_tissue

__all__ = ["make_randomized_tissue"]

#: Share of the volume nuclei fill in ``make_tissue(mode="nuclei")``.
_NUCLEI_FILL = 0.2
#: Wavelength of the warp, in equivalent cell radii.
_WARP_WAVELENGTH = 3.0
#: Range of the margin added on each side before cropping, as a share of
#: the volume's side.
_CROP_MARGIN = (0.1, 0.4)


def _setting(value, name: str, rng, *, log: bool = False, low: float = 0.0):
    """A fixed number, or a number drawn from a ``(low, high)`` range."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        lo = hi = float(value)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be a number or a (low, high) pair, got {value!r}."
            ) from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and low <= lo <= hi):
        raise ValueError(
            f"{name} must be finite, >= {low} and low <= high, got {value!r}."
        )
    if lo == hi:
        return lo
    if log and lo > 0:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def _n_cells(shape, mode: str, anisotropy: float, radius: float, elongation: float):
    """Cells of equivalent xy radius ``radius`` that fill ``shape``."""
    volume = np.prod(shape) * anisotropy
    cell = 4 / 3 * np.pi * radius**3 * elongation
    fill = _NUCLEI_FILL if mode == "nuclei" else 1.0
    return int(np.clip(round(fill * volume / cell), 2, np.prod(shape) // 64))


def _displace(labels, anisotropy, radius, warp, drift, dense, rng) -> np.ndarray:
    """Bend by a smooth random field, then shift each layer by a random walk."""
    shape = np.array(labels.shape)
    coords = np.indices(labels.shape, dtype=np.float32)
    if warp > 0:
        scale = np.array([anisotropy, 1.0, 1.0])
        wavelength = max(8.0, _WARP_WAVELENGTH * radius)
        coarse = np.maximum(2, np.ceil(shape * scale / wavelength).astype(int) + 1)
        for axis in range(3):
            field = ndi.zoom(
                rng.normal(size=coarse), shape / coarse, order=3, grid_mode=True,
                mode="nearest",
            )[: shape[0], : shape[1], : shape[2]]
            coords[axis] += (warp / scale[axis]) * field.astype(np.float32)
    if drift > 0:
        steps = rng.normal(0.0, drift, size=(2, shape[0]))
        walk = np.cumsum(steps, axis=1)
        walk -= walk.mean(axis=1, keepdims=True)
        coords[1] += walk[0][:, None, None].astype(np.float32)
        coords[2] += walk[1][:, None, None].astype(np.float32)
    if warp <= 0 and drift <= 0:
        return labels
    moved = ndi.map_coordinates(labels, coords, order=0, mode="nearest")
    keep_largest_pieces(moved, reassign=dense)
    return moved


_SETTING = "no_validation"  # a number or a (low, high) pair: _setting checks it


@validate_params(
    {
        "shape": "no_validation",  # check_shape
        "mode": [StrOptions(set(_MODES)), "array-like"],  # elements checked below
        "anisotropy": _SETTING,
        "cell_radius": _SETTING,
        "elongation": _SETTING,
        "warp": _SETTING,
        "drift": _SETTING,
        "crop": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "return_params": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_randomized_tissue(
    shape=(40, 128, 128),
    *,
    mode=_MODES,
    anisotropy=(1.0, 8.0),
    cell_radius=(5.0, 16.0),
    elongation=(0.8, 2.5),
    warp=(0.0, 6.0),
    drift=(0.0, 1.0),
    crop: float = 0.5,
    random_state=None,
    return_params: bool = False,
):
    """Synthetic tissue with randomised anisotropy, size, shape, drift and crop.

    Every setting is either fixed (a number) or drawn for this volume from a
    ``(low, high)`` range, so one call can make a volume of a chosen test
    family (all fixed) or a domain-randomised training volume (all ranges).

    Parameters
    ----------
    shape : tuple of 3 int, default=(40, 128, 128)
        Shape ``(z, y, x)`` of the result.
    mode : str or sequence of str, default=("dense", "loose", "nuclei")
        Tissue kind of :func:`make_tissue`, or kinds to draw one from.
    anisotropy : float or (float, float), default=(1.0, 8.0)
        Z step over xy step (drawn log-uniformly from a range).
    cell_radius : float or (float, float), default=(5.0, 16.0)
        Equivalent radius of a cell's xy section, in xy pixels (drawn
        log-uniformly); sets the number of cells.
    elongation : float or (float, float), default=(0.8, 2.5)
        Physical z axis of a cell over its xy axes.
    warp : float or (float, float), default=(0.0, 6.0)
        Amplitude, in xy pixels, of a smooth random displacement that bends
        walls and cells (irregular, non-convex shapes); 0 for none.
    drift : float or (float, float), default=(0.0, 1.0)
        Standard deviation, in xy pixels, of the sideways step of each layer
        against the one before (a random walk, as in the layer drift of
        resampled electron microscopy); 0 for none.
    crop : float, default=0.5
        Probability that the volume is a random sub-box of a larger tissue,
        so that the faces cut cells anywhere (thin slabs at the faces).
    random_state : int, RandomState instance or None, default=None
        Seed; the output is deterministic for a fixed seed.
    return_params : bool, default=False
        Also return the settings drawn.

    Returns
    -------
    labels : ndarray of shape ``shape``, dtype int32
        Labels ``1..n`` (consecutive), ``0`` background; each label is one
        face-connected component.
    params : dict
        Only with ``return_params=True``: ``mode``, ``anisotropy``,
        ``cell_radius``, ``elongation``, ``warp``, ``drift``, ``cropped``
        and ``n_cells`` (cells placed before warping and cropping).

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_randomized_tissue
    >>> labels, params = make_randomized_tissue(
    ...     (24, 64, 64), mode="dense", anisotropy=4.0, drift=1.0,
    ...     random_state=0, return_params=True)
    >>> labels.shape, params["anisotropy"], params["drift"]
    ((24, 64, 64), 4.0, 1.0)
    """
    shape = check_shape(shape)
    rng = check_random_state(random_state)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    if not modes or any(m not in _MODES for m in modes):
        raise ValueError(f"mode must be one or more of {_MODES}, got {mode!r}.")
    kind = modes[rng.randint(len(modes))]
    params = {
        "mode": kind,
        "anisotropy": _setting(anisotropy, "anisotropy", rng, log=True, low=1e-3),
        "cell_radius": _setting(cell_radius, "cell_radius", rng, log=True, low=1.0),
        "elongation": _setting(elongation, "elongation", rng, low=0.1),
        "warp": _setting(warp, "warp", rng),
        "drift": _setting(drift, "drift", rng),
        "cropped": bool(rng.rand() < crop),
    }
    full = np.array(shape)
    if params["cropped"]:
        margin = rng.uniform(*_CROP_MARGIN, size=3)
        full = full + 2 * np.ceil(margin * full).astype(int)
    params["n_cells"] = _n_cells(
        full, kind, params["anisotropy"], params["cell_radius"], params["elongation"]
    )
    labels = make_tissue(
        tuple(full), params["n_cells"], mode=kind,
        anisotropy=params["anisotropy"], elongation=params["elongation"],
        random_state=rng.randint(2**31 - 1),
    )
    dense = kind == "dense"
    labels = _displace(
        labels, params["anisotropy"], params["cell_radius"], params["warp"],
        params["drift"], dense, rng,
    )
    if params["cropped"]:
        start = [rng.randint(0, f - s + 1) for f, s in zip(full, shape)]
        labels = labels[tuple(slice(a, a + s) for a, s in zip(start, shape))].copy()
        keep_largest_pieces(labels, reassign=dense)
    labels = relabel_consecutive(np.ascontiguousarray(labels, dtype=np.int32))
    return (labels, params) if return_params else labels

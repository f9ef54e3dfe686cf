"""Stitch damage: what a 2D-per-slice segmenter plus an IoU stitcher makes of cells.

:func:`slice_and_stitch` cuts a correct 3D label volume into per-slice 2D
instances, perturbs them as 2D segmenters do (boundary jitter, erosion or
dilation by 1-2 px, 2D over-splits, missed masks, small false masks) and
stitches them back with :func:`~sklearn_overseg.datasets.stitch_slices`. The
typical result is the one real pipelines give: small end caps cut off because
their IoU with the layer above is low, mid-cell cuts where a cell's shape
changes quickly, a few gaps, and pieces of over-split masks.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as connected_pieces
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._validation import check_label_volume
from ._stitching import stitch_slices

__all__ = ["slice_and_stitch"]


def _jitter(image: np.ndarray, amplitude: float, rng) -> np.ndarray:
    """Move the mask boundaries of a 2D label image by a smooth random field."""
    if amplitude <= 0:
        return image
    coarse = np.maximum(2, np.ceil(np.array(image.shape) / 8).astype(int) + 1)
    coords = np.indices(image.shape, dtype=np.float32)
    for axis in range(2):
        field = ndi.zoom(rng.normal(size=coarse), np.array(image.shape) / coarse,
                         order=1, grid_mode=True, mode="nearest")
        coords[axis] += amplitude * field[: image.shape[0], : image.shape[1]]
    return ndi.map_coordinates(image, coords, order=0, mode="nearest")


def _damage_slice(image, settings, rng, next_id: int) -> tuple[np.ndarray, int]:
    """One perturbed 2D slice (new ids from ``next_id``) and the next free id."""
    image = connected_pieces(_jitter(image, settings["jitter"], rng), background=0)
    out = np.zeros(image.shape, dtype=np.int64)
    for value, box in enumerate(ndi.find_objects(image), start=1):
        if box is None or rng.random_sample() < settings["p_miss"]:
            continue
        box = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)
        mask = image[box] == value
        if rng.random_sample() < settings["p_resize"]:
            radius = int(rng.randint(1, settings["max_resize"] + 1))
            if rng.random_sample() < 0.5:
                mask = ndi.binary_erosion(mask, iterations=radius)
            else:
                grown = ndi.binary_dilation(mask, iterations=radius)
                mask = grown & ((image[box] == 0) | mask)
        ids = np.where(mask, next_id, 0)
        if mask.sum() >= 30 and rng.random_sample() < settings["p_split"]:
            yy, xx = np.nonzero(mask)
            angle = rng.uniform(0, np.pi)
            side = (yy - yy.mean()) * np.cos(angle) + (xx - xx.mean()) * np.sin(angle)
            ids[yy[side > 0], xx[side > 0]] = next_id + 1
            next_id += 1
        next_id += 1
        view = out[box]
        view[mask & (view == 0)] = ids[mask & (view == 0)]
    for _ in range(rng.poisson(settings["false_masks"])):
        radius = rng.uniform(1.5, 3.5)
        cy, cx = rng.uniform(0, image.shape[0]), rng.uniform(0, image.shape[1])
        yy, xx = np.ogrid[: image.shape[0], : image.shape[1]]
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = next_id
        next_id += 1
    return out, next_id


def _chain_pairs(flawed: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pairs of flawed labels mostly inside the same true cell, as chains.

    The labels of one true cell are sorted by first layer (then label) and
    consecutive ones are paired.
    """
    inside = flawed != 0
    values, codes = np.unique(flawed[inside], return_inverse=True)
    t_values, t_codes = np.unique(truth[inside], return_inverse=True)
    table = np.zeros((values.size, t_values.size), dtype=np.int64)
    np.add.at(table, (codes, t_codes), 1)
    owner = t_values[table.argmax(axis=1)] if values.size else values
    first = np.array([s[0].start for s in ndi.find_objects(flawed) if s is not None])
    order = np.lexsort((values, first, owner))
    same = (owner[order][1:] == owner[order][:-1]) & (owner[order][1:] != 0)
    pairs = np.column_stack((values[order][:-1][same], values[order][1:][same]))
    return pairs.reshape(-1, 2).astype(np.int64)


@validate_params(
    {
        "truth": "no_validation",  # check_label_volume
        "stitch_threshold": [Interval(Real, 0, 1, closed="right")],
        "z_step": [Interval(Integral, 1, None, closed="left")],
        "jitter": [Interval(Real, 0, None, closed="left")],
        "p_resize": [Interval(Real, 0, 1, closed="both")],
        "max_resize": [Interval(Integral, 1, None, closed="left")],
        "p_split": [Interval(Real, 0, 1, closed="both")],
        "p_miss": [Interval(Real, 0, 1, closed="both")],
        "false_masks": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def slice_and_stitch(
    truth,
    *,
    stitch_threshold: float = 0.25,
    z_step: int = 1,
    jitter: float = 0.7,
    p_resize: float = 0.3,
    max_resize: int = 2,
    p_split: float = 0.02,
    p_miss: float = 0.02,
    false_masks: float = 0.3,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Segment a correct volume slice by slice with 2D flaws, then IoU-stitch it.

    Every z slice of ``truth[::z_step]`` is cut into 2D instances (each
    connected piece of a cell's cross-section is one mask), perturbed as a
    2D segmenter would do it, and the slices are stitched with
    :func:`stitch_slices` (greedy IoU against the previous layer, as
    cellpose's ``stitch3D``). The perturbations, per slice: a smooth random
    displacement of all boundaries by about ``jitter`` pixels; each mask
    eroded or dilated (into background) by 1 to ``max_resize`` pixels with
    probability ``p_resize``, cut in two by a random line through its
    centroid with probability ``p_split``, or missed with probability
    ``p_miss``; and on average ``false_masks`` small false disks (radius 1.5
    to 3.5 px) drawn over the slice. Every pixel of the perturbed 2D masks is
    kept in the stitched result.

    Parameters
    ----------
    truth : array-like of int, shape (z, y, x)
        Correct labels, ``0`` background. Not modified.
    stitch_threshold : float in (0, 1], default=0.25
        IoU threshold of the stitcher.
    z_step : int, default=1
        Keep every ``z_step``-th layer (a coarser stack); the result matches
        ``truth[::z_step]``.
    jitter : float, default=0.7
        Boundary displacement scale, in pixels (0 turns it off).
    p_resize, p_split, p_miss : float in [0, 1]
        Per-mask probabilities of erosion/dilation, over-split and miss.
    max_resize : int, default=2
        Largest erosion or dilation radius, in pixels.
    false_masks : float, default=0.3
        Mean number of small false masks per slice.
    random_state : int, RandomState instance or None, default=None
        Seed; the result is deterministic for a fixed seed.

    Returns
    -------
    flawed : ndarray of int32, shape of ``truth[::z_step]``
        The stitched 3D labels ``1..n``.
    truth_pairs : ndarray of int64, shape (n_pairs, 2)
        Pairs of flawed labels that belong (by majority of their voxels) to
        the same true cell: per cell, its labels sorted by first layer, each
        paired with the next one.

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_tissue, slice_and_stitch
    >>> truth = make_tissue((24, 64, 64), n_cells=15, random_state=0)
    >>> flawed, pairs = slice_and_stitch(truth, random_state=0)
    >>> flawed.shape == truth.shape, pairs.shape[1]
    (True, 2)
    """
    truth = check_label_volume(truth, name="truth", allow_background_only=True)
    settings = dict(jitter=jitter, p_resize=p_resize, p_split=p_split,
                    p_miss=p_miss, false_masks=false_masks, max_resize=max_resize)
    truth = truth[::z_step]
    rng = check_random_state(random_state)
    slices = np.zeros(truth.shape, dtype=np.int64)
    next_id = 1
    for z in range(truth.shape[0]):
        slices[z], next_id = _damage_slice(truth[z], settings, rng, next_id)
    flawed = stitch_slices(slices, stitch_threshold)
    return flawed, _chain_pairs(flawed, truth)

"""The training volumes of the shipped ``tilted`` model: cells cut by planes.

The tilted model learns from every touching pair of damaged synthetic tissue
(the realistic class ratio: a few true splits among many distinct
neighbours). The tissues are the axis model's (``train.TRAINING_TISSUES``)
and :data:`SMALL_CELL_TISSUES`, in three guises:

* as they are (the small-celled ones only, :data:`TILTED_ROUNDS` rounds);
* bent by a smooth random warp (:func:`bend_tissue`), so that walls and
  cells are curved as in real tissue rather than planar and convex;
* random sub-boxes (:func:`crop_tissue`), so that most cells are truncated
  by the image border as in a small crop of big cells.

Each is damaged by ``oversegment(mode="tilted")``
(:data:`TILTED_SPLIT_FRACTION` of its cells cut). The model built on these
volumes and its training run: :mod:`sklearn_overseg.pretrained.train`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..datasets import (
    keep_largest_pieces,
    make_tissue,
    oversegment,
    relabel_consecutive,
)

__all__ = [
    "SMALL_CELL_TISSUES",
    "bend_tissue",
    "crop_tissue",
    "tilted_training_volumes",
]

#: Tissues of smaller, rounder or longer cells, added for the tilted model:
#: (shape, n_cells, mode, anisotropy, elongation).
SMALL_CELL_TISSUES = [
    ((40, 128, 128), 150, "dense", 2.0, None),
    ((32, 128, 128), 120, "dense", 1.5, None),
    ((48, 128, 128), 150, "loose", 2.5, None),
    ((48, 160, 160), 80, "dense", 3.0, 1.0),
    ((48, 128, 128), 60, "dense", 2.0, 2.5),
]
#: Damage rounds of each small-celled tissue as it is (tilted model).
TILTED_ROUNDS = 2
#: Bent versions of every tissue (tilted model), one damage round each: the
#: amplitudes of the smooth displacement, in xy pixels.
BEND_AMPLITUDES = (3.0, 9.0)
#: Wavelength of the bending displacement, in xy pixels.
BEND_WAVELENGTH = 60.0
#: Fraction of the cells cut per round (tilted model).
TILTED_SPLIT_FRACTION = 0.25
#: Random sub-boxes cut from every tissue (tilted model), one damage round
#: each; the first is cut from the tissue as it is, the second from a bent
#: version (amplitude ``BEND_AMPLITUDES[1]``).
CROPS_PER_TISSUE = 2
#: Range of each side of a sub-box, as a share of the tissue's side: cells
#: keep their size, so most of them are truncated by the crop's border.
CROP_FRACTION = (0.5, 0.75)


def bend_tissue(
    labels: np.ndarray, anisotropy: float, amplitude: float, rng
) -> np.ndarray:
    """Warp a label volume by a smooth random displacement field.

    Walls and cells become curved (cells less convex). ``amplitude`` is the
    displacement's scale in xy pixels (``BEND_WAVELENGTH`` its wavelength).
    Each label keeps its largest piece; in dense tissue the other pieces join
    a neighbour.
    """
    wavelength = BEND_WAVELENGTH
    shape = np.array(labels.shape)
    scale = np.array([anisotropy, 1.0, 1.0])
    coarse = np.maximum(2, np.ceil(shape * scale / wavelength).astype(int) + 1)
    coords = np.indices(labels.shape, dtype=np.float32)
    for axis in range(3):
        field = ndi.zoom(
            rng.normal(size=coarse), shape / coarse, order=3, grid_mode=True,
            mode="nearest",
        )[: shape[0], : shape[1], : shape[2]]
        coords[axis] += (amplitude / scale[axis]) * field.astype(np.float32)
    bent = ndi.map_coordinates(labels, coords, order=0, mode="nearest")
    keep_largest_pieces(bent, reassign=bool((labels > 0).all()))
    return relabel_consecutive(bent)


def crop_tissue(labels: np.ndarray, rng) -> np.ndarray:
    """A random sub-box of a label volume, as a small crop of big cells.

    Each side is a random share (``CROP_FRACTION``) of the volume's side, at
    least 8 voxels; half of the time the sub-box is square in xy. Each label
    keeps its largest piece inside the box (in dense tissue the other pieces
    join a neighbour) and the labels are made consecutive.
    """
    shape = np.array(labels.shape)
    size = np.maximum(8, np.round(shape * rng.uniform(*CROP_FRACTION, size=3)))
    size = size.astype(int)
    if rng.rand() < 0.5:
        size[2] = size[1]
    start = [rng.randint(0, n - s + 1) for n, s in zip(shape, size)]
    box = tuple(slice(a, a + s) for a, s in zip(start, size))
    sub = labels[box].copy()
    keep_largest_pieces(sub, reassign=bool((sub > 0).all()))
    return relabel_consecutive(sub)


def tilted_training_volumes(seed: int = 0) -> tuple[list, list]:
    """Flawed volumes (tilted cuts) and their ground truth, for the tilted model.

    The small-celled tissues as they are (``TILTED_ROUNDS`` damage rounds),
    every tissue (the axis model's and the small-celled ones) bent by
    :func:`bend_tissue` with each of ``BEND_AMPLITUDES`` (one round each),
    and ``CROPS_PER_TISSUE`` sub-boxes of each tissue (:func:`crop_tissue`,
    every other one bent first; one round each), all damaged by
    ``oversegment(mode="tilted")``.
    """
    from .train import TRAINING_TISSUES

    specs = [(*t, None) for t in TRAINING_TISSUES] + SMALL_CELL_TISSUES
    rng = np.random.RandomState(seed)
    crop_rng = np.random.RandomState(seed + 7)
    flawed, truth, crops = [], [], []
    for i, (shape, n, mode, aniso, elongation) in enumerate(specs):
        straight = i >= len(TRAINING_TISSUES)
        tissue = make_tissue(
            shape, n, mode=mode, anisotropy=aniso, elongation=elongation,
            random_state=seed + 100 + i,
        )
        versions = [(tissue, TILTED_ROUNDS)] if straight else []
        versions += [
            (bend_tissue(tissue, aniso, amplitude, rng), 1)
            for amplitude in BEND_AMPLITUDES
        ]
        for volume, rounds in versions:
            for _ in range(rounds):
                flawed.append(_tilted_damage(volume, rng))
                truth.append(volume)
        for k in range(CROPS_PER_TISSUE):
            base = tissue
            if k % 2 == 1:
                base = bend_tissue(tissue, aniso, BEND_AMPLITUDES[1], crop_rng)
            crop = crop_tissue(base, crop_rng)
            crops.append((_tilted_damage(crop, crop_rng), crop))
    flawed += [damaged for damaged, _ in crops]
    truth += [crop for _, crop in crops]
    return flawed, truth


def _tilted_damage(volume: np.ndarray, rng) -> np.ndarray:
    """``volume`` with ``TILTED_SPLIT_FRACTION`` of its cells cut by planes."""
    n_cells = len(np.unique(volume)) - int((volume == 0).any())
    n_splits = max(1, round(TILTED_SPLIT_FRACTION * n_cells))
    damaged, _ = oversegment(
        volume, n_splits, mode="tilted", random_state=rng.randint(2**31)
    )
    return damaged

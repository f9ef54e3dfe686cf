"""Data of the leave-one-dataset-out benchmark (``bench_lodo.py``).

* :func:`real_volumes`: the six real ground truths of ``../shared/data``,
  the isotropic electron-microscopy volume resampled in z;
* :data:`FAMILIES`, :func:`family_volumes`: held-out synthetic families no
  training ever sees (seeds from 5000);
* :func:`synthetic_axis_volumes`, :func:`synthetic_tilted_volumes`: the
  shipped recipe's training tissues, from ``sklearn_overseg/pretrained/train.py``
  (the tilted one a subset: see :data:`TILTED_SPECS`);
* :func:`randomized_volumes`: domain-randomised training tissue
  (``make_randomized_tissue``, seeds from 0);
* :func:`axis_training`, :func:`tilted_training`: labelled candidate pairs
  damaged from ground truth; :func:`axis_test`, :func:`tilted_test`: test
  damage (seeds from 10 000, never used in training).
"""

from __future__ import annotations

import numpy as np
from bench_common import quiet
from bench_synthesized import damage

from sklearn_overseg import (
    CandidateScreener,
    label_candidates,
    make_training_candidates,
)
from sklearn_overseg.datasets import make_randomized_tissue, make_tissue, oversegment
from sklearn_overseg.datasets._pieces import keep_largest_pieces, relabel_consecutive
from sklearn_overseg.pretrained import _tilted_recipe as tilted_recipe
from sklearn_overseg.pretrained import train as recipe

#: z step of the isotropic electron-microscopy volume (every 4th layer).
EM_Z_STEP = 4

#: Held-out synthetic families: name -> (shape, settings of
#: ``make_randomized_tissue``, seeds). Everything not named is fixed to a
#: plain tissue (no warp, drift or crop), so each family varies one thing.
_PLAIN = dict(mode="dense", anisotropy=3.0, cell_radius=10.0, elongation=1.5,
              warp=0.0, drift=0.0, crop=0.0)
FAMILIES = {
    "anisotropy 1": ((32, 64, 64), dict(_PLAIN, anisotropy=1.0, cell_radius=8.0),
                     (5001,)),
    "anisotropy 8": ((16, 64, 64), dict(_PLAIN, anisotropy=8.0, cell_radius=12.0),
                     (5101,)),
    "layer drift": ((24, 64, 64), dict(_PLAIN, cell_radius=8.0, drift=1.5), (5201,)),
    "small cells": ((16, 48, 48), dict(_PLAIN, cell_radius=5.0), (5301,)),
    "large cells": ((32, 128, 128), dict(_PLAIN, cell_radius=20.0), (5401,)),
    "cut by faces": ((24, 64, 64), dict(_PLAIN, cell_radius=8.0, crop=1.0, warp=4.0),
                     (5501,)),
}

#: Domain-randomised training tissue: shape and settings (ranges).
RANDOM_SHAPE = (32, 96, 96)
RANDOM_SETTINGS = dict(anisotropy=(1.0, 8.0), cell_radius=(5.0, 16.0),
                       warp=(0.0, 6.0), drift=(0.0, 1.5), crop=0.5)

#: Indices of the tilted recipe's tissue specs (``TRAINING_TISSUES`` then
#: ``SMALL_CELL_TISSUES``) used here: every other one, to keep the run short.
TILTED_SPECS = (0, 2, 4, 6, 8, 10, 12)

AXIS_SCREENER = CandidateScreener(mode="axis", max_gap=2)
CONTACT_SCREENER = CandidateScreener(mode="contact", min_contact=10)


# ------------------------------------------------------------------ volumes
def real_volumes() -> dict[str, np.ndarray]:
    """The real ground truths, by name (the EM volume every 4th layer)."""
    from _shared_data import ALL_NAMES, load

    out = {}
    for name in ALL_NAMES:
        labels = load(name)[0].astype(np.int32)
        if name == "em_medulla_gala":
            labels = np.ascontiguousarray(labels[::EM_Z_STEP])
            keep_largest_pieces(labels, reassign=False)
            labels = relabel_consecutive(labels)
        out[name] = labels
    return out


def family_volumes(name: str) -> list[np.ndarray]:
    """The held-out ground truths of one synthetic family."""
    shape, settings, seeds = FAMILIES[name]
    return [make_randomized_tissue(shape, random_state=s, **settings) for s in seeds]


def synthetic_axis_volumes() -> list[np.ndarray]:
    """The axis recipe's training tissues (``train.training_volumes``)."""
    return recipe.training_volumes(0)


def synthetic_tilted_volumes(seed: int = 0) -> tuple[list, list]:
    """Damaged tissues and truths of the tilted recipe, specs ``TILTED_SPECS``.

    As ``train.tilted_training_volumes``: each tissue bent
    (``bend_tissue``, the larger amplitude) and one random sub-box
    (``crop_tissue``), each damaged by the recipe's ``_tilted_damage``; the
    small-celled tissues also as they are.
    """
    specs = [(*t, None) for t in recipe.TRAINING_TISSUES]
    specs += tilted_recipe.SMALL_CELL_TISSUES
    rng = np.random.RandomState(seed)
    flawed, truth = [], []
    for i in TILTED_SPECS:
        shape, n, mode, aniso, elongation = specs[i]
        tissue = make_tissue(shape, n, mode=mode, anisotropy=aniso,
                             elongation=elongation, random_state=seed + 100 + i)
        versions = [
            tilted_recipe.bend_tissue(
                tissue, aniso, tilted_recipe.BEND_AMPLITUDES[1], rng
            ),
            tilted_recipe.crop_tissue(tissue, rng),
        ]
        if i >= len(recipe.TRAINING_TISSUES):
            versions.append(tissue)
        for volume in versions:
            with quiet():
                flawed.append(tilted_recipe._tilted_damage(volume, rng))
            truth.append(volume)
    return flawed, truth


def randomized_volumes(n: int) -> list[np.ndarray]:
    """``n`` domain-randomised training tissues (seeds ``0 .. n-1``)."""
    return [
        make_randomized_tissue(RANDOM_SHAPE, random_state=s, **RANDOM_SETTINGS)
        for s in range(n)
    ]


# --------------------------------------------------------- candidate pairs
def axis_training(volumes, rounds: int, seed: int):
    """Labelled axis pairs damaged from ``volumes`` (the recipe's simulator)."""
    with quiet():
        cands, y, _ = make_training_candidates(
            volumes, screener=AXIS_SCREENER, n_rounds=rounds, random_state=seed
        )
    return cands, y


def tilted_training(flawed, truth):
    """Every touching pair of the damaged volumes, labelled by the truth."""
    cands = CONTACT_SCREENER.transform(flawed)
    return cands, label_candidates(cands, flawed, truth)


def tilted_damage_rounds(volumes, rounds: int, seed: int) -> tuple[list, list]:
    """``rounds`` tilted damages of each volume (the recipe's split share)."""
    rng = np.random.RandomState(seed)
    flawed, truth = [], []
    for volume in volumes:
        for _ in range(rounds):
            with quiet():
                flawed.append(tilted_recipe._tilted_damage(volume, rng))
            truth.append(volume)
    return flawed, truth


def test_seeds(n_seeds: int, *, real: int | None = None,
               family: tuple[int, int] | None = None) -> list[int]:
    """The damage seeds of ``bench_lodo.py``'s test sets, in one place.

    ``real``: the index of a real file; ``family``: the index of a family and
    of its volume. The scripts that explain ``bench_lodo.py``'s numbers
    (``bench_*_misses.py``, ``bench_stitch_negatives.py``) take the same
    damage from here.
    """
    seeds = [10_000 + r for r in range(n_seeds)]
    if real is not None:
        return [s + 100 * real for s in seeds]
    if family is not None:
        j, k = family
        return [s + 1000 * j + 10 * k for s in seeds]
    return seeds


def test_sets(real: dict, make_test, n_seeds: int) -> dict:
    """``set name -> test cases`` of every real file and held-out family."""
    tests = {name: make_test(vol, test_seeds(n_seeds, real=i))
             for i, (name, vol) in enumerate(real.items())}
    for j, family in enumerate(FAMILIES):
        tests[family] = [
            case for k, vol in enumerate(family_volumes(family))
            for case in make_test(vol, test_seeds(n_seeds, family=(j, k)))
        ]
    return tests


def axis_test(truth: np.ndarray, seeds) -> list[dict]:
    """Test damages of one ground truth: axis splits and distinct-cell gaps.

    ``bench_synthesized.damage``: a quarter of the cells split by one missing
    layer, noisy masks, shrinkage, 10% of the cells in distinct-cell gaps
    (half the simulator's, half ``make_hard_negatives``). ``cands``: the
    pairs of :data:`AXIS_SCREENER` (gaps of 1-2 layers, the single-pipeline
    recipes'); ``rcands``: those of the shipped axis model's screener (gap-0
    pairs too, ``_lodo_routed.ROUTED_SCREENER``), which ``correct`` scores.
    """
    from _lodo_routed import ROUTED_SCREENER

    cases = []
    for seed in seeds:
        flawed, pairs, hard, n_sim = damage(truth, seed=seed)
        cands = AXIS_SCREENER.transform([flawed])
        rcands = ROUTED_SCREENER.transform([flawed])
        cases.append(dict(flawed=flawed, truth=truth, pairs=pairs, hard=hard,
                          n_sim=n_sim, cands=cands,
                          y=label_candidates(cands, [flawed], [truth]),
                          rcands=rcands,
                          ry=label_candidates(rcands, [flawed], [truth])))
    return cases


def tilted_test(truth: np.ndarray, seeds) -> list[dict]:
    """Test damages of one ground truth: a quarter of the cells cut by planes."""
    n_cells = int(np.count_nonzero(np.unique(truth)))
    cases = []
    for seed in seeds:
        with quiet():
            flawed, pairs = oversegment(
                truth, n_splits=max(1, round(0.25 * n_cells)), mode="tilted",
                random_state=seed,
            )
        cands = CONTACT_SCREENER.transform([flawed])
        cases.append(dict(flawed=flawed, truth=truth, pairs=pairs,
                          hard=np.zeros((0, 2), np.int64), n_sim=0, cands=cands,
                          y=label_candidates(cands, [flawed], [truth])))
    return cases

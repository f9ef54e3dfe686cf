"""The steps of the oversegmentation simulator, in order, on a checked volume.

Cells are split (``_cuts``), hard negatives made (``_confounders``), masks
next to gaps shrunk and noise masks put in the gaps (``_gaps``); the labels
are widened to a dtype that holds the new ones while they are made, and
narrowed back when they fit. :func:`~sklearn_overseg.datasets.oversegment`
checks the arguments and documents the result.
"""

from __future__ import annotations

import numpy as np

from .._warnings import warn_user
from ._confounders import MAX_TRIM_LOSS, make_confounders
from ._cuts import axis_splits, label_boxes, tilted_splits
from ._gaps import add_noise_masks, shrink_next_to_gaps

__all__ = ["simulate_oversegmentation"]


def simulate_oversegmentation(
    source: np.ndarray,
    n_splits: int,
    *,
    mode: str,
    gap_layers: int,
    min_fragment_layers: int,
    max_cuts_per_cell: int,
    shrink: int,
    shrink_probability: float,
    n_stacked_confounders: int,
    confounder_style: str,
    n_noise_masks: int,
    max_noise_fraction: float,
    min_tilt: float,
    spacing: np.ndarray,
    return_info: bool,
    rng: np.random.RandomState,
):
    """:func:`~sklearn_overseg.datasets.oversegment` on a checked volume.

    The counts are whole numbers, ``spacing`` a checked voxel size and
    ``rng`` a random state. Returns ``(flawed, truth_pairs)``, plus ``info``
    if ``return_info``; the warnings name the caller of ``oversegment``.
    """
    max_label = int(source.max())
    worst = max_label + n_splits + n_noise_masks
    work_dtype = _dtype_holding(source.dtype, worst)
    flawed = source.astype(work_dtype, copy=True)
    boxes = label_boxes(source)
    if mode == "axis":
        pairs, split_gaps, sources = axis_splits(
            flawed,
            boxes,
            n_splits,
            gap_layers,
            min_fragment_layers,
            max_cuts_per_cell,
            max_label + 1,
            rng,
        )
    else:
        pairs, sources = tilted_splits(
            flawed,
            boxes,
            n_splits,
            min_fragment_layers,
            min_tilt,
            spacing,
            max_label + 1,
            rng,
        )
        split_gaps = []
    if n_splits and not pairs and boxes:
        needed = 2 * min_fragment_layers + (gap_layers if mode == "axis" else 0)
        warn_user(
            f"oversegment could not split any cell in {mode!r} mode (fragments "
            f"must stay one piece and span >= {min_fragment_layers} z layers; "
            f"cells need >= {needed} layers).",
        )
    touched = np.unique(np.asarray(pairs, dtype=np.int64))
    confounders, lost = make_confounders(
        flawed,
        touched,
        n_stacked_confounders,
        gap_layers,
        min_fragment_layers,
        confounder_style,
        rng,
    )
    if n_stacked_confounders and not confounders and boxes:
        needs = (
            f"two cells touching across a roughly horizontal interface that "
            f"can be trimmed to a clear gap losing <= {MAX_TRIM_LOSS:.0%} each"
            if confounder_style == "trim"
            else "one cell's last z layer lying on the other's first with a "
            "large overlap and a clear gap once blanked"
        )
        warn_user(
            f"oversegment could not make any stacked confounder in "
            f"{confounder_style!r} style (it needs two different cells, not "
            f"split: {needs}).",
        )
    gaps = split_gaps + confounders
    shrink_next_to_gaps(flawed, gaps, shrink, shrink_probability, rng)
    first_noise = max_label + 1 + len(pairs)
    noise, noise_gap = add_noise_masks(
        flawed, gaps, n_noise_masks, max_noise_fraction, first_noise, rng
    )
    upcast = int(flawed.max()) > _dtype_max(source.dtype)
    if not upcast:
        flawed = flawed.astype(source.dtype, copy=False)
    truth_pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not return_info:
        return flawed, truth_pairs
    info = {
        "source_labels": np.asarray(sources, dtype=np.int64),
        "gap_layers": [g.layers for g in split_gaps],
        "confounder_pairs": np.asarray(
            [(g.upper, g.lower) for g in confounders], dtype=np.int64
        ).reshape(-1, 2),
        "confounder_gap_layers": [g.layers for g in confounders],
        "confounder_style": confounder_style,
        "confounder_lost_fraction": lost,
        "confounder_shortened": np.asarray(
            [g.upper if a >= b else g.lower for g, (a, b) in zip(confounders, lost)],
            dtype=np.int64,
        ),
        "noise_labels": np.asarray(noise, dtype=np.int64),
        "noise_pairs": np.asarray(
            [(gaps[i].upper, gaps[i].lower) for i in noise_gap], dtype=np.int64
        ).reshape(-1, 2),
        "removed_voxels": int(np.count_nonzero((source > 0) & (flawed == 0))),
        "upcast": upcast,
    }
    return flawed, truth_pairs, info


def _dtype_max(dtype) -> int:
    return int(np.iinfo(dtype).max)


def _dtype_holding(dtype: np.dtype, value: int) -> np.dtype:
    """``dtype`` if it can hold ``value``, else the smallest wider integer dtype."""
    dtype = np.dtype(dtype)
    # a signed dtype holds value when it holds -(value + 1)
    needed = np.min_scalar_type(value if dtype.kind == "u" else -(int(value) + 1))
    wider = np.promote_types(dtype, needed) if needed.kind in "iu" else None
    if wider is None or wider.kind != dtype.kind:
        raise ValueError(f"labels up to {value} do not fit in a 64-bit integer.")
    return wider

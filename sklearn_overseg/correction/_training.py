"""Training candidates from ground truth, made by damaging correct segmentations.

Candidates are screened in a flawed volume and labelled by the ground truth
(:func:`~sklearn_overseg.correction.label_candidates`).
``make_training_candidates`` makes the flawed volumes itself from correct
segmentations with :func:`~sklearn_overseg.datasets.oversegment`: positives
by deleting or shrinking layers of real cells (with noisy partial masks in
some gaps, and 2-3 missing layers when the screener allows them), negatives
from natural gaps and from gaps opened between two *different* stacked
cells, the paper's hard case. Dense cells interlock in z, so these are made
by the simulator's ``confounder_style="trim"``: both cells are trimmed around
their interface so that they face each other across a clean gap, as the
screener expects.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

from .._candidates import CandidateSet
from .._image import attach_image
from .._validation import check_volumes
from .._warnings import warn_user
from ._labelling import check_images, label_candidates

__all__ = ["check_damage_kind", "damaged_copies", "make_training_candidates"]


def _damage(truth, mode, n_splits, gap_layers, shrink, n_confounders, n_noise, seed):
    """A flawed copy of ``truth`` and its true pairs (see :func:`oversegment`).

    Axis mode adds ``n_confounders`` trimmed stacked confounders (as many as
    the volume allows) and ``n_noise`` noisy partial masks.
    """
    from ..datasets import oversegment

    if mode == "tilted":
        return oversegment(
            truth, n_splits=n_splits, mode="tilted", random_state=seed
        )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*stacked confounder", category=UserWarning
        )
        return oversegment(
            truth,
            n_splits=n_splits,
            mode="axis",
            gap_layers=gap_layers,
            shrink=shrink,
            n_stacked_confounders=n_confounders,
            confounder_style="trim",
            n_noise_masks=n_noise,
            random_state=seed,
        )


def check_damage_kind(kind: str, *, name: str = "mode") -> str:
    """``"axis"`` or ``"contact"``; ``"tilted"`` is a deprecated alias."""
    if kind == "tilted":
        warn_user(
            f"{name}='tilted' is deprecated since 0.2 and will be removed in "
            f"0.3: use {name}='contact' (the candidate kind that tilted cuts "
            "make).",
            FutureWarning,
        )
        return "contact"
    return kind


def damaged_copies(
    volumes, *, kind: str, n_rounds: int, max_gap: int = 1, random_state=None,
    split_fraction: float = 0.25, confounder_fraction: float = 0.15,
    noise_fraction: float = 0.3, shrink: int = 1,
):
    """Yield ``(volume index, flawed copy, true pairs)``, ``n_rounds`` per volume.

    ``kind`` is ``"axis"`` (missing layers) or ``"contact"`` (tilted cuts);
    see :func:`make_training_candidates` for the other parameters.
    ``random_state`` is a ``RandomState`` (drawn from in order).
    """
    for v, truth in enumerate(volumes):
        n_cells = len(np.unique(truth)) - (1 if (truth == 0).any() else 0)
        if n_cells == 0:  # an empty tile: nothing to split
            continue
        for _ in range(n_rounds):
            seed = int(random_state.randint(2**31 - 1))
            n_splits = max(1, int(round(split_fraction * n_cells)))
            flawed, pairs = _damage(
                truth,
                "tilted" if kind == "contact" else "axis",
                n_splits,
                gap_layers=int(np.random.RandomState(seed).randint(1, max_gap + 1)),
                shrink=int(shrink),
                n_confounders=int(round(confounder_fraction * n_cells)),
                n_noise=int(round(noise_fraction * n_splits)),
                seed=seed,
            )
            yield v, flawed, pairs


@validate_params(
    {
        "volumes": "no_validation",  # check_volumes
        "screener": [HasMethods(["transform"]), None],
        "mode": [StrOptions({"axis", "contact", "tilted"}, deprecated={"tilted"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "split_fraction": [Interval(Real, 0, 1, closed="both")],
        "confounder_fraction": [Interval(Real, 0, 1, closed="both")],
        "noise_fraction": [Interval(Real, 0, 1, closed="both")],
        "shrink": [Interval(Integral, 0, None, closed="left")],
        "negative_ratio": [Interval(Real, 0, None, closed="left"), None],
        "voxel_size": "no_validation",  # check_voxel_size
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_training_candidates(
    volumes,
    *,
    screener=None,
    mode: str = "axis",
    n_rounds: int = 3,
    split_fraction: float = 0.25,
    confounder_fraction: float = 0.15,
    noise_fraction: float = 0.3,
    shrink: int = 1,
    negative_ratio: float | None = 1.0,
    voxel_size=None,
    random_state=None,
    images=None,
):
    """Make labelled candidate pairs from correct (ground-truth) volumes.

    Each round damages every volume with
    :func:`~sklearn_overseg.datasets.oversegment`, screens the damaged volume
    and labels the candidates by the original volume with
    :func:`label_candidates`.

    Parameters
    ----------
    volumes : list of ndarray
        Correct label volumes (ground truth).
    screener : CandidateScreener, default=None
        Screener to use (cloned); ``None`` uses ``CandidateScreener(mode=mode)``.
    mode : {"axis", "contact"}, default="axis"
        The kind of candidates to make: axis splits (missing layers) or
        contacts (cuts by tilted planes). ``"tilted"`` is a deprecated alias
        of ``"contact"``.
    n_rounds : int, default=3
        Independent damage rounds per volume.
    split_fraction : float, default=0.25
        Fraction of the cells split per round.
    confounder_fraction : float, default=0.15
        Fraction of cells, per round, paired with a different stacked cell
        across a gap opened at their interface (axis mode; hard negatives):
        :func:`~sklearn_overseg.datasets.oversegment` with
        ``confounder_style="trim"``, which removes at most 30% of either cell.
        Fewer are made when the volume offers too few such pairs.
    noise_fraction : float, default=0.3
        Fraction of gaps that receive a small noisy partial mask (axis mode).
    shrink : int, default=1
        Pixels of mask shrinkage next to some gaps (axis mode).
    negative_ratio : float or None, default=1.0
        Keep at most ``negative_ratio`` negatives per positive (a random,
        seeded subset); ``None`` keeps every candidate (the realistic ratio).
    voxel_size : float, sequence of 3 floats or None, default=None
        Voxel size of the volumes, given to the screener; ``None`` measures
        in voxels.
    random_state : int, RandomState or None
        Seed; the result is deterministic for a fixed seed.
    images : list of ndarray, default=None
        The raw image of each volume (same shapes), for image features: every
        candidate then carries the crop of its volume's normalised image
        (``Candidate.image``). The damage changes only labels, so the image
        still shows the true cells. Synthetic tissue has no image: draw one
        with :func:`~sklearn_overseg.datasets.make_tissue_image`.

    Returns
    -------
    candidates : CandidateSet
        ``volume_index`` is the index of the source volume in ``volumes``.
    y : ndarray of shape (n,), dtype int
        1 for a true split, 0 for two different cells.
    groups : ndarray of shape (n,)
        The source volume of each pair, for ``GroupKFold``.

    Examples
    --------
    >>> from sklearn_overseg import make_training_candidates
    >>> from sklearn_overseg.datasets import make_tissue
    >>> vol = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    >>> X, y, groups = make_training_candidates([vol], n_rounds=1, random_state=0)
    >>> len(X) == len(y) == len(groups), set(y.tolist()) <= {0, 1}
    (True, True)
    """
    from dataclasses import replace

    from ..screening import CandidateScreener

    mode = check_damage_kind(mode)
    volumes = check_volumes(
        volumes, name="ground-truth volumes", allow_background_only=True
    )
    normalised = None if images is None else check_images(images, volumes)
    rng = check_random_state(random_state)
    if screener is None:
        screener = CandidateScreener(mode=mode)
    screener = clone(screener)
    found, labels = [], []
    for v, flawed, _ in damaged_copies(
        volumes, kind=mode, n_rounds=n_rounds,
        max_gap=int(getattr(screener, "max_gap", 1)), random_state=rng,
        split_fraction=split_fraction, confounder_fraction=confounder_fraction,
        noise_fraction=noise_fraction, shrink=shrink,
    ):
        cands = screener.transform([flawed], voxel_size=voxel_size)
        if normalised is not None:
            cands = attach_image(cands, normalised[v])
        found.append(CandidateSet(replace(c, volume_index=v) for c in cands))
        labels.append(label_candidates(cands, [flawed], [volumes[v]]))
    candidates = CandidateSet.concatenate(found)
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    if negative_ratio is not None:
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        n_keep = int(np.ceil(negative_ratio * max(len(pos), 1)))
        if len(neg) > n_keep:
            neg = np.sort(rng.choice(neg, size=n_keep, replace=False))
        keep = np.sort(np.concatenate([pos, neg]))
        candidates, y = candidates[keep], y[keep]
    return candidates, y, candidates.volume_index

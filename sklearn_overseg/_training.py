"""Training candidates from ground truth.

One mechanism serves both ways of training: candidates are screened in a
flawed volume and labelled by the ground truth, a pair being a true split when
both fragments belong (by majority of their voxels) to the same true cell.
``make_training_candidates`` makes the flawed volumes itself from correct
segmentations with :func:`~sklearn_overseg.datasets.oversegment`: positives
by deleting or shrinking layers of real cells (with noisy partial masks in
some gaps, and 2-3 missing layers when the screener allows them), negatives
from natural gaps and from layers blanked between two *different* stacked
cells, the paper's hard case. Dense cells interlock in z, so the simulator
rarely finds two cells stacked cleanly enough; the shortfall of such hard
negatives is made by trimming the overlapping ends of stacked cells so that
the pair faces across a clean gap, as the screener expects.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._candidates import CandidateSet
from ._geometry import LabelGeometry
from ._validation import check_volumes

__all__ = ["label_candidates", "make_training_candidates"]

#: Largest fraction of a stacked cell's voxels removed to open a confounder gap.
_MAX_CONFOUNDER_LOSS = 0.3
#: Smallest contact, in pixels, between two stacked cells made a confounder.
_MIN_CONTACT_PIXELS = 12


def _majority_truth(flawed: np.ndarray, truth: np.ndarray, labels: np.ndarray):
    """Map each flawed label in ``labels`` to its majority ground-truth label."""
    labels = np.unique(np.asarray(labels, dtype=np.int64))
    mask = np.isin(flawed, labels)
    f_idx = np.searchsorted(labels, flawed[mask].astype(np.int64))
    t_values, t_idx = np.unique(truth[mask], return_inverse=True)
    counts = np.bincount(
        f_idx * len(t_values) + t_idx.ravel(), minlength=len(labels) * len(t_values)
    ).reshape(len(labels), len(t_values))
    best = t_values[np.argmax(counts, axis=1)] if len(t_values) else labels * 0
    return dict(zip(labels.tolist(), np.asarray(best, dtype=np.int64).tolist()))


def label_candidates(candidates: CandidateSet, flawed_volumes, truth_volumes):
    """Label candidate pairs by ground truth.

    Parameters
    ----------
    candidates : CandidateSet
        Pairs screened in ``flawed_volumes``.
    flawed_volumes, truth_volumes : list of ndarray
        The segmentations the candidates come from and their ground truth
        (same shapes).

    Returns
    -------
    y : ndarray of shape (n_candidates,), dtype int
        ``1`` when both fragments belong mostly to the same true cell.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import CandidateScreener, label_candidates
    >>> truth = np.zeros((5, 4, 4), dtype=np.uint8); truth[:, 1:3, 1:3] = 1
    >>> flawed = truth.copy(); flawed[2] = 0; flawed[3:][flawed[3:] == 1] = 2
    >>> cands = CandidateScreener().transform([flawed])
    >>> label_candidates(cands, [flawed], [truth]).tolist()
    [1]
    """
    flawed_volumes = check_volumes(flawed_volumes, name="flawed volumes")
    truth_volumes = check_volumes(
        truth_volumes, name="ground truth", allow_background_only=True
    )
    if len(flawed_volumes) != len(truth_volumes):
        raise ValueError(
            f"got {len(flawed_volumes)} volumes but {len(truth_volumes)} ground truths"
        )
    for i, (f, t) in enumerate(zip(flawed_volumes, truth_volumes)):
        if f.shape != t.shape:
            raise ValueError(
                f"volume {i} has shape {f.shape} but its ground truth {t.shape}"
            )
    y = np.zeros(len(candidates), dtype=np.int64)
    if len(candidates) == 0:
        return y
    vol_idx, pairs = candidates.volume_index, candidates.pairs
    for v in np.unique(vol_idx):
        rows = np.flatnonzero(vol_idx == v)
        major = _majority_truth(flawed_volumes[v], truth_volumes[v], pairs[rows])
        a = np.array([major[p] for p in pairs[rows, 0]])
        b = np.array([major[p] for p in pairs[rows, 1]])
        y[rows] = (a == b) & (a != 0)
    return y


def _stacked_contacts(volume: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Rows ``(upper, lower, z)``: the largest z contact of each stacked pair.

    ``upper`` at layer ``z`` lies on ``lower`` at ``z + 1`` on at least
    ``_MIN_CONTACT_PIXELS`` pixels; labels in ``excluded`` are ignored.
    """
    above, below = volume[:-1], volume[1:]
    z, y, x = np.nonzero((above != below) & (above > 0) & (below > 0))
    a = above[z, y, x].astype(np.int64)
    b = below[z, y, x].astype(np.int64)
    keep = ~(np.isin(a, excluded) | np.isin(b, excluded))
    if not keep.any():
        return np.zeros((0, 3), dtype=np.int64)
    rows, area = np.unique(
        np.stack([a[keep], b[keep], z[keep]], axis=1), axis=0, return_counts=True
    )
    order = np.lexsort((area, rows[:, 1], rows[:, 0]))
    rows, area = rows[order], area[order]
    best = np.r_[np.any(rows[1:, :2] != rows[:-1, :2], axis=1), True]
    return rows[best & (area >= _MIN_CONTACT_PIXELS)]


def _trim_stacked_pairs(flawed, n, gap_layers, excluded, rng) -> int:
    """Make up to ``n`` stacked confounders the axis screener can see, in place.

    Stacked cells interlock in z: the upper cell usually goes on below its
    contact with the lower cell elsewhere, and the lower cell starts above it,
    so blanking the contact alone never makes the two face each other across
    a gap. Here the upper cell loses its voxels from the gap down and the
    lower cell its voxels down to the gap's last layer, when both keep at
    least two layers, stay one piece and lose at most
    ``_MAX_CONFOUNDER_LOSS`` of their voxels. Returns the number made.
    """
    from .datasets._pieces import is_connected

    if n <= 0:
        return 0
    contacts = _stacked_contacts(flawed, np.asarray(sorted(excluded), np.int64))
    geometry = LabelGeometry.from_volume(flawed)
    used: set[int] = set()
    made = 0
    for upper, lower, z in contacts[rng.permutation(len(contacts))].tolist():
        if made == n:
            break
        if upper in used or lower in used:
            continue
        box = geometry.union_bbox(upper, lower)
        view = flawed[box]
        first = z - gap_layers + 1 - box[0].start  # first gap layer, box coords
        last = z - box[0].start
        upper_cell, lower_cell = view == upper, view == lower
        upper_kept, lower_kept = upper_cell.copy(), lower_cell.copy()
        upper_kept[max(first, 0) :] = False
        lower_kept[: last + 1] = False
        layers_kept = (
            upper_kept.any(axis=(1, 2)).sum(), lower_kept.any(axis=(1, 2)).sum()
        )
        lost = max(
            1 - upper_kept.sum() / upper_cell.sum(),
            1 - lower_kept.sum() / lower_cell.sum(),
        )
        if min(layers_kept) < 2 or lost > _MAX_CONFOUNDER_LOSS:
            continue
        if not (is_connected(upper_kept) and is_connected(lower_kept)):
            continue
        view[(upper_cell & ~upper_kept) | (lower_cell & ~lower_kept)] = 0
        used.update((upper, lower))
        made += 1
    return made


def _damage(truth, mode, n_splits, gap_layers, shrink, n_confounders, n_noise, seed):
    """A flawed copy of ``truth`` and its true pairs (see :func:`oversegment`).

    The simulator's stacked confounders need two cells stacked without
    interlocking, which dense tissue rarely offers; the shortfall is made up
    by :func:`_trim_stacked_pairs`.
    """
    from .datasets import oversegment

    if mode == "tilted":
        return oversegment(
            truth, n_splits=n_splits, mode="tilted", random_state=seed
        )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*stacked confounder", category=UserWarning
        )
        flawed, pairs, info = oversegment(
            truth,
            n_splits=n_splits,
            mode="axis",
            gap_layers=gap_layers,
            shrink=shrink,
            n_stacked_confounders=n_confounders,
            n_noise_masks=n_noise,
            return_info=True,
            random_state=seed,
        )
    excluded = np.concatenate(
        [pairs.ravel(), info["confounder_pairs"].ravel(), info["noise_labels"]]
    )
    _trim_stacked_pairs(
        flawed,
        n_confounders - len(info["confounder_pairs"]),
        gap_layers,
        excluded,
        np.random.RandomState(seed),
    )
    return flawed, pairs


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
    random_state=None,
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
        Screener to use (cloned); ``None`` uses ``CandidateScreener(mode=...)``
        with ``mode="contact"`` for tilted training.
    mode : {"axis", "tilted"}, default="axis"
        Axis splits (missing layers) or tilted cuts (random planes).
    n_rounds : int, default=3
        Independent damage rounds per volume.
    split_fraction : float, default=0.25
        Fraction of the cells split per round.
    confounder_fraction : float, default=0.15
        Fraction of cells, per round, whose boundary layer with a different
        stacked cell is blanked (axis mode; hard negatives). When the
        simulator finds too few cleanly stacked cells, interlocking pairs are
        used: the upper cell is cut off at the gap and the lower one starts
        after it, if that removes at most 30% of either cell.
    noise_fraction : float, default=0.3
        Fraction of gaps that receive a small noisy partial mask (axis mode).
    shrink : int, default=1
        Pixels of mask shrinkage next to some gaps (axis mode).
    negative_ratio : float or None, default=1.0
        Keep at most ``negative_ratio`` negatives per positive (a random,
        seeded subset); ``None`` keeps every candidate (the realistic ratio).
    random_state : int, RandomState or None
        Seed; the result is deterministic for a fixed seed.

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

    from ._screening import CandidateScreener

    if mode not in ("axis", "tilted"):
        raise ValueError(f"mode must be 'axis' or 'tilted', got {mode!r}")
    _check_training_settings(
        n_rounds, split_fraction, confounder_fraction, noise_fraction, shrink,
        negative_ratio,
    )
    volumes = check_volumes(volumes, name="ground-truth volumes")
    rng = check_random_state(random_state)
    if screener is None:
        screener = CandidateScreener(mode="axis" if mode == "axis" else "contact")
    screener = clone(screener)
    max_gap = int(getattr(screener, "max_gap", 1))
    found, labels = [], []
    for v, truth in enumerate(volumes):
        n_cells = len(np.unique(truth)) - (1 if (truth == 0).any() else 0)
        for _ in range(n_rounds):
            seed = int(rng.randint(2**31 - 1))
            n_splits = max(1, int(round(split_fraction * n_cells)))
            flawed, _ = _damage(
                truth,
                mode,
                n_splits,
                gap_layers=int(np.random.RandomState(seed).randint(1, max_gap + 1)),
                shrink=int(shrink),
                n_confounders=int(round(confounder_fraction * n_cells)),
                n_noise=int(round(noise_fraction * n_splits)),
                seed=seed,
            )
            cands = screener.transform([flawed])
            found.append(CandidateSet(replace(c, volume_index=v) for c in cands))
            labels.append(label_candidates(cands, [flawed], [truth]))
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


def _check_training_settings(
    n_rounds, split_fraction, confounder_fraction, noise_fraction, shrink,
    negative_ratio,
) -> None:
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, numbers.Integral) or (
        n_rounds < 1
    ):
        raise ValueError(f"n_rounds must be a positive integer, got {n_rounds!r}")
    for name, value in (
        ("split_fraction", split_fraction),
        ("confounder_fraction", confounder_fraction),
        ("noise_fraction", noise_fraction),
    ):
        if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if isinstance(shrink, bool) or not isinstance(shrink, numbers.Integral) or (
        shrink < 0
    ):
        raise ValueError(f"shrink must be a non-negative integer, got {shrink!r}")
    if negative_ratio is not None and (
        not isinstance(negative_ratio, numbers.Real) or not negative_ratio >= 0
    ):
        raise ValueError(
            f"negative_ratio must be None or a non-negative number, got "
            f"{negative_ratio!r}"
        )

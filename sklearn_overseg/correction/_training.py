"""Training candidates from ground truth.

One mechanism serves both ways of training: candidates are screened in a
flawed volume and labelled by the ground truth, a pair being a true split when
both fragments belong (by majority of their voxels) to the same true cell.
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

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._candidates import CandidateSet
from .._validation import check_volumes

__all__ = ["label_candidates", "make_training_candidates"]


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

    from ..screening import CandidateScreener

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

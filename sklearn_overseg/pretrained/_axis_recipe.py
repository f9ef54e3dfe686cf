"""The training pairs of the shipped ``axis`` model: missing layers and stitch splits.

Two kinds of damage, on the same synthetic tissues:

* **axis gaps** - :func:`~sklearn_overseg.make_training_candidates`: cells
  split by 1-2 missing layers, noisy masks in some gaps, and different cells
  stacked across an opened gap (hard negatives);
* **stitch splits** - :func:`~sklearn_overseg.datasets.slice_and_stitch`:
  every slice segmented in 2D (perfect cross-sections, mild or strong 2D
  flaws), stitched by IoU at thresholds 0.25 and 0.5 and z steps 1 and 2.
  This makes the end caps and mid-cell cuts real stitchers leave, and the
  different cells stacked across flat interfaces they must not be joined to.

:func:`axis_training_candidates` returns both, labelled by the ground truth,
so that other code (a leave-one-dataset-out benchmark, for example) can train
the same recipe with extra ground-truth volumes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.base import clone

from .._candidates import CandidateSet
from .._validation import check_volumes
from ..correction import label_candidates, make_training_candidates
from ..datasets import make_tissue, slice_and_stitch

__all__ = ["STITCH_SETTINGS", "axis_training_candidates", "stitch_candidates"]

#: (stitch threshold, z step, 2D flaws) of each stitch round of a volume.
#: ``"none"``: perfect 2D cross-sections; ``"mild"``: the simulator's
#: defaults; ``"strong"``: twice the jitter and more resized, split, missed
#: and false masks.
STITCH_SETTINGS = (
    (0.25, 1, "none"),
    (0.5, 1, "mild"),
    (0.25, 2, "mild"),
    (0.5, 2, "strong"),
    (0.25, 1, "strong"),
)
_FLAWS = {
    "none": dict(jitter=0.0, p_resize=0.0, p_split=0.0, p_miss=0.0, false_masks=0.0),
    "mild": {},
    "strong": dict(jitter=1.4, p_resize=0.5, p_split=0.05, p_miss=0.05,
                   false_masks=0.6),
}
#: Largest number of negatives kept per positive among the stitch pairs of
#: one volume (a seeded random subset); the stitcher's own ratio is close.
STITCH_NEGATIVE_RATIO = 2.0

#: (shape, n_cells, mode, anisotropy) of the extra tissues of the stitch
#: rounds: small and round cells, whose caps are short.
STITCH_TISSUES = [
    ((40, 128, 128), 120, "dense", 2.0),
    ((48, 128, 128), 60, "nuclei", 1.5),
]


def stitch_candidates(
    truths, screener, *, settings=STITCH_SETTINGS, seed: int = 0
) -> tuple[CandidateSet, np.ndarray]:
    """Screened, labelled candidates of stitched versions of ``truths``.

    Each ground truth is cut into slices, damaged and stitched once per entry
    of ``settings`` (see :data:`STITCH_SETTINGS`); the screened pairs are
    labelled by the (z-subsampled) truth and, per volume and round, at most
    :data:`STITCH_NEGATIVE_RATIO` negatives per positive are kept.
    ``volume_index`` is the index of the truth in ``truths``.
    """
    rng = np.random.RandomState(seed)
    found, labels = [], []
    for v, truth in enumerate(truths):
        for threshold, z_step, flaws in settings:
            flawed, _ = slice_and_stitch(
                truth, stitch_threshold=threshold, z_step=z_step,
                random_state=rng.randint(2**31 - 1), **_FLAWS[flaws],
            )
            if flawed.shape[0] < 2 or not flawed.any():
                continue
            cands = screener.transform([flawed])
            y = label_candidates(cands, [flawed], [truth[::z_step]])
            pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
            n_keep = int(np.ceil(STITCH_NEGATIVE_RATIO * max(len(pos), 1)))
            if len(neg) > n_keep:
                neg = rng.choice(neg, size=n_keep, replace=False)
            keep = np.sort(np.concatenate([pos, neg]))
            found.append(CandidateSet(replace(cands[i], volume_index=v) for i in keep))
            labels.append(y[keep])
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    return CandidateSet.concatenate(found), y


def axis_training_candidates(
    extra_truths=(), seed: int = 0, *, screener=None, n_rounds: int = 4
) -> tuple[CandidateSet, np.ndarray, np.ndarray]:
    """Labelled training pairs of the shipped ``axis`` model.

    Axis-gap damage (:func:`~sklearn_overseg.make_training_candidates`,
    ``n_rounds`` rounds, screened without gap-0 pairs: exactly the pairs the
    gap model was trained on before stitch splits were added) of the
    synthetic training tissues, the gap-0 pairs of the same damaged volumes
    screened with stitch splits (mostly different cells stacked across flat
    interfaces), and the gap-0 pairs of stitch damage
    (:func:`stitch_candidates`) of the same tissues and of
    :data:`STITCH_TISSUES`. ``extra_truths`` (real ground-truth volumes, for
    example) go through both kinds of damage too. The shipped model's
    :class:`~sklearn_overseg.GapRoutedClassifier` sends the gap-0 pairs to
    its stitch classifier and the others to its gap classifier.

    Parameters
    ----------
    extra_truths : sequence of ndarray, default=()
        More ground-truth label volumes to train on.
    seed : int, default=0
        Seed of the tissues and of the damage; the result is deterministic.
    screener : CandidateScreener, default=None
        ``None`` uses the shipped model's screener.
    n_rounds : int, default=4
        Axis-gap damage rounds per volume.

    Returns
    -------
    candidates : CandidateSet
    y : ndarray of shape (n,)
        1 for a true split, 0 for two different cells.
    groups : ndarray of shape (n,)
        The source volume of each pair (tissues first, then ``extra_truths``),
        for grouped cross-validation.

    Examples
    --------
    >>> from sklearn_overseg.pretrained import axis_training_candidates
    >>> X, y, groups = axis_training_candidates()  # doctest: +SKIP
    """
    from .train import build_corrector, training_volumes

    if screener is None:
        screener = build_corrector("axis").screener
    # missing layers: the screener without stitch splits, as before they were
    # learned; stitch splits: only the gap-0 pairs of the stitch rounds
    gap_screener = clone(screener).set_params(min_gap=1)
    extra = check_volumes(list(extra_truths), name="extra_truths") if len(
        extra_truths
    ) else []
    tissues = training_volumes(seed)
    axis_x, axis_y, axis_g = make_training_candidates(
        tissues + extra, screener=gap_screener, mode="axis", n_rounds=n_rounds,
        random_state=seed,
    )
    # the same damaged volumes (same seed) screened with stitch splits: their
    # gap-0 pairs are mostly different cells stacked across flat interfaces
    both_x, both_y, both_g = make_training_candidates(
        tissues + extra, screener=screener, mode="axis", n_rounds=n_rounds,
        random_state=seed,
    )
    flat = np.array([c.n_gap_layers == 0 for c in both_x], dtype=bool)
    axis_x = CandidateSet.concatenate([axis_x, both_x[flat]])
    axis_y = np.concatenate([axis_y, both_y[flat]])
    axis_g = np.concatenate([axis_g, both_g[flat]])
    stitch_truths = tissues + [
        make_tissue(shape, n, mode=mode, anisotropy=aniso, random_state=seed + 50 + i)
        for i, (shape, n, mode, aniso) in enumerate(STITCH_TISSUES)
    ]
    stitch_x, stitch_y = stitch_candidates(stitch_truths + extra, screener, seed=seed)
    touching = np.array([c.n_gap_layers == 0 for c in stitch_x], dtype=bool)
    stitch_x, stitch_y = stitch_x[touching], stitch_y[touching]
    # groups: tissues 0..k-1, stitch-only tissues, then the extra truths
    n_t, n_s = len(tissues), len(STITCH_TISSUES)
    axis_g = np.where(axis_g < n_t, axis_g, axis_g + n_s)
    stitch_g = stitch_x.volume_index
    candidates = CandidateSet.concatenate([axis_x, stitch_x])
    y = np.concatenate([axis_y, stitch_y])
    return candidates, y, np.concatenate([axis_g, stitch_g])

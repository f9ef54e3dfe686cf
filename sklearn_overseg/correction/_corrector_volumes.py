"""A MergeCorrector on whole volumes: review list, correction, score.

The whole-volume half of :class:`~sklearn_overseg.MergeCorrector`, as a
mixin: ``predict_merges`` (every candidate pair with its decision),
``correct`` (one volume) and ``transform`` (several) run the four steps of
``_corrector_steps`` in a row; ``score`` says how well the corrector
repairs volumes, against their ground truth or against the splits it makes
itself in correct volumes.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._progress import progress
from .._validation import (
    check_out_array,
    check_single_volume,
    check_volumes,
)
from ._training import damaged_copies

__all__ = ["VolumeCorrectionMixin", "per_volume_images"]


def per_volume_images(images, n_volumes: int) -> list:
    """One raw image (or None) per volume, from an ``images=`` argument."""
    if images is None:
        return [None] * n_volumes
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]  # one volume's image, as check_volumes takes one volume
    images = list(images)
    if len(images) != n_volumes:
        raise ValueError(
            f"got {len(images)} images for {n_volumes} volumes; give one raw "
            "image per volume, in the same order"
        )
    return images


class VolumeCorrectionMixin:
    """Whole volumes through a corrector: review list, correction, score."""

    def predict_merges(self, volume, *, voxel_size=None, image=None,
                       assume_labels: bool = False) -> list[dict]:
        """The review list: every candidate pair with its decision.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume (integer labels up to ``2**63 - 1``); an
            all-background one has no candidate pair (an empty list).
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        image : ndarray of shape (z, y, x), optional
            The raw image, see :meth:`screen`.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels
            (most voxels non-zero, many distinct values, neighbouring voxels
            rarely equal).

        Returns
        -------
        list of dict
            One record per candidate, with keys ``upper``, ``lower``,
            ``probability``, ``merged``, ``decision`` (``"merged"``, ``"kept
            apart"`` or ``"unsure"``), ``out_of_range``, ``kind``, ``score``,
            ``gap_start`` and ``gap_stop`` (the missing layers between an
            axis pair's pieces, ``range(gap_start, gap_stop)`` in absolute
            layers: equal for a stitch split, with no layer between them;
            ``None`` for tilted pairs).
        """
        check_is_fitted(self)
        volume = check_single_volume(volume, assume_labels=assume_labels)
        return self._decisions(volume, voxel_size, image).records()

    def correct(
        self, volume, *, voxel_size=None, image=None,
        out: np.ndarray | None = None, assume_labels: bool = False,
    ) -> np.ndarray:
        """Return a corrected copy of one label volume (same dtype).

        The four steps in a row: :meth:`screen`, :meth:`score_pairs`,
        :meth:`decide` and :meth:`apply`.

        Parameters
        ----------
        volume : ndarray of shape (z, y, x)
            A label volume: integer labels up to ``2**63 - 1``, ``0`` is
            background. It is not modified (unless it is ``out``). An
            all-background volume (an empty tile) comes back unchanged.
        voxel_size : float, sequence of 3 floats or None, default=None
            Its voxel size (z, y, x), see :meth:`working_voxel_size`.
        image : ndarray of shape (z, y, x), optional
            The raw image the labels were drawn on, for a model with image
            features (see :meth:`screen`); a label-only model ignores it.
        out : ndarray, optional
            Array to write the result into, with the shape and dtype of the
            validated ``volume`` (for example a ``numpy.memmap`` on disk).
            ``out=volume`` corrects in place, which halves the peak memory of
            very large volumes. ``None`` (default) returns a new array.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels
            (most voxels non-zero, many distinct values, neighbouring voxels
            rarely equal).

        Returns
        -------
        ndarray of shape (z, y, x)
            The corrected labels (``out`` when given).
        """
        check_is_fitted(self)
        volume = check_single_volume(volume, assume_labels=assume_labels)
        out = check_out_array(out, volume)
        return self._apply(volume, self._decisions(volume, voxel_size, image), out)

    def transform(self, X, voxel_size=None, *, images=None,
                  assume_labels: bool = False) -> list[np.ndarray]:
        """Correct every volume; returns a list of corrected copies.

        Parameters
        ----------
        X : ndarray of shape (z, y, x) or list of such arrays
            Label volumes (all-background ones come back unchanged).
        voxel_size : float, sequence of 3 floats or None, default=None
            Their voxel size (z, y, x), see :meth:`working_voxel_size`.
        images : list of ndarray, default=None
            The raw image of each volume of ``X`` (as in :meth:`fit`), for a
            model with image features; see :meth:`correct`.
        assume_labels : bool, default=False
            Skip the check that refuses a microscope image given as labels,
            as in :meth:`correct`.

        Returns
        -------
        list of ndarray
        """
        check_is_fitted(self)
        volumes = check_volumes(X, allow_background_only=True,
                                reject_images=not assume_labels)
        raws = per_volume_images(images, len(volumes))
        bar = progress(
            zip(volumes, raws), desc="correcting volumes", unit="volume",
            total=len(volumes), enabled=self.verbose > 0 and len(volumes) > 1,
        )
        # subclasses overriding correct may take no other option: pass only
        # the options given
        options = {"voxel_size": voxel_size}
        if assume_labels:
            options["assume_labels"] = True
        return [
            self.correct(v, **options, **({} if raw is None else {"image": raw}))
            for v, raw in bar
        ]

    def score(self, X, y=None, *, voxel_size=None, images=None) -> float:
        """How well the corrector repairs ``X``; higher is better, at most 1.

        With ``y`` (flawed ``X``, ground truth ``y``): the mean average
        precision (IoU 0.5 and 0.75) of the corrected ``X`` against ``y``.

        Without ``y`` (``X`` are correct volumes, as given to ``fit`` when
        ``damage`` is set): each volume is damaged once the way ``damage``
        says (seeded by ``random_state``, so the score is deterministic for
        an integer seed), corrected, and the merges are scored against the
        true splits: the F1 of :func:`~sklearn_overseg.metrics.merge_scores`,
        pooled over the volumes (true splits the screener misses count as
        missed). This is what ``GridSearchCV(...).fit(truth_volumes)`` uses.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Flawed volumes (with ``y``) or ground-truth volumes.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size of the volumes, see :meth:`working_voxel_size`.
        images : list of ndarray, default=None
            The raw image of each volume of ``X``, for a model with image
            features (a damaged copy of a ground truth keeps its image).

        Returns
        -------
        float
        """
        if y is None:
            return self._damage_f1(X, voxel_size, images)
        from ..metrics import mean_average_precision

        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        corrected = self.transform(X, voxel_size=voxel_size, images=images)
        if len(corrected) != len(truth):
            raise ValueError(
                f"got {len(corrected)} volumes but {len(truth)} ground truths"
            )
        return float(np.mean([
            mean_average_precision(t, c, thresholds=(0.5, 0.75))
            for t, c in zip(truth, corrected)
        ]))

    def _damage_f1(self, X, voxel_size, images=None) -> float:
        from ..metrics import merge_scores

        check_is_fitted(self)
        volumes = check_volumes(X, name="ground-truth volumes")
        raws = per_volume_images(images, len(volumes))
        kind = self._damage_kind(None, warn=False)
        tp = fp = fn = 0
        for v, flawed, true_pairs in damaged_copies(
            volumes, kind=kind, n_rounds=1,
            max_gap=int(getattr(self.screener_, "max_gap", 1)),
            random_state=check_random_state(self.random_state),
        ):
            decisions = self._decisions(flawed, voxel_size, raws[v])
            merged = decisions.candidates.pairs[decisions.merged]
            counts = merge_scores(true_pairs, merged)
            tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
        return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)

"""How a MergeCorrector learns: training pairs, units, calibration, fine-tuning.

The training half of :class:`~sklearn_overseg.MergeCorrector`, as a mixin:
which pairs a ``fit`` learns from (damaged ground truth, or flawed volumes
with their truth), the units a model measures in, and the later adjustments
of a fitted model (:meth:`calibrate`, :meth:`fine_tune`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import (
    check_volumes,
    check_voxel_size,
)
from ._calibration import calibrate_classifier
from ._fine_tune import fine_tune_classifier
from ._training import (
    attach_images,
    check_damage_kind,
    label_candidates,
    make_training_candidates,
)

__all__ = [
    "TrainingMixin",
    "per_volume_images",
    "relative_voxel_size",
    "spread_to_pairs",
    "training_pairs_message",
]


def training_pairs_message(labels: np.ndarray, *, flawed: bool) -> str:
    """Why training cannot start (one kind of pair missing) and what to do."""
    n_pos, n_neg = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if n_pos + n_neg == 0:
        return (
            "training found no candidate pairs in the volumes (no cell split "
            "across a gap, no two cells stacked across one); give volumes with "
            "cells, more or larger ones"
        )
    if n_neg == 0 and flawed:
        return (
            f"training needs distinct-cell pairs (two different cells stacked "
            f"across a gap) besides true splits, but all {n_pos} candidate "
            "pairs of the flawed volumes are true splits. When you make the "
            "flawed volumes with the simulator, ask it for such gaps too: "
            "datasets.oversegment(truth, n_splits=..., n_stacked_confounders=5); "
            "or train on the ground truth alone, MergeCorrector(damage='axis')"
            ".fit(truths), which makes them itself"
        )
    if n_neg == 0:
        return (
            f"training needs distinct-cell pairs (two different cells stacked "
            f"across a gap) besides true splits, but the simulator made none "
            f"among {n_pos} pairs: the volumes have too few cells stacked along "
            "z. Give more or larger volumes, or train on flawed volumes with "
            "their ground truth, fit(flawed, truths)"
        )
    return (
        f"training needs true splits besides distinct-cell pairs, but none of "
        f"the {n_neg} candidate pairs is a cell split in two. "
        + (
            "Check that each flawed volume is paired with its own ground truth, "
            "or make flawed volumes with datasets.oversegment(truth, "
            "n_splits=10)"
            if flawed else "Give more or larger volumes"
        )
    )


def relative_voxel_size(voxel_size) -> tuple[float, float, float]:
    """A voxel size (z, y, x) in units of its x pixel."""
    size = check_voxel_size(voxel_size)
    return tuple(float(v) for v in size / size[2])


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


def spread_to_pairs(value, volume_index, n_volumes: int, key: str):
    """A per-volume metadata value spread to the training pairs."""
    value = np.asarray(value)
    if value.ndim == 0 or len(value) != n_volumes:
        raise ValueError(
            f"{key} must have one value per training volume ({n_volumes}), got "
            f"{value.shape}"
        )
    return value[np.asarray(volume_index, dtype=np.intp)]


class TrainingMixin:
    """Training pairs, units, calibration and fine-tuning of a corrector."""

    def _labelled_pairs(
        self, volumes, y, kind, *, rng=None, fit: bool = False, images=None,
        voxel_size=None,
    ):
        """Candidate pairs of training volumes and their labels.

        ``kind`` set (``"axis"``/``"contact"``): ``volumes`` are ground
        truths, damaged by the simulator (``n_rounds`` times each); ``None``:
        flawed volumes labelled by their ground truth ``y``. ``voxel_size``:
        that of the volumes (``None``: the training one), in the model's units.
        """
        voxel_size = self._trained_voxel_size() if voxel_size is None else (
            self.working_voxel_size(voxel_size)
        )
        if kind is not None:
            if rng is None:
                rng = check_random_state(self.random_state)
            cands, labels, _ = make_training_candidates(
                volumes,
                screener=self.screener_,
                mode=kind,
                n_rounds=self.n_rounds,
                voxel_size=voxel_size,
                random_state=rng,
                images=images,
            )
            return cands, labels
        truth = check_volumes(y, name="ground truth", allow_background_only=True)
        if len(truth) != len(volumes):
            raise ValueError(
                f"got {len(volumes)} flawed volumes but {len(truth)} ground truths"
            )
        screen = self.screener_.fit_transform if fit else self.screener_.transform
        cands = screen(volumes, voxel_size=voxel_size)
        if images is not None:
            cands = attach_images(cands, volumes, images)
        return cands, label_candidates(cands, volumes, truth)

    def _review_kind(self, y):
        """Damage kind for :meth:`calibrate` and :meth:`fine_tune` (``None``: y)."""
        if y is not None:
            return None
        if self.damage is not None:
            return check_damage_kind(self.damage, name="damage")
        mode = getattr(self.screener_, "mode", "axis")
        return "contact" if mode == "contact" else "axis"

    def calibrate(self, X, y=None, *, method: str = "isotonic", voxel_size=None,
                  images=None):
        """Recalibrate the merge probabilities on held-out labelled volumes.

        The fitted pair classifier is kept as it is (frozen); a calibrator
        (:class:`~sklearn.calibration.CalibratedClassifierCV`) learns to map
        its probabilities to the share of true splits observed on the pairs
        of ``X``. Use volumes the classifier was not trained on.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Ground truths (``y=None``, damaged by the simulator as in
            :meth:`fit`) or flawed segmentations labelled by ``y``.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        method : {"isotonic", "sigmoid"}, default="isotonic"
            Isotonic regression (needs a few hundred pairs) or Platt's
            sigmoid.
        voxel_size, images
            As in :meth:`fit`: the voxel size of ``X`` (``None``: that of
            the training volumes) and the raw image of each volume.

        Returns
        -------
        self : MergeCorrector

        Examples
        --------
        >>> from sklearn_overseg import load_pretrained
        >>> from sklearn_overseg.datasets import make_tissue
        >>> held_out = [make_tissue((24, 64, 64), n_cells=20, random_state=s)
        ...             for s in (50, 51)]
        >>> corrector = load_pretrained("axis").calibrate(held_out)
        >>> type(corrector.classifier_.gaps_[-1]).__name__  # the gap route's model
        'CalibratedClassifierCV'
        """
        check_is_fitted(self)
        cands, labels = self._labelled_pairs(
            check_volumes(X), y, self._review_kind(y), images=images,
            voxel_size=voxel_size,
        )
        calibrate_classifier(self.classifier_, cands, labels, method)
        return self

    def fine_tune(self, X, y=None, *, epochs: int = 20, lr: float | None = None,
                  voxel_size=None, images=None):
        """Continue training the pair classifier on your own volumes.

        A warm start: the fitted network (or each network of a seed
        ensemble) trains ``epochs`` more epochs on the pairs of ``X``, seen
        through the model's own features and scaling; the training range
        grows to cover the new pairs. A calibrated classifier's calibrator is
        dropped (its probabilities no longer apply): call :meth:`calibrate`
        again on held-out volumes.

        Parameters
        ----------
        X : list of ndarray of shape (z, y, x)
            Ground truths (``y=None``: damaged by the simulator, ``n_rounds``
            times each) or flawed segmentations labelled by ``y``.
        y : list of ndarray, default=None
            Ground truth of flawed ``X``.
        epochs : int, default=20
            Epochs of further training.
        lr : float, default=None
            Learning rate; ``None`` uses a tenth of the network's own.
        voxel_size, images
            As in :meth:`calibrate`.

        Returns
        -------
        self : MergeCorrector

        Examples
        --------
        >>> from sklearn_overseg import load_pretrained
        >>> from sklearn_overseg.datasets import make_tissue
        >>> mine = [make_tissue((24, 64, 64), n_cells=20, mode="nuclei",
        ...                     random_state=60)]
        >>> corrector = load_pretrained("axis").fine_tune(mine, epochs=2)
        >>> corrector.n_fine_tuning_pairs_ > 0
        True
        """
        check_is_fitted(self)
        cands, labels = self._labelled_pairs(
            check_volumes(X), y, self._review_kind(y), images=images,
            voxel_size=voxel_size,
        )
        features = fine_tune_classifier(
            self.classifier_, cands, labels, epochs=epochs, lr=lr
        )
        box = getattr(self, "feature_range_", None)
        if box is not None:
            self.feature_range_ = box.extend(features)
        self.n_fine_tuning_pairs_ = len(labels)
        return self

    def _damage_kind(self, y, *, warn: bool):
        """``"axis"``/``"contact"`` when training from ground truth, else None."""
        if self.damage is not None:
            if y is not None:
                raise ValueError(
                    f"damage={self.damage!r} trains from ground truth alone: "
                    "call fit(truth_volumes) without y, or set damage=None to "
                    "train on flawed volumes with their ground truth y"
                )
            return check_damage_kind(self.damage, name="damage")
        if y is not None:
            return None
        screener = self.screener_ if hasattr(self, "screener_") else self.screener
        kind = "contact" if getattr(screener, "mode", "axis") == "contact" else "axis"
        if warn:
            warnings.warn(
                "fit(X) without y, reading X as ground truth, is deprecated "
                "since 0.2 and will be an error in 0.3: set "
                f"MergeCorrector(damage={kind!r}) to train from ground truth, "
                "or give the ground truth y of flawed volumes X.",
                FutureWarning,
                stacklevel=3,
            )
        return kind

    def _fit_voxel_size(self, voxel_size):
        stored = getattr(self.screener_, "voxel_size", None)
        if voxel_size is None and stored is not None:
            warnings.warn(
                "CandidateScreener(voxel_size=...) is deprecated since 0.2 and "
                "will be removed in 0.3: pass fit(X, y, voxel_size=...) instead.",
                FutureWarning,
                stacklevel=3,
            )
            voxel_size = stored
            self.screener_.set_params(voxel_size=None)
        return None if voxel_size is None else relative_voxel_size(voxel_size)

    def working_voxel_size(self, voxel_size=None) -> tuple[float, float, float]:
        """The voxel size the model measures a volume in.

        A model keeps the units it was trained in. One trained in voxels (the
        pretrained models) measures every volume in voxels and ignores
        ``voxel_size``: giving it the physical size would show it shapes
        unlike those it learned from. One trained with a voxel size measures
        in x pixels: ``voxel_size / voxel_size[2]``, or its training voxel
        size when ``voxel_size`` is ``None``.

        Parameters
        ----------
        voxel_size : float, sequence of 3 floats or None, default=None
            Voxel size (z, y, x) of the volume.

        Returns
        -------
        tuple of 3 float
        """
        check_is_fitted(self)
        trained = self._trained_voxel_size()
        if trained is None:
            check_voxel_size(voxel_size)
            return (1.0, 1.0, 1.0)
        return trained if voxel_size is None else relative_voxel_size(voxel_size)

    def _trained_voxel_size(self):
        if hasattr(self, "voxel_size_"):
            return self.voxel_size_
        # model files of version 0.1 kept the voxel size in the screener
        stored = getattr(self.screener_, "voxel_size", None)
        return None if stored is None else relative_voxel_size(stored)

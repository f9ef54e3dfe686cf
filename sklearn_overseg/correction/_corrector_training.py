"""How a MergeCorrector learns: training pairs, units, calibration, fine-tuning.

The training half of :class:`~sklearn_overseg.MergeCorrector`, as a mixin:
the labelled pairs that ``fit`` (``_corrector_fit``), :meth:`calibrate`
and :meth:`fine_tune` learn from (damaged ground truth, or flawed volumes
with their truth), the units a model measures in, and the later adjustments
of a fitted model.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn import get_config
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted

from .._validation import (
    check_volumes,
    check_voxel_size,
)
from ._calibration import calibrate_classifier
from ._fine_tune import fine_tune_classifier
from ._labelling import attach_images, label_candidates
from ._scoring import scored_features
from ._training import check_damage_kind, make_training_candidates

__all__ = ["TrainingMixin", "relative_voxel_size"]

#: Constraints of the parameters (not data) of ``calibrate`` and ``fine_tune``.
_METHOD_CONSTRAINTS = {
    "calibrate": {"method": [StrOptions({"isotonic", "sigmoid"})]},
    "fine_tune": {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
    },
}


def relative_voxel_size(voxel_size) -> tuple[float, float, float]:
    """A voxel size (z, y, x) in units of its x pixel."""
    size = check_voxel_size(voxel_size)
    return tuple(float(v) for v in size / size[2])


class TrainingMixin:
    """Training pairs, units, calibration and fine-tuning of a corrector."""

    def _validate_method_params(self, caller: str, /, **params) -> None:
        """Check the parameters of method ``caller`` as ``validate_params`` would,
        naming the estimator's class (not this mixin) in the message."""
        if get_config()["skip_parameter_validation"]:
            return
        validate_parameter_constraints(
            _METHOD_CONSTRAINTS[caller], params,
            caller_name=f"{type(self).__name__}.{caller}",
        )

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
        self._validate_method_params("calibrate", method=method)
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
        self._validate_method_params("fine_tune", epochs=epochs, lr=lr)
        check_is_fitted(self)
        cands, labels = self._labelled_pairs(
            check_volumes(X), y, self._review_kind(y), images=images,
            voxel_size=voxel_size,
        )
        features = fine_tune_classifier(
            self.classifier_, cands, labels, epochs=epochs, lr=lr
        )
        box = getattr(self, "feature_range_", None)
        if box is not None and features is None:  # a routed classifier
            features = scored_features(self.classifier_, cands)
        if box is not None and features is not None:
            self.feature_range_ = box.extend(features)
        self.n_fine_tuning_pairs_ = len(labels)
        return self

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

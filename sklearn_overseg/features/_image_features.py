"""Image features of a candidate pair: the signal at the interface.

The label-only features judge shapes. When the raw image is given, the
interface of a pair can be looked at directly: a membrane stain is bright
between two different cells and dark inside a split one; a nuclear stain
continues across the cut of a split nucleus and drops between two different
nuclei. The image arrives normalised per volume (a robust z-score over the
labelled voxels, see :func:`~sklearn_overseg._image.check_image`), so every
feature here is free of units and of the microscope's gain.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._candidates import LOWER, UPPER, Candidate, CandidateSet, check_candidate_set
from .._image import image_crop_codes
from ._pair_features import PairFeaturesMixin

__all__ = ["ImageFeatures", "uses_image"]

_NAMES = (
    "inside_mean",
    "interface_contrast",
    "interface_peak",
    "interface_dip",
    "near_mean_diff",
    "near_texture_diff",
)
_FACES = ndimage.generate_binary_structure(3, 1)


def _axis_regions(codes, image, gap, depth):
    """Interface layer means, interface, near-upper, near-lower, inside values."""
    g0, g1 = gap
    last, first = codes[g0 - 1] == UPPER, codes[g1] == LOWER
    face = last & first
    if not face.any():
        face = last | first
    layers = image[g0 - 1 : g1 + 1][:, face]  # facing layers and the gap
    upper = codes[:g0] == UPPER
    lower = codes[g1:] == LOWER
    near_upper = image[max(0, g0 - depth) : g0][upper[max(0, g0 - depth) :]]
    near_lower = image[g1 : g1 + depth][lower[:depth]]
    deep = upper.copy()
    deep[-1] = False
    deep_lower = lower.copy()
    deep_lower[0] = False
    inside = np.concatenate([image[:g0][deep], image[g1:][deep_lower]])
    return layers.mean(axis=1), layers.ravel(), near_upper, near_lower, inside


def _contact_regions(codes, image, depth):
    """The same regions around a touching interface (both sides of it)."""
    a, b = codes == UPPER, codes == LOWER
    touch_a = a & ndimage.binary_dilation(b, _FACES)
    touch_b = b & ndimage.binary_dilation(a, _FACES)
    near_a = a & ndimage.binary_dilation(b, _FACES, iterations=depth)
    near_b = b & ndimage.binary_dilation(a, _FACES, iterations=depth)
    inside = (a & ~near_a) | (b & ~near_b)
    sides = [image[t] for t in (touch_a, touch_b) if t.any()]
    profile = np.array([s.mean() for s in sides]) if sides else np.zeros(1)
    interface = np.concatenate(sides) if sides else np.zeros(1)
    return profile, interface, image[near_a], image[near_b], image[inside]


def _candidate_features(candidate: Candidate, depth: int) -> np.ndarray:
    codes, image = image_crop_codes(candidate), candidate.image
    if candidate.kind == "axis" and candidate.gap is not None:
        regions = _axis_regions(codes, image, candidate.gap, depth)
    else:
        regions = _contact_regions(codes, image, depth)
    profile, interface, near_a, near_b, inside = regions
    if inside.size == 0:  # thin fragments: everything is near the interface
        inside = np.concatenate([near_a, near_b, interface])
    near_a = near_a if near_a.size else interface
    near_b = near_b if near_b.size else interface
    level = float(inside.mean())
    return np.array([
        level,
        float(interface.mean()) - level,
        float(profile.max()) - level,
        float(profile.min()) - level,
        abs(float(near_a.mean()) - float(near_b.mean())),
        abs(float(near_a.std()) - float(near_b.std())),
    ])


class ImageFeatures(PairFeaturesMixin, TransformerMixin, BaseEstimator):
    """Features of the raw image at a candidate pair's interface.

    Needs candidates that carry an image crop (``Candidate.image``): screen
    with ``MergeCorrector.screen(labels, image=raw)`` or give ``images=`` to
    :func:`~sklearn_overseg.make_training_candidates`. Candidates without one
    are refused with a ``ValueError`` (no silent neutral values: a model that
    learned from the image must see it). Values are in units of the volume's
    robust spread (the image is a robust z-score over the labelled voxels).

    The *interface* of an axis pair is the two facing layers and the gap
    layers between them, over the facing region (where the upper fragment's
    last mask and the lower fragment's first mask overlap); of a contact or
    tilted pair, the voxels of each fragment that touch the other (in the
    contact crop, before reslicing). *Near* voxels are the fragment's
    ``depth`` layers next to the interface; *inside* voxels are the rest of
    both fragments.

    Features:

    * ``inside_mean`` - mean signal inside the fragments (bright nuclei, dark
      cytoplasm of a membrane stain);
    * ``interface_contrast`` - mean interface signal minus ``inside_mean``
      (a membrane between two cells is positive);
    * ``interface_peak``, ``interface_dip`` - the brightest and darkest
      interface layer (axis) or side (contact) minus ``inside_mean``: a
      membrane in one layer, a dark gap between two nuclei;
    * ``near_mean_diff``, ``near_texture_diff`` - absolute differences of the
      mean and of the standard deviation of the near voxels of the two
      fragments (intensity continuity across a cut).

    Parameters
    ----------
    depth : int, default=2
        Layers (axis) or voxel steps (contact) next to the interface that
        count as near it.
    clip : float, default=10.0
        Features are clipped to ``[-clip, clip]`` (robust z units), so that
        one saturated pixel cannot dominate.

    Attributes
    ----------
    n_features_out_ : int
        Number of output features (6).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import Candidate, CandidateSet, ImageFeatures
    >>> crop = np.zeros((5, 6, 6), dtype=np.uint8)
    >>> crop[:2, 1:5, 1:5], crop[3:, 1:5, 1:5] = 1, 2
    >>> image = np.zeros(crop.shape, dtype=np.float32)
    >>> image[2] = 5.0                      # a bright membrane in the gap layer
    >>> c = Candidate(0, 1, 2, crop, gap=(2, 3), image=image)
    >>> X = CandidateSet([c])
    >>> est = ImageFeatures().fit(X)
    >>> est.get_feature_names_out()[:3].tolist()
    ['inside_mean', 'interface_contrast', 'interface_peak']
    >>> est.transform(X)[0, :3].astype(float).round(2).tolist()
    [0.0, 1.67, 5.0]
    """

    _requires_image = True  # for the package's estimator checks
    _parameter_constraints: dict = {
        "depth": [Interval(numbers.Integral, 1, None, closed="left")],
        "clip": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, depth: int = 2, clip: float = 10.0):
        self.depth = depth
        self.clip = clip

    def _names(self) -> tuple[str, ...]:
        return _NAMES

    def _check(self, X) -> CandidateSet:
        X = check_candidate_set(X, type(self).__name__)
        missing = [c.key for c in X if c.image is None]
        if missing:
            raise ValueError(
                f"ImageFeatures needs the raw image, but {len(missing)} of "
                f"{len(X)} candidate pairs carry none (first: {missing[0]}); "
                "pass image= to MergeCorrector.correct/screen/predict_merges "
                "(--image on the command line), or images= to "
                "make_training_candidates"
            )
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: CandidateSet, y=None) -> ImageFeatures:
        """Check that the pairs carry images; nothing is learned.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with ``image`` crops.
        y : ignored

        Returns
        -------
        self : ImageFeatures
        """
        self._check(X)
        self.n_features_out_ = len(_NAMES)
        return self

    def transform(self, X: CandidateSet) -> np.ndarray:
        """Image features of each candidate pair.

        Parameters
        ----------
        X : CandidateSet
            Candidate pairs with ``image`` crops.

        Returns
        -------
        ndarray of shape (n_candidates, 6), dtype float32
        """
        check_is_fitted(self)
        X = self._check(X)
        rows = [_candidate_features(c, int(self.depth)) for c in X]
        out = np.array(rows, dtype=float).reshape(len(rows), len(_NAMES))
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def uses_image(estimator) -> bool:
    """Whether a pair classifier (pipeline, feature union) has an image step.

    Estimators that hold other estimators as parameters are looked into too:
    a :class:`~sklearn_overseg.GapRoutedClassifier` whose ``stitch`` or
    ``gaps`` pipeline has image features uses the image, and so does a
    calibrated or frozen wrapper of such a pipeline.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_overseg import GapRoutedClassifier, make_pair_pipeline
    >>> from sklearn_overseg.features import uses_image
    >>> uses_image(make_pair_pipeline(LogisticRegression(), image=True))
    True
    >>> uses_image(make_pair_pipeline(LogisticRegression()))
    False
    >>> uses_image(GapRoutedClassifier(
    ...     stitch=make_pair_pipeline(LogisticRegression(), image=True)))
    True
    """
    if isinstance(estimator, ImageFeatures):
        return True
    if isinstance(estimator, Pipeline):
        return any(uses_image(step) for _, step in estimator.steps)
    if isinstance(estimator, FeatureUnion):
        return any(uses_image(part) for _, part in estimator.transformer_list)
    if isinstance(estimator, BaseEstimator):
        # meta-estimators (routing, calibration): their estimator parameters
        # and, once fitted, the fitted copies a router keeps
        held = list(estimator.get_params(deep=False).values())
        held += [getattr(estimator, name, None) for name in _FITTED_PARTS]
        return any(uses_image(part) for part in held
                   if isinstance(part, BaseEstimator))
    return False


#: Fitted sub-estimators of meta-estimators that may differ from their
#: parameters (``GapRoutedClassifier`` fits its default pipelines itself).
_FITTED_PARTS = ("stitch_", "gaps_")

"""The pair pipeline: features of a candidate pair, then a classifier.

``make_pair_pipeline`` builds the ordinary scikit-learn ``Pipeline`` the
paper describes: the Geo-Wasserstein and topology features side by side in a
``FeatureUnion``, standardised, then the MLP. Any scikit-learn classifier can
replace the MLP, and ``TiltedReslicer`` can be put in front for contact
candidates.
"""

from __future__ import annotations

from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import HasMethods, validate_params

from ..features import GeoWassersteinFeatures, ImageFeatures, TopologyFeatures

__all__ = ["make_pair_pipeline"]


_STEP = [HasMethods(["fit", "transform"]), None]


@validate_params(
    {
        "classifier": [HasMethods(["fit", "predict_proba"]), None],
        "reslicer": _STEP,
        "geo": _STEP,
        "topology": _STEP,
        "contact": _STEP,
        "extent": _STEP,
        "context": _STEP,
        "image": ["boolean", ImageFeatures, None],
        "scaler": _STEP,
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_pair_pipeline(
    classifier=None,
    *,
    reslicer=None,
    geo: GeoWassersteinFeatures | None = None,
    topology: TopologyFeatures | None = None,
    contact=None,
    extent=None,
    context=None,
    image: bool | ImageFeatures = False,
    scaler=None,
    random_state: int | None = 0,
) -> Pipeline:
    """Build the pair pipeline: features, standardisation, classifier.

    Parameters
    ----------
    classifier : estimator, default=None
        A scikit-learn classifier with ``predict_proba``. ``None`` uses the
        paper's MLP, :class:`MergeNet` (hidden 128-64-32, dropout 0.3).
    reslicer : transformer, default=None
        Optional first step, for example :class:`TiltedReslicer` for contact
        candidates.
    geo, topology : transformer, default=None
        Feature transformers; ``None`` uses the defaults.
    contact : transformer, default=None
        Optional third feature transformer, for example
        :class:`ContactFeatures` for contact candidates (with a reslicer);
        ``None`` leaves it out.
    extent : transformer, default=None
        Optional last feature transformer, for example
        :class:`FragmentExtentFeatures` (fragment lengths, gap size, facing
        masks) for axis candidates that include stitch splits; ``None``
        leaves it out.
    context : transformer, default=None
        Optional feature transformer of what lies around each pair in its
        volume, for example :class:`PairContextFeatures` (the labels above,
        below and beside a stitch split, as the screener measured them);
        ``None`` leaves it out.
    image : bool or ImageFeatures, default=False
        Add features of the raw image at each pair's interface
        (:class:`ImageFeatures`, or the one given) as the ``"image"`` part of
        the feature union. Such a pipeline needs candidates that carry the
        image: call the corrector with ``image=raw``.
    scaler : transformer, default=None
        The standardisation step; ``None`` uses ``StandardScaler()``.
        :class:`ClippedStandardScaler` also bounds the standardised values.
    random_state : int or None, default=0
        Seed of the default ``MergeNet``.

    Returns
    -------
    Pipeline
        Steps ``[("reslice"),] "features", "scale", "clf"``; the feature
        union's parts are ``"geo"``, ``"topology"`` (and ``"contact"``,
        ``"extent"``, ``"context"``, ``"image"``), so
        parameters read ``features__geo__n_projections`` or
        ``clf__module__hidden``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_overseg import make_pair_pipeline
    >>> pipe = make_pair_pipeline(LogisticRegression())
    >>> [name for name, _ in pipe.steps]
    ['features', 'scale', 'clf']
    >>> pipe = make_pair_pipeline(LogisticRegression(), image=True)
    >>> [name for name, _ in pipe.named_steps["features"].transformer_list]
    ['geo', 'topology', 'image']
    """
    if classifier is None:
        # imported here: torch and skorch load only when the MLP is needed
        from ._classifier import MergeNet

        classifier = MergeNet(random_state=random_state)
    features = FeatureUnion(
        [
            ("geo", geo if geo is not None else GeoWassersteinFeatures()),
            ("topology", topology if topology is not None else TopologyFeatures()),
        ]
        + ([("contact", contact)] if contact is not None else [])
        + ([("extent", extent)] if extent is not None else [])
        + ([("context", context)] if context is not None else [])
        + _image_part(image),
        # one transformer after the other: each spreads its pairs over worker
        # processes itself when they are work enough, and threads over the
        # transformers only cost time (100 M voxels: 1.2x slower at n_jobs=2)
        n_jobs=1,
    )
    scaler = scaler if scaler is not None else StandardScaler()
    steps = [("features", features), ("scale", scaler), ("clf", classifier)]
    if reslicer is not None:
        steps.insert(0, ("reslice", reslicer))
    return Pipeline(steps)


def _image_part(image) -> list:
    if image is False or image is None:
        return []
    if image is True:
        return [("image", ImageFeatures())]
    return [("image", image)]  # an ImageFeatures (validate_params)

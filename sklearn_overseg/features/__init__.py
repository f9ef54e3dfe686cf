"""Steps 2-3: pair features (Geo-Wasserstein, topology, extent, context, image) and
their scaling.

The names are imported on first use (``lazy_loader``): the worker processes
of the pair features import :mod:`._geo_rows` through this package without
scikit-learn.
"""

from typing import TYPE_CHECKING

import lazy_loader as _lazy

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from ._context_features import PairContextFeatures
    from ._extent import FragmentExtentFeatures
    from ._geo_features import GeoWassersteinFeatures
    from ._image_features import ImageFeatures, uses_image
    from ._pair_features import PairFeaturesMixin
    from ._scaling import ClippedStandardScaler
    from ._topology import TopologyFeatures
    from ._wasserstein import geo_wasserstein, layer_distances

__all__ = [
    "ClippedStandardScaler",
    "FragmentExtentFeatures",
    "GeoWassersteinFeatures",
    "ImageFeatures",
    "PairContextFeatures",
    "PairFeaturesMixin",
    "TopologyFeatures",
    "geo_wasserstein",
    "layer_distances",
    "uses_image",
]

_lazy_getattr, __dir__, _ = _lazy.attach(
    __name__,
    submod_attrs={
        "_context_features": ["PairContextFeatures"],
        "_extent": ["FragmentExtentFeatures"],
        "_geo_features": ["GeoWassersteinFeatures"],
        "_image_features": ["ImageFeatures", "uses_image"],
        "_pair_features": ["PairFeaturesMixin"],
        "_scaling": ["ClippedStandardScaler"],
        "_topology": ["TopologyFeatures"],
        "_wasserstein": ["geo_wasserstein", "layer_distances"],
    },
)


def __getattr__(name: str):
    """Import a public name on first access (then cached)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _lazy_getattr(name)

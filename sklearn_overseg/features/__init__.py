"""Steps 2-3: pair features (Geo-Wasserstein, topology, extent, image) and their
scaling."""

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
    "PairFeaturesMixin",
    "TopologyFeatures",
    "geo_wasserstein",
    "layer_distances",
    "uses_image",
]

"""Step 4: the pair classifier, the pair pipeline, model files and pretrained models.

:class:`MergeNet` and :class:`MergeMLP` need torch and skorch; they are
imported on first use of either name (PEP 562).
"""

from typing import TYPE_CHECKING

from ._feature_range import (
    FeatureRange,
    feature_stage,
    fit_with_features,
    pipeline_features,
)
from ._gap_routing import GapRoutedClassifier, split_by_route
from ._pair_pipeline import make_pair_pipeline
from ._pretrained import (
    auto_stitch_splits,
    available_pretrained,
    load_pretrained,
    without_stitch_splits,
)
from ._serialization import load_model, save_model

if TYPE_CHECKING:
    from ._classifier import MergeNet
    from ._merge_mlp import MergeMLP

__all__ = [
    "FeatureRange",
    "GapRoutedClassifier",
    "MergeMLP",
    "MergeNet",
    "auto_stitch_splits",
    "available_pretrained",
    "feature_stage",
    "fit_with_features",
    "load_model",
    "load_pretrained",
    "make_pair_pipeline",
    "pipeline_features",
    "save_model",
    "split_by_route",
    "without_stitch_splits",
]

_LAZY_NAMES = {"MergeMLP": "._merge_mlp", "MergeNet": "._classifier"}


def __getattr__(name: str):
    """Import the torch-based names on first access (PEP 562)."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))

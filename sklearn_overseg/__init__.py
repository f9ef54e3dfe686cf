"""Find and repair oversegmentation in 3D cell segmentations.

The method, one module per step:

1. :class:`CandidateScreener` finds candidate pairs of fragments
   (axis-aligned gaps, or touching labels for tilted cuts).
2. :class:`GeoWassersteinFeatures` describes a pair by earth mover's distances
   between its masks (:func:`geo_wasserstein`).
3. :class:`TopologyFeatures` describes the overlap curve of the joined cell.
4. :class:`MergeNet` (the paper's MLP) classifies pairs, inside the pair
   pipeline of :func:`make_pair_pipeline`.
5. :class:`MergeCorrector` merges accepted pairs and rebuilds missing layers
   (:func:`interpolate_masks`).
6. Tilted cuts: :class:`TiltedReslicer` reslices touching pairs along their
   contact plane and :class:`ContactFeatures` asks whether the contact looks
   like a cut through one cell (``load_pretrained("tilted")``).

:class:`MergeNet` and :class:`MergeMLP` need torch and skorch, which take
seconds to import; they are imported on first use of either name (PEP 562),
so that importing the package, or running ``overseg --help``, stays quick.
"""

from typing import TYPE_CHECKING

from . import datasets, io, metrics, utils
from ._candidates import Candidate, CandidateSet
from .correction import (
    MergeCorrector,
    interpolate_masks,
    label_candidates,
    make_training_candidates,
)
from .features import (
    ClippedStandardScaler,
    FragmentExtentFeatures,
    GeoWassersteinFeatures,
    ImageFeatures,
    TopologyFeatures,
    geo_wasserstein,
)
from .models import (
    GapRoutedClassifier,
    available_pretrained,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    save_model,
)
from .review import apply_decisions, read_decisions
from .screening import CandidateScreener, contact_pairs
from .tilted import ContactFeatures, TiltedReslicer, fit_contact_plane, reslice_pair

if TYPE_CHECKING:
    from .models import MergeMLP, MergeNet
    from .review import write_review_report

__version__ = "0.2.0"

__all__ = [
    "Candidate",
    "CandidateScreener",
    "CandidateSet",
    "ClippedStandardScaler",
    "ContactFeatures",
    "FragmentExtentFeatures",
    "GapRoutedClassifier",
    "GeoWassersteinFeatures",
    "ImageFeatures",
    "MergeCorrector",
    "MergeMLP",
    "MergeNet",
    "TiltedReslicer",
    "TopologyFeatures",
    "apply_decisions",
    "available_pretrained",
    "contact_pairs",
    "fit_contact_plane",
    "datasets",
    "geo_wasserstein",
    "interpolate_masks",
    "io",
    "label_candidates",
    "load_model",
    "load_pretrained",
    "make_pair_pipeline",
    "make_training_candidates",
    "metrics",
    "read_decisions",
    "reslice_pair",
    "save_model",
    "utils",
    "write_review_report",
]

#: names imported on first access (torch, matplotlib): name -> subpackage
_LAZY_NAMES = {
    "MergeMLP": "models",
    "MergeNet": "models",
    "write_review_report": "review",
}


def __getattr__(name: str):
    """Import the torch-based names on first access (PEP 562)."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))

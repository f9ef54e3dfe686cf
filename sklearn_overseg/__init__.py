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
seconds to import, and scikit-learn takes about a second: every name below
is imported on its first use (SPEC 1 lazy loading with ``lazy_loader``), so
that ``import sklearn_overseg``, ``overseg --help`` and the package's worker
processes start quickly. ``from sklearn_overseg import X`` and
``sklearn_overseg.X`` work as with eager imports.
"""

from typing import TYPE_CHECKING

import lazy_loader as _lazy

if TYPE_CHECKING:  # what the names are, for type checkers and editors
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
        PairContextFeatures,
        TopologyFeatures,
        geo_wasserstein,
    )
    from .models import (
        GapRoutedClassifier,
        MergeMLP,
        MergeNet,
        available_pretrained,
        load_model,
        load_pretrained,
        make_pair_pipeline,
        save_model,
    )
    from .review import apply_decisions, read_decisions, write_review_report
    from .screening import CandidateScreener, contact_pairs
    from .tilted import ContactFeatures, TiltedReslicer, fit_contact_plane, reslice_pair

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
    "PairContextFeatures",
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

#: the subpackages, imported on first access (``sklearn_overseg.models``)
_SUBPACKAGES = [
    "correction", "datasets", "features", "io", "metrics", "models", "review",
    "screening", "tilted", "utils",
]

#: the public names, imported on first access: module -> names
_NAMES = {
    "_candidates": ["Candidate", "CandidateSet"],
    "correction": [
        "MergeCorrector", "interpolate_masks", "label_candidates",
        "make_training_candidates",
    ],
    "features": [
        "ClippedStandardScaler", "FragmentExtentFeatures", "GeoWassersteinFeatures",
        "ImageFeatures", "PairContextFeatures", "TopologyFeatures",
        "geo_wasserstein",
    ],
    "models": [
        "GapRoutedClassifier", "MergeMLP", "MergeNet", "available_pretrained",
        "load_model", "load_pretrained", "make_pair_pipeline", "save_model",
    ],
    "review": ["apply_decisions", "read_decisions", "write_review_report"],
    "screening": ["CandidateScreener", "contact_pairs"],
    "tilted": [
        "ContactFeatures", "TiltedReslicer", "fit_contact_plane", "reslice_pair",
    ],
}

_lazy_getattr, _lazy_dir, _ = _lazy.attach(__name__, _SUBPACKAGES, _NAMES)
_LAZY = frozenset(_lazy_dir())


def __getattr__(name: str):
    """Import a public name or subpackage on first access (then cached)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)

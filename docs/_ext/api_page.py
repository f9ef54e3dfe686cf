"""Write the API reference page from the public names of the package.

The page lists every name in the ``__all__`` of each public module, so it can
never fall behind the code: names of the top-level package are grouped by the
step of the method they belong to (``TOP_LEVEL_GROUPS``), and any public name
not placed in a group lands in "Other". A public module that cannot be
imported, or that has no public name yet, is left out with a note on stderr.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

#: Sections of the top-level package: (title, names), in reading order.
TOP_LEVEL_GROUPS = [
    (
        "Correcting volumes",
        ["MergeCorrector", "load_pretrained", "available_pretrained"],
    ),
    (
        "Step 1: candidate pairs",
        ["CandidateScreener", "Candidate", "CandidateSet", "contact_pairs"],
    ),
    ("Step 2: Geo-Wasserstein features", ["GeoWassersteinFeatures", "geo_wasserstein"]),
    ("Step 3: topology features", ["TopologyFeatures"]),
    (
        "Step 4: pair classifier and training data",
        [
            "make_pair_pipeline",
            "MergeNet",
            "MergeMLP",
            "make_training_candidates",
            "label_candidates",
        ],
    ),
    ("Step 5: rebuilding missing layers", ["interpolate_masks"]),
    (
        "Step 6: tilted cuts",
        [
            "TiltedReslicer",
            "ContactFeatures",
            "ClippedStandardScaler",
            "fit_contact_plane",
            "reslice_pair",
        ],
    ),
    (
        "Human review",
        ["write_review_report", "read_decisions", "apply_decisions"],
    ),
    ("Model files", ["save_model", "load_model"]),
]

#: Public subpackages and modules documented after the top level.
SUBMODULES = [
    "sklearn_overseg.screening",
    "sklearn_overseg.features",
    "sklearn_overseg.tilted",
    "sklearn_overseg.models",
    "sklearn_overseg.correction",
    "sklearn_overseg.review",
    "sklearn_overseg.datasets",
    "sklearn_overseg.io",
    "sklearn_overseg.metrics",
    "sklearn_overseg.distributed",
    "sklearn_overseg.pretrained",
    "sklearn_overseg.utils.estimator_checks",
]


def _public_objects(module: ModuleType) -> list[str]:
    """Names of ``__all__`` that are not modules, in ``__all__`` order."""
    return [
        name
        for name in getattr(module, "__all__", [])
        if not isinstance(getattr(module, name, None), ModuleType)
    ]


def _summary(module: ModuleType) -> str:
    """First paragraph of a module docstring."""
    text = (module.__doc__ or "").strip()
    return text.split("\n\n")[0].strip()


def _autosummary(names: list[str]) -> list[str]:
    """An autosummary table with one stub page per name."""
    lines = [
        ".. autosummary::",
        "   :toctree: generated/",
        "   :template: autosummary/object.rst",
        "   :nosignatures:",
        "",
    ]
    lines += [f"   {name}" for name in names]
    return lines + [""]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _top_level_section(package: ModuleType) -> list[str]:
    public = _public_objects(package)
    lines = _heading(f":mod:`{package.__name__}`", "-")
    lines += [
        f".. automodule:: {package.__name__}",
        "   :no-members:",
        "",
        f".. currentmodule:: {package.__name__}",
        "",
    ]
    placed: set[str] = set()
    for title, names in TOP_LEVEL_GROUPS:
        present = [name for name in names if name in public]
        if not present:
            continue
        placed.update(present)
        lines += _heading(title, "~") + _autosummary(present)
    others = [name for name in public if name not in placed]
    if others:
        lines += _heading("Other", "~") + _autosummary(others)
    return lines


def _module_section(module: ModuleType, package: ModuleType) -> list[str]:
    """A subpackage's section; names the top level re-exports link to its page.

    One object gets one page: a second page would describe it twice under
    the same canonical (private) name.
    """
    lines = _heading(f":mod:`{module.__name__}`", "-")
    lines += [
        f".. automodule:: {module.__name__}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module.__name__}",
        "",
    ]
    top_level = set(_public_objects(package))
    own, shared = [], []
    for name in _public_objects(module):
        alias = name in top_level and getattr(package, name) is getattr(module, name)
        (shared if alias else own).append(name)
    if own:
        lines += _autosummary(own)
    if shared:
        lines += [
            f"Also public here, documented under :mod:`{package.__name__}`:",
            "",
            f".. currentmodule:: {package.__name__}",
            "",
            *_autosummary(shared),
        ]
    return lines


def api_page_text(package_name: str = "sklearn_overseg") -> str:
    """reStructuredText of the whole API reference page."""
    package = importlib.import_module(package_name)
    lines = [".. _api:", ""] + _heading("API reference", "=")
    lines += [
        "Every public class and function, from its docstring. Estimators follow",
        "scikit-learn's API (``fit``, ``transform``, ``predict_proba``,",
        "``get_params``, ``set_params``) and compose with its pipelines, model",
        "selection tools and ``clone``.",
        "",
    ]
    lines += _top_level_section(package)
    for name in SUBMODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            print(f"api_page: {name} left out of the API page ({exc})", file=sys.stderr)
            continue
        if not _public_objects(module):
            print(f"api_page: {name} has no public name yet", file=sys.stderr)
            continue
        lines += _module_section(module, package)
    return "\n".join(lines)


def write_api_page(path: Path) -> None:
    """Write the page to ``path``, leaving the file untouched when unchanged.

    Keeping the modification time of an unchanged page lets Sphinx skip
    rereading it on incremental builds.
    """
    text = api_page_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")

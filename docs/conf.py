"""Sphinx configuration of the sklearn_overseg documentation.

Build (from the repository root)::

    pip install -e '.[docs]' && sphinx-build -b html docs docs/_build/html

The gallery scripts in ``docs/examples`` run during the build (about a
minute each at most) and make every figure of the site; the API page is
written from the package's ``__all__`` lists (``_ext/api_page.py``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import sklearn_overseg

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

from api_page import write_api_page  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "sklearn_overseg"
author = "sklearn_overseg developers"
copyright = "sklearn_overseg developers, BSD-3-Clause"
release = sklearn_overseg.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions ----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_generated",  # included by other pages
    "README.md",  # how to build the docs, for people browsing the repository
    "examples/README.txt",
    "examples/**/README.txt",
    "auto_examples/*.ipynb",
    "auto_examples/**/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/**/*.py",
    "**.zip",
]

# -- API pages -------------------------------------------------------------------
write_api_page(DOCS / "api" / "index.rst")
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- MyST (Markdown pages) -------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# -- Gallery ---------------------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")

sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "subsection_order": ["examples/method", "examples/napari"],
    "doc_module": ("sklearn_overseg",),
    "backreferences_dir": "api/generated/backreferences",
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_overseg {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without subpages need no left sidebar.
html_sidebars = {
    page: [] for page in ("index", "method", "model_files", "scaling", "benchmarks")
}
html_show_sourcelink = False

# -- Benchmark results, included only when they exist --------------------------------
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_COPY = DOCS / "_generated" / "benchmark_results.md"
RESULTS_MARKER = "% benchmark-results"
# A Markdown link (not an image) to a relative path: a repository file, which
# is not part of the site.
_FILE_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((?![a-z]+:|#)([^)\s]+)\)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\((?![a-z]+:)([^)\s]+)\)")


def _results_for_docs(text: str) -> str:
    """``RESULTS.md`` with links to repository files turned into file names.

    Links such as ``[script](bench_scale.py)`` point at files that are not
    pages of the site; they become ``script (`benchmarks/bench_scale.py`)``.
    Relative images are pointed at their place in the repository.
    """

    def file_name(match: re.Match) -> str:
        path = os.path.normpath(f"benchmarks/{match[2]}")
        return f"{match[1]} (`{path}`)"

    def image(match: re.Match) -> str:
        # Relative to the including page, benchmarks.md.
        target = os.path.relpath(RESULTS.parent / match[2], DOCS)
        return f"![{match[1]}]({target})"

    return _IMAGE.sub(image, _FILE_LINK.sub(file_name, text))


def _benchmark_results(app, docname: str, source: list[str]) -> None:
    """Replace the marker of the benchmarks page by ``benchmarks/RESULTS.md``.

    Without the file (it is written by the benchmark runs) the page says so
    instead of failing the build.
    """
    if docname != "benchmarks" or RESULTS_MARKER not in source[0]:
        return
    if RESULTS.exists():
        text = _results_for_docs(RESULTS.read_text(encoding="utf-8"))
        RESULTS_COPY.parent.mkdir(exist_ok=True)
        if not RESULTS_COPY.exists() or RESULTS_COPY.read_text("utf-8") != text:
            RESULTS_COPY.write_text(text, encoding="utf-8")
        block = (
            "```{include} _generated/benchmark_results.md\n"
            ":heading-offset: 1\n"
            "```\n"
        )
        app.env.note_dependency(str(RESULTS))
    else:
        block = (
            ":::{note}\n"
            "`benchmarks/RESULTS.md` was not found when these pages were built: "
            "run the benchmarks (see `benchmarks/`) and build again.\n"
            ":::\n"
        )
    source[0] = source[0].replace(RESULTS_MARKER, block)


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods.

    scikit-learn adds them to estimators for metadata routing; their
    docstrings point into scikit-learn's own documentation.
    """
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def _quiet_missing_figures(app) -> None:
    """With ``-D plot_gallery=0`` the figures are not made: do not warn."""
    if str(app.config.plot_gallery).lower() in ("0", "false", "no"):
        app.config.suppress_warnings = [
            *app.config.suppress_warnings,
            "image.not_readable",
        ]


def setup(app) -> None:
    app.connect("builder-inited", _quiet_missing_figures)
    app.connect("source-read", _benchmark_results)
    app.connect("autodoc-skip-member", _skip_metadata_requests)

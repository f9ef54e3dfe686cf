"""The ``overseg`` command line (``overseg = sklearn_overseg.cli:main``)."""

from ._main import main

__all__ = ["main"]

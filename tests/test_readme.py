"""What the README and pyproject.toml promise a new user."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_license_is_an_spdx_string_that_setuptools_understands():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "BSD-3-Clause"
    # SPDX strings in project.license need setuptools 77 or later
    requires = project["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    assert int(re.search(r">=(\d+)", setuptools).group(1)) >= 77


def test_readme_says_how_to_get_the_cpu_and_the_gpu_build():
    cpu = re.search(r"pip install \"torch[^\"]*\" --index-url "
                    r"https://download\.pytorch\.org/whl/cpu", README)
    assert cpu is not None
    assert "pytorch.org/get-started/locally" in README
    # the pinned line is CPU-only where a CPU wheel is configured, and says so
    assert "pip install torch==2.13.0` gives a CPU build only where" in README
    assert "CUDA build" in README

"""What the README and pyproject.toml promise a new user."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
WORDS = " ".join(README.split())  # line breaks do not matter

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
    assert "pip install torch==2.13.0` gives a CPU build only where" in WORDS
    assert "CUDA build" in WORDS


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_imports_only_names_it_uses():
    import ast

    blocks = _python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        tree = ast.parse(block)
        imported = {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        assert imported <= used, f"unused imports {imported - used} in:\n{block}"


def test_readme_use_snippet_keeps_the_voxel_size(tmp_path, monkeypatch):
    import warnings

    import numpy as np

    from sklearn_overseg.datasets import make_tissue, oversegment
    from sklearn_overseg.io import read_labels, write_labels

    truth = make_tissue((16, 48, 48), 10, mode="loose", random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flawed, _ = oversegment(truth, n_splits=2, shrink=1, random_state=2)
    write_labels(tmp_path / "segmentation.tif", flawed.astype(np.uint16),
                 voxel_size=(2.0, 0.5, 0.5))
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    corrected, voxel_size = read_labels("corrected.tif", return_voxel_size=True)
    assert voxel_size == (2.0, 0.5, 0.5)
    assert corrected.dtype == np.uint16
    assert len(np.unique(corrected)) < len(np.unique(flawed))


def test_readme_states_the_largest_label_the_code_enforces():
    import numpy as np

    from sklearn_overseg import load_pretrained

    assert "largest label the correctors take is `2**63 - 1`" in WORDS
    corrector = load_pretrained("axis")
    volume = np.zeros((4, 6, 6), dtype=np.uint64)
    volume[1:3, 2:4, 2:4] = 2**63 - 1
    assert corrector.correct(volume).max() == 2**63 - 1
    volume[1:3, 2:4, 2:4] = 2**63
    with pytest.raises(ValueError, match=r"2\*\*63"):
        corrector.correct(volume)
    assert "converted to the smallest unsigned integer dtype" in WORDS


def test_readme_states_the_jobs_rule_and_the_cli_behaviours():
    assert "`--jobs N` (default 1) gives the same result for every `N`" in WORDS
    assert "`--jobs -1` cost the same as one job" in WORDS
    assert "`--jobs 0` is refused as a usage error (exit code 2)" in WORDS
    assert "no cells, nothing to correct" in WORDS and "--assume-labels" in WORDS
    assert "writing over the input is refused unless you add `--overwrite`" in WORDS
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert "| --jobs -1 |" in results and "bench_jobs.py" in results

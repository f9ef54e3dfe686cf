"""Optional extras load lazily: the package works without them.

Each check runs in a fresh interpreter in which importing matplotlib, h5py,
zarr, dask or Qt raises ImportError, as on a plain ``pip install`` without
extras.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ("matplotlib", "h5py", "zarr", "dask", "distributed", "PyQt5", "qtpy",
           "napari")

_BLOCKER = f"""
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked for this test")
        return None
sys.meta_path.insert(0, _Block())
"""


def _run(code: str) -> str:
    probe = _BLOCKER + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_and_correct_without_extras():
    out = _run("""
        import sys
        import numpy as np
        import sklearn_overseg
        from sklearn_overseg import load_pretrained
        from sklearn_overseg.datasets import make_tissue, oversegment
        assert "torch" not in sys.modules
        truth = make_tissue((16, 48, 48), n_cells=8, random_state=0)
        flawed, _ = oversegment(truth, n_splits=2, random_state=0)
        corrected = load_pretrained().correct(flawed)
        assert corrected.shape == flawed.shape
        assert len(np.unique(corrected)) <= len(np.unique(flawed))
        print("ok", sorted(m for m in sys.modules if m.split(".")[0] in
              ("matplotlib", "h5py", "zarr", "dask")))
    """)
    assert out.strip() == "ok []"


def test_saving_a_screener_does_not_load_torch(tmp_path):
    out = _run(f"""
        import sys
        from sklearn_overseg import CandidateScreener, load_model, save_model
        save_model(CandidateScreener(max_gap=2), {str(tmp_path / "s.json")!r})
        assert load_model({str(tmp_path / "s.json")!r}).max_gap == 2
        print("torch" in sys.modules, "skorch" in sys.modules)
    """)
    assert out.split() == ["False", "False"]


def test_report_without_matplotlib_names_the_missing_extra():
    out = _run("""
        try:
            from sklearn_overseg import write_review_report
        except ImportError as exc:
            print("ImportError", "matplotlib" in str(exc))
        else:
            print("imported")
    """)
    assert out.split() == ["ImportError", "True"]

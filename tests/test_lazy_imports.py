"""The package and ``features`` load their names on first use (lazy_loader).

``import sklearn_overseg`` imports no subpackage and no scikit-learn; a
worker process of the pair features imports NumPy only. Module checks run in
fresh interpreters (this test session has imported everything long ago); no
timing is asserted (``benchmarks/bench_startup.py`` measures it).
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import textwrap
import types

import pytest

import sklearn_overseg
from sklearn_overseg import features

HEAVY = ("sklearn", "scipy", "ot", "torch", "skimage", "pandas", "tqdm")


def _run(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; the lines it printed."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("package", [sklearn_overseg, features])
def test_every_public_name_resolves_and_is_listed(package):
    for name in package.__all__:
        value = getattr(package, name)
        assert name in dir(package)
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"{package.__name__}.{name}"
        else:  # the object of the module that defines it, not a copy
            module = importlib.import_module(value.__module__)
            assert getattr(module, name) is value
    with pytest.raises(AttributeError, match="has no attribute 'NotAThing'"):
        package.NotAThing  # noqa: B018


def test_subpackages_are_attributes_as_before():
    from sklearn_overseg.correction import MergeCorrector

    assert sklearn_overseg.correction.MergeCorrector is MergeCorrector
    assert sklearn_overseg.MergeCorrector is MergeCorrector
    for name in ("datasets", "io", "metrics", "models", "screening", "tilted"):
        assert isinstance(getattr(sklearn_overseg, name), types.ModuleType)


def test_import_loads_no_subpackage_and_no_scikit_learn():
    loaded = _run(f"""
        import sys
        import sklearn_overseg
        assert sklearn_overseg.__version__
        print(*sorted(m for m in sys.modules if m.startswith("sklearn_overseg")))
        print(*[m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert loaded == ["sklearn_overseg"]


def test_star_import_binds_every_public_name():
    out = _run("""
        from sklearn_overseg import *
        import sklearn_overseg
        print(all(n in globals() for n in sklearn_overseg.__all__))
    """)
    assert out == ["True"]


def test_a_worker_of_the_pair_features_imports_numpy_only():
    # what a worker process runs first (_ready), then what a batch needs
    loaded = _run(f"""
        import sys
        from sklearn_overseg import _parallel
        assert _parallel._ready()
        from sklearn_overseg.features._geo_rows import _chunk_features
        print(*[m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert loaded == []


def test_pickles_load_in_a_fresh_process(tmp_path):
    # pickles name the defining modules, which import as before
    from sklearn_overseg import CandidateScreener, GeoWassersteinFeatures

    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps([CandidateScreener(max_gap=3),
                                   GeoWassersteinFeatures(spacing=2)]))
    out = _run(f"""
        import pickle
        screener, geo = pickle.loads(open({str(path)!r}, "rb").read())
        print(type(screener).__name__, screener.max_gap, geo.spacing)
    """)
    assert out == ["CandidateScreener", "3", "2"]

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
from sklearn_overseg import features, tilted
from sklearn_overseg.tilted._contact_rows import _chunk_features as _contact_chunk
from sklearn_overseg.tilted._reslice_core import _reslice_chunk

HEAVY = ("sklearn", "scipy", "ot", "torch", "skimage", "pandas", "tqdm")


def _run(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; the lines it printed."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("package", [sklearn_overseg, features, tilted])
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
        from sklearn_overseg import _parallel, _worker_pool
        assert _worker_pool._ready()
        from sklearn_overseg.features._geo_rows import _chunk_features
        print(*[m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert loaded == []


def test_a_worker_of_the_tilted_steps_imports_no_scikit_learn():
    # the batch functions of TiltedReslicer and ContactFeatures, unpickled as
    # map_batches sends them, then run on a pair as a worker would; what they
    # import is what they declare (BATCH_IMPORTS)
    from functools import partial

    from sklearn_overseg.tilted._reslice_core import BATCH_IMPORTS

    heavy = ("sklearn", "skimage", "pandas", "torch", "ot", "tqdm")
    payload = pickle.dumps([
        partial(_reslice_chunk, params={"spacing": None, "min_contact_points": 10,
                                        "fill_holes": True, "max_layers": 8}),
        partial(_contact_chunk, region="slab"),
    ])
    loaded = _run(f"""
        import pickle, sys
        import numpy as np
        from sklearn_overseg import _parallel, _worker_pool
        assert _worker_pool._ready()
        reslice, features = pickle.loads({payload!r})
        from sklearn_overseg._candidates import Candidate
        crop = np.zeros((8, 10, 10), dtype=np.uint8)
        crop[1:7, 1:9, 1:5] = 1
        crop[1:7, 1:9, 5:9] = 2
        pair = Candidate(0, 3, 7, crop, kind="contact")
        assert reslice([pair])[0].kind == "tilted"
        assert features([pair]).shape == (1, 16)
        print(*sorted({{m.split(".")[0] for m in sys.modules}} & {set(heavy)!r}))
        print(*[m for m in {BATCH_IMPORTS!r} if m not in sys.modules])
    """)
    assert loaded == []


def test_pickles_load_in_a_fresh_process(tmp_path):
    # pickles name the defining modules, which import as before
    from sklearn_overseg import (
        CandidateScreener,
        ContactFeatures,
        GeoWassersteinFeatures,
        TiltedReslicer,
    )

    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps([CandidateScreener(max_gap=3),
                                   GeoWassersteinFeatures(spacing=2),
                                   TiltedReslicer(max_layers=8),
                                   ContactFeatures(region="slab")]))
    out = _run(f"""
        import pickle
        screener, geo, reslicer, contact = pickle.loads(
            open({str(path)!r}, "rb").read())
        print(type(screener).__name__, screener.max_gap, geo.spacing)
        print(type(reslicer).__module__, reslicer.max_layers)
        print(type(contact).__module__, contact.region)
    """)
    assert out == ["CandidateScreener", "3", "2",
                   "sklearn_overseg.tilted._reslice", "8",
                   "sklearn_overseg.tilted._contact_features", "slab"]

"""torch and skorch load only when a MergeNet is needed, not on import.

Each check runs in a fresh interpreter, since this test session has imported
torch long ago. No timing is asserted (speed lives in ``benchmarks/``): only
which modules an import or ``overseg --help`` leaves in ``sys.modules``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "skorch")


def _loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a new interpreter; which heavy modules did it import?"""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print(*[name in sys.modules for name in {HEAVY!r}])
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    flags = result.stdout.strip().splitlines()[-1].split()
    return dict(zip(HEAVY, (flag == "True" for flag in flags)))


def test_import_and_help_do_not_load_torch():
    loaded = _loaded_after("""
        import contextlib, io
        import sklearn_overseg, sklearn_overseg.cli, sklearn_overseg.io
        from sklearn_overseg.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--help"]) == 0
            assert main(["correct", "--help"]) == 0
        # the lazy names are still public and listed
        for name in ("MergeNet", "MergeMLP"):
            assert name in sklearn_overseg.__all__ and name in dir(sklearn_overseg)
        assert set(sklearn_overseg.__all__) <= set(dir(sklearn_overseg))
    """)
    assert loaded == {"torch": False, "skorch": False}


def test_merge_net_loads_torch_on_first_use():
    loaded = _loaded_after("""
        import sys
        import sklearn_overseg
        from sklearn_overseg import make_pair_pipeline
        assert "torch" not in sys.modules
        pipeline = make_pair_pipeline()  # the default classifier is a MergeNet
        assert "torch" in sys.modules
        from sklearn_overseg import MergeMLP, MergeNet
        from sklearn_overseg.models._classifier import MergeNet as Original
        assert MergeNet is Original and sklearn_overseg.MergeNet is Original
        assert isinstance(pipeline[-1], MergeNet)
        assert MergeMLP.__module__ == "sklearn_overseg.models._merge_mlp"
    """)
    assert loaded == {"torch": True, "skorch": True}


def test_unknown_attribute_is_still_an_attribute_error():
    import sklearn_overseg

    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        sklearn_overseg.NotAThing  # noqa: B018

"""Shared test configuration: the hypothesis profiles of the property tests.

Property-based tests (``tests/test_properties.py``) draw random label volumes
with `hypothesis <https://hypothesis.readthedocs.io>`_. How many examples they
try is set by a profile, chosen with the environment variable
``HYPOTHESIS_PROFILE``:

``ci`` (the default)
    200 examples for the main invariant test of the corrector (the cheaper or
    costlier property tests take a fixed fraction of that), no deadline,
    ``derandomize=True``: the examples are a function of the test code only,
    so every CI run tries the same ones and a failure is reproducible. No
    example database is written. About 20 s on 2 cores.
``thorough``
    1000 examples for the main test (the others scaled alike), no deadline,
    random examples that change from run to run, and hypothesis's example
    database in ``.hypothesis/`` so that failures found are replayed first.
    Several minutes; run it before a release or after touching the
    screening, merging or interpolation code::

        HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_properties.py

A failing example is printed with a ``@reproduce_failure`` blob that replays
it exactly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    # volumes are drawn from several parameters and corrected: slow by design
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, **_COMMON
)
settings.register_profile("thorough", max_examples=1000, **_COMMON)

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
try:
    settings.load_profile(_PROFILE)
except Exception as exc:  # an unknown name: say which ones exist
    raise ValueError(
        f"HYPOTHESIS_PROFILE={_PROFILE!r} is not a profile of tests/conftest.py; "
        "use 'ci' (default) or 'thorough'."
    ) from exc

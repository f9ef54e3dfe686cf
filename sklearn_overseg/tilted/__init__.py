"""Step 6: tilted cuts (contact plane, reslicing, contact features).

The names are imported on first use (``lazy_loader``): the worker processes
of the reslicer and the contact features import their batch modules
(:mod:`._reslice_core`, :mod:`._contact_rows`) through this package without
scikit-learn.
"""

from typing import TYPE_CHECKING

import lazy_loader as _lazy

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from ._contact_features import ContactFeatures
    from ._plane import fit_contact_plane
    from ._reslice import TiltedReslicer
    from ._reslice_pair import reslice_pair

__all__ = ["ContactFeatures", "TiltedReslicer", "fit_contact_plane", "reslice_pair"]

_lazy_getattr, __dir__, _ = _lazy.attach(
    __name__,
    submod_attrs={
        "_contact_features": ["ContactFeatures"],
        "_plane": ["fit_contact_plane"],
        "_reslice": ["TiltedReslicer"],
        "_reslice_pair": ["reslice_pair"],
    },
)


def __getattr__(name: str):
    """Import a public name on first access (then cached)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _lazy_getattr(name)

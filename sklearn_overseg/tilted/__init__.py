"""Step 6: tilted cuts (contact plane, reslicing, contact features)."""

from ._contact_features import ContactFeatures
from ._reslice import TiltedReslicer, fit_contact_plane, reslice_pair

__all__ = ["ContactFeatures", "TiltedReslicer", "fit_contact_plane", "reslice_pair"]

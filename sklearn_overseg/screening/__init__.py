"""Step 1: label volumes in, candidate pairs of fragments out.

:class:`CandidateScreener` proposes axis pairs (fragments facing each other
across missing layers) and contact pairs (fragments touching across a tilted
boundary).
"""

from ._contact import contact_pairs
from ._screener import CandidateScreener

__all__ = ["CandidateScreener", "contact_pairs"]

"""CandidateScreener: label volumes in, candidate pairs of fragments out.

Step 1 of the method as a scikit-learn transformer. This module holds the
class, its parameters and their constraints; validation, ``fit``,
``transform`` and the screening of one volume come from a mixin
(:mod:`._screener_volumes`). Axis pairs (fragments facing each other across
missing layers, paper Algorithm 1) come from :mod:`._axis`; contact pairs
(fragments touching across a tilted boundary) from :mod:`._contact`. The
class stays here: pickled screeners name this module.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from .._validation import DefaultsForNewParams
from ._screener_volumes import VolumeScreeningMixin

__all__ = ["CandidateScreener"]


class CandidateScreener(
    DefaultsForNewParams, VolumeScreeningMixin, TransformerMixin, BaseEstimator,
    auto_wrap_output_keys=None,
):
    """Turn label volumes into candidate pairs of fragments (a CandidateSet).

    Step 1 of the method. ``transform`` takes one 3D label volume or a list of
    them and returns a :class:`~sklearn_overseg.CandidateSet` whose samples are
    pairs of labels that may be one split cell, each with its own crop. The
    screener learns nothing: ``fit`` only validates, and ``transform`` works
    unfitted.

    **Axis candidates** (paper Algorithm 1). A pair ``(upper, lower)`` where the
    upper label's last layer ``z_a`` and the lower label's first layer ``z_b``
    are separated by ``g = z_b - z_a - 1`` gap layers, ``1 <= g <= max_gap``,
    and the two *facing masks* (upper at ``z_a``, lower at ``z_b``) overlap in
    ``(y, x)``. Their union is the *footprint*, their intersection the *facing
    region*. Other labels inside the gap layers over the footprint are either
    *passing* (their z range extends outside the gap: real cells) or *confined*
    to the gap. Confined labels are noisy partial masks: allowed, listed in
    ``gap_labels`` and coded ``GAP_NOISE`` in the crop, unless the rule below
    calls them a complete cell, which rejects the pair:

    * ``rule="paper"``: exactly one gap layer (``max_gap`` must be 1); any
      passing label on the facing region is a complete cell (a cell lies
      between the fragments); confined labels are partial masks whatever their
      size.
    * ``rule="extended"``: ``1 <= g <= max_gap`` (up to 3); a passing label is a
      complete cell if it covers more than ``max_intrusion`` of the facing
      region in some gap layer (a tolerance for the pixel-wide intrusions of
      neighbours seen on real cells), a confined label if it covers at least
      ``max_gap_occupancy`` of the footprint in some gap layer (a flat cell
      filling the gap).

    With ``min_gap=0`` the screen also proposes **stitch splits** (``g = 0``):
    the upper label's last layer lies directly above the lower label's first
    layer and their masks overlap in ``(y, x)``, so the two touch across a
    horizontal interface. This is what an IoU stitcher (cellpose's
    ``stitch3D``) leaves when a cell's overlap with the layer above falls
    below its threshold: a small end cap or a mid-cell cut. Such pairs have no
    gap to judge or rebuild; the same overlap, matching and tie rules apply,
    and there is no size cutoff (a one-layer cap of a few pixels is proposed).

    Neighbouring cells usually cover the rim of the footprint in the gap layer
    (cells are not prisms), which is why passing cells are judged on the
    facing region, where the two fragments see each other through the gap. In
    both rules a pair needs ``overlap >= min_overlap * min(area_a, area_b)``,
    ``area_a`` and ``area_b`` being the pixel areas of the two facing masks;
    ``min_overlap=0`` keeps every overlapping pair, as in the paper.

    With ``one_to_one=True`` the matching is greedy by raw overlap (pixels), as
    in the paper; ties go to the pair with fewer gap layers. A pair whose
    fragment is a noise mask inside the gap of another pair with the same
    partner is matched last, so the noise does not steal that partner; a
    gapped pair that skips a *layer piece* of its cell (see
    ``max_noise_cover``) is matched after the gap-0 pairs through it. A
    normalised score (Dice, fraction of the smaller mask) is not used for the
    ranking because it favours such small noise masks, with one exception:
    with ``min_gap=0``, a gap-0 pair whose overlap is at least 0.7 of the
    smaller facing mask (an IoU stitcher's near miss: an end cap, a
    cross-section that shrank or grew) is matched before every other pair,
    so that a gapped pair or a looser overlap cannot take its partner. A
    small mask lying inside both of its neighbours' facing masks is then a
    piece of the cell, joined to each through a gap-0 pair, not gap noise.

    **Contact candidates**. Every pair of labels that share at least
    ``min_contact`` voxel faces (``upper`` = smaller label, ``lower`` = larger
    label, ``gap=None``), for tilted splits drawn by 3D models. With
    ``min_contact_ratio``, a cheap first stage of a cascade leaves out the
    pairs whose contact is small for the larger fragment: contact area over
    the larger fragment's volume to the power 2/3 (in physical units; the
    ``contact_per_larger`` feature of :class:`~sklearn_overseg.ContactFeatures`)
    below ``min_contact_ratio``. A plane cut through a cell leaves a contact
    that spans a whole cross-section of the cell: a ball cut in two halves
    gives 1.9, a cut square across the middle of a rod (a thin neurite) 0.125
    when the rod is 40 diameters long and 0.068 at 100 diameters, a tilted cut
    more; a small facet between a large cell and a neighbour gives far less.
    Pairs left out are never resliced or scored: the expensive pair features
    are spent on pairs a tilted model could merge.

    Parameters
    ----------
    mode : {"axis", "contact", "both"}, default="axis"
        Which candidates to produce. ``"both"`` returns axis and contact
        candidates; a pair found by both is kept once, as its axis candidate.
    max_gap : int, default=1
        Largest number of missing layers between two fragments (1 to 3).
    min_gap : {0, 1, "auto"}, default=1
        Smallest number of missing layers: ``0`` also proposes fragments that
        touch across the interface of two consecutive layers (stitch splits).
        ``"auto"`` decides per volume: ``0`` when
        :func:`~sklearn_overseg.screening.detect_stitched` finds that the
        volume was stitched from 2D slices by IoU, ``1`` otherwise.
    rule : {"extended", "paper"}, default="extended"
        Gap and matching rule, see above.
    min_overlap : float in [0, 1], default=0.1
        Smallest overlap of the facing masks, as a fraction of the smaller mask.
    max_gap_occupancy : float in (0, 1], default=0.5
        With ``rule="extended"``, a label confined to the gap that covers this
        fraction of the footprint in one layer counts as a complete cell.
    max_intrusion : float in [0, 1], default=0.05
        With ``rule="extended"``, a cell passing through the gap may cover at
        most this fraction of the facing region in each gap layer.
    max_noise_cover : float in [0, 1], default=0.5
        With ``min_gap=0``, a mask ``n`` confined to the gap of a pair
        ``(a, b)`` that covers more than this fraction of one facing mask
        (``a``'s last or ``b``'s first layer) and more than half this fraction
        of the other is not noise but a *layer piece* of the cell: the layer is
        there, an IoU stitcher cut it off. The gapped pair ``(a, b)`` is then
        matched after the pairs ``(a, n)`` and ``(n, b)``. A noisy
        partial mask of a missing layer covers far less. ``1`` treats every
        confined mask as noise; without gap-0 pairs (``min_gap=1``) it has no
        effect.
    min_contact : int, default=1
        Smallest contact area (voxel faces) of a contact candidate.
    min_contact_ratio : float >= 0, default=0.0
        Smallest contact area of a contact candidate relative to its larger
        fragment, ``area / volume ** (2 / 3)`` in physical units (see above).
        ``0`` keeps every touching pair. The pretrained ``tilted`` model
        screens with ``0.07``, half the smallest ratio among the pairs it
        merged when it scored every touching pair of held-out synthetic and
        real tilted cuts (0.14, a thin neurite of the EM volume cut across;
        ``benchmarks/RESULTS.md``, section 6). Set ``0`` for long thin
        processes (neurites of large EM volumes), which the model never saw.
    padding : int, default=2
        Pixels added around each crop in y and x (clipped to the volume).
    voxel_size : float, sequence of 3 floats or None, default=None
        Deprecated: pass the voxel size to :meth:`transform` (it describes the
        data, not the screener). Still used when :meth:`transform` gets none,
        with a ``FutureWarning``; removed in 0.3.
    one_to_one : bool, default=True
        Greedy one-to-one matching of axis pairs, best first: a label is at
        most once an upper and at most once a lower fragment.
    n_jobs : int or None, default=None
        Volumes processed in parallel with joblib (``None`` means 1).

    Attributes
    ----------
    n_volumes_in_ : int
        Number of volumes seen by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import CandidateScreener
    >>> vol = np.zeros((7, 8, 8), dtype=np.uint16)
    >>> vol[:3, 2:6, 2:6] = 1      # upper fragment, layers 0-2
    >>> vol[4:, 2:6, 2:6] = 2      # lower fragment, layers 4-6; layer 3 missing
    >>> cands = CandidateScreener().fit_transform(vol)
    >>> cands.pairs.tolist(), cands[0].gap, cands[0].score
    ([[1, 2]], (3, 4), 16.0)
    """

    _parameter_constraints: dict = {
        "mode": [StrOptions({"axis", "contact", "both"})],
        "max_gap": [Interval(Integral, 1, 3, closed="both")],
        "min_gap": [Interval(Integral, 0, 1, closed="both"), StrOptions({"auto"})],
        "rule": [StrOptions({"extended", "paper"})],
        "min_overlap": [Interval(Real, 0, 1, closed="both")],
        "max_gap_occupancy": [Interval(Real, 0, 1, closed="right")],
        "max_intrusion": [Interval(Real, 0, 1, closed="both")],
        "max_noise_cover": [Interval(Real, 0, 1, closed="both")],
        "min_contact": [Interval(Integral, 1, None, closed="left")],
        "min_contact_ratio": [Interval(Real, 0, None, closed="left")],
        "padding": [Interval(Integral, 0, None, closed="left")],
        "voxel_size": [None, Interval(Real, 0, None, closed="neither"), "array-like"],
        "one_to_one": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        mode: str = "axis",
        *,
        max_gap: int = 1,
        min_gap: int | str = 1,
        rule: str = "extended",
        min_overlap: float = 0.1,
        max_gap_occupancy: float = 0.5,
        max_intrusion: float = 0.05,
        max_noise_cover: float = 0.5,
        min_contact: int = 1,
        min_contact_ratio: float = 0.0,
        padding: int = 2,
        voxel_size=None,
        one_to_one: bool = True,
        n_jobs: int | None = None,
    ):
        self.mode = mode
        self.max_gap = max_gap
        self.min_gap = min_gap
        self.rule = rule
        self.min_overlap = min_overlap
        self.max_gap_occupancy = max_gap_occupancy
        self.max_intrusion = max_intrusion
        self.max_noise_cover = max_noise_cover
        self.min_contact = min_contact
        self.min_contact_ratio = min_contact_ratio
        self.padding = padding
        self.voxel_size = voxel_size
        self.one_to_one = one_to_one
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags

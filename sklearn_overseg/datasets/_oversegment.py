"""Oversegmentation simulator: split correct cells the way segmenters fail.

``"axis"`` mode mimics a 2D-per-slice model plus z-stitching that missed a
cell in one (or a few) layers: the layers are blanked and the part below gets
a new label. ``"tilted"`` mode mimics a 3D model that drew a boundary through
a cell: a random plane cuts it, no voxel is removed. Hard negatives (a gap
between two *different* stacked cells, see ``_confounders``), mask shrinkage
next to gaps and noisy partial masks inside gaps are added on request (see
``_gaps``).
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_params,
)

from .._validation import check_label_volume
from .._voxel_size import check_voxel_size
from ._simulation import simulate_oversegmentation

__all__ = ["oversegment"]


@validate_params(
    {
        "labels": "no_validation",  # check_label_volume
        "n_splits": [Interval(Integral, 0, None, closed="left")],
        "mode": [StrOptions({"axis", "tilted"})],
        "gap_layers": [Interval(Integral, 1, None, closed="left")],
        "min_fragment_layers": [Interval(Integral, 1, None, closed="left")],
        "max_cuts_per_cell": [Interval(Integral, 1, None, closed="left")],
        "shrink": [Interval(Integral, 0, None, closed="left")],
        "shrink_probability": [Interval(Real, 0, 1, closed="both")],
        "n_stacked_confounders": [Interval(Integral, 0, None, closed="left")],
        "confounder_style": [StrOptions({"trim", "blank"})],
        "n_noise_masks": [Interval(Integral, 0, None, closed="left")],
        "max_noise_fraction": [Interval(Real, 0, 1, closed="both")],
        "min_tilt": [Interval(Real, 0, 90, closed="both")],
        "voxel_size": "no_validation",  # check_voxel_size
        "return_info": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def oversegment(
    labels,
    n_splits: int = 10,
    *,
    mode: str = "axis",
    gap_layers: int = 1,
    min_fragment_layers: int = 2,
    max_cuts_per_cell: int = 1,
    shrink: int = 0,
    shrink_probability: float = 0.5,
    n_stacked_confounders: int = 0,
    confounder_style: str = "trim",
    n_noise_masks: int = 0,
    max_noise_fraction: float = 0.2,
    min_tilt: float = 20.0,
    voxel_size=None,
    return_info: bool = False,
    random_state=None,
):
    """Split cells of a correct label volume, as a flawed segmentation would.

    Parameters
    ----------
    labels : array-like of shape (z, y, x)
        Correct integer labels, ``0`` background. Not modified.
    n_splits : int, default=10
        Number of cuts to make. Fewer are made when not enough cells can be
        cut (too few z layers, or a fragment would not be one piece); the
        length of ``truth_pairs`` tells how many were made.
    mode : {"axis", "tilted"}, default="axis"
        ``"axis"``: blank ``gap_layers`` interior z layers of a cell and give
        the part below a new label. ``"tilted"``: cut the cell by a random
        plane through a point near its centroid and give the part with the
        larger mean z a new label; no voxel is removed.
    gap_layers : int, default=1
        Number of blanked layers per gap (axis cuts and stacked confounders).
    min_fragment_layers : int, default=2
        Minimum z layers of every fragment (and of the cell a confounder
        shortens).
    max_cuts_per_cell : int, default=1
        Axis mode: a cell may receive up to this many gaps, giving a chain of
        fragments ``(a, b), (b, c), ...`` in ``truth_pairs``.
    shrink : int, default=0
        Pixels of 2D erosion applied, with probability ``shrink_probability``,
        to each mask just above and just below every gap (splits and
        confounders alike), as a 2D model that under-segments near a miss.
    shrink_probability : float, default=0.5
        Probability of each of those erosions.
    n_stacked_confounders : int, default=0
        Number of hard negatives: pairs of *different* cells ``(A, B)``, ``A``
        lying on ``B`` over a large overlap, separated by exactly
        ``gap_layers`` empty layers so that the pair looks like a split to
        the axis screener (see ``confounder_style``). A changed cell must stay
        one piece with ``min_fragment_layers`` (and more than ``gap_layers``)
        layers, the gap must be clear between the facing masks, and no other
        label changes. Cells cut by splits are not used and a cell is used
        once. Fewer may be made when too few pairs qualify; a warning is
        given only when none can be made.
    confounder_style : {"trim", "blank"}, default="trim"
        How a confounder's gap is made.

        * ``"blank"``: ``A``'s last z layer must lie directly on ``B``'s
          first; the whole last ``gap_layers`` layers of ``A`` (or, at
          random, the whole first ones of ``B``) are blanked, the natural
          miss of a 2D model, and the other cell is untouched. Rare, since
          cells interlock in z: about one per hundred cells in dense
          synthetic tissue, none in many volumes.
        * ``"trim"``: ``A`` and ``B`` need only touch across a roughly
          horizontal interface; a gap of ``gap_layers`` layers is placed at
          random over the contact layer, ``A`` loses its voxels from the gap
          down and ``B`` its voxels down to the gap's last layer, each
          losing at most 30% of its voxels. Includes the cleanly stacked
          pairs and makes far more hard negatives.
    n_noise_masks : int, default=0
        Number of small noisy partial masks (new labels, one 2D blob of 3
        pixels up to ``max_noise_fraction`` of the blanked area) put inside
        blanked gap layers of splits and confounders.
    max_noise_fraction : float, default=0.2
        Largest noise mask, as a fraction of the blanked area of its layer.
    min_tilt : float, default=20.0
        Tilted mode: smallest angle, in degrees, between the cutting plane's
        normal and the z axis (0 allows horizontal cuts, 90 only vertical ones).
    voxel_size : None, float or sequence of 3 floats, default=None
        Voxel size ``(z, y, x)`` used to draw tilted planes in physical space.
    return_info : bool, default=False
        Also return a dict describing every change.
    random_state : int, RandomState instance or None, default=None
        Seed; the output is deterministic for a fixed seed.

    Returns
    -------
    flawed : ndarray of shape (z, y, x)
        The damaged volume, same dtype as ``labels`` (float input becomes
        ``int64``). If the new labels do not fit that dtype (e.g. ``uint8``
        with 255 labels), the smallest wider integer dtype is used.
    truth_pairs : ndarray of shape (n, 2), dtype int64
        ``(upper, lower)`` label pairs that belong to one cell; ``upper`` is
        the fragment at smaller z (axis mode) or with the smaller mean z.
    info : dict, only if ``return_info``
        ``source_labels`` (n,) input label of each truth pair;
        ``gap_layers`` list of (gap_layers,) arrays, the blanked z of each
        truth pair (empty in tilted mode); ``confounder_pairs`` (m, 2)
        ``(upper, lower)`` different cells, ``upper`` lying on ``lower`` in
        ``labels`` (its last layer on ``lower``'s first for ``"blank"``), now
        separated by exactly ``gap_layers`` empty layers (``lower``'s
        first z minus ``upper``'s last z minus 1). Without ``shrink`` and
        noise masks every such pair is an axis candidate of
        :class:`~sklearn_overseg.CandidateScreener` (``rule="extended"``,
        default ``max_intrusion``, ``max_gap >= gap_layers``,
        ``min_overlap <= 0.3``); ``confounder_gap_layers`` their blanked z;
        ``confounder_style`` the style used; ``confounder_lost_fraction``
        (m, 2) share of the voxels of ``upper`` and ``lower`` removed to open
        the gap (before ``shrink``); ``confounder_shortened`` (m,) the label
        of each pair that lost the larger share (``"blank"``: the only one
        changed); ``noise_labels`` (k,) the noise masks; ``noise_pairs``
        (k, 2) the pair whose gap holds each;
        ``removed_voxels`` number of foreground voxels turned to background;
        ``upcast`` whether the dtype had to be widened.

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> tissue = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    >>> flawed, pairs = oversegment(tissue, n_splits=3, random_state=0)
    >>> pairs.shape, flawed.dtype == tissue.dtype
    ((3, 2), True)
    """
    source = check_label_volume(labels)
    n_splits, gap_layers, shrink = int(n_splits), int(gap_layers), int(shrink)
    min_fragment_layers = int(min_fragment_layers)
    max_cuts_per_cell = int(max_cuts_per_cell)
    n_stacked_confounders = int(n_stacked_confounders)
    n_noise_masks = int(n_noise_masks)
    spacing = check_voxel_size(voxel_size)
    rng = check_random_state(random_state)
    return simulate_oversegmentation(
        source,
        n_splits,
        mode=mode,
        gap_layers=gap_layers,
        min_fragment_layers=min_fragment_layers,
        max_cuts_per_cell=max_cuts_per_cell,
        shrink=shrink,
        shrink_probability=shrink_probability,
        n_stacked_confounders=n_stacked_confounders,
        confounder_style=confounder_style,
        n_noise_masks=n_noise_masks,
        max_noise_fraction=max_noise_fraction,
        min_tilt=min_tilt,
        spacing=spacing,
        return_info=return_info,
        rng=rng,
    )

"""Pretrained correctors shipped with the package.

The models live in ``sklearn_overseg/pretrained/`` as ``NAME.json`` plus
``NAME.npz`` in the safe format of :func:`save_model`. They are reproduced by
``python -m sklearn_overseg.pretrained.train``.
"""

from __future__ import annotations

from importlib import resources

from sklearn.utils._param_validation import StrOptions, validate_params

from ._serialization import load_model

__all__ = [
    "auto_stitch_splits",
    "available_pretrained",
    "load_pretrained",
    "without_stitch_splits",
]


def available_pretrained() -> list[str]:
    """Names of the pretrained models shipped with the package.

    Returns
    -------
    list of str
        For example ``["axis", "tilted"]``; pass one to :func:`load_pretrained`.

    Examples
    --------
    >>> from sklearn_overseg import available_pretrained
    >>> "axis" in available_pretrained()
    True
    """
    folder = resources.files("sklearn_overseg") / "pretrained"
    return sorted(
        p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")
    )


@validate_params(
    {"name": [str], "stitch_splits": ["boolean", StrOptions({"auto"})]},
    prefer_skip_nested_validation=True,
)
def load_pretrained(name: str = "axis", *, stitch_splits: bool | str = "auto"):
    """Load a fitted :class:`MergeCorrector` shipped with the package.

    Parameters
    ----------
    name : str, default="axis"
        ``"axis"`` for splits along z (missing layers), ``"tilted"`` for cuts
        by tilted surfaces (3D segmenters). See :func:`available_pretrained`.
    stitch_splits : bool or "auto", default="auto"
        Whether the ``"axis"`` model also proposes *stitch splits*: pieces
        that touch across two consecutive layers (``min_gap=0``), as an IoU
        stitcher of 2D masks leaves them. ``"auto"`` (the default) decides
        per volume, when it is screened: stitch splits are proposed when
        :func:`~sklearn_overseg.screening.detect_stitched` finds that the
        volume was stitched from 2D slices by IoU (cellpose's ``stitch3D``),
        and not otherwise (the screener's ``min_gap="auto"``). On a volume
        that was not stitched (a 3D segmenter's output with missing layers,
        ground truth) two different cells stacked directly on each other are
        no stitch split, and the model, which learnt stitch splits from
        stitched volumes, merges some of them (``benchmarks/RESULTS.md``,
        sections 7 and 11). ``True`` always proposes them, ``False`` never.
        Gaps of 1-2 missing layers are proposed either way. The ``"tilted"``
        model has no such pairs: it takes ``True`` or ``"auto"``, which
        change nothing.

    Returns
    -------
    MergeCorrector
        A fitted corrector; loading executes no pickled code.

    Notes
    -----
    Both models are trained on synthetic tissue of z anisotropy 1.5 to 5,
    measured in voxels (``voxel_size_`` is ``None``), and keep measuring
    in voxels whatever ``voxel_size`` their methods get: the physical voxel
    size would show them shapes unlike those they learned from (on the real
    ovule, tilted cuts: F1 0.88 with it, 0.90 without). The tilted
    model is an average of five networks and merges at probability 0.7.
    Accuracy and speed: ``benchmarks/RESULTS.md``.

    Examples
    --------
    >>> from sklearn_overseg import load_pretrained
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> truth = make_tissue((24, 64, 64), n_cells=20, random_state=3)
    >>> flawed, pairs = oversegment(truth, n_splits=2, random_state=0)
    >>> corrected = load_pretrained().correct(flawed)
    >>> corrected.shape
    (24, 64, 64)
    >>> load_pretrained().screener_.min_gap
    'auto'
    >>> load_pretrained(stitch_splits=False).screener_.min_gap
    1
    """
    names = available_pretrained()
    if name not in names:
        raise ValueError(f"no pretrained model {name!r}; available: {names}")
    folder = resources.files("sklearn_overseg") / "pretrained"
    with resources.as_file(folder / f"{name}.json") as json_path:
        corrector = load_model(json_path)
    if isinstance(stitch_splits, str):
        if corrector.screener_.mode == "axis":
            auto_stitch_splits(corrector)
    elif not stitch_splits:
        without_stitch_splits(corrector)
    elif corrector.screener_.mode == "axis":
        corrector.screener_.set_params(min_gap=0)
    return corrector


def _axis_screener(corrector, what: str):
    screener = corrector.screener_
    if screener.mode != "axis":
        raise ValueError(
            f"stitch_splits={what} is for axis models; this model screens "
            f"{screener.mode!r} pairs, which are no stitch splits"
        )
    return screener


def auto_stitch_splits(corrector) -> None:
    """Let a fitted axis corrector decide per volume whether to propose gap-0 pairs.

    Its fitted screener gets ``min_gap="auto"``: each volume it screens is
    checked with :func:`~sklearn_overseg.screening.detect_stitched`, and
    stitch splits (gap 0) are proposed only when the volume looks stitched
    from 2D slices by IoU. The classifier is unchanged. ``overseg correct
    --stitch-splits auto`` calls it on any axis model.

    Parameters
    ----------
    corrector : MergeCorrector
        A fitted corrector whose screener is in ``"axis"`` mode.

    Raises
    ------
    ValueError
        If the corrector screens touching (``"contact"``) pairs.

    Examples
    --------
    >>> from sklearn_overseg.models import auto_stitch_splits, load_pretrained
    >>> corrector = load_pretrained("axis", stitch_splits=True)
    >>> corrector.screener_.min_gap
    0
    >>> auto_stitch_splits(corrector)
    >>> corrector.screener_.min_gap
    'auto'
    """
    _axis_screener(corrector, "'auto'").set_params(min_gap="auto")


def without_stitch_splits(corrector) -> None:
    """Stop a fitted axis corrector proposing gap-0 pairs, in place.

    Its fitted screener (the one that screens) then starts at gaps of one
    layer; the classifier is unchanged. ``overseg correct
    --no-stitch-splits`` calls it on any axis model, pretrained or a file.

    Parameters
    ----------
    corrector : MergeCorrector
        A fitted corrector whose screener is in ``"axis"`` mode.

    Raises
    ------
    ValueError
        If the corrector screens touching (``"contact"``) pairs.

    Examples
    --------
    >>> from sklearn_overseg.models import load_pretrained, without_stitch_splits
    >>> corrector = load_pretrained("axis")
    >>> corrector.screener_.min_gap
    'auto'
    >>> without_stitch_splits(corrector)
    >>> corrector.screener_.min_gap
    1
    """
    screener = _axis_screener(corrector, "False")
    screener.set_params(min_gap=1)

"""Pretrained correctors shipped with the package.

The models live in ``sklearn_overseg/pretrained/`` as ``NAME.json`` plus
``NAME.npz`` in the safe format of :func:`save_model`. They are reproduced by
``python -m sklearn_overseg.pretrained.train``.
"""

from __future__ import annotations

from importlib import resources

from ._serialization import load_model

__all__ = ["load_pretrained", "available_pretrained"]


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


def load_pretrained(name: str = "axis"):
    """Load a fitted :class:`MergeCorrector` shipped with the package.

    Parameters
    ----------
    name : str, default="axis"
        ``"axis"`` for splits along z (missing layers), ``"tilted"`` for cuts
        by tilted surfaces (3D segmenters). See :func:`available_pretrained`.

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
    """
    names = available_pretrained()
    if name not in names:
        raise ValueError(f"no pretrained model {name!r}; available: {names}")
    folder = resources.files("sklearn_overseg") / "pretrained"
    with resources.as_file(folder / f"{name}.json") as json_path:
        return load_model(json_path)

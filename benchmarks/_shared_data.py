"""Access to the real 3D label volumes in ``../shared/data`` beside the repo.

The folder holds five small ``.npz`` files, each with ``labels`` (z, y, x
instance labels, 0 = background), ``raw`` (the microscope image the labels were
drawn on) and ``voxel_size_um`` (z, y, x). They are never copied into the
project: benchmarks read them in place and skip cleanly, with a message, when
the folder is absent.

Benchmarks are scripts run as ``python benchmarks/<name>.py``, so this module
is imported as ``from _shared_data import load, require_shared_data``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = [
    "ALL_NAMES",
    "NAMES",
    "SHARED",
    "available",
    "load",
    "require_shared_data",
    "skip_message",
]

#: The shared data folder: ``<repo>/../shared/data``.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: The five volumes, in the order benchmarks report them.
NAMES = (
    "ovule_plantseg",
    "nuclei_gonuclear_1135",
    "nuclei_gonuclear_1136",
    "nuclei_gonuclear_1137",
    "nuclei_cells3d",
)
#: Every volume of the folder: :data:`NAMES` plus the isotropic electron
#: microscopy volume (its voxel size is not recorded), which the
#: generalisation benchmark resamples in z.
ALL_NAMES = (*NAMES, "em_medulla_gala")


def _path(name: str) -> Path:
    stem = name[:-4] if name.endswith(".npz") else name
    if stem not in ALL_NAMES:
        raise ValueError(
            f"unknown shared volume {name!r}; expected one of {', '.join(ALL_NAMES)}."
        )
    return SHARED / f"{stem}.npz"


def available(names=NAMES) -> bool:
    """Whether the shared folder exists and holds every file of ``names``.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return all(_path(name).is_file() for name in names)


def skip_message(names=NAMES) -> str:
    """Why a benchmark skips: which folder or files are missing.

    Examples
    --------
    >>> isinstance(skip_message(), str)
    True
    """
    if not SHARED.is_dir():
        return (
            f"shared data folder {SHARED} not found; this benchmark needs the "
            "real volumes in ../shared/data beside the repository. Skipping."
        )
    missing = [_path(name).name for name in names if not _path(name).is_file()]
    if missing:
        return f"missing in {SHARED}: {', '.join(missing)}. Skipping."
    return "shared data available."


def require_shared_data(names=NAMES) -> None:
    """Print why and exit with status 0 when the shared volumes are absent.

    Call it at the top of a benchmark's ``main``: without the data the
    benchmark is skipped, not failed.

    Examples
    --------
    >>> require_shared_data() if available() else None
    """
    if not available(names):
        print(f"SKIP: {skip_message(names)}")
        sys.exit(0)


def load(name: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Read one shared volume.

    Parameters
    ----------
    name : str
        One of :data:`ALL_NAMES` (with or without ``.npz``).

    Returns
    -------
    labels : ndarray of shape (z, y, x)
        Ground-truth instance labels, 0 = background.
    raw : ndarray of shape (z, y, x)
        The microscope image.
    voxel_size : tuple of 3 floats
        Voxel size (z, y, x) in micrometres.

    Examples
    --------
    >>> if available():
    ...     labels, raw, voxel_size = load("ovule_plantseg")
    ...     assert labels.shape == raw.shape and len(voxel_size) == 3
    """
    path = _path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. {skip_message([name])}")
    with np.load(path) as data:
        labels, raw = data["labels"], data["raw"]
        voxel_size = tuple(float(v) for v in data["voxel_size_um"])
    return labels, raw, voxel_size

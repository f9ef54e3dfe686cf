"""The files of an ``overseg`` command: output checked first, inputs read.

The output is checked before any work (writable, not the input unless
``--overwrite``); a parser's failure on a damaged input is reported as such.
"""

from __future__ import annotations

import struct
import zlib

from .._progress import stage
from .._voxel_size import check_voxel_size
from ..io import check_destination, read_labels, same_data_as

__all__ = ["check_output", "read_file", "read_input"]


def check_output(args) -> None:
    """Fail before any work if the output cannot be written or is the input."""
    check_destination(args.output)
    if not args.overwrite and same_data_as(args.input, args.output):
        raise ValueError(
            f"the output '{args.output}' is the input '{args.input}': writing it "
            "would destroy your segmentation. Choose another output with -o, or "
            "add --overwrite to replace the input"
        )


def read_file(path: str, **kwargs):
    """``read_labels``, with a parser's failure on a damaged file as ValueError."""
    try:
        return read_labels(path, **kwargs)
    except (ValueError, TypeError, KeyError, OSError, ImportError):
        raise
    except (IndexError, EOFError, struct.error, zlib.error) as exc:
        raise ValueError(f"cannot read '{path}', is the file damaged? "
                         f"({type(exc).__name__}: {exc})") from exc


def read_input(path: str, voxel_size, *, quiet: bool, assume_labels: bool = False):
    """Labels and voxel size (the ``--voxel-size`` override, else the file's)."""
    with stage(f"reading {path}", enabled=not quiet):
        volume, stored = read_file(path, return_voxel_size=True,
                                   assume_labels=assume_labels)
    if voxel_size is not None:
        return volume, tuple(check_voxel_size(voxel_size).tolist())
    return volume, stored

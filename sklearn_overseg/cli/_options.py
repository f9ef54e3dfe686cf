"""Argument types and options shared by several ``overseg`` commands."""

from __future__ import annotations

import argparse

__all__ = [
    "JOBS_HELP",
    "_assume_labels_option",
    "_common_options",
    "_jobs",
    "_model_option",
    "_overwrite_option",
    "_positive",
    "_probability",
]


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return value


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of jobs, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "0 jobs cannot run anything; give 1 (the default), a number of "
            "cores, or -1 for every core")
    return value


JOBS_HELP = (
    "parallel jobs for {what} (default 1; -1 uses every core, -2 all but "
    "one). On a small machine keep 1: starting workers costs more than it "
    "saves on small volumes (on 2 cores, -1 was slower than 1 for a "
    "24 x 128 x 128 volume); try more only for large volumes with many "
    "candidate pairs, and time it"
)


def _model_option(parser, what: str) -> None:
    parser.add_argument(
        "--model", default="default", metavar="MODEL",
        help=f"{what}: 'default' or 'axis' (pretrained: cells split along z, "
        "a mask missing in some layers), 'tilted' (pretrained: cells cut by "
        "tilted surfaces, as 3D segmenters make), or a .json file "
        "made by 'overseg train' (default: the pretrained axis model)",
    )


def _common_options(parser, *, jobs: bool = True) -> None:
    parser.add_argument(
        "--voxel-size", nargs=3, type=_positive(float), metavar=("Z", "Y", "X"),
        help="voxel size along z, y, x (e.g. 2 0.5 0.5 micron); overrides the "
        "size stored in the input file and is written to the output. The "
        "pretrained models and those of 'overseg train' measure in voxels "
        "(they were trained so), so it does not change their decisions; a "
        "model trained in the Python API with fit(..., voxel_size=...) gets the "
        "ratios of this one",
    )
    if jobs:
        parser.add_argument(
            "--jobs", type=_jobs, metavar="N",
            help=JOBS_HELP.format(what="pair features and gap rebuilding"),
        )
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars")


def _assume_labels_option(parser) -> None:
    parser.add_argument(
        "--assume-labels", action="store_true",
        help="read the input(s) as labels even if they look like a microscope "
        "image (most voxels non-zero, many distinct values, neighbouring "
        "voxels rarely equal), which is otherwise refused as a likely mix-up "
        "of image and segmentation",
    )


def _overwrite_option(parser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true",
        help="allow OUTPUT to be the input file itself (it is replaced); without "
        "it, writing over the input is refused. Outputs are written to a "
        "temporary file renamed at the end, so an interrupted run never leaves "
        "a half-written file",
    )

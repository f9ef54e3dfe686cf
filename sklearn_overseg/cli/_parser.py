"""The argument parser of ``overseg``: one sub-command per task."""

from __future__ import annotations

import argparse

from .. import __version__
from ._options import (
    JOBS_HELP,
    _assume_labels_option,
    _common_options,
    _jobs,
    _model_option,
    _overwrite_option,
    _positive,
    _probability,
)

__all__ = ["build_parser"]

FORMATS_HELP = (
    ".tif/.tiff, .npy, .npz, .h5 (as file.h5:dataset) or .zarr "
    "(as store.zarr:array)"
)
EXAMPLES = """examples:
  overseg correct cells.tif -o cells_fixed.tif --report review/
  overseg correct cells.h5:segmentation -o fixed.h5:segmentation --voxel-size 2 .5 .5
  overseg apply-decisions cells.tif review/decisions.csv -o cells_reviewed.tif
  overseg train truth1.tif truth2.tif -o my_model.json
  overseg train truth.tif --images raw.tif -o image_model.json
  overseg correct cells.tif -o fixed.tif --model image_model.json --image raw.tif
  overseg correct cells.tif -o fixed.tif --model my_model.json
  overseg evaluate fixed.tif truth.tif
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors in one line (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"overseg: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``overseg`` (one sub-command per task)."""
    parser = _Parser(
        prog="overseg",
        description="Find and repair oversegmentation in 3D cell segmentations: "
        "cells wrongly split into two or more labels. Run 'overseg COMMAND "
        "--help' for the options of a command.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"overseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "correct", help="merge wrongly split cells in a 3D segmentation",
        description="Find cells split into several labels and merge them; "
        "missing layers between the pieces are rebuilt. The output keeps the "
        "input's integer type and voxel size.",
    )
    p.add_argument("input", metavar="INPUT", help=f"label volume: {FORMATS_HELP}")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="where to write the corrected labels (same formats)")
    _model_option(p, "the corrector")
    p.add_argument(
        "--threshold", type=_probability, metavar="T",
        help="merge pairs whose merge probability is at least T, between 0 and "
        "1 (default: the model's; 0.5 for 'axis', 0.7 for 'tilted'); lower "
        "merges more, higher fewer",
    )
    p.add_argument(
        "--abstain", type=_probability, metavar="W",
        help="pairs whose probability is within W of the threshold are "
        "'unsure': not merged, listed first in the report (default: the "
        "model's, 0.1; 0 decides every pair)",
    )
    p.add_argument(
        "--stitch-splits", choices=("auto", "on", "off"), default=None,
        help="propose pieces that touch across two consecutive layers (an IoU "
        "stitcher's splits): 'auto' (default) only when the volume looks "
        "stitched from 2D slices (the reasons are printed), 'on' always, "
        "'off' never (on volumes not stitched from 2D slices two different "
        "cells stacked on each other would be proposed instead). Axis models "
        "only; gaps of missing layers are proposed either way",
    )
    p.add_argument(
        "--no-stitch-splits", action="store_true",
        help="the same as --stitch-splits off",
    )
    p.add_argument(
        "--report", metavar="DIR",
        help="also write a review report (DIR/index.html: a figure per merged "
        "or unsure pair) and DIR/decisions.csv, to approve or reject merges "
        "and re-apply them with 'overseg apply-decisions'",
    )
    p.add_argument(
        "--borderline", type=float, default=0.2, metavar="W",
        help="pairs whose probability is within W of the threshold are "
        "'borderline' and go in the report even when not merged (default 0.2)",
    )
    p.add_argument("--max-pairs", type=int, default=50, metavar="N",
                   help="most pairs drawn in the report (default 50)")
    p.add_argument(
        "--image", metavar="RAW",
        help="the raw microscope image the labels were drawn on (same shape, "
        "same formats; 'raw.npz:raw' picks an array), for a model trained "
        "with image features ('overseg train --images', or "
        "make_pair_pipeline(image=True)), which needs it; label-only models "
        "(the pretrained ones) ignore it with a warning; with --report it is "
        "also drawn beside each pair",
    )
    _overwrite_option(p)
    _assume_labels_option(p)
    _common_options(p)

    p = sub.add_parser(
        "train", help="train a corrector on your own ground truth",
        description="Train a corrector and save it as MODEL.json (+ MODEL.npz), "
        "for 'overseg correct --model MODEL.json'. It measures in voxels (the "
        "voxel size of the files is not used). With --images it also learns "
        "from the raw images and then needs 'overseg correct --image'.",
    )
    p.add_argument(
        "ground_truth", nargs="+", metavar="GROUND_TRUTH",
        help="correct label volumes. Without --flawed, they are split "
        "artificially to make training examples",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.json",
                   help="model file to write")
    p.add_argument(
        "--flawed", nargs="+", metavar="FLAWED",
        help="your own flawed segmentations of the same images, in the same "
        "order as GROUND_TRUTH: their split cells are the training examples",
    )
    p.add_argument(
        "--images", nargs="+", metavar="RAW",
        help="the raw microscope image of each training volume (of each FLAWED "
        "volume with --flawed, else of each GROUND_TRUTH), in the same order "
        "and of the same shape: the model also learns image features (the "
        "membrane or nuclear signal at the interface of two pieces) and then "
        "needs 'overseg correct --image'",
    )
    p.add_argument("--max-gap", type=int, choices=(1, 2, 3), default=2,
                   help="most missing layers between two pieces of a cell "
                   "(default 2)")
    p.add_argument("--rounds", type=_positive(int), default=3, metavar="N",
                   help="rounds of artificial splitting per volume; more "
                   "rounds, more examples (default 3)")
    p.add_argument("--classifier", choices=("mlp", "logistic"), default="mlp",
                   help="the paper's neural network (mlp, default) or a "
                   "logistic regression (faster, for small data)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--jobs", type=_jobs, metavar="N",
                   help=JOBS_HELP.format(what="gap rebuilding"))
    _assume_labels_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser(
        "evaluate", help="compare a segmentation with the ground truth",
        description="Print mean average precision at IoU 0.25, 0.5 and 0.75, "
        "the Jaccard index, and the split and merge parts of the variation "
        "of information (lower is better; split measures oversegmentation).",
    )
    p.add_argument("prediction", metavar="PRED", help=f"segmentation: {FORMATS_HELP}")
    p.add_argument("ground_truth", metavar="GT", help="ground truth, same shape")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _assume_labels_option(p)

    p = sub.add_parser(
        "demo", help="correct a built-in synthetic tissue and show the result",
        description="Make a synthetic tissue, split some cells, correct them "
        "with the pretrained model and print the scores before and after.",
    )
    p.add_argument("--shape", nargs=3, type=_positive(int), default=(48, 160, 160),
                   metavar=("Z", "Y", "X"), help="volume shape (default 48 160 160)")
    p.add_argument("--cells", type=_positive(int), default=80,
                   help="number of cells (default 80)")
    p.add_argument("--splits", type=_positive(int), default=12,
                   help="number of cells split (default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    p = sub.add_parser(
        "apply-decisions", help="re-apply merges approved in a review",
        description="Merge the pairs marked 'yes' in the 'merged' column of a "
        "decisions.csv written by 'overseg correct --report' (and edited by "
        "you) into the ORIGINAL segmentation; missing layers are rebuilt as "
        "by 'overseg correct'. No raw image is needed, even for a model with "
        "image features: the decisions are made.",
    )
    p.add_argument("input", metavar="INPUT",
                   help="the original segmentation given to 'overseg correct'")
    p.add_argument("decisions", metavar="DECISIONS.csv",
                   help="the reviewed decisions (comma, semicolon or tab "
                   "separated)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="where to write the result")
    _model_option(p, "the corrector used for the report (for gap rebuilding)")
    _overwrite_option(p)
    _assume_labels_option(p)
    _common_options(p)
    return parser

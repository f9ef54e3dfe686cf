"""What each ``overseg`` command does; the argument parser is in ``_parser.py``.

``correct`` runs the corrector step by step (screening, pair features,
classification, merging and gap interpolation) with the very functions
:meth:`MergeCorrector.correct` uses, so that it can show a progress bar per
step and keep the pair features for the review report; its output is
identical to ``correct``'s.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from .._progress import stage
from ..correction import MergeCorrector
from ..features import uses_image
from ..io import read_image, write_labels
from ..models import save_model
from ..review import apply_decisions, read_decisions
from ._corrector_options import configure, load_corrector, stitch_splits
from ._files import check_output, read_file, read_input

__all__ = [
    "run_apply_decisions", "run_correct", "run_demo", "run_evaluate", "run_train",
]


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the review report (--report) draws with matplotlib, which is not "
            "installed: pip install matplotlib"
        ) from None


def run_correct(args) -> int:
    """``overseg correct``."""
    quiet = args.quiet
    if args.report:
        _require_matplotlib()
    check_output(args)  # fail now, not after the work
    volume, voxel_size = read_input(args.input, args.voxel_size, quiet=quiet,
                                    assume_labels=args.assume_labels)
    if not volume.any():  # an empty tile of a large stack is valid
        write_labels(args.output, volume, voxel_size=voxel_size)
        print(f"no cells, nothing to correct; wrote {args.output} (a copy of the "
              "input)" + ("; no review report" if args.report else ""))
        return 0
    corrector = load_corrector(args.model)
    configure(corrector, threshold=args.threshold, jobs=args.jobs,
              verbose=0 if quiet else 1, abstain=args.abstain)
    stitch_splits(corrector, args, volume, quiet=quiet)
    image = None
    if args.image:
        with stage(f"reading {args.image}", enabled=not quiet):
            image = read_image(args.image)
    if image is None and uses_image(corrector.classifier_):
        raise ValueError(
            f"the model {args.model!r} uses the raw image; give it with --image RAW"
        )
    with stage("screening", enabled=not quiet):
        # checked not to be an image when read (or --assume-labels)
        candidates = corrector.screen(volume, voxel_size=voxel_size,
                                      assume_labels=True, image=image)
    scores = corrector.score_pairs(candidates, return_features=True)
    decisions = corrector.decide(volume, candidates, scores)
    corrected = corrector.apply(volume, decisions)
    with stage(f"writing {args.output}", enabled=not quiet):
        write_labels(args.output, corrected, voxel_size=voxel_size)
    threshold = corrector.threshold
    n_unsure = int(decisions.unsure.sum())
    n_outside = int((decisions.unsure & decisions.out_of_range).sum())
    outside = f", {n_outside} unlike any training pair" if n_outside else ""
    hint = "; review them with --report DIR" if n_unsure and not args.report else ""
    print(f"{len(candidates)} candidate pairs, {int(decisions.merged.sum())} merged, "
          f"{n_unsure} unsure (not merged{outside}){hint}; wrote {args.output}")
    if args.report:
        from ..review import write_review_report

        page = write_review_report(
            volume, corrected, decisions.records(),
            args.report, threshold=threshold, borderline=args.borderline,
            max_pairs=args.max_pairs, features=scores.features,
            feature_names=scores.feature_names,
            standardised_features=scores.standardised, voxel_size=voxel_size,
            image=image, source=args.input, verbose=0 if quiet else 1,
        )
        print(f"review report: {page}")
    return 0


def run_train(args) -> int:
    """``overseg train``."""
    from sklearn.linear_model import LogisticRegression

    from ..models import make_pair_pipeline
    from ..screening import CandidateScreener

    if Path(args.output).suffix.lower() != ".json":
        raise ValueError(f"the model name must end in .json, got '{args.output}'")
    if args.flawed and len(args.flawed) != len(args.ground_truth):
        raise ValueError(
            f"{len(args.flawed)} flawed volume(s) for {len(args.ground_truth)} "
            "ground-truth volume(s); give one ground truth per flawed volume"
        )
    with stage("reading volumes", enabled=not args.quiet):
        truths = [read_file(p, assume_labels=args.assume_labels)
                  for p in args.ground_truth]
        flawed = [read_file(p, assume_labels=args.assume_labels)
                  for p in args.flawed or []]
    for f, t, name in zip(flawed, truths, args.flawed or []):
        if f.shape != t.shape:
            raise ValueError(
                f"'{name}' has shape {f.shape} but its ground truth {t.shape}"
            )
    images = None
    if args.images:
        volumes = flawed or truths
        if len(args.images) != len(volumes):
            raise ValueError(
                f"{len(args.images)} image(s) for {len(volumes)} volume(s); give "
                "one raw image per training volume, in the same order"
            )
        with stage("reading images", enabled=not args.quiet):
            images = [read_image(p) for p in args.images]
    classifier = None
    if args.classifier == "logistic":
        classifier = LogisticRegression(max_iter=1000)
    if classifier is not None or images is not None:
        classifier = make_pair_pipeline(classifier, image=images is not None,
                                        random_state=args.seed)
    corrector = MergeCorrector(
        screener=CandidateScreener(max_gap=args.max_gap), classifier=classifier,
        damage=None if flawed else "axis", n_rounds=args.rounds,
        random_state=args.seed, n_jobs=args.jobs,
    )
    with stage("training", enabled=not args.quiet):
        if flawed:
            corrector.fit(flawed, truths, images=images)
        else:
            corrector.fit(truths, images=images)
    path = save_model(corrector, args.output)
    print(f"trained on {corrector.n_training_pairs_} candidate pairs from "
          f"{len(truths)} volume(s); saved {path} and {path.with_suffix('.npz')}")
    return 0


def run_evaluate(args) -> int:
    """``overseg evaluate``."""
    from ..metrics import average_precision, jaccard_index, variation_of_information

    pred = read_file(args.prediction, assume_labels=args.assume_labels)
    truth = read_file(args.ground_truth, assume_labels=args.assume_labels)
    if pred.shape != truth.shape:
        raise ValueError(
            f"the prediction has shape {pred.shape} but the ground truth "
            f"{truth.shape}"
        )
    ap = average_precision(truth, pred, (0.25, 0.5, 0.75))
    split, merge = variation_of_information(truth, pred)
    scores = {
        "mAP@0.25": float(ap[0]), "mAP@0.5": float(ap[1]), "mAP@0.75": float(ap[2]),
        "mAP": float(ap.mean()), "Jaccard": jaccard_index(truth, pred),
        "VOI split": split, "VOI merge": merge,
    }
    if args.json:
        print(json.dumps(scores))
    else:
        for name, value in scores.items():
            print(f"{name:<10} {value:.4f}")
    return 0


def run_demo(args) -> int:
    """``overseg demo``."""
    from ._demo import run_demo as demo

    with warnings.catch_warnings():
        # the simulator's notes on what it could not make are not for users
        warnings.simplefilter("ignore", UserWarning)
        demo(tuple(args.shape), n_cells=args.cells, n_splits=args.splits,
             random_state=args.seed)
    return 0


def run_apply_decisions(args) -> int:
    """``overseg apply-decisions``."""
    quiet = args.quiet
    check_output(args)  # fail now, not after the work
    volume, voxel_size = read_input(args.input, args.voxel_size, quiet=quiet,
                                    assume_labels=args.assume_labels)
    decisions = read_decisions(args.decisions)
    corrector = load_corrector(args.model)
    configure(corrector, jobs=args.jobs, verbose=0 if quiet else 1)
    corrected = apply_decisions(
        volume, decisions, corrector=corrector, voxel_size=voxel_size
    )
    with stage(f"writing {args.output}", enabled=not quiet):
        write_labels(args.output, corrected, voxel_size=voxel_size)
    n_yes = sum(d["merged"] for d in decisions)
    print(f"{n_yes} of {len(decisions)} reviewed pairs approved; "
          f"wrote {args.output}")
    return 0

"""What each ``overseg`` command does; the argument parser lives in ``cli.py``.

``correct`` runs the corrector step by step (screening, pair features,
classification, merging and gap interpolation) with the very functions
:meth:`MergeCorrector.correct` uses, so that it can show a progress bar per
step and keep the pair features for the review report; its output is
identical to ``correct``'s.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path

from .._progress import stage
from .._voxel_size import check_voxel_size
from ..correction import MergeCorrector
from ..features import uses_image
from ..io import check_destination, read_image, read_labels, same_data_as, write_labels
from ..models import (
    available_pretrained,
    load_model,
    load_pretrained,
    save_model,
    without_stitch_splits,
)
from ..review import apply_decisions, read_decisions
from ..screening import detect_stitched

__all__ = [
    "run_apply_decisions", "run_correct", "run_demo", "run_evaluate", "run_train",
]


def load_corrector(spec: str) -> MergeCorrector:
    """A fitted corrector from a pretrained name, ``"default"`` or a model file."""
    names = available_pretrained()
    if spec in names or spec == "default":
        return load_pretrained("axis" if spec == "default" else spec)
    path = Path(spec)
    if path.suffix.lower() in (".json", ".npz") or path.exists():
        try:
            model = load_model(path)
        except ValueError as exc:
            message = str(exc)
            if str(path) not in message:
                message = f"cannot load the model '{path}': {message}"
            raise ValueError(message) from exc
        if not isinstance(model, MergeCorrector):
            raise ValueError(
                f"model file '{path}' holds a {type(model).__name__}, not a "
                "corrector made by 'overseg train'"
            )
        if not hasattr(model, "classifier_"):
            raise ValueError(
                f"model file '{path}' holds an untrained corrector (no trained "
                "classifier in it); train one with 'overseg train'"
            )
        return model
    raise ValueError(
        f"--model {spec!r} is neither a model file (.json) nor a pretrained model "
        f"(choose from: default, {', '.join(names)})"
    )


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


def configure(
    corrector: MergeCorrector, *, threshold=None, jobs=None, verbose=0, abstain=None
):
    """Apply the command-line settings to a fitted corrector, in place.

    The voxel size is not a setting but data: the commands pass the file's
    to the corrector's steps, and the model uses it in the units it was
    trained in (see :meth:`MergeCorrector.working_voxel_size`).
    """
    corrector.set_params(verbose=verbose)
    if threshold is not None:
        corrector.set_params(threshold=threshold)
    if abstain is not None:
        corrector.set_params(abstain=abstain)
    if jobs is not None:
        corrector.set_params(n_jobs=jobs)
        # a GapRoutedClassifier's fitted parts are estimators of their own
        fitted = [corrector.classifier_] + [
            getattr(corrector.classifier_, name)
            for name in ("stitch_", "gaps_")
            if hasattr(corrector.classifier_, name)
        ]
        for model in fitted:
            params = model.get_params(deep=True)
            model.set_params(**{k: jobs for k in params if k.endswith("n_jobs")})


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the review report (--report) draws with matplotlib, which is not "
            "installed: pip install matplotlib"
        ) from None


def stitch_splits(corrector, args, volume, *, quiet: bool) -> None:
    """``--stitch-splits auto|on|off`` (and ``--no-stitch-splits``, off).

    Without either option, ``auto`` for an axis model that proposes stitch
    splits (its screener's ``min_gap`` is 0 or ``"auto"``); other models
    (tilted, or trained without stitch splits) are left as they are.
    """
    choice = getattr(args, "stitch_splits", None)
    if args.no_stitch_splits:
        if choice not in (None, "off"):
            raise ValueError(
                f"--no-stitch-splits contradicts --stitch-splits {choice}; give one"
            )
        choice = "off"
    if choice is None:
        screener = corrector.screener_
        if screener.mode != "axis" or screener.min_gap == 1:
            return
        choice = "auto"
    if choice == "off":
        without_stitch_splits(corrector)
    elif choice == "on":
        if corrector.screener_.mode != "axis":
            raise ValueError("--stitch-splits is for axis models; this model "
                             f"screens {corrector.screener_.mode!r} pairs")
        corrector.screener_.set_params(min_gap=0)
    elif choice == "auto":
        # decided here, once, with the screener's own test, so that the
        # reasons can be printed; the screen then uses the decision
        evidence = detect_stitched(volume)
        without_stitch_splits(corrector)
        if evidence.stitched:
            corrector.screener_.set_params(min_gap=0)
        if not quiet:
            print("stitch splits: " + ("on" if evidence.stitched else "off")
                  + " (--stitch-splits auto): " + "; ".join(evidence.reasons))


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

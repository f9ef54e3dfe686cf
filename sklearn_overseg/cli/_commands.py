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
from .._validation import check_voxel_size
from ..correction import MergeCorrector
from ..io import read_labels, write_labels
from ..io._labels import check_destination
from ..models import available_pretrained, load_model, load_pretrained, save_model
from ..review import apply_decisions, is_borderline, read_decisions

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
            raise ValueError(f"cannot load the model '{path}': {exc}") from exc
        if not isinstance(model, MergeCorrector):
            raise ValueError(
                f"model file '{path}' holds a {type(model).__name__}, not a "
                "corrector made by 'overseg train'"
            )
        return model
    raise ValueError(
        f"--model {spec!r} is neither a model file (.json) nor a pretrained model "
        f"(choose from: default, {', '.join(names)})"
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


def read_input(path: str, voxel_size, *, quiet: bool):
    """Labels and voxel size (the ``--voxel-size`` override, else the file's)."""
    with stage(f"reading {path}", enabled=not quiet):
        volume, stored = read_file(path, return_voxel_size=True)
    if voxel_size is not None:
        return volume, tuple(check_voxel_size(voxel_size).tolist())
    return volume, stored


def configure(corrector: MergeCorrector, *, threshold=None, jobs=None, verbose=0):
    """Apply the command-line settings to a fitted corrector, in place.

    The voxel size is not a setting but data: the commands pass the file's
    to the corrector's steps, and the model uses it in the units it was
    trained in (see :meth:`MergeCorrector.working_voxel_size`).
    """
    corrector.set_params(verbose=verbose)
    if threshold is not None:
        corrector.set_params(threshold=threshold)
    if jobs is not None:
        corrector.set_params(n_jobs=jobs)
        params = corrector.classifier_.get_params(deep=True)
        corrector.classifier_.set_params(
            **{k: jobs for k in params if k.endswith("n_jobs")}
        )


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
    check_destination(args.output)  # fail now, not after the work
    volume, voxel_size = read_input(args.input, args.voxel_size, quiet=quiet)
    corrector = load_corrector(args.model)
    configure(corrector, threshold=args.threshold, jobs=args.jobs,
              verbose=0 if quiet else 1)
    with stage("screening", enabled=not quiet):
        candidates = corrector.screen(volume, voxel_size=voxel_size)
    scores = corrector.score_pairs(candidates, return_features=True)
    decisions = corrector.decide(volume, candidates, scores.probabilities)
    corrected = corrector.apply(volume, decisions)
    with stage(f"writing {args.output}", enabled=not quiet):
        write_labels(args.output, corrected, voxel_size=voxel_size)
    threshold = corrector.threshold
    n_unsure = sum(
        is_borderline(p, threshold, args.borderline) for p in decisions.probabilities
    )
    print(f"{len(candidates)} candidate pairs, {int(decisions.merged.sum())} merged, "
          f"{n_unsure} unsure; wrote {args.output}")
    if args.report:
        from ..review import write_review_report

        page = write_review_report(
            volume, corrected, decisions.records(),
            args.report, threshold=threshold, borderline=args.borderline,
            max_pairs=args.max_pairs, features=scores.features,
            feature_names=scores.feature_names,
            standardised_features=scores.standardised, voxel_size=voxel_size,
            source=args.input, verbose=0 if quiet else 1,
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
        truths = [read_file(p) for p in args.ground_truth]
        flawed = [read_file(p) for p in args.flawed or []]
    for f, t, name in zip(flawed, truths, args.flawed or []):
        if f.shape != t.shape:
            raise ValueError(
                f"'{name}' has shape {f.shape} but its ground truth {t.shape}"
            )
    classifier = None
    if args.classifier == "logistic":
        classifier = make_pair_pipeline(LogisticRegression(max_iter=1000))
    corrector = MergeCorrector(
        screener=CandidateScreener(max_gap=args.max_gap), classifier=classifier,
        damage=None if flawed else "axis", n_rounds=args.rounds,
        random_state=args.seed, n_jobs=args.jobs,
    )
    with stage("training", enabled=not args.quiet):
        if flawed:
            corrector.fit(flawed, truths)
        else:
            corrector.fit(truths)
    path = save_model(corrector, args.output)
    print(f"trained on {corrector.n_training_pairs_} candidate pairs from "
          f"{len(truths)} volume(s); saved {path} and {path.with_suffix('.npz')}")
    return 0


def run_evaluate(args) -> int:
    """``overseg evaluate``."""
    from ..metrics import average_precision, jaccard_index, variation_of_information

    pred, truth = read_file(args.prediction), read_file(args.ground_truth)
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
    check_destination(args.output)  # fail now, not after the work
    volume, voxel_size = read_input(args.input, args.voxel_size, quiet=quiet)
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

"""The corrector an ``overseg`` command runs, with its command-line settings.

``--model`` picks a pretrained corrector or a model file
(:func:`load_corrector`); ``--threshold``, ``--abstain`` and ``--jobs`` are
set on it (:func:`configure`), and ``--stitch-splits`` decides whether its
screener proposes stitch splits (:func:`stitch_splits`).
"""

from __future__ import annotations

from pathlib import Path

from ..correction import MergeCorrector
from ..models import (
    available_pretrained,
    load_model,
    load_pretrained,
    without_stitch_splits,
)
from ..screening import detect_stitched

__all__ = ["configure", "load_corrector", "stitch_splits"]


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

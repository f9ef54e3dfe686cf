"""Train the pretrained correctors shipped with the package.

Usage::

    python -m sklearn_overseg.pretrained.train            # axis and tilted
    python -m sklearn_overseg.pretrained.train --models axis --out DIR
    python -m sklearn_overseg.pretrained.train --ranges-only   # no retraining

The training data are synthetic tissues made by :mod:`sklearn_overseg.datasets`
(dense, loosely packed and nuclei, at several anisotropies), damaged by the
oversegmentation simulator; nothing is downloaded. The run is deterministic.
The axis model also learns stitch splits (its screener proposes gap-0 pairs):
its pairs come from :func:`~sklearn_overseg.pretrained.axis_training_candidates`
(missing layers and ``slice_and_stitch`` damage).
The classifier of both models is a seed ensemble of networks (probabilities
averaged, :func:`seed_ensemble`): one network's training seed alone moved the
results by a few points.

The tilted model is trained at the realistic class ratio, on every touching
pair of the volumes of ``_tilted_recipe.tilted_training_volumes``
(small-celled, bent and cropped tissues cut by planes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

from ..correction import MergeCorrector
from ..datasets import make_tissue
from ..features import FragmentExtentFeatures, PairContextFeatures
from ..models import GapRoutedClassifier, MergeNet, make_pair_pipeline, save_model
from ..screening import CandidateScreener
from ._tilted_recipe import tilted_training_volumes

HERE = Path(__file__).resolve().parent

#: (shape, n_cells, mode, anisotropy) of the synthetic training volumes.
TRAINING_TISSUES = [
    ((48, 160, 160), 80, "dense", 3.0),
    ((48, 160, 160), 80, "loose", 3.0),
    ((40, 128, 128), 50, "dense", 2.0),
    ((40, 128, 128), 50, "loose", 4.0),
    ((64, 128, 128), 60, "dense", 1.5),
    ((48, 160, 160), 40, "nuclei", 2.0),
    ((32, 128, 128), 60, "dense", 5.0),
    ((48, 128, 128), 40, "loose", 2.5),
]


#: Networks of the tilted model's seed ensemble (their probabilities are
#: averaged): one network's seed alone moved held-out F1 by a few points.
TILTED_ENSEMBLE_SIZE = 5
#: ``min_contact_ratio`` of the shipped tilted model's screener (set after
#: training on every touching pair): half the smallest contact ratio (area over
#: the larger fragment's volume to the 2/3) of the pairs the model merged when
#: it scored every touching pair of held-out synthetic and real tilted cuts
#: (``benchmarks/bench_tilted_cascade.py``).
TILTED_MIN_CONTACT_RATIO = 0.07
#: Resliced layers on each side of the contact (tilted model): the deepest
#: layer the kink features of ``ContactFeatures`` read; its two slab
#: convexity features read the same layers (``ContactFeatures(region="slab")``).
TILTED_SLAB_LAYERS = 8
#: Networks of the axis model's seed ensemble: one network's seed alone moved
#: the distinct-cell gaps merged on real tissue by a few.
AXIS_ENSEMBLE_SIZE = 5


def training_volumes(seed: int = 0) -> list[np.ndarray]:
    """The synthetic ground-truth volumes used for training."""
    return [
        make_tissue(shape, n, mode=mode, anisotropy=aniso, random_state=seed + i)
        for i, (shape, n, mode, aniso) in enumerate(TRAINING_TISSUES)
    ]


def seed_ensemble(n_networks: int, **net_params):
    """A seed ensemble of ``n_networks`` :class:`MergeNet` classifiers.

    Every network sees all the pairs (no bootstrap), with its own seed for
    the weights, dropout and the order of the pairs; their merge
    probabilities are averaged. ``net_params`` go to each ``MergeNet``.
    """
    from sklearn.ensemble import BaggingClassifier

    return BaggingClassifier(
        MergeNet(iterator_train__shuffle=True, **net_params),
        n_estimators=n_networks,
        bootstrap=False,
        max_samples=1.0,
        random_state=0,
    )


def build_corrector(model: str) -> MergeCorrector:
    """The (unfitted) corrector each pretrained model is made from."""
    if model == "axis":
        # Stitch splits (gap 0) and missing layers each get their own
        # ensemble: the gap model is trained exactly as before stitch splits
        # were added, so its decisions on gaps do not move.
        return MergeCorrector(
            screener=CandidateScreener(mode="axis", max_gap=2, min_gap=0),
            classifier=GapRoutedClassifier(
                stitch=make_pair_pipeline(
                    seed_ensemble(AXIS_ENSEMBLE_SIZE),
                    extent=FragmentExtentFeatures(),
                    # a one-layer piece has no shape of its own: the labels
                    # above, below and beside it say whose cap it is
                    context=PairContextFeatures(),
                ),
                gaps=make_pair_pipeline(seed_ensemble(AXIS_ENSEMBLE_SIZE)),
                # gapped pairs help the stitch classifier tell one cell's shape
                # continuing from two cells (fewer stacked cells joined)
                stitch_pairs="all",
                # a gapped pair merges only when both classifiers agree: the
                # stitch classifier, which has seen stitched volumes, vetoes
                # gaps that stitching leaves between two different cells
                gapped="both",
            ),
            damage="axis",
            n_rounds=4,
            random_state=0,
        )
    if model == "tilted":
        from ..features import ClippedStandardScaler
        from ..tilted import ContactFeatures, TiltedReslicer

        ensemble = seed_ensemble(TILTED_ENSEMBLE_SIZE, class_weight=5.0)
        # Contacts under 10 voxel faces are left alone: no cell worth merging
        # is cut by so small a surface, and their shapes say nothing.
        return MergeCorrector(
            screener=CandidateScreener(mode="contact", min_contact=10),
            classifier=make_pair_pipeline(
                ensemble,
                # Only a slab around the contact (8 layers on each side, the
                # deepest the kink features read) is resliced, and the slab
                # convexity features read those layers: 2.75x less CPU time
                # than 64 layers and a distance map (RESULTS.md, section 6).
                reslicer=TiltedReslicer(max_layers=TILTED_SLAB_LAYERS),
                contact=ContactFeatures(region="slab"),
                # Shapes never seen in training must not be extrapolated.
                scaler=ClippedStandardScaler(clip=5.0),
            ),
            # Chosen by 5-fold cross-validation grouped by tissue on the
            # training pairs: at most 0.5% of distinct pairs merged.
            threshold=0.7,
            random_state=0,
        )
    raise ValueError(f"unknown model {model!r}; choose 'axis' or 'tilted'")


def fit_from_candidates(corrector: MergeCorrector, candidates, y) -> MergeCorrector:
    """Fit ``corrector`` on labelled pairs (a training recipe's output).

    What ``MergeCorrector.fit`` does once it has its pairs: the screener is
    cloned as it is, the pair classifier is a fitted clone, and the box of its
    training features is kept for the out-of-range rule.
    """

    from ..correction import fit_feature_range

    corrector.screener_ = clone(corrector.screener)
    corrector.classifier_ = clone(corrector.classifier).fit(candidates, y)
    corrector.feature_range_ = fit_feature_range(corrector.classifier_, candidates)
    corrector.n_training_pairs_ = len(y)
    corrector.voxel_size_ = None  # trained in voxels, as the shipped models
    return corrector


#: ``n_jobs`` of the tilted pair pipeline's costly steps, set during training.
_PARALLEL_STEPS = (
    "classifier__reslice__n_jobs",
    "classifier__features__geo__n_jobs",
    "classifier__features__contact__n_jobs",
    "classifier__clf__n_jobs",
)


def train(model: str, out: Path = HERE, seed: int = 0) -> Path:
    """Train one pretrained model and save it as ``out/model.json``."""
    corrector = build_corrector(model)
    start = time.perf_counter()
    if model == "tilted":
        # Every touching pair is a training pair (the realistic class ratio).
        flawed, truth = tilted_training_volumes(seed)
        volumes = truth
        corrector.set_params(**{key: 2 for key in _PARALLEL_STEPS})
        corrector.fit(flawed, truth)
        # The shipped model runs single-process unless the user asks.
        corrector.set_params(**{key: None for key in _PARALLEL_STEPS})
        corrector.classifier_.set_params(
            **{key.removeprefix("classifier__"): None for key in _PARALLEL_STEPS}
        )
        # Trained on every touching pair; ships with the cheap first stage
        # that leaves out pairs it would never merge (RESULTS.md, section 6).
        corrector.set_params(screener__min_contact_ratio=TILTED_MIN_CONTACT_RATIO)
        corrector.screener_.set_params(min_contact_ratio=TILTED_MIN_CONTACT_RATIO)
    else:
        from ._axis_recipe import axis_training_candidates

        candidates, y, groups = axis_training_candidates(
            seed=seed, screener=corrector.screener
        )
        volumes = np.unique(groups)
        fit_from_candidates(corrector, candidates, y)
    elapsed = time.perf_counter() - start
    path = save_model(corrector, Path(out) / f"{model}.json")
    print(
        f"{model}: trained on {corrector.n_training_pairs_} pairs from "
        f"{len(volumes)} volumes in {elapsed:.1f} s -> {path}"
    )
    return path


def training_feature_range(corrector: MergeCorrector, model: str, seed: int = 0):
    """The box of the recipe's training pair features, for a fitted corrector.

    The training pairs are remade exactly as :func:`train` makes them (same
    volumes, damage and seeds) and seen through ``corrector``'s fitted
    classifier (both routes of the routed axis model). ``MergeCorrector.fit``
    and :func:`train` learn this range themselves; this gives it to a model
    trained before ranges existed, without retraining.
    """
    from ..correction import fit_feature_range

    if model == "tilted":
        flawed, _ = tilted_training_volumes(seed)
        # every touching pair, as in training (not only those the shipped
        # screener's first stage keeps)
        screener = clone(corrector.screener_).set_params(min_contact_ratio=0.0)
        candidates = screener.transform(flawed)
    else:
        from ._axis_recipe import axis_training_candidates

        candidates, _, _ = axis_training_candidates(
            seed=seed, screener=corrector.screener
        )
    return fit_feature_range(corrector.classifier_, candidates)


def attach_training_range(model: str, out: Path = HERE, seed: int = 0) -> Path:
    """Add the training feature range to a saved model, without retraining."""
    from ..models import load_model

    path = Path(out) / f"{model}.json"
    corrector = load_model(path)
    corrector.feature_range_ = training_feature_range(corrector, model, seed)
    return save_model(corrector, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["axis", "tilted"])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ranges-only", action="store_true",
        help="add the training feature range to the saved models in --out "
        "without retraining them",
    )
    args = parser.parse_args(argv)
    for model in args.models:
        if args.ranges_only:
            print(f"{model}: training range -> "
                  f"{attach_training_range(model, args.out, args.seed)}")
        else:
            train(model, args.out, args.seed)


if __name__ == "__main__":
    main()

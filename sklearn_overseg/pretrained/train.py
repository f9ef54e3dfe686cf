"""Train the pretrained correctors shipped with the package.

Usage::

    python -m sklearn_overseg.pretrained.train            # axis and tilted
    python -m sklearn_overseg.pretrained.train --models axis --out DIR

The training data are synthetic tissues made by :mod:`sklearn_overseg.datasets`
(dense, loosely packed and nuclei, at several anisotropies), damaged by the
oversegmentation simulator; nothing is downloaded. The run is deterministic.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .._corrector import MergeCorrector
from .._pair_pipeline import make_pair_pipeline
from .._screening import CandidateScreener
from .._serialization import save_model
from ..datasets import make_tissue

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


def training_volumes(seed: int = 0) -> list[np.ndarray]:
    """The synthetic ground-truth volumes used for training."""
    return [
        make_tissue(shape, n, mode=mode, anisotropy=aniso, random_state=seed + i)
        for i, (shape, n, mode, aniso) in enumerate(TRAINING_TISSUES)
    ]


def build_corrector(model: str) -> MergeCorrector:
    """The (unfitted) corrector each pretrained model is made from."""
    if model == "axis":
        return MergeCorrector(
            screener=CandidateScreener(mode="axis", max_gap=2),
            classifier=make_pair_pipeline(random_state=0),
            n_rounds=4,
            random_state=0,
        )
    if model == "tilted":
        from .._reslice import TiltedReslicer

        return MergeCorrector(
            screener=CandidateScreener(mode="contact"),
            classifier=make_pair_pipeline(reslicer=TiltedReslicer(), random_state=0),
            n_rounds=3,
            random_state=0,
        )
    raise ValueError(f"unknown model {model!r}; choose 'axis' or 'tilted'")


def train(model: str, out: Path = HERE, seed: int = 0) -> Path:
    """Train one pretrained model and save it as ``out/model.json``."""
    corrector = build_corrector(model)
    volumes = training_volumes(seed)
    start = time.perf_counter()
    corrector.fit(volumes)
    elapsed = time.perf_counter() - start
    path = save_model(corrector, Path(out) / f"{model}.json")
    print(
        f"{model}: trained on {corrector.n_training_pairs_} pairs from "
        f"{len(volumes)} volumes in {elapsed:.1f} s -> {path}"
    )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["axis", "tilted"])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for model in args.models:
        train(model, args.out, args.seed)


if __name__ == "__main__":
    main()

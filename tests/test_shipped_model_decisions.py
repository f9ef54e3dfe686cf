"""The shipped models' decisions and outputs, pinned.

A refactor must not change what the shipped correctors decide or write. This
test replays fixed synthetic volumes through both shipped models and compares
every candidate's probability and decision, and a checksum of the corrected
volume, with ``data/shipped_model_decisions.json``.

The file records the checksums of the model files it was made with. When a
model is retrained on purpose, the test fails with a message saying so;
regenerate the file then, and say why in the commit::

    python tests/test_shipped_model_decisions.py --regenerate
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment

GOLDEN = Path(__file__).parent / "data" / "shipped_model_decisions.json"
MODELS = ("axis", "tilted")


def model_checksum(name: str) -> str:
    folder = resources.files("sklearn_overseg") / "pretrained"
    digest = hashlib.sha256()
    for suffix in (".json", ".npz"):
        digest.update((folder / f"{name}{suffix}").read_bytes())
    return digest.hexdigest()


def volumes() -> dict[str, np.ndarray]:
    truth = make_tissue((24, 96, 96), n_cells=40, random_state=11)
    axis, _ = oversegment(truth, n_splits=6, n_stacked_confounders=4,
                          n_noise_masks=2, random_state=3)
    tilted, _ = oversegment(truth, n_splits=4, mode="tilted", random_state=4)
    return {"axis_damage": axis, "tilted_damage": tilted}


def replay(name: str) -> dict:
    # the models' own outputs: every pair the model was built to screen
    # (the default, stitch_splits="auto", leaves out the gap-0 pairs of these
    # unstitched volumes; tests/test_detect_stitched.py covers it)
    corrector = load_pretrained(name, stitch_splits=True)
    found = {}
    for key, volume in volumes().items():
        records = corrector.predict_merges(volume)
        corrected = corrector.correct(volume)
        found[key] = dict(
            pairs=[[r["upper"], r["lower"]] for r in records],
            probabilities=[r["probability"] for r in records],
            merged=[r["merged"] for r in records],
            output_sha256=hashlib.sha256(corrected.tobytes()).hexdigest(),
        )
    return found


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_decisions_are_pinned(name):
    golden = json.loads(GOLDEN.read_text())[name]
    if golden["model_sha256"] != model_checksum(name):
        pytest.fail(
            f"the shipped {name!r} model changed since {GOLDEN.name} was made; if "
            "that was intended, run 'python tests/test_shipped_model_decisions.py "
            "--regenerate' and commit the file"
        )
    found = replay(name)
    for key, expected in golden["volumes"].items():
        got = found[key]
        assert got["pairs"] == expected["pairs"], key
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"],
                                   atol=1e-5, err_msg=key)
        assert got["merged"] == expected["merged"], key
        assert got["output_sha256"] == expected["output_sha256"], key


def regenerate() -> None:
    data = {
        name: dict(model_sha256=model_checksum(name), volumes=replay(name))
        for name in MODELS
    }
    GOLDEN.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_shipped_model_decisions.py --regenerate")
    regenerate()

"""
Train your own corrector
========================

The pretrained corrector learned from synthetic tissue. When your cells look
different (other shapes, another voxel size, another segmenter's habits),
train a :class:`~sklearn_overseg.MergeCorrector` on your own labelled volumes.
Two kinds of training data work:

* **correct volumes only** (ground truth, or a segmentation you curated):
  ``MergeCorrector(damage="axis").fit(ground_truths)`` damages them with
  the oversegmentation simulator, several rounds each, and learns from the
  candidate pairs that produces;
* **flawed segmentations with their ground truth**:
  ``MergeCorrector().fit(flawed, ground_truths)`` screens the real flaws of
  your segmenter and labels each candidate pair by the ground truth.

Both are shown here on small synthetic volumes and compared on a held-out
volume.
"""

# %%
# Labelled volumes
# ----------------
# Three training volumes and one held-out volume, dense and loose tissue.
# The flawed versions stand in for the output of your segmenter.
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from sklearn_overseg import (
    CandidateScreener,
    MergeCorrector,
    load_model,
    load_pretrained,
    make_training_candidates,
    save_model,
)
from sklearn_overseg.datasets import make_tissue, oversegment

modes = ["dense", "loose", "dense", "loose"]
truths = [
    make_tissue((40, 128, 128), 60, mode=mode, random_state=seed)
    for seed, mode in enumerate(modes)
]
train_truths, test_truth = truths[:3], truths[3]

with warnings.catch_warnings():  # stacked confounders are rare; fine if few
    warnings.simplefilter("ignore", UserWarning)
    flawed = [
        oversegment(t, n_splits=15, n_stacked_confounders=5, n_noise_masks=4,
                    shrink=1, random_state=10 + i)[0]
        for i, t in enumerate(train_truths)
    ]

# %%
# Route 1: from correct volumes
# -----------------------------
# The screener is part of the corrector: here it accepts gaps of up to two
# missing layers. ``damage="axis"`` makes axis splits (missing layers) from
# the correct volumes, ``n_rounds`` times per volume.
from_truth = MergeCorrector(
    screener=CandidateScreener(max_gap=2), damage="axis", n_rounds=3,
    random_state=0,
).fit(train_truths)
print(f"trained on {from_truth.n_training_pairs_} simulated candidate pairs")

# %%
# Route 2: from flawed segmentations and their ground truth
# ---------------------------------------------------------
# Only the flaws actually present are learned from, so this route needs more
# (or larger) volumes to see enough pairs of both kinds.
from_flawed = MergeCorrector(screener=CandidateScreener(max_gap=2)).fit(
    flawed, train_truths
)
print(f"trained on {from_flawed.n_training_pairs_} screened candidate pairs")

# %%
# The training loss
# -----------------
# The default classifier is the paper's MLP, :class:`~sklearn_overseg.MergeNet`
# (a skorch network), the last step of the pair pipeline: its ``history``
# holds the loss of every epoch.
fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
for name, corrector in (("from correct volumes", from_truth),
                        ("from flawed + truth", from_flawed)):
    net = corrector.classifier_[-1]
    ax.plot(net.history[:, "train_loss"], label=name)
ax.set(xlabel="epoch", ylabel="training loss (binary cross-entropy)",
       yscale="log")
ax.legend()
plt.show()

# %%
# Held-out evaluation
# -------------------
# Candidate pairs of the held-out volume, with every negative kept (the
# realistic mix), scored by each corrector's pair classifier and by the
# pretrained one.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    test_pairs, test_y, _ = make_training_candidates(
        [test_truth], screener=CandidateScreener(max_gap=2), n_rounds=3,
        negative_ratio=None, random_state=99,
    )
print(f"held-out: {int(test_y.sum())} true splits, "
      f"{int((test_y == 0).sum())} pairs of different cells")

correctors = {
    "from correct volumes": from_truth,
    "from flawed + truth": from_flawed,
    "pretrained": load_pretrained("axis"),
}
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
for name, corrector in correctors.items():
    proba = corrector.predict_proba(test_pairs)
    precision, recall, _ = precision_recall_curve(test_y, proba)
    ap = average_precision_score(test_y, proba)
    ax.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
ax.set(xlabel="recall of true splits", ylabel="precision of merges",
       ylim=(0, 1.02), title="Held-out candidate pairs")
ax.legend(loc="lower left")
plt.show()

# %%
# On whole volumes, :meth:`~sklearn_overseg.MergeCorrector.score` is the
# mean average precision (IoU 0.5 and 0.75) of the corrected volumes against
# the truth.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    test_flawed, _ = oversegment(test_truth, n_splits=12, n_stacked_confounders=5,
                                 n_noise_masks=3, shrink=1, random_state=5)
for name, corrector in correctors.items():
    print(f"{name:>21}: mAP {corrector.score([test_flawed], [test_truth]):.3f}")

# %%
# Keep the trained corrector
# --------------------------
# :func:`~sklearn_overseg.save_model` writes a JSON file of parameters plus
# an ``.npz`` of arrays; :func:`~sklearn_overseg.load_model` rebuilds the
# corrector without executing any pickled code (see :doc:`/model_files`).
with tempfile.TemporaryDirectory() as folder:
    path = save_model(from_truth, Path(folder) / "my_corrector.json")
    print(sorted(p.name for p in Path(folder).iterdir()))
    reloaded = load_model(path)
same = np.array_equal(reloaded.correct(test_flawed), from_truth.correct(test_flawed))
print("reloaded corrector gives the same result:", same)

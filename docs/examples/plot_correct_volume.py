"""
Correct a segmentation with the pretrained corrector
====================================================

The shortest way to use the package: load the pretrained corrector for
splits along z, get the review list of every candidate pair with its merge
probability, and correct the volume. Here the "segmentation" is synthetic
tissue damaged by the oversegmentation simulator, so the result can be
scored against the truth; on your own data, read the volume with
:func:`sklearn_overseg.io.read_labels` instead (see
:ref:`sphx_glr_auto_examples_plot_read_formats.py`).
"""

# %%
# A flawed segmentation
# ---------------------
# Loose tissue (cells with intercellular spaces) in which twelve cells are
# split by a missed layer. The simulator also adds the hard cases a real
# segmenter produces: different cells stacked directly on each other with
# the layer between them missed (they look exactly like splits), small noisy
# masks inside gaps, and masks shrunk next to gaps.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import (
    mean_average_precision,
    merge_scores,
    variation_of_information,
)

truth = make_tissue((40, 128, 128), 60, mode="loose", random_state=6)
flawed, true_pairs, info = oversegment(
    truth,
    n_splits=12,
    n_stacked_confounders=4,
    n_noise_masks=3,
    shrink=1,
    return_info=True,
    random_state=6,
)
print(f"{len(np.unique(truth)) - 1} cells; {len(true_pairs)} split, "
      f"{len(info['confounder_pairs'])} stacked pairs of different cells")

# %%
# Review, then correct
# --------------------
# :func:`~sklearn_overseg.load_pretrained` returns a fitted
# :class:`~sklearn_overseg.MergeCorrector`. ``predict_merges`` lists every
# candidate pair the screener found, with the classifier's probability and the
# decision; ``correct`` returns a corrected copy of the volume, same dtype.
corrector = load_pretrained("axis")
records = corrector.predict_merges(flawed)
print(f"{'upper':>6} {'lower':>6} {'gap':>7} {'probability':>12} merged")
for r in records:
    print(f"{r['upper']:>6} {r['lower']:>6} {r['gap_start']:>3}-{r['gap_stop']:<3} "
          f"{r['probability']:>12.3f} {r['merged']}")

corrected = corrector.correct(flawed)

# %%
# How good is it?
# ---------------
# Merge decisions are scored against the pairs the simulator split; the
# volumes by mean average precision (matching cells at IoU 0.25, 0.5, 0.75)
# and by the variation of information, whose split part measures exactly
# oversegmentation.
merged = np.array([(r["upper"], r["lower"]) for r in records if r["merged"]])
scores = merge_scores(true_pairs, merged.reshape(-1, 2))
print(f"merges: precision {scores['precision']:.2f}, recall {scores['recall']:.2f}")
for name, volume in (("flawed", flawed), ("corrected", corrected)):
    split_voi, merge_voi = variation_of_information(truth, volume)
    print(f"{name:>9}: mAP {mean_average_precision(truth, volume):.3f}, "
          f"VOI split {split_voi:.3f}, merge {merge_voi:.3f}")

# %%
# Side views
# ----------
# One XZ plane through the volume, at the row (away from the sides) that
# crosses the most split cells.
# The simulator keeps the upper fragment's label and gives the lower one a
# new label, and the corrector merges into the upper label: one colour per
# label shows the splits and their repair.
split_mask = np.isin(flawed, true_pairs[:, 1])
row = 16 + int(np.argmax(split_mask[:, 16:-16].sum(axis=(0, 2))))
rng = np.random.default_rng(3)
palette = rng.uniform(0.15, 0.95, size=(int(flawed.max()) + 1, 3))
palette[0] = 1.0

fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
for ax, (name, volume) in zip(
    axes, (("truth", truth), ("flawed segmentation", flawed), ("corrected", corrected))
):
    ax.imshow(palette[volume[:, row]], aspect=3.0, interpolation="nearest")
    ax.set(title=f"{name} (XZ at y = {row})", xticks=[], ylabel="z", xlabel="x")
plt.show()

# %%
# Probabilities of every candidate pair
# -------------------------------------
# True splits should score high and pairs of different cells low; the
# corrector merges pairs at or above its ``threshold`` (0.5). Gaps that loose
# tissue leaves naturally between two cells are easy. Stacked cells with the
# layer between them missed are the hard case: their masks can match as
# well as those of one cell, and such a pair may be merged (a false merge
# shows in the "merge" part of the variation of information above).
true_keys = {tuple(sorted(p)) for p in true_pairs.tolist()}
is_true = np.array([tuple(sorted((r["upper"], r["lower"]))) in true_keys
                    for r in records])
probability = np.array([r["probability"] for r in records])
fig, ax = plt.subplots(figsize=(7, 2.6), layout="constrained")
jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(records))
ax.scatter(probability[is_true], 1 + jitter[is_true], color="tab:green",
           label="true split")
ax.scatter(probability[~is_true], jitter[~is_true], color="tab:red",
           label="different cells")
ax.axvline(corrector.threshold, color="k", ls="--", lw=1)
ax.set(yticks=[0, 1], yticklabels=["different\ncells", "true\nsplit"],
       xlabel="merge probability", xlim=(-0.03, 1.03))
plt.show()

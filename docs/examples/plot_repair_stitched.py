"""
Repair a segmentation stitched from 2D slices
=============================================

Segmenting each z slice in 2D (CellPose, StarDist, a watershed) and joining
the slices by overlap, as cellpose's ``stitch3D`` does, leaves cells cut into
pieces stacked directly on each other: an end cap whose overlap with the
layer above fell below the stitch threshold, or a cell cut where its shape
changed between two layers. There is no missing layer between such pieces
(a gap of 0 layers). The default corrector screens these pairs and decides
them with a network trained on simulated stitch damage.

Here the 2D segmentation is simulated from synthetic tissue
(:func:`~sklearn_overseg.datasets.slice_and_stitch`), so every join can be
checked against the truth. On your own data, read the stitched volume with
:func:`sklearn_overseg.io.read_labels`.
"""

# %%
# Slice, segment in 2D, stitch
# ----------------------------
# Each slice of the truth is cut into 2D masks whose boundaries jitter, some
# of which are eroded, dilated, split or missed, with a few small false
# masks; the slices are then stitched greedily by IoU at a threshold of 0.5.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, slice_and_stitch
from sklearn_overseg.metrics import merge_scores_from_volumes, variation_of_information

truth = make_tissue((40, 128, 128), 50, mode="nuclei", random_state=2)
stitched, true_pairs = slice_and_stitch(truth, stitch_threshold=0.5, random_state=2)


def n_labels(volume):
    return len(np.unique(volume)) - 1


print(f"{n_labels(truth)} nuclei became {n_labels(stitched)} labels; "
      f"{len(true_pairs)} pairs of labels belong to the same nucleus")

# %%
# Review the candidate pairs
# --------------------------
# ``predict_merges`` lists every candidate pair with its merge probability
# and decision (``"merged"``, ``"kept apart"`` or ``"unsure"``: unsure pairs
# are not merged, and the HTML report lists them first). The layers missing
# between the two pieces run from ``gap_start`` to ``gap_stop``: none for
# stitch splits.
corrector = load_pretrained()
review = corrector.predict_merges(stitched)
for record in review[:5]:
    print({key: record[key] for key in ("upper", "lower", "probability", "decision")})
gaps = np.array([record["gap_stop"] - record["gap_start"] for record in review])
merged = np.array([record["decision"] == "merged" for record in review])
for gap in np.unique(gaps):
    print(f"gap of {gap} layers: {np.sum(gaps == gap)} pairs screened, "
          f"{np.sum(merged[gaps == gap])} merged")

# %%
# Correct, and score the joins
# ----------------------------
# ``merge_scores_from_volumes`` reads the joins from the volumes before and
# after correction: precision is the share of joins that stay within one
# true cell. The variation of information splits the remaining error into
# cells still split and different cells joined (lower is better).
corrected = corrector.correct(stitched)
for name, volume in [("stitched", stitched), ("corrected", corrected)]:
    split, merge = variation_of_information(truth, volume)
    print(f"{name:>9}: {n_labels(volume)} labels, VOI split {split:.3f}, "
          f"merge {merge:.3f}")
scores = merge_scores_from_volumes(stitched, corrected, true_pairs)
print(f"joins: precision {scores['precision']:.3f}, recall {scores['recall']:.3f}")

# %%
# A stricter decision threshold
# -----------------------------
# The threshold trades joins for safety: fewer wrong joins, more pieces left
# split. On stitched cross-sections of real volumes
# (``benchmarks/RESULTS.md``, section 9) a threshold of 0.8 made 15 wrong
# joins instead of the default 0.5's 41, but removed 62% of the extra
# fragments instead of 75%.
strict = corrector.set_params(threshold=0.8).correct(stitched)
scores = merge_scores_from_volumes(stitched, strict, true_pairs)
print(f"threshold 0.8: {n_labels(strict)} labels, precision "
      f"{scores['precision']:.3f}, recall {scores['recall']:.3f}")
corrector.set_params(threshold=0.5)

# %%
# A side view
# -----------
# One xz section through the middle of the volume: the stitched pieces of a
# nucleus carry different colours until the correction joins them.
row = truth.shape[1] // 2
rng = np.random.default_rng(0)
colours = rng.random((int(max(v.max() for v in (truth, stitched, corrected))) + 1, 3))
colours[0] = 1
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharey=True)
for ax, (name, volume) in zip(
    axes, [("truth", truth), ("stitched", stitched), ("corrected", corrected)]
):
    ax.imshow(colours[volume[:, row, :]], aspect=3, interpolation="nearest")
    ax.set_xlabel("x")
    ax.set_title(name)
axes[0].set_ylabel("z")
fig.tight_layout()
plt.show()

"""
A cell split by a missing layer, before and after correction
============================================================

A 2D segmenter that misses a cell in one z layer leaves a hole in its
stack of masks; the stitcher that joins masks along z then sees two cells,
one above the hole and one below it. This example makes such a split in
synthetic tissue, corrects the volume with the pretrained corrector and shows
the cell from above (XY, the layers around the gap) and from the side (XZ),
before and after: the two labels become one and the missing layer is rebuilt
by optimal-transport interpolation of the masks next to it.
"""

# %%
# A damaged tissue
# ----------------
# :func:`~sklearn_overseg.datasets.make_tissue` draws a dense, plant-like
# tissue with a z step three times its xy step;
# :func:`~sklearn_overseg.datasets.oversegment` blanks one interior layer of a
# few cells and gives the part below a new label. ``return_info`` tells which
# layers were blanked.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment

ANISOTROPY = 3.0
truth = make_tissue((40, 128, 128), 60, anisotropy=ANISOTROPY, random_state=7)
flawed, pairs, info = oversegment(truth, n_splits=8, return_info=True, random_state=7)
print(f"{len(pairs)} cells split; (upper, lower) labels:\n{pairs}")

# %%
# Pick the split whose fragments are largest, so the figure shows a cell of
# a good size, and correct the whole volume.
sizes = [np.count_nonzero(np.isin(flawed, pair)) for pair in pairs]
k = int(np.argmax(sizes))
upper, lower = pairs[k]
gap = int(info["gap_layers"][k][0])
cell = info["source_labels"][k]
print(f"cell {cell} became labels {upper} and {lower}; layer {gap} was blanked")

corrector = load_pretrained("axis")
corrected = corrector.correct(flawed)
print("after correction, labels on the cell:", np.unique(corrected[truth == cell]))

# %%
# The pictures
# ------------
# Every other cell is drawn in a muted colour of its true identity, and
# voxels left unlabelled are white; the upper fragment (and the merged cell,
# which keeps the upper label) is orange, the lower fragment blue. The dashed
# outline is the true cell.
zs, ys, xs = np.nonzero(truth == cell)
y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 9, truth.shape[1])
x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 9, truth.shape[2])
row = int(round(ys.mean()))
rng = np.random.default_rng(0)
palette = rng.uniform(0.55, 0.85, size=(int(truth.max()) + 1, 3))


def colour(labels: np.ndarray, true_labels: np.ndarray) -> np.ndarray:
    """RGB picture of labels, the split cell's fragments highlighted."""
    rgb = palette[true_labels]
    rgb[labels == 0] = 1.0
    rgb[labels == upper] = (0.95, 0.55, 0.1)
    rgb[labels == lower] = (0.2, 0.45, 0.85)
    return rgb


fig, axes = plt.subplots(2, 4, figsize=(11, 5.6), layout="constrained")
for r, (name, volume) in enumerate([("before", flawed), ("after", corrected)]):
    for c, z in enumerate((gap - 1, gap, gap + 1)):
        ax = axes[r, c]
        view = np.s_[z, y0:y1, x0:x1]
        ax.imshow(colour(volume[view], truth[view]), interpolation="nearest")
        ax.contour(truth[z, y0:y1, x0:x1] == cell, levels=[0.5], colors="k",
                   linestyles="--", linewidths=1)
        where = "gap" if z == gap else ("above" if z < gap else "below")
        ax.set_title(f"{name}: XY, layer {z} ({where})", fontsize=9)
    ax = axes[r, 3]
    view = np.s_[:, row, x0:x1]
    ax.imshow(colour(volume[view], truth[view]), interpolation="nearest",
              aspect=ANISOTROPY)
    ax.contour(truth[:, row, x0:x1] == cell, levels=[0.5], colors="k",
               linestyles="--", linewidths=1)
    ax.set_title(f"{name}: XZ at y = {row}", fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for ax in axes[:, 3]:
    ax.set_yticks([gap], ["gap"], fontsize=8)
axes[0, 0].set_ylabel("flawed segmentation")
axes[1, 0].set_ylabel("corrected")
fig.suptitle("One cell, two labels: the layer between them was missed")
plt.show()

# %%
# In the corrected volume the lower fragment carries the upper label and the
# gap layer holds an interpolated mask close to the true one (the dashed
# outline). Pixels of the gap that a neighbour already owns stay with the
# neighbour: the rebuilt mask only fills background.
true_layer = truth[gap] == cell
rebuilt = corrected[gap] == upper
iou = np.count_nonzero(true_layer & rebuilt) / np.count_nonzero(true_layer | rebuilt)
print(f"IoU of the rebuilt layer with the true mask: {iou:.2f}")

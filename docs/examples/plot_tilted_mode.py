"""
Tilted cuts: contact candidates and reslicing
=============================================

3D segmenters do not miss layers; they oversegment by drawing a boundary
through a cell, often tilted. No layer is missing, so the axis screener has
nothing to find. In tilted mode:

1. every pair of touching labels is a **contact candidate**
   (``CandidateScreener(mode="contact")``);
2. :class:`~sklearn_overseg.TiltedReslicer` fits a plane to the contact
   surface of each pair (:func:`~sklearn_overseg.fit_contact_plane`) and
   resamples the pair in layers parallel to it, blanking the layer on the
   plane, so the pair looks like an axis split along the plane's normal;
3. the same Geo-Wasserstein and topology features follow, plus
   :class:`~sklearn_overseg.ContactFeatures`, which ask whether the two
   fragments together look like one convex cell cut by the contact (volume
   ratio, contact area against each fragment's size, convexity of the union
   against the parts, cross-sections on either side of the contact);
4. a classifier trained at the realistic class ratio (a few split cells
   among many distinct neighbours) decides.
"""

# %%
# Tissue cut by tilted planes
# ---------------------------
# ``oversegment(mode="tilted")`` cuts cells by random planes through them
# (at least 20 degrees from horizontal) and gives one side a new label; no
# voxel is removed. The tissue is isotropic here, as 3D segmenters' output
# often is after resampling.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import (
    CandidateScreener,
    TiltedReslicer,
    fit_contact_plane,
    label_candidates,
    load_pretrained,
)
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import mean_average_precision, merge_scores

truth = make_tissue((48, 96, 96), 30, anisotropy=1.0, random_state=0)
flawed, true_pairs = oversegment(truth, n_splits=6, mode="tilted", random_state=0)
candidates = CandidateScreener(mode="contact").fit_transform(flawed)
y = label_candidates(candidates, [flawed], [truth])
print(candidates)
print(f"{int(y.sum())} of the {len(candidates)} touching pairs are split cells")

# %%
# The contact plane of one split cell
# -----------------------------------
# A contact candidate's crop codes the two labels as 1 and 2. The plane
# passes through the shared voxel faces, its normal pointing from label 1 to
# label 2.
pair = max((c for c, is_split in zip(candidates, y) if is_split),
           key=lambda c: c.score)
centroid, normal = fit_contact_plane(pair.crop, pair.voxel_size)
print(f"labels {pair.upper} and {pair.lower}: contact area {pair.score:.0f} faces, "
      f"normal (z, y, x) = {np.round(normal, 2)}")

resliced = TiltedReslicer().fit_transform(candidates[[candidates.pairs.tolist()
                                                      .index([pair.upper,
                                                              pair.lower])]])[0]
print(f"resliced: {resliced.kind} candidate, {len(resliced.crop)} layers along "
      f"the normal, gap layer {resliced.gap}")

# %%
# Side views: the pair in the volume, with the trace of the fitted plane, and
# the resliced pair, whose layers run along the normal (the gap layer is the
# plane).
colours = plt.matplotlib.colors.ListedColormap(
    ["white", "tab:orange", "tab:blue", "0.8"]
)
# View the crop along the in-plane axis least aligned with the normal.
horizontal = 2 if abs(normal[2]) >= abs(normal[1]) else 1
middle = int(round(centroid[3 - horizontal]))  # the other in-plane axis
side = np.take(pair.crop, middle, axis=3 - horizontal)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
axes[0].imshow(np.minimum(side, 3), cmap=colours, vmin=0, vmax=3,
               interpolation="nearest")
along = np.array([-normal[horizontal], normal[0]])  # (dz, dh) along the trace
t = np.linspace(-60, 60, 2)
axes[0].plot(centroid[horizontal] + t * along[1], centroid[0] + t * along[0],
             "k--", lw=1.5, label="fitted contact plane")
axes[0].set(xlim=(-0.5, side.shape[1] - 0.5), ylim=(side.shape[0] - 0.5, -0.5),
            xlabel="x" if horizontal == 2 else "y", ylabel="z",
            title=f"labels {pair.upper} (orange) and {pair.lower} (blue)")
axes[0].legend(loc="lower left", fontsize=8)

rows = resliced.crop.any(axis=(0, 2))
cut = resliced.crop[:, int(np.flatnonzero(rows).mean())]
axes[1].imshow(np.minimum(cut, 3), cmap=colours, vmin=0, vmax=3,
               interpolation="nearest")
axes[1].set(xlabel="in-plane axis", ylabel="layer along the normal",
            yticks=[resliced.gap[0]], yticklabels=["gap"],
            title="resliced parallel to the plane")
plt.show()

# %%
# A corrector for tilted cuts
# ---------------------------
# ``load_pretrained("tilted")`` is trained on synthetic tissues (straight,
# bent by a smooth warp, and cropped so that many cells are truncated by the
# volume's border, as in real crops) cut by random planes, on every touching
# pair: about
# one split cell for twenty pairs of distinct neighbours, as in real dense
# tissue. Its threshold was chosen by cross-validation grouped by volume so
# that few distinct pairs are merged.
corrector = load_pretrained("tilted")
print(corrector.classifier_.named_steps["features"].get_feature_names_out()[-4:])

records = corrector.predict_merges(flawed)
corrected = corrector.correct(flawed)
merged = np.array([(r["upper"], r["lower"]) for r in records if r["merged"]])
scores = merge_scores(true_pairs, merged.reshape(-1, 2))
print(f"{len(records)} contact pairs, {len(merged)} merged: precision "
      f"{scores['precision']:.2f}, recall {scores['recall']:.2f}")
print(f"mAP {mean_average_precision(truth, flawed):.3f} -> "
      f"{mean_average_precision(truth, corrected):.3f}")

# %%
# Merge probabilities of all contact pairs: most touching pairs are two
# different cells, and should score low.
probability = np.array([r["probability"] for r in records])
true_keys = {tuple(sorted(p)) for p in true_pairs.tolist()}
is_true = np.array([tuple(sorted((r["upper"], r["lower"]))) in true_keys
                    for r in records])
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
bins = np.linspace(0, 1, 21)
ax.hist([probability[~is_true], probability[is_true]], bins=bins,
        color=["tab:red", "tab:green"], label=["different cells", "split cell"])
ax.axvline(corrector.threshold, color="k", ls="--", lw=1)
ax.set(xlabel="merge probability", ylabel="contact pairs", yscale="log")
ax.legend()
plt.show()

"""
Earth mover's distances along z: a split cell against two different cells
==========================================================================

Within one cell, the 2D masks of nearby layers differ by a small and fairly
steady earth mover's distance (EMD): the outline drifts and grows or shrinks
a little from layer to layer. Across the gap of a split cell the EMD is of
the same size, because the two fragments are parts of one shape. Across a gap
between two *different* cells stacked on each other, the EMD is usually
larger: the masks belong to two shapes. That is what the Geo-Wasserstein
features (step 2 of the method) measure.
"""

# %%
# Candidate pairs in damaged tissue
# ---------------------------------
# The simulator splits cells (true splits) and also makes *stacked
# confounders*: two different cells, one lying on the other, separated by a
# blanked layer exactly like a split. The axis screener cannot tell them
# apart; both become candidate pairs.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import CandidateScreener, GeoWassersteinFeatures, geo_wasserstein
from sklearn_overseg.datasets import make_tissue, oversegment

ANISOTROPY = 3.0
truth = make_tissue((40, 128, 128), 60, anisotropy=ANISOTROPY, random_state=7)
flawed, splits, info = oversegment(
    truth, n_splits=8, n_stacked_confounders=6, return_info=True, random_state=7
)
candidates = CandidateScreener().fit_transform(flawed)
split_keys = {tuple(p) for p in splits.tolist()}
is_split = np.array([tuple(p) in split_keys for p in candidates.pairs.tolist()])
print(candidates)
print(f"{is_split.sum()} true splits, {(~is_split).sum()} pairs of different cells")

# %%
# The EMD trajectory of a pair
# ----------------------------
# Stack the two fragments along z (the gap layer is empty) and compute the
# EMD between masks two layers apart, the spacing across a one-layer gap, so
# that the within-fragment and the across-gap distances are comparable.
# :func:`~sklearn_overseg.geo_wasserstein` reads each mask as a uniform
# distribution over its pixels.


def emd_trajectory(volume, upper, lower, spacing=2):
    """Layer positions, EMDs ``spacing`` layers apart, and which cross the gap."""
    pair = np.isin(volume, (upper, lower))
    zs = np.flatnonzero(pair.any(axis=(1, 2)))
    masks = pair[zs.min() : zs.max() + 1]
    rows, cols = np.nonzero(masks.any(axis=0))
    masks = masks[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    last_upper = int(np.flatnonzero((volume == upper).any(axis=(1, 2))).max())
    z, emd, across = [], [], []
    for i in range(len(masks) - spacing):
        a, b = masks[i], masks[i + spacing]
        if a.any() and b.any():
            z.append(zs.min() + i + spacing / 2)
            emd.append(geo_wasserstein(a, b, method="exact"))
            across.append(zs.min() + i <= last_upper < zs.min() + i + spacing)
    return np.array(z), np.array(emd), np.array(across)


# The longest true split and the confounder pair, side by side.
def n_layers(c):
    return len(c.crop)


split = max((c for c, s in zip(candidates, is_split) if s), key=n_layers)
other = max((c for c, s in zip(candidates, is_split) if not s), key=n_layers)

fig, axes = plt.subplots(
    2, 2, figsize=(10, 6.5), layout="constrained", width_ratios=(1, 2.2)
)
for row, (cand, title) in enumerate(
    [(split, "one cell split by a missed layer"), (other, "two different cells")]
):
    z, emd, across = emd_trajectory(flawed, cand.upper, cand.lower)
    # Side view (XZ) of the pair through its widest row.
    pair = np.isin(flawed, (cand.upper, cand.lower))
    y = int(np.argmax(pair.sum(axis=(0, 2))))
    cols = np.flatnonzero(pair.any(axis=(0, 1)))
    xs = slice(max(cols.min() - 4, 0), cols.max() + 5)
    side = np.where(flawed[:, y, xs] == cand.upper, 1,
                    np.where(flawed[:, y, xs] == cand.lower, 2, 0))
    side = np.where((side == 0) & (flawed[:, y, xs] > 0), 3, side)
    cmap = plt.matplotlib.colors.ListedColormap(
        ["white", "tab:orange", "tab:blue", "0.85"]
    )
    axes[row, 0].imshow(side, cmap=cmap, vmin=0, vmax=3, aspect=ANISOTROPY,
                        interpolation="nearest")
    axes[row, 0].set(xticks=[], ylabel="z",
                     title=f"XZ: {cand.upper} (orange), {cand.lower} (blue)")
    ax = axes[row, 1]
    ax.plot(z, emd, "o-", color="0.3", label="within a fragment")
    ax.plot(z[across], emd[across], "o", color="crimson", ms=10,
            label="across the gap")
    ax.set(xlabel="z (middle of the two compared layers)",
           ylabel="EMD (pixels)", title=title)
    ax.set_ylim(0, max(emd.max() * 1.15, 1))
    ax.legend(loc="upper left")
plt.show()

# %%
# What the features make of it
# ----------------------------
# :class:`~sklearn_overseg.GeoWassersteinFeatures` summarises each fragment's
# EMDs by quantiles and adds the gap EMD; its extended features relate the gap
# EMD to the fragments' own median EMD (``gap_log_ratio_*``, about 0 for one
# cell) and to the cell's radius.
geo = GeoWassersteinFeatures().fit(candidates)
features = geo.transform(candidates)
names = list(geo.get_feature_names_out())
show = ["upper_emd_median", "lower_emd_median", "gap_emd", "gap_log_ratio_upper",
        "gap_log_ratio_lower"]
print("pair       " + " ".join(f"{n:>20s}" for n in show))
for cand in (split, other):
    i = next(i for i, c in enumerate(candidates) if c is cand)
    values = " ".join(f"{features[i, names.index(n)]:20.2f}" for n in show)
    print(f"{cand.upper:>3d}-{cand.lower:<3d}    {values}")

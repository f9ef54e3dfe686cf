"""
The overlap curve of the topology features
==========================================

Close the gap of a candidate pair, as if the two fragments were one cell:
the upper fragment's layers followed by the lower fragment's. The overlap
area of each pair of consecutive layers traces the shape of that would-be
cell along z. A real cell grows and then shrinks, so its curve is unimodal
(one hump, or monotone); two different cells stacked on each other usually
leave a dip where they meet. :class:`~sklearn_overseg.TopologyFeatures`
(step 3 of the method) turns the curve into numbers: the paper's score from
linear and quadratic fits, and the depth of the largest dip.
"""

# %%
# Candidate pairs: true splits and a stacked confounder
# -----------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import CandidateScreener, TopologyFeatures
from sklearn_overseg.datasets import make_tissue, oversegment

truth = make_tissue((40, 128, 128), 60, random_state=7)
flawed, splits, info = oversegment(
    truth, n_splits=8, n_stacked_confounders=6, return_info=True, random_state=7
)
candidates = CandidateScreener().fit_transform(flawed)
split_keys = {tuple(p) for p in splits.tolist()}
is_split = np.array([tuple(p) in split_keys for p in candidates.pairs.tolist()])

# %%
# The curve with the gap closed
# -----------------------------
# A candidate's ``crop`` codes the upper fragment as 1 and the lower one as 2
# (see :class:`~sklearn_overseg.Candidate`); ``gap`` gives the gap layers.


def overlap_curve(candidate):
    """Overlap areas of consecutive layers with the gap closed, and the junction."""
    upper = candidate.fragment(1)
    lower = candidate.fragment(2)
    upper = upper[upper.any(axis=(1, 2))]
    lower = lower[lower.any(axis=(1, 2))]
    stack = np.concatenate([upper, lower])
    overlaps = np.count_nonzero(stack[:-1] & stack[1:], axis=(1, 2))
    return overlaps, len(upper) - 1


def n_layers(c):
    return len(c.crop)


split = max((c for c, s in zip(candidates, is_split) if s), key=n_layers)
other = max((c for c, s in zip(candidates, is_split) if not s), key=n_layers)

topology = TopologyFeatures(normalize=False).fit(candidates)
names = list(topology.get_feature_names_out())
features = topology.transform(candidates)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for ax, cand, title in zip(
    axes, (split, other), ("one cell split by a missed layer", "two different cells")
):
    overlaps, junction = overlap_curve(cand)
    t = np.linspace(-1, 1, len(overlaps))
    ax.plot(overlaps, "o-", color="0.3", label="overlap of consecutive layers")
    ax.plot(junction, overlaps[junction], "o", color="crimson", ms=10,
            label="across the closed gap")
    for degree, style in ((1, ":"), (2, "--")):
        fit = np.polyval(np.polyfit(t, overlaps, degree), t)
        ax.plot(fit, style, color="tab:blue", label=f"degree {degree} fit")
    i = next(i for i, c in enumerate(candidates) if c is cand)
    row = dict(zip(names, features[i]))
    ax.set(xlabel="position in the joined stack (layers)",
           ylabel="overlap (pixels)", ylim=(0, overlaps.max() * 1.2),
           title=f"{title}\ntopology_r2 = {row['topology_r2']:.2f}, "
           f"dip_depth = {row['dip_depth']:.2f}")
axes[0].legend(loc="lower center", fontsize=8)
plt.show()

# %%
# The split cell's curve is one hump: it is unimodal, so its paper score
# ``topology_r2`` is 1 and it has no dip. The two stacked cells give a curve
# that falls to the end of the upper cell and rises again in the lower one,
# a deep dip at the junction, and a low score.
for cand, title in ((split, "split cell"), (other, "two cells")):
    i = next(i for i, c in enumerate(candidates) if c is cand)
    print(f"{title:>10s}: " + ", ".join(
        f"{n} = {v:.2f}" for n, v in zip(names, features[i])
    ))

"""
Fine-tune a pretrained corrector on your own ground truth
=========================================================

The pretrained axis model learned from synthetic tissue with z anisotropy
1.5 to 5. Cells that span very few layers (anisotropy 8 here) look unlike
anything it saw, and it merges more stacked pairs of different cells.
:meth:`~sklearn_overseg.MergeCorrector.fine_tune` continues training its
networks (a warm start) on a few of your own labelled volumes: the features
and their scaling stay those of the pretrained model, each network of the
seed ensemble trains 20 more epochs at a tenth of its learning rate, and the
training range grows to cover your pairs. Training from scratch would need
many more of your volumes. On the shared real volumes, where the pretrained
model is already good, the gains were small (``benchmarks/RESULTS.md``,
section 8: fine-tuned on one nuclei crop, merge F1 on another rose from
0.979 to 0.984).
"""

# %%
# Your volumes
# ------------
# Seven dense tissues of anisotropy 8 stand in for your ground truth: three
# to fine-tune on, four held out. All are damaged as a segmenter would
# damage them: one-layer splits and, as hard negatives, different stacked
# cells trimmed to face each other across a gap (two rounds each).
import copy
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import log_loss

from sklearn_overseg import label_candidates, load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment

truths = [make_tissue((24, 96, 96), 30, mode="dense", anisotropy=8,
                      random_state=seed) for seed in range(80, 87)]


def damaged(truths, seed):
    """Two flawed copies of each ground truth, and the matching truths."""
    flawed, matching = [], []
    with warnings.catch_warnings():  # few confounders fit: that is fine
        warnings.simplefilter("ignore", UserWarning)
        for r in range(2):
            for i, truth in enumerate(truths):
                flawed.append(oversegment(
                    truth, n_splits=10, n_stacked_confounders=10, shrink=1,
                    n_noise_masks=3, random_state=seed + i + 10 * r)[0])
                matching.append(truth)
    return flawed, matching


mine_flawed, mine_truth = damaged(truths[:3], seed=100)
test_flawed, test_truth = damaged(truths[3:], seed=500)


def evaluate(corrector):
    """Probabilities, labels and merge scores on the held-out pairs."""
    p, y = [], []
    for flawed, truth in zip(test_flawed, test_truth):
        candidates = corrector.screen(flawed)
        p.append(corrector.score_pairs(candidates))
        y.append(label_candidates(candidates, [flawed], [truth]))
    p, y = np.concatenate(p), np.concatenate(y)
    merged = p >= corrector.threshold
    tp, fp = int((merged & (y == 1)).sum()), int((merged & (y == 0)).sum())
    fn = int((~merged & (y == 1)).sum())
    return p, y, dict(F1=2 * tp / (2 * tp + fp + fn), false_merges=fp,
                      missed=fn, log_loss=log_loss(y, p, labels=[0, 1]))


# %%
# Before and after
# ----------------
# ``fine_tune(flawed, y=truths)`` learns from your segmenter's own flaws;
# ``fine_tune(truths)`` damages correct volumes with the simulator instead
# (as ``fit`` does).
pretrained = load_pretrained("axis")
p_before, y, before = evaluate(pretrained)

start = time.perf_counter()
tuned = copy.deepcopy(pretrained).fine_tune(mine_flawed, y=mine_truth)
print(f"fine-tuned on {tuned.n_fine_tuning_pairs_} pairs in "
      f"{time.perf_counter() - start:.1f} s")
p_after, _, after = evaluate(tuned)
print(f"{len(y)} held-out pairs, {int(y.sum())} true splits")
for name, s in (("pretrained", before), ("fine-tuned", after)):
    print(f"{name:>10}: F1 {s['F1']:.3f}, {s['false_merges']} false merges, "
          f"{s['missed']} missed splits, log loss {s['log_loss']:.3f}")

# %%
# Merge probabilities of the distinct-cell pairs
# ----------------------------------------------
# Fine-tuning lowers the probabilities the model gives stacked pairs of
# different cells, the error it makes on cells spanning few layers. More
# epochs (``epochs=``) or a larger learning rate (``lr=``) adapt further, at
# the risk of forgetting what the pretrained model knew.
fig, ax = plt.subplots(figsize=(6, 3))
bins = np.linspace(0, 1, 11)
ax.hist([p_before[y == 0], p_after[y == 0]], bins=bins,
        label=["pretrained", "fine-tuned"], color=["#999999", "#2a7d3a"])
ax.axvline(pretrained.threshold, color="k", ls="--", lw=1)
ax.set_xlabel("merge probability of a distinct-cell pair")
ax.set_ylabel("pairs")
ax.legend(frameon=False)
plt.show()

"""
Reliability of merge probabilities
==================================

A merge probability is *calibrated* when, among the pairs given ``p = 0.8``,
eight in ten are truly one cell split in two. The pretrained networks are
trained on synthetic tissue and are confident: most probabilities are near 0
or 1. :meth:`~sklearn_overseg.MergeCorrector.calibrate` keeps the network as
it is and learns, on labelled volumes it was not trained on, how its scores
map to observed frequencies (scikit-learn's
:class:`~sklearn.calibration.CalibratedClassifierCV` around the frozen
model). The reliability diagram (:class:`~sklearn.calibration.CalibrationDisplay`)
shows each bin's mean probability against its share of true splits: the
diagonal is perfect calibration. The expected calibration error
(:func:`~sklearn_overseg.metrics.expected_calibration_error`) summarises the
gap.
"""

# %%
# Held-out pairs
# --------------
# Dense tissue of anisotropy 8, unlike the training tissue (1.5 to 5): three
# volumes to calibrate on and four to test on, damaged as a segmenter would
# damage them: one-layer splits and, as hard negatives, different stacked
# cells trimmed to face each other across a gap (two rounds each).
import copy
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay

from sklearn_overseg import label_candidates, load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import expected_calibration_error

truths = [make_tissue((24, 96, 96), 30, mode="dense", anisotropy=8,
                      random_state=seed) for seed in range(90, 97)]


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


def labelled_pairs(corrector, flawed, truths):
    """Merge probabilities and true labels of the candidate pairs."""
    probabilities, labels = [], []
    for volume, truth in zip(flawed, truths):
        candidates = corrector.screen(volume)
        probabilities.append(corrector.score_pairs(candidates))
        labels.append(label_candidates(candidates, [volume], [truth]))
    return np.concatenate(probabilities), np.concatenate(labels)


calibration_set = damaged(truths[:3], seed=100)
test_set = damaged(truths[3:], seed=500)
pretrained = load_pretrained("axis")
p_before, y = labelled_pairs(pretrained, *test_set)
print(f"{len(y)} test pairs, {int(y.sum())} true splits")

# %%
# Calibrate on other volumes
# --------------------------
# ``calibrate(flawed, y=truths)`` fits an isotonic calibrator on the pairs
# of labelled volumes (``calibrate(truths)`` damages correct volumes with
# the simulator instead, as ``fit`` does). The network is not retrained.
calibrated = copy.deepcopy(pretrained).calibrate(*calibration_set)
p_after, _ = labelled_pairs(calibrated, *test_set)

for name, p in (("pretrained", p_before), ("calibrated", p_after)):
    print(f"{name:>10}: ECE {expected_calibration_error(y, p):.3f}")

# %%
# Reliability diagrams
# --------------------
fig, ax = plt.subplots(figsize=(5, 5))
for name, p in (("pretrained", p_before), ("calibrated (isotonic)", p_after)):
    CalibrationDisplay.from_predictions(y, p, n_bins=5, name=name, ax=ax)
ax.set_xlabel("mean merge probability in the bin")
ax.set_ylabel("share of true splits in the bin")
ax.set_title("Held-out pairs, anisotropy 8")
plt.show()

# %%
# The review band
# ---------------
# The corrector's review band (``abstain=0.1``: probabilities within 0.1 of
# the threshold) holds the pairs whose decision is the least sure; with
# calibrated probabilities, those wrong about half the time. They are not
# merged: ``predict_merges`` marks them ``"unsure"`` and the review report
# lists them first. On real cells the errors are mostly confident ones,
# which only calibration on similar data moves into the band
# (``benchmarks/RESULTS.md``, section 8).
decisions = [r["decision"] for r in calibrated.predict_merges(test_set[0][0])]
print({d: decisions.count(d) for d in ("merged", "kept apart", "unsure")})

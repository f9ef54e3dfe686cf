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
# Two small synthetic tissues to calibrate on and two to test on, damaged
# with one-layer axis splits and, as hard negatives, different stacked cells
# trimmed to face each other across a gap.
import copy
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay

from sklearn_overseg import label_candidates, load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.metrics import expected_calibration_error


def tissues(seeds):
    return [make_tissue((32, 96, 96), 40, mode=mode, anisotropy=3.0,
                        random_state=seed)
            for seed, mode in zip(seeds, ["dense", "loose"])]


def labelled_pairs(corrector, truths, seed):
    """Probabilities and true labels of the candidate pairs of damaged truths."""
    probabilities, labels = [], []
    for i, truth in enumerate(truths):
        with warnings.catch_warnings():  # few confounders fit: that is fine
            warnings.simplefilter("ignore", UserWarning)
            flawed, _ = oversegment(truth, n_splits=12, n_stacked_confounders=8,
                                    n_noise_masks=3, shrink=1,
                                    random_state=seed + i)
        candidates = corrector.screen(flawed)
        probabilities.append(corrector.score_pairs(candidates))
        labels.append(label_candidates(candidates, [flawed], [truth]))
    return np.concatenate(probabilities), np.concatenate(labels)


pretrained = load_pretrained("axis")
test_truths = tissues([4000, 4001])
p_before, y = labelled_pairs(pretrained, test_truths, seed=7)
print(f"{len(y)} test pairs, {int(y.sum())} true splits")

# %%
# Calibrate on other volumes
# --------------------------
# ``calibrate`` damages the ground truths it is given with the simulator (as
# ``fit`` does) and fits an isotonic calibrator on their pairs.
calibrated = copy.deepcopy(pretrained).calibrate(tissues([4100, 4101]))
p_after, _ = labelled_pairs(calibrated, test_truths, seed=7)

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
ax.set_title("Held-out synthetic pairs")
plt.show()

# %%
# The review band
# ---------------
# With calibrated probabilities, the corrector's review band
# (``abstain=0.1``: probabilities within 0.1 of the threshold) holds the
# pairs whose decision would be wrong about half the time. They are not
# merged; ``predict_merges`` marks them ``"unsure"`` and the review report
# lists them first.
flawed, _ = oversegment(test_truths[0], n_splits=12, random_state=3)
decisions = [r["decision"] for r in calibrated.predict_merges(flawed)]
print({d: decisions.count(d) for d in ("merged", "kept apart", "unsure")})

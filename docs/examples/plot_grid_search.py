"""
Grid search over the pair pipeline, grouped by volume
=====================================================

The pair classifier is an ordinary scikit-learn
:class:`~sklearn.pipeline.Pipeline` whose samples are candidate pairs (a
:class:`~sklearn_overseg.CandidateSet`): Geo-Wasserstein and topology
features side by side, standardisation, then a classifier. So the usual
model-selection tools apply. Pairs from one volume are not independent (same
tissue, same segmenter settings), so cross-validation must keep each volume
in one fold: :class:`~sklearn.model_selection.GroupKFold` with the volume of
each pair as its group.

For speed this example uses a logistic regression; the paper's MLP,
:class:`~sklearn_overseg.MergeNet`, drops in the same way (its parameters
read ``clf__lr``, ``clf__max_epochs``, ``clf__module__hidden``, ...).
"""

# %%
# Labelled candidate pairs from six volumes
# -----------------------------------------
# :func:`~sklearn_overseg.make_training_candidates` damages correct volumes
# with the simulator, screens them and labels every pair (1: one split cell,
# 0: two different cells). It also returns the source volume of each pair.
# Many stacked confounders (``confounder_fraction``), masks shrunk by two
# pixels next to gaps and every negative kept make the task harder than the
# defaults.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_overseg import MergeCorrector, make_pair_pipeline, make_training_candidates
from sklearn_overseg.datasets import make_tissue

volumes = [
    make_tissue((32, 96, 96), 40, mode=mode, random_state=seed)
    for seed, mode in enumerate(["dense", "loose"] * 3)
]
with warnings.catch_warnings():  # a volume may have no stacked confounder
    warnings.simplefilter("ignore", UserWarning)
    X, y, groups = make_training_candidates(
        volumes, n_rounds=2, confounder_fraction=0.3, shrink=2,
        negative_ratio=None, random_state=0,
    )
print(X)
print(f"{int(y.sum())} true splits, {int((y == 0).sum())} pairs of different cells, "
      f"pairs per volume: {np.bincount(groups).tolist()}")

# %%
# The search
# ----------
# Parameters of the steps are reached by name: ``features__geo__...`` and
# ``features__topology__...`` for the two feature transformers,
# ``clf__...`` for the classifier. Here: the paper's feature sets against the
# extended ones, and the regularisation of the logistic regression. Two
# scores are recorded: the average precision of the merge probabilities and
# their log loss, which keeps telling settings apart once the ranking is
# nearly perfect; the best setting by log loss is refitted.
pipeline = make_pair_pipeline(LogisticRegression(max_iter=1000))
print([name for name, _ in pipeline.steps])

param_grid = {
    "features__geo__feature_set": ["paper", "extended"],
    "features__topology__feature_set": ["paper", "extended"],
    "clf__C": [0.01, 1.0],
}
search = GridSearchCV(
    pipeline,
    param_grid,
    cv=GroupKFold(n_splits=3),
    scoring={"average_precision": "average_precision", "log_loss": "neg_log_loss"},
    refit="log_loss",
)
search.fit(X, y, groups=groups)
best = search.best_index_
print("best:", search.best_params_)
print(f"log loss {-search.best_score_:.3f}, average precision "
      f"{search.cv_results_['mean_test_average_precision'][best]:.3f}")

# %%
# Scores of every setting
# -----------------------
results = search.cv_results_
feature_sets = [("paper", "paper"), ("paper", "extended"), ("extended", "paper"),
                ("extended", "extended")]
Cs = param_grid["clf__C"]
fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6), layout="constrained")
for ax, key, title, cmap in (
    (axes[0], "log_loss", "log loss (lower is better)", "viridis_r"),
    (axes[1], "average_precision", "average precision", "viridis"),
):
    grid = np.zeros((len(feature_sets), len(Cs)))
    for mean, params in zip(results[f"mean_test_{key}"], results["params"]):
        i = feature_sets.index((params["features__geo__feature_set"],
                                params["features__topology__feature_set"]))
        grid[i, Cs.index(params["clf__C"])] = abs(mean)
    ax.imshow(grid, cmap=cmap, aspect="auto")
    middle = (grid.min() + grid.max()) / 2
    for (i, j), value in np.ndenumerate(grid):
        dark = value < middle if key == "average_precision" else value > middle
        ax.text(j, i, f"{value:.3f}", ha="center", va="center",
                color="w" if dark else "k", fontsize=9)
    ax.set(xticks=range(len(Cs)), xticklabels=[f"C={c:g}" for c in Cs],
           yticks=range(len(feature_sets)),
           yticklabels=[f"geo {g}, topology {t}" for g, t in feature_sets],
           title=title)
axes[1].set_yticks([])
fig.suptitle("Mean over 3 folds grouped by volume")
plt.show()

# %%
# Use the chosen pipeline in a corrector
# --------------------------------------
# :class:`~sklearn_overseg.MergeCorrector` takes any pair classifier with
# ``predict_proba``; with ``damage="axis"`` it fits a clone of it on pairs
# simulated from the correct volumes it is given (one damage round each here,
# to keep the example short).
corrector = MergeCorrector(
    classifier=search.best_estimator_, damage="axis", n_rounds=1
)
corrector.fit(volumes)
print(corrector.classifier_)

# %%
# Tune the corrector itself
# -------------------------
# A corrector trained from correct volumes scores itself on correct volumes
# too: :meth:`~sklearn_overseg.MergeCorrector.score` damages each held-out
# volume (seeded by ``random_state``), corrects it and returns the F1 of its
# merges against the true splits. So the whole corrector goes into
# ``GridSearchCV``, here to choose the merge threshold, one volume per group.
corrector_search = GridSearchCV(
    corrector, {"threshold": [0.3, 0.5, 0.8]}, cv=GroupKFold(n_splits=3)
).fit(volumes, groups=np.arange(len(volumes)))
for params, score in zip(corrector_search.cv_results_["params"],
                         corrector_search.cv_results_["mean_test_score"]):
    print(f"threshold {params['threshold']}: merge F1 {score:.3f}")

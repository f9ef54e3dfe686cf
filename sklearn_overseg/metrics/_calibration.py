"""Calibration of merge probabilities: the expected calibration error (ECE).

A classifier is calibrated when, among the pairs it gives probability ``p``,
a share ``p`` are true splits. The ECE bins the probabilities and averages,
weighted by the number of pairs in each bin, the gap between the bin's mean
probability and the bin's share of true splits. It is built on
:func:`sklearn.calibration.calibration_curve`, which gives these two values
for every non-empty bin.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["expected_calibration_error"]


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
    },
    prefer_skip_nested_validation=True,
)
def expected_calibration_error(
    y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """Expected calibration error of binary probabilities.

    ``sum_b (n_b / n) * |mean(y_true in b) - mean(y_prob in b)|`` over the
    non-empty bins ``b`` of ``y_prob``: 0 for perfectly calibrated
    probabilities, at most 1. A model that is confidently wrong on a share
    ``e`` of the pairs has an ECE of about ``e``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes, 0 or 1 (for merge decisions: 1 = true split).
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of class 1, in [0, 1].
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Bins of equal width in [0, 1], or holding equal numbers of samples
        (as :func:`sklearn.calibration.calibration_curve`).

    Returns
    -------
    float
        The ECE; ``nan`` when there are no samples.

    Examples
    --------
    >>> from sklearn_overseg.metrics import expected_calibration_error
    >>> expected_calibration_error([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0])
    0.0
    >>> expected_calibration_error([0, 1, 0, 1], [0.9, 0.9, 0.9, 0.9])  # 0.9 vs 0.5
    0.4
    """
    y_true = np.asarray(y_true).ravel()
    y_prob = np.asarray(y_prob, dtype=float).ravel()
    if y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob have different lengths: {y_true.size} and "
            f"{y_prob.size}."
        )
    if y_prob.size == 0:
        return float("nan")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold the classes 0 and 1 only.")
    if not np.all((y_prob >= 0) & (y_prob <= 1)):
        raise ValueError("y_prob must hold probabilities in [0, 1] (no NaN).")
    y_true = y_true.astype(int)
    if strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    # the binning of calibration_curve: its values are for the non-empty bins
    counts = np.bincount(np.searchsorted(edges[1:-1], y_prob), minlength=n_bins)
    counts = counts[counts > 0]
    if np.unique(y_true).size < 2:
        # calibration_curve needs both classes; the share of class 1 is y_true
        bins = np.searchsorted(edges[1:-1], y_prob)
        mean_prob = np.bincount(bins, y_prob)[np.bincount(bins) > 0] / counts
        share = np.full(counts.size, float(y_true[0]))
    else:
        share, mean_prob = calibration_curve(
            y_true, y_prob, n_bins=n_bins, strategy=strategy
        )
    return round(float(np.sum(counts * np.abs(share - mean_prob)) / y_prob.size), 12)

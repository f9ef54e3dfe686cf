"""Two class labels for a binary classifier, and the weight of the positive one.

:class:`MergeNet` accepts any two class labels (``0``/``1`` targets, or a
single one of them, keep ``classes_ = [0, 1]`` so that column 1 of
``predict_proba`` is always the merge probability), trains on 0/1 floats, and
turns its ``class_weight`` into the ``pos_weight`` of ``BCEWithLogitsLoss``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

__all__ = ["binary_classes", "encode_binary_targets", "positive_class_weight"]


def binary_classes(labels: np.ndarray) -> np.ndarray:
    """``classes_`` for the sorted distinct labels of a first ``fit``.

    ``[0, 1]`` when the labels are (a subset of) 0 and 1, else the labels;
    more than two labels are refused.
    """
    if labels.size > 2:
        raise ValueError(
            "Only binary classification is supported. MergeNet got "
            f"{labels.size} classes in y: {labels[:5].tolist()}..."
        )
    if labels.dtype.kind in "biuf" and np.isin(labels, (0, 1)).all():
        return np.array([0, 1], dtype=np.int64)
    return labels


def encode_binary_targets(
    y: np.ndarray, labels: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    """``y`` as 0/1 float32 (1 = ``classes[1]``); labels outside ``classes`` fail."""
    unknown = ~np.isin(labels, classes)
    if unknown.any():
        raise ValueError(
            f"y contains labels {labels[unknown].tolist()} not in the classes "
            f"{classes.tolist()} seen in the first fit"
        )
    return (y == classes[1]).astype(np.float32)


def positive_class_weight(
    class_weight, classes: np.ndarray, y01: np.ndarray
) -> float | None:
    """Weight of the positive class in the loss, from a ``class_weight`` setting.

    ``None`` gives ``None``; ``"balanced"`` gives ``n_negative / n_positive``
    of ``y01`` (1 when it holds one class); a positive number is used as is;
    a dict ``{label: weight}`` gives ``weight[positive] / weight[negative]``.
    """
    cw = class_weight
    if cw is None:
        return None
    if isinstance(cw, str):
        if cw != "balanced":
            raise ValueError(
                f"class_weight must be None, 'balanced', a positive number or "
                f"a dict, got {cw!r}"
            )
        if len(np.unique(y01)) < 2:
            return 1.0
        w_neg, w_pos = compute_class_weight("balanced", classes=np.arange(2), y=y01)
        return float(w_pos / w_neg)
    if isinstance(cw, dict):
        negative, positive = classes.tolist()
        w_neg, w_pos = float(cw.get(negative, 1.0)), float(cw.get(positive, 1.0))
        if not (w_neg > 0 and w_pos > 0 and np.isfinite([w_neg, w_pos]).all()):
            raise ValueError(f"class_weight values must be positive, got {cw!r}")
        return w_pos / w_neg
    if isinstance(cw, numbers.Real) and not isinstance(cw, bool) and cw > 0:
        return float(cw)
    raise ValueError(
        f"class_weight must be None, 'balanced', a positive number or a dict, "
        f"got {cw!r}"
    )

"""Labelling candidate pairs by ground truth, and giving them their raw images.

One mechanism serves every way of training (``MergeCorrector.fit``,
``make_training_candidates``, the shipped recipes): candidates are screened in
a flawed volume and labelled by the ground truth, a pair being a true split
when both fragments belong (by majority of their voxels) to the same true
cell.
"""

from __future__ import annotations

import numpy as np

from .._candidates import CandidateSet
from .._image import attach_image, check_image
from .._validation import check_volumes

__all__ = ["attach_images", "label_candidates"]


def _majority_truth(flawed: np.ndarray, truth: np.ndarray, labels: np.ndarray):
    """Map each flawed label in ``labels`` to its majority ground-truth label."""
    labels = np.unique(np.asarray(labels, dtype=np.int64))
    mask = np.isin(flawed, labels)
    f_idx = np.searchsorted(labels, flawed[mask].astype(np.int64))
    t_values, t_idx = np.unique(truth[mask], return_inverse=True)
    counts = np.bincount(
        f_idx * len(t_values) + t_idx.ravel(), minlength=len(labels) * len(t_values)
    ).reshape(len(labels), len(t_values))
    best = t_values[np.argmax(counts, axis=1)] if len(t_values) else labels * 0
    return dict(zip(labels.tolist(), np.asarray(best, dtype=np.int64).tolist()))


def label_candidates(candidates: CandidateSet, flawed_volumes, truth_volumes):
    """Label candidate pairs by ground truth.

    Parameters
    ----------
    candidates : CandidateSet
        Pairs screened in ``flawed_volumes``.
    flawed_volumes, truth_volumes : list of ndarray
        The segmentations the candidates come from and their ground truth
        (same shapes).

    Returns
    -------
    y : ndarray of shape (n_candidates,), dtype int
        ``1`` when both fragments belong mostly to the same true cell.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg import CandidateScreener, label_candidates
    >>> truth = np.zeros((5, 4, 4), dtype=np.uint8); truth[:, 1:3, 1:3] = 1
    >>> flawed = truth.copy(); flawed[2] = 0; flawed[3:][flawed[3:] == 1] = 2
    >>> cands = CandidateScreener().transform([flawed])
    >>> label_candidates(cands, [flawed], [truth]).tolist()
    [1]
    """
    flawed_volumes = check_volumes(
        flawed_volumes, name="flawed volumes", allow_background_only=True
    )
    truth_volumes = check_volumes(
        truth_volumes, name="ground truth", allow_background_only=True
    )
    if len(flawed_volumes) != len(truth_volumes):
        raise ValueError(
            f"got {len(flawed_volumes)} volumes but {len(truth_volumes)} ground truths"
        )
    for i, (f, t) in enumerate(zip(flawed_volumes, truth_volumes)):
        if f.shape != t.shape:
            raise ValueError(
                f"volume {i} has shape {f.shape} but its ground truth {t.shape}"
            )
    y = np.zeros(len(candidates), dtype=np.int64)
    if len(candidates) == 0:
        return y
    vol_idx, pairs = candidates.volume_index, candidates.pairs
    for v in np.unique(vol_idx):
        rows = np.flatnonzero(vol_idx == v)
        major = _majority_truth(flawed_volumes[v], truth_volumes[v], pairs[rows])
        a = np.array([major[p] for p in pairs[rows, 0]])
        b = np.array([major[p] for p in pairs[rows, 1]])
        y[rows] = (a == b) & (a != 0)
    return y


def check_images(images, volumes) -> list[np.ndarray]:
    """Normalised raw images, one per volume (see ``check_image``)."""
    if len(images) != len(volumes):
        raise ValueError(f"got {len(images)} images for {len(volumes)} volumes")
    return [check_image(image, volume) for image, volume in zip(images, volumes)]


def attach_images(candidates: CandidateSet, volumes, images) -> CandidateSet:
    """Give candidates screened in ``volumes`` the crops of their raw images.

    ``volumes`` are validated label volumes and ``images`` their raw images
    (same shapes); each candidate gets the crop of its own volume's
    normalised image (``Candidate.image``), see :class:`ImageFeatures`.
    """
    normalised = check_images(images, volumes)
    vol_idx = candidates.volume_index
    parts = [
        attach_image(candidates[vol_idx == v], image)
        for v, image in enumerate(normalised)
    ]
    order = np.argsort(np.concatenate(
        [np.flatnonzero(vol_idx == v) for v in range(len(normalised))]
    ), kind="stable")
    return CandidateSet.concatenate(parts)[order]

"""Connected pieces of labels: keep one piece per label, relabel, test connectivity.

Every synthetic cell must be a single face-connected component. These helpers
label the pieces of each label inside its bounding box (memory stays bounded
by the largest cell), keep the largest piece and either hand the other pieces
to a touching neighbour or delete them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def is_connected(mask: np.ndarray) -> bool:
    """Whether a boolean mask is one non-empty face-connected component."""
    if not mask.any():
        return False
    _, n = ndi.label(mask)
    return n == 1


def grow_box(box: tuple[slice, ...], margin: int, shape) -> tuple[slice, ...]:
    """Enlarge a tuple of slices by ``margin`` on every side, clipped to ``shape``."""
    return tuple(
        slice(max(s.start - margin, 0), min(s.stop + margin, n))
        for s, n in zip(box, shape)
    )


def keep_largest_pieces(labels: np.ndarray, *, reassign: bool) -> np.ndarray:
    """Make every label one face-connected component, in place.

    Parameters
    ----------
    labels : ndarray of shape (z, y, x)
        Label volume with small label values, modified in place and returned.
    reassign : bool
        If True, each smaller piece is given to the label it touches most
        (so no voxel becomes background, as in dense tissue); a piece that
        touches no other label is deleted. If False, smaller pieces are deleted.

    Returns
    -------
    labels : ndarray
        The same array.
    """
    orphans = []
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        pieces, n_pieces = ndi.label(labels[box] == label)
        if n_pieces < 2:
            continue
        largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1
        for piece_id, piece_box in enumerate(ndi.find_objects(pieces), start=1):
            if piece_id == largest:
                continue
            where = tuple(
                slice(b.start + p.start, b.start + p.stop)
                for b, p in zip(box, piece_box)
            )
            piece = pieces[piece_box] == piece_id
            labels[where][piece] = 0
            orphans.append((where, piece))
    if reassign:
        _hand_over(labels, orphans)
    return labels


def _hand_over(labels: np.ndarray, orphans: list) -> None:
    """Give each orphan piece to the label it touches most, in place.

    A piece touching only other orphans waits for them; the result keeps every
    label connected because a piece always joins a label it touches.
    """
    pending = orphans
    while pending:
        waiting = []
        for where, piece in pending:
            box = grow_box(where, 1, labels.shape)
            inner = tuple(
                slice(w.start - b.start, w.stop - b.start) for w, b in zip(where, box)
            )
            grown = np.zeros(tuple(b.stop - b.start for b in box), dtype=bool)
            grown[inner] = piece
            shell = ndi.binary_dilation(grown) & ~grown
            around = labels[box][shell]
            around = around[around > 0]
            if around.size == 0:
                waiting.append((where, piece))
                continue
            values, counts = np.unique(around, return_counts=True)
            labels[where][piece] = values[np.argmax(counts)]
        if len(waiting) == len(pending):
            break
        pending = waiting


def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Map the labels present to ``1..n`` in their original order, in place."""
    present = np.bincount(labels.ravel()) > 0
    present[0] = False
    if present[1:].all():
        return labels
    lookup = np.zeros(present.size, dtype=labels.dtype)
    lookup[present] = np.arange(1, int(present.sum()) + 1, dtype=labels.dtype)
    labels[...] = lookup[labels]
    return labels

"""One-to-one matching of axis pairs, and the ranks it walks them in.

A label may be the upper fragment of at most one pair and the lower fragment
of at most one pair. The screen walks the pairs best first
(:func:`match_one_to_one`); :func:`match_tiers` decides which pairs come last
because a mask inside a gap makes them doubtful: a noise mask must not steal
the partner of the pair whose gap it lies in, and a gapped pair must not steal
the fragments of a stitched *layer piece* (a mask in the "gap" that is really
the cell's own layer, cut off by an IoU stitcher). :func:`near_matches`
picks the gap-0 pairs that go before all others: the pairs an IoU stitcher
nearly joined itself.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NEAR_MATCH",
    "face_covers",
    "match_one_to_one",
    "match_tiers",
    "near_matches",
]

#: Share of the smaller facing mask a gap-0 pair's overlap must reach to be
#: matched first (:func:`near_matches`); the issue's one-line rule uses 0.7.
NEAR_MATCH = 0.7


def match_one_to_one(upper: np.ndarray, lower: np.ndarray, order: np.ndarray):
    """Greedy matching: walk ``order`` (best first), keep a pair if both are free.

    Each label is kept at most once as an upper and at most once as a lower
    fragment. Returns the kept positions.
    """
    used_upper, used_lower, kept = set(), set(), []
    for i in order:
        u, v = int(upper[i]), int(lower[i])
        if u in used_upper or v in used_lower:
            continue
        used_upper.add(u)
        used_lower.add(v)
        kept.append(int(i))
    return np.asarray(kept, dtype=np.intp)


def face_covers(labels, up, low, overlap, last_area, first_area, n_gap):
    """How much of each fragment's facing mask the masks facing it cover.

    Returns ``{(a, n): share of a's last layer under n's first}``, ``{(n, b):
    share of b's first layer under n's last}`` over the facing pairs, and the
    set of pairs that touch (no gap layer).
    """
    keys = list(zip(labels[up].tolist(), labels[low].tolist()))
    of_upper = overlap / np.maximum(last_area[up], 1)
    of_lower = overlap / np.maximum(first_area[low], 1)
    touching = {k for k, g in zip(keys, n_gap.tolist()) if g == 0}
    return (
        dict(zip(keys, of_upper.tolist())),
        dict(zip(keys, of_lower.tolist())),
        touching,
    )


def match_tiers(labels, up, low, verdicts, covers, max_noise_cover) -> np.ndarray:
    """Rank of each pair in the matching: 0 first, 1 nested in a gap, 2 skips a layer.

    A mask ``n`` confined to the gap of a clear pair ``(a, b)`` is a *layer
    piece* when it touches ``a`` or ``b`` (lies in the next layer) and covers
    more than ``max_noise_cover`` of one facing mask (``a``'s last or ``b``'s
    first layer, seen from ``n``'s nearest layer) and more than half that
    share of the other: the layer is there and belongs to the cell, the
    stitcher cut it off. The gapped pair ``(a, b)``
    that skips it is matched last (rank 2), after the pairs through the
    piece. Any other confined mask is *noise*: ``(a, n)`` and ``(n, b)`` are
    nested in the gap (rank 1), so the noise does not steal a partner of
    ``(a, b)``.
    """
    of_upper, of_lower, touching = covers
    nested, skipping = set(), set()
    for (ok, noise), u, v in zip(verdicts, labels[up].tolist(), labels[low].tolist()):
        if not ok:
            continue
        for n in noise:
            shares = (of_upper.get((u, n), 0.0), of_lower.get((n, v), 0.0))
            piece = max(shares) > max_noise_cover and min(shares) > max_noise_cover / 2
            if piece and ((u, n) in touching or (n, v) in touching):
                skipping.add((u, v))
            else:
                nested.update(((u, n), (n, v)))
    pairs = zip(labels[up].tolist(), labels[low].tolist())
    return np.array(
        [2 if p in skipping else int(p in nested) for p in pairs], dtype=np.intp
    )


def near_matches(n_gap: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Gap-0 pairs that overlap at least :data:`NEAR_MATCH` of the smaller mask.

    Such a pair is a stitcher's near miss: the smaller facing mask lies
    mostly inside the larger one, but their IoU fell below the stitcher's
    threshold (a small end cap, a cross-section that shrank or grew). The
    matching walks these pairs first, before gapped pairs and before the
    tiers of :func:`match_tiers`, so that a gapped pair (often to a different
    cell further down) or a larger but looser gap-0 overlap does not take the
    fragment's partner: without that, a fragment that loses its partner is
    never scored. A small
    mask in the gap of a gapped pair is then a piece of the cell, joined
    through two gap-0 pairs, not noise. Volumes screened without gap-0 pairs
    are not affected.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.screening._matching import near_matches
    >>> near_matches(np.array([0, 0, 1]), np.array([0.9, 0.5, 1.0])).tolist()
    [True, False, False]
    """
    return (np.asarray(n_gap) == 0) & (np.asarray(fraction) >= NEAR_MATCH)

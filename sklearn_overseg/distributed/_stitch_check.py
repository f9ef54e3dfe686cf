"""``min_gap="auto"`` on a stored volume: one decision for the whole volume.

The in-memory screen decides per volume with
:func:`~sklearn_overseg.screening.detect_stitched`, whose evidence (the IoUs
of every label's masks in two consecutive layers, and of the labels that
start right under another label) comes from consecutive layer pairs only.
Here each task reads some of the same layer pairs
(:func:`~sklearn_overseg.screening.layer_pairs`: all, or every k-th of a
large volume), two whole layers at a time, and returns their IoUs; the
client joins them and decides once, exactly as the in-memory screen does on
the whole volume. Blocks in (y, x) are not used: an
IoU needs a label's whole mask in a layer, and two layers are what a task
holds in memory.
"""

from __future__ import annotations

import dask
import numpy as np

from ..screening import evidence_from_links, join_links, layer_pairs, stitch_links
from ._scheduler import compute
from ._source import VolumeReader

__all__ = ["blockwise_stitch_evidence", "resolve_min_gap"]


def _links(reader: VolumeReader, pairs):
    """:func:`stitch_links` of the layer pairs ``(z, z + 1)``, ``z`` in ``pairs``."""
    return join_links([stitch_links(np.asarray(reader[z : z + 2])) for z in pairs])


def blockwise_stitch_evidence(reader: VolumeReader, *, layers_per_task: int,
                              client=None):
    """The :class:`~sklearn_overseg.screening.StitchEvidence` of a stored volume."""
    pairs = list(layer_pairs(reader.shape))  # the pairs the in-memory test reads
    shared = dask.delayed(reader, pure=True)
    step = max(int(layers_per_task), 1)
    parts = compute(
        [dask.delayed(_links, pure=True)(shared, pairs[i : i + step])
         for i in range(0, len(pairs), step)],
        client,
    )
    return evidence_from_links(*join_links(parts))


def resolve_min_gap(settings: dict, reader: VolumeReader, *, layers_per_task: int,
                    client=None) -> dict:
    """``settings`` with ``min_gap="auto"`` replaced by 0 or 1 for this volume."""
    if settings.get("min_gap") != "auto":
        return settings
    evidence = blockwise_stitch_evidence(reader, layers_per_task=layers_per_task,
                                         client=client)
    return dict(settings, min_gap=0 if evidence.stitched else 1)

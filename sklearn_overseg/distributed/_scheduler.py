"""Where the tasks run: dask's current scheduler, or a given cluster client.

All steps of the distributed correction build lists of ``dask.delayed``
tasks and hand them to :func:`compute`. Without a client, dask picks its
current scheduler: the client of an active ``distributed`` cluster if there
is one, else a local thread pool. With a ``distributed.Client`` (a
``LocalCluster``, or a Slurm or Kubernetes cluster reached by its address),
the tasks run on that cluster's workers.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
from sklearn.utils import gen_batches

__all__ = ["batches", "compute"]


def compute(tasks: Sequence, client=None) -> list:
    """Run delayed ``tasks`` and return their results, in order."""
    if not tasks:
        return []
    if client is None:
        return list(dask.compute(*tasks))
    return list(dask.compute(*tasks, scheduler=client))


def batches(items: Sequence, size: int) -> list[Sequence]:
    """Consecutive slices of at most ``size`` items."""
    if not len(items):
        return []
    return [items[batch] for batch in gen_batches(len(items), size)]

"""Correct a label volume stored in Zarr or HDF5, writing a Zarr store, on dask.

``correct_zarr`` runs :meth:`MergeCorrector.correct` on a volume that need not
fit in memory. Every step runs as dask tasks that read only what they need:

* geometry: a reduction over blocks (:func:`blockwise_geometry`);
* screening: facing overlaps block by block, gap verdicts by batches of pairs
  (:func:`screen_axis_pairs`);
* classification: batches of pairs whose crops are read from the store, fed
  to the fitted pair classifier shipped once to each worker;
* merging: the global union-find (:func:`resolve_merges`), on the client;
* gap filling: interpolation by batches of accepted pairs; the rebuilt masks
  travel back to the client, which folds them in the order of the in-memory
  corrector;
* output: one task per block relabels it and paints its gap fills
  (:func:`write_block`).

Only per-label, per-pair and per-fill data ever gather on the client.
"""

from __future__ import annotations

import dask
import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._candidates import GAP_NOISE, CandidateSet
from ..correction._merging import resolve_merges
from ..correction._steps import _gap_fill
from ..screening._axis import axis_candidate
from ..screening._contact import pair_box
from ..screening._screener import CandidateScreener
from ._geometry import blockwise_geometry
from ._output import check_blocks, open_target, route_writes, write_block
from ._scheduler import batches, compute
from ._screening import screen_axis_pairs
from ._source import VolumeReader, Window, block_grid, default_block_shape

__all__ = ["correct_zarr"]

#: Pairs classified (or interpolated) per task.
PAIR_BATCH = 32


def _candidate(reader, geometry, pair, crop_settings):
    """The candidate of one pair and its box, read from the store at once."""
    box = pair_box(
        geometry, (pair.upper_row, pair.lower_row), crop_settings["padding"]
    )
    window = Window(reader, box)
    return axis_candidate(window, geometry, pair, **crop_settings), window


def _classify(reader, geometry, pairs, corrector, crop_settings) -> np.ndarray:
    """Merge probabilities of a batch of pairs, reading their crops."""
    candidates = CandidateSet(
        _candidate(reader, geometry, p, crop_settings)[0] for p in pairs
    )
    return corrector.predict_proba(candidates)


def _fill_writes(reader, geometry, pairs, crop_settings, method) -> list:
    """Rebuilt gap masks of accepted pairs, as ``(region, mask, absorbed)``.

    ``mask`` is where the rebuilt layers may be painted (background or the
    pair's noise masks), ``absorbed`` the noise labels a rebuilt layer covers
    (they join the merged cell), exactly as :func:`apply_merges` decides.
    """
    found = []
    for pair in pairs:
        cand, window = _candidate(reader, geometry, pair, crop_settings)
        mask = _gap_fill(cand, method)
        (g0, g1), (z0, y0, x0) = cand.gap, cand.origin
        h, w = cand.crop.shape[1:]
        region = (slice(z0 + g0, z0 + g1), slice(y0, y0 + h), slice(x0, x0 + w))
        current = window[region]
        allowed = current == 0
        absorbed = ()
        if cand.gap_labels:
            noise = np.isin(current, cand.gap_labels)
            noise &= cand.crop[g0:g1] == GAP_NOISE
            absorbed = tuple(int(v) for v in np.unique(current[noise & mask]))
            allowed |= noise
        found.append((region, mask & allowed, absorbed))
    return found


def _screener_settings(corrector) -> tuple[dict, dict]:
    screener = corrector.screener_
    if not isinstance(screener, CandidateScreener) or screener.mode != "axis":
        raise ValueError(
            "correct_zarr supports correctors whose screener is a "
            "CandidateScreener with mode='axis', got "
            f"{getattr(screener, 'mode', type(screener).__name__)!r}."
        )
    voxel_size = screener._check_settings()
    settings = screener.get_params()
    crops = dict(volume_index=0, padding=screener.padding, voxel_size=voxel_size)
    return settings, crops


def correct_zarr(
    source,
    target,
    corrector,
    *,
    chunks=None,
    client=None,
    target_chunks=None,
    overwrite: bool = False,
):
    """Correct a label volume stored in Zarr or HDF5, block by block, on dask.

    The result equals ``corrector.correct(volume)`` voxel for voxel, but the
    volume is never loaded whole: every task reads one block, one batch of
    pair crops or one batch of gap regions, and the corrected volume is
    written to a Zarr store block by block. Tasks run on dask's current
    scheduler (threads) or on the cluster of ``client``.

    Parameters
    ----------
    source : zarr.Array, h5py.Dataset, ndarray, str or path-like
        The label volume, ``0`` is background. Paths are opened lazily
        (``"cells.zarr"``, ``"cells.zarr:key"``, ``"cells.h5:key"``). With
        worker processes, a zarr or HDF5 source is read by the workers from
        its file; it must be reachable from them (shared file system or
        object store).
    target : str, path-like or zarr.Array
        Where to write the corrected labels: a path for a new zarr array
        (same shape and dtype as the source) or an existing zarr array.
    corrector : MergeCorrector
        A fitted corrector whose screener is a ``CandidateScreener`` with
        ``mode="axis"`` (for example ``load_pretrained("axis")``).
    chunks : tuple of 3 int, optional
        Shape of the blocks that tasks read and write: whole multiples of the
        target's chunks. Default: target chunks grown to about 8 million
        voxels. Memory per task grows with it.
    client : distributed.Client, optional
        Run on this cluster (``LocalCluster``, dask-jobqueue, dask-kubernetes,
        or ``Client("tcp://scheduler:8786")``); ``None`` uses dask's current
        scheduler.
    target_chunks : tuple of 3 int, optional
        Chunks of a newly created target; default: the source's chunks.
    overwrite : bool, default=False
        Replace an existing store at a target path.

    Returns
    -------
    zarr.Array
        The target array, holding the corrected labels.

    Examples
    --------
    >>> import tempfile, zarr
    >>> from sklearn_overseg import load_pretrained
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> from sklearn_overseg.distributed import correct_zarr
    >>> truth = make_tissue((24, 64, 64), n_cells=20, random_state=3)
    >>> flawed, _ = oversegment(truth, n_splits=2, random_state=0)
    >>> folder = tempfile.mkdtemp()
    >>> source = zarr.open_array(f"{folder}/flawed.zarr", mode="w",
    ...                          shape=flawed.shape, dtype=flawed.dtype,
    ...                          chunks=(8, 32, 32))
    >>> source[...] = flawed
    >>> corrector = load_pretrained("axis")
    >>> fixed = correct_zarr(source, f"{folder}/fixed.zarr", corrector)
    >>> bool((fixed[...] == corrector.correct(flawed)).all())
    True
    """
    check_is_fitted(corrector)
    settings, crop_settings = _screener_settings(corrector)
    reader = source if isinstance(source, VolumeReader) else VolumeReader(source)
    out = open_target(target, reader, target_chunks, overwrite)
    block_shape = check_blocks(
        chunks or default_block_shape(reader.shape, out.chunks), out
    )
    geometry = blockwise_geometry(reader, block_shape=block_shape, client=client)
    pairs = screen_axis_pairs(
        reader, geometry, settings, block_shape=block_shape, client=client
    )
    shared = [dask.delayed(x, pure=True) for x in (reader, geometry)]
    model = dask.delayed(corrector, pure=False)
    proba = compute(
        [
            dask.delayed(_classify, pure=True)(*shared, batch, model, crop_settings)
            for batch in batches(pairs, PAIR_BATCH)
        ],
        client,
    )
    proba = np.concatenate(proba) if proba else np.zeros(0)
    labels = geometry.labels
    mapping, merged = resolve_merges(
        np.array(
            [(labels[p.upper_row], labels[p.lower_row]) for p in pairs], np.int64
        ).reshape(-1, 2),
        proba,
        corrector.threshold,
        z_extents={
            int(lab): (int(a), int(b))
            for lab, a, b in zip(labels, geometry.z_starts, geometry.z_stops)
        },
    )
    writes = []
    if corrector.interpolate:
        accepted = [p for p, m in zip(pairs, merged) if m]
        found = compute(
            [
                dask.delayed(_fill_writes, pure=True)(
                    *shared, batch, crop_settings, corrector.interpolation
                )
                for batch in batches(accepted, PAIR_BATCH)
            ],
            client,
        )
        # Fold in screening order, as the in-memory corrector does.
        mapping = dict(mapping)
        for pair, (region, mask, absorbed) in zip(
            accepted, (w for part in found for w in part)
        ):
            upper = int(labels[pair.upper_row])
            label = mapping.get(upper, upper)
            mapping.update({lab: label for lab in absorbed})
            writes.append((region, mask, label))
    grid = block_grid(reader.shape, block_shape)
    grid_shape = tuple(-(-n // b) for n, b in zip(reader.shape, block_shape))
    routed = route_writes(writes, block_shape, grid_shape)
    shared_mapping = dask.delayed(mapping, pure=True)
    compute(
        [
            dask.delayed(write_block, pure=True)(
                shared[0], out, block, shared_mapping,
                routed.get(tuple(s.start // b for s, b in zip(block, block_shape)), []),
            )
            for block in grid
        ],
        client,
    )
    return out

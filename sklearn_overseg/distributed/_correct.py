"""Correct a label volume stored in Zarr or HDF5, writing a Zarr store, on dask.

``correct_zarr`` runs :meth:`MergeCorrector.correct` on a volume that need not
fit in memory. Every step runs as dask tasks that read only what they need:

* geometry: a reduction over blocks (:func:`blockwise_geometry`);
* screening: facing overlaps block by block, gap verdicts by batches of pairs
  (:func:`screen_axis_pairs`);
* classification: batches of pairs whose crops are read from the store, fed
  to the fitted pair classifier shipped once to each worker
  (:func:`classify_pairs`);
* merging: the global union-find (:func:`resolve_merges`), on the client;
* gap filling: interpolation by batches of accepted pairs
  (:func:`pair_gap_fills`); the rebuilt masks travel back to the client,
  which folds them in the order of the in-memory corrector;
* output: one task per block relabels it and paints its gap fills
  (:func:`write_block`).

Only per-label, per-pair and per-fill data ever gather on the client.
"""

from __future__ import annotations

import dask
import numpy as np
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from ..correction import fold_gap_fills
from ..screening import CandidateScreener, check_stitched, typical_z_extent
from ._geometry import blockwise_geometry
from ._image_source import image_source, normalised_image
from ._output import check_blocks, open_target, route_writes, write_block
from ._pair_tasks import PAIR_BATCH, PairTable, classify_pairs, pair_gap_fills
from ._scheduler import batches, compute
from ._screening import screen_axis_pairs
from ._source import VolumeReader, block_grid, default_block_shape
from ._stitch_check import resolve_min_gap

__all__ = ["correct_zarr"]


def _screener_settings(corrector, voxel_size) -> tuple[dict, dict]:
    screener = corrector.screener_
    if not isinstance(screener, CandidateScreener) or screener.mode != "axis":
        raise ValueError(
            "correct_zarr supports correctors whose screener is a "
            "CandidateScreener with mode='axis', got "
            f"{getattr(screener, 'mode', type(screener).__name__)!r}."
        )
    voxel_size = screener.validate_settings(corrector.working_voxel_size(voxel_size))
    settings = screener.get_params()
    crops = dict(volume_index=0, padding=screener.padding, voxel_size=voxel_size)
    return settings, crops


@validate_params(
    {
        "source": "no_validation",  # VolumeReader
        "target": "no_validation",  # open_target
        "corrector": [HasMethods(["screen", "score_pairs", "decide"])],
        "chunks": "no_validation",  # check_blocks
        "client": "no_validation",
        "target_chunks": "no_validation",  # open_target
        "overwrite": ["boolean"],
        "voxel_size": "no_validation",  # working_voxel_size
        "image": "no_validation",  # ImageReader, checked against the labels
    },
    prefer_skip_nested_validation=True,
)
def correct_zarr(
    source,
    target,
    corrector,
    *,
    chunks=None,
    client=None,
    target_chunks=None,
    overwrite: bool = False,
    voxel_size=None,
    image=None,
):
    """Correct a label volume stored in Zarr or HDF5, block by block, on dask.

    The result equals ``corrector.correct(volume, voxel_size=voxel_size,
    image=image)`` voxel for voxel, but neither the volume nor the image is
    ever loaded whole: every task reads one block, one batch of pair crops
    or one batch of gap regions, and the corrected volume is written to a
    Zarr store block by block. Tasks run on dask's current scheduler
    (threads) or on the cluster of ``client``.

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
        ``mode="axis"`` (for example ``load_pretrained("axis")``). A screener
        with ``min_gap="auto"`` (``load_pretrained(stitch_splits="auto")``)
        decides once for the whole volume whether it was stitched from 2D
        slices, from every pair of consecutive layers (tasks read two whole
        layers at a time), exactly as the in-memory screen decides.
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
    voxel_size : float, sequence of 3 floats or None, default=None
        Voxel size (z, y, x) of the source, see
        :meth:`MergeCorrector.working_voxel_size`.
    image : zarr.Array, h5py.Dataset, dask array, ndarray, str or path-like, \
optional
        The raw image the labels were drawn on (same shape; paths opened
        lazily with :func:`~sklearn_overseg.io.read_image`), for a model with
        image features (:class:`~sklearn_overseg.ImageFeatures`); it is read
        block by block (its median and spread, as
        :meth:`MergeCorrector.screen` measures them) and by pair crops. A
        label-only model (the pretrained ones) ignores it with a warning.

    Returns
    -------
    zarr.Array
        The target array, holding the corrected labels.

    Raises
    ------
    ValueError
        If the model uses the raw image and ``image`` is None, or the image's
        shape differs from the labels' or it holds NaN or infinity (before
        anything is classified).
    TypeError
        If the image does not hold real numbers.

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
    settings, crop_settings = _screener_settings(corrector, voxel_size)
    reader = source if isinstance(source, VolumeReader) else VolumeReader(source)
    raw = image_source(image, reader, corrector)
    out = open_target(target, reader, target_chunks, overwrite)
    block_shape = check_blocks(
        chunks or default_block_shape(reader.shape, out.chunks), out
    )
    if raw is not None:
        raw = dask.delayed(
            normalised_image(raw, reader, block_shape=block_shape, client=client),
            pure=True,
        )
    geometry = blockwise_geometry(reader, block_shape=block_shape, client=client)
    check_stitched(reader.shape[0], geometry.z_starts, geometry.z_stops)
    # min_gap="auto": decided once, for the whole volume, as in memory
    settings = resolve_min_gap(settings, reader, layers_per_task=block_shape[0],
                               client=client)
    pairs = screen_axis_pairs(
        reader, geometry, settings, block_shape=block_shape, client=client
    )
    shared = [dask.delayed(x, pure=True) for x in (reader, geometry)]
    typical = typical_z_extent(geometry)
    model = dask.delayed(corrector, pure=False)
    proba = compute(
        [
            dask.delayed(classify_pairs, pure=True)(
                *shared, batch, model, crop_settings, raw, typical
            )
            for batch in batches(pairs, PAIR_BATCH)
        ],
        client,
    )
    scored = np.concatenate(proba) if proba else np.zeros((0, 2))
    labels = geometry.labels
    decisions = corrector.decide(
        geometry, PairTable(labels, pairs), scored[:, 0],
        out_of_range=scored[:, 1].astype(bool),
    )
    fills = []
    if corrector.interpolate:
        # only pairs with missing layers have a gap to rebuild (not gap 0)
        accepted = [
            p for p, m in zip(pairs, decisions.merged)
            if m and geometry.z_starts[p.lower_row] > geometry.z_stops[p.upper_row]
        ]
        found = compute(
            [
                dask.delayed(pair_gap_fills, pure=True)(
                    *shared, batch, crop_settings, corrector.interpolation
                )
                for batch in batches(accepted, PAIR_BATCH)
            ],
            client,
        )
        fills = [f for part in found for f in part]  # in screening order
    mapping, writes = fold_gap_fills(fills, decisions.mapping)
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

"""Genuinely flawed segmentations of the real volumes: 2D per slice, then z-stitching.

CellPose-style pipelines segment each z slice in 2D and stitch the 2D masks
along z by IoU: a cell that the 2D step misses, cuts or draws badly in one
layer is split in 3D, because the stitcher only looks one layer back. This
module rebuilds that failure on the real ``raw`` images:

* :func:`segment_membrane_slices` (dense tissue, membrane stain): per slice,
  watershed of the smoothed membrane signal from h-minima markers;
* :func:`segment_nuclei_slices` (sparse nuclei): per slice, Otsu threshold of
  the smoothed image plus a distance-transform watershed;
* :func:`stitch_labels`: IoU stitching of 2D masks along z, as CellPose's
  ``stitch3D`` does it (the package's ``datasets.stitch_slices``);
* :func:`drop_masks_per_slice`: the missing-layer case on real shapes, by
  deleting ground-truth 2D masks and splitting cells at the holes;
* :func:`z_split_pairs`, :func:`evaluate`: which ground-truth cells came out
  split along z, and the AP / VOI scores.

Run ``python benchmarks/_flawed_segmentation.py`` for the per-file numbers.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.morphology import h_minima
from skimage.segmentation import watershed

from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.datasets import stitch_slices
from sklearn_overseg.datasets._stitching import dense_codes, iou_matrix
from sklearn_overseg.metrics import (
    average_precision,
    jaccard_index,
    variation_of_information,
)

__all__ = [
    "drop_masks_per_slice",
    "flawed_segmentation",
    "segment_membrane_slices",
    "segment_nuclei_slices",
    "stitch_labels",
    "z_split_pairs",
]


# ------------------------------------------------------------------ stitching
#: The IoU stitcher lives in the package: ``sklearn_overseg.datasets.stitch_slices``.
stitch_labels = stitch_slices
_dense_codes, _iou_matrix = dense_codes, iou_matrix


# ------------------------------------------------------------ 2D segmenters
def segment_membrane_slices(
    raw, *, sigma: float = 1.0, h: float = 10.0
) -> np.ndarray:
    """Per-slice 2D watershed of a membrane image (dense cells, no background).

    Each z slice is smoothed with a Gaussian of ``sigma`` pixels; the regional
    minima deeper than ``h`` (h-minima) seed a watershed of the smoothed
    membrane signal, so every pixel gets a cell.

    Parameters
    ----------
    raw : array-like of shape (z, y, x)
        Membrane-stained image, bright boundaries.
    sigma : float, default=1.0
        Gaussian smoothing in y and x, in pixels.
    h : float, default=10.0
        Smallest depth of a seeding minimum, in intensity units of ``raw``
        (the default suits an 8-bit image).

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        Independent 2D labels per slice (feed them to :func:`stitch_labels`).

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.zeros((2, 20, 20)); raw[:, :, 10] = 100   # one vertical wall
    >>> [len(np.unique(s)) for s in segment_membrane_slices(raw, sigma=1, h=5)]
    [2, 2]
    """
    smooth = ndi.gaussian_filter(np.asarray(raw, dtype=float), (0, sigma, sigma))
    out = np.zeros(smooth.shape, dtype=np.int32)
    for z, image in enumerate(smooth):
        markers = ndi.label(h_minima(image, h))[0]
        out[z] = watershed(image, markers)
    return out


def segment_nuclei_slices(
    raw,
    *,
    sigma: float = 3.0,
    min_distance: int = 12,
    threshold_scale: float = 1.0,
    threshold: str = "slice",
    min_size: int = 30,
) -> np.ndarray:
    """Per-slice Otsu threshold and distance-transform watershed (sparse nuclei).

    Parameters
    ----------
    raw : array-like of shape (z, y, x)
        Nuclear stain, bright objects on a dark background.
    sigma : float, default=3.0
        Gaussian smoothing in y and x, in pixels.
    min_distance : int, default=12
        Smallest distance between two seeds (maxima of the distance transform).
    threshold_scale : float, default=1.0
        Multiplies the Otsu threshold (above 1 is stricter).
    threshold : {"slice", "volume"}, default="slice"
        Otsu threshold of each slice (adapts to intensity changing with depth,
        but finds objects in empty slices) or one for the whole stack.
    min_size : int, default=30
        Foreground blobs smaller than this (pixels) are dropped.

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        Independent 2D labels per slice.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.zeros((3, 40, 40)); raw[:, 5:15, 5:15] = raw[:, 25:35, 20:30] = 1
    >>> [int(s.max()) for s in segment_nuclei_slices(raw, sigma=1, min_distance=3)]
    [2, 2, 2]
    """
    if threshold not in ("slice", "volume"):
        raise ValueError(f"threshold must be 'slice' or 'volume', got {threshold!r}.")
    smooth = ndi.gaussian_filter(np.asarray(raw, dtype=float), (0, sigma, sigma))
    stack_level = threshold_otsu(smooth)
    out = np.zeros(smooth.shape, dtype=np.int32)
    for z, image in enumerate(smooth):
        level = threshold_otsu(image) if threshold == "slice" else stack_level
        blobs, n = ndi.label(ndi.binary_fill_holes(image > level * threshold_scale))
        if n == 0:
            continue
        foreground = (np.bincount(blobs.ravel()) >= min_size)[blobs] & (blobs > 0)
        distance = ndi.distance_transform_edt(foreground)
        peaks = peak_local_max(
            distance, min_distance=min_distance, labels=foreground.astype(int),
            exclude_border=False,
        )
        markers = np.zeros(image.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        out[z] = watershed(-distance, markers, mask=foreground)
    return out


#: Per-file 2D segmentation settings, tuned on 2D AP@0.5 of the slices.
SETTINGS = {
    "ovule_plantseg": ("membrane", dict(sigma=1.0, h=10.0)),
    "nuclei_gonuclear_1135": ("nuclei", dict(sigma=3.0, min_distance=12,
                                              threshold_scale=1.1)),
    "nuclei_gonuclear_1136": ("nuclei", dict(sigma=3.0, min_distance=18,
                                              threshold_scale=1.1)),
    "nuclei_gonuclear_1137": ("nuclei", dict(sigma=4.0, min_distance=15,
                                              threshold_scale=1.1)),
    "nuclei_cells3d": ("nuclei", dict(sigma=2.0, min_distance=25,
                                       threshold="volume")),
}


def flawed_segmentation(raw, kind: str, stitch_threshold: float = 0.25, **params):
    """2D segmentation of every slice of ``raw``, stitched along z by IoU.

    Parameters
    ----------
    raw : array-like of shape (z, y, x)
        The microscope image.
    kind : {"membrane", "nuclei"}
        Which 2D segmenter to use.
    stitch_threshold : float, default=0.25
        IoU threshold of :func:`stitch_labels`.
    **params
        Passed to :func:`segment_membrane_slices` or
        :func:`segment_nuclei_slices`.

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        The stitched 3D labels: a flawed segmentation.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.zeros((4, 30, 30)); raw[:, 8:22, 8:22] = 1; raw[2] = 0
    >>> flawed = flawed_segmentation(raw, "nuclei", sigma=1, min_distance=5)
    >>> sorted(np.unique(flawed[:, 15, 15]).tolist())   # split by the empty slice
    [0, 1, 2]
    """
    segmenters = {"membrane": segment_membrane_slices, "nuclei": segment_nuclei_slices}
    if kind not in segmenters:
        raise ValueError(f"kind must be 'membrane' or 'nuclei', got {kind!r}.")
    return stitch_labels(segmenters[kind](raw, **params), stitch_threshold)


# ------------------------------------------------- missing layers on real shapes
def drop_masks_per_slice(labels, p: float, rng=None, *, interior_only: bool = False):
    """Delete single 2D masks of a correct volume and split cells at the holes.

    Every 2D mask (one cell in one z layer) is deleted with probability ``p``,
    as a 2D model that misses a cell in one layer. The volume is then
    re-stitched the way an IoU stitcher would do it, without bridging holes:
    each run of consecutive layers of a cell becomes its own label (the
    topmost run keeps the original label).

    Parameters
    ----------
    labels : array-like of int, shape (z, y, x)
        Correct instance labels, 0 = background. Not modified.
    p : float in [0, 1]
        Probability of deleting each 2D mask.
    rng : None, int or numpy.random.Generator, default=None
        Seed or generator.
    interior_only : bool, default=False
        Delete only masks strictly inside a cell's z extent, so that every
        deletion splits the cell. By default any mask may go: a miss in a
        cell's first or last layer only shortens it, and in dense tissue may
        leave a one-layer gap between two stacked cells (a hard negative).

    Returns
    -------
    flawed : ndarray of shape (z, y, x)
        Same dtype as ``labels`` when the new labels fit, else ``int64``.
    truth_pairs : ndarray of int64, shape (n, 2)
        ``(upper, lower)`` labels of consecutive fragments of one cell.

    Examples
    --------
    >>> import numpy as np
    >>> cell = np.zeros((9, 4, 4), dtype=np.uint16); cell[:, 1:3, 1:3] = 5
    >>> flawed, pairs = drop_masks_per_slice(cell, 0.5, rng=1)
    >>> len(np.unique(flawed)) - 1 == len(pairs) + 1
    True
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.dtype.kind not in "iu":
        raise ValueError(
            "labels must be a 3D integer array (z, y, x), got shape "
            f"{labels.shape} and dtype {labels.dtype}."
        )
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}.")
    rng = np.random.default_rng(rng)
    n_layers = labels.shape[0]
    inside = labels != 0
    cell_values, cell_codes = np.unique(labels[inside], return_inverse=True)
    layer = np.nonzero(inside)[0]
    # one key per 2D mask, sorted by cell then layer
    keys, mask_of_voxel = np.unique(
        cell_codes.astype(np.int64) * n_layers + layer, return_inverse=True
    )
    cell, z = keys // n_layers, keys % n_layers
    new_cell = np.r_[True, cell[1:] != cell[:-1]]
    last_of_cell = np.r_[new_cell[1:], True]
    eligible = ~(new_cell | last_of_cell) if interior_only else np.ones_like(new_cell)
    kept = ~(eligible & (rng.random(keys.size) < p))
    # runs of consecutive kept layers of one cell
    kc, kz = cell[kept], z[kept]
    run_start = np.r_[True, (kc[1:] != kc[:-1]) | (kz[1:] != kz[:-1] + 1)]
    first_run = np.r_[True, kc[1:] != kc[:-1]][run_start]
    run_cell = kc[run_start]
    run_label = cell_values[run_cell].astype(np.int64)
    top = int(cell_values.max()) if cell_values.size else 0
    run_label[~first_run] = top + 1 + np.arange(int((~first_run).sum()))
    mask_label = np.zeros(keys.size, dtype=np.int64)
    mask_label[kept] = run_label[np.cumsum(run_start) - 1]
    dtype = labels.dtype
    if run_label.size and run_label.max() > np.iinfo(dtype).max:
        dtype = np.dtype(np.int64)
    flawed = np.zeros(labels.shape, dtype=dtype)
    flawed[inside] = mask_label[mask_of_voxel]
    same_cell = run_cell[1:] == run_cell[:-1]
    pairs = np.column_stack((run_label[:-1][same_cell], run_label[1:][same_cell]))
    return flawed, pairs.reshape(-1, 2)


# ------------------------------------------------------------------ measuring
def _fragments(gt, pred, min_fraction: float, layer_fraction: float):
    """Substantial pieces of true cells, as arrays over pieces.

    A predicted label is a substantial piece of a true cell when it covers at
    least ``min_fraction`` of the cell's voxels. Its z range inside the cell
    counts only the layers where it covers at least ``layer_fraction`` of the
    cell's cross-section (a pixel-wide leak into a layer does not count).
    Returns the true label, predicted label, first layer, one past the last
    layer, and purity (share of the predicted label's voxels in that cell).
    """
    inside = gt != 0
    true_values, g = np.unique(gt[inside], return_inverse=True)
    pred_values, q = np.unique(pred[inside], return_inverse=True)
    n_g, n_q, n_z = true_values.size, pred_values.size, gt.shape[0]
    key = (g.astype(np.int64) * n_q + q) * n_z + np.nonzero(inside)[0]
    keys, counts = np.unique(key, return_counts=True)
    piece, z = keys // n_z, keys % n_z
    cell = piece // n_q
    cell_size = np.bincount(cell, counts, minlength=n_g)
    layer_key = cell * n_z + z
    layer_area = np.bincount(layer_key, counts, minlength=n_g * n_z)
    pieces, row_piece = np.unique(piece, return_inverse=True)
    piece_size = np.bincount(row_piece, counts)
    labels_all, sizes_all = np.unique(pred, return_counts=True)
    label = pred_values[pieces % n_q]
    purity = piece_size / sizes_all[np.searchsorted(labels_all, label)]
    big = (piece_size >= min_fraction * cell_size[pieces // n_q]) & (label != 0)
    present = counts >= layer_fraction * layer_area[layer_key]
    z0 = np.full(pieces.size, n_z)
    z1 = np.full(pieces.size, -1)
    np.minimum.at(z0, row_piece[present], z[present])
    np.maximum.at(z1, row_piece[present], z[present])
    big &= z1 >= 0
    return (
        true_values[pieces[big] // n_q], label[big], z0[big], z1[big] + 1,
        purity[big],
    )


def z_split_pairs(
    gt, pred, *, min_fraction: float = 0.1, layer_fraction: float = 0.25,
    max_shared: float = 0.25, min_purity: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label pairs that cut a true cell along z.

    The substantial pieces of each true cell (see ``min_fraction``) are sorted
    by their first layer; two consecutive pieces are a z split when their z
    ranges inside the cell share at most ``max_shared`` of the shorter range
    (a lateral split shares nearly all of it). With ``min_purity=0.5`` only
    pieces whose predicted label lies mostly inside the cell count: splits
    that merging the pair would repair, not pieces of labels that also cover
    other cells (undersegmentation).

    Parameters
    ----------
    gt, pred : array-like of int, shape (z, y, x)
        Ground truth and prediction.
    min_fraction : float, default=0.1
        Smallest piece, as a fraction of the true cell's voxels.
    layer_fraction : float, default=0.25
        A piece occupies a layer when it covers this fraction of the cell there.
    max_shared : float, default=0.25
        Largest shared part of the z ranges of a split's two pieces.
    min_purity : float, default=0.0
        Smallest share of a piece's predicted label that lies inside the cell.

    Returns
    -------
    pairs : ndarray of int64, shape (n, 2)
        ``(upper, lower)`` predicted labels.
    cells : ndarray of int64, shape (n,)
        The true cell each pair cuts.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.ones((6, 3, 3), dtype=int)
    >>> pred = gt.copy(); pred[3:] = 2
    >>> z_split_pairs(gt, pred)[0].tolist()
    [[1, 2]]
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 3:
        raise ValueError(
            f"gt and pred must be 3D arrays of one shape, got {gt.shape} and "
            f"{pred.shape}."
        )
    cell, label, z0, z1, purity = _fragments(gt, pred, min_fraction, layer_fraction)
    keep = purity >= min_purity
    order = np.lexsort((z1[keep], z0[keep], cell[keep]))
    cell, label = cell[keep][order], label[keep][order]
    z0, z1 = z0[keep][order], z1[keep][order]
    same = cell[1:] == cell[:-1]
    shared = np.maximum(np.minimum(z1[1:], z1[:-1]) - np.maximum(z0[1:], z0[:-1]), 0)
    shorter = np.minimum(z1[1:] - z0[1:], z1[:-1] - z0[:-1])
    split = same & (shared <= max_shared * shorter)
    pairs = np.column_stack((label[:-1][split], label[1:][split])).astype(np.int64)
    return pairs.reshape(-1, 2), cell[1:][split].astype(np.int64)


def evaluate(gt, pred) -> dict:
    """Segmentation scores of ``pred`` against ``gt`` and its z-split counts.

    ``split_cells``: true cells with 2+ substantial pieces; ``z_split_cells``
    those cut along z (:func:`z_split_pairs`); ``clean_...``: only pieces
    whose labels lie mostly (>= 50 %) inside the cell, the splits a merge
    repairs; ``clean_gap_pairs``: those with at least one empty layer between
    the two pieces (the others touch in consecutive layers).
    """
    ap = average_precision(gt, pred, thresholds=(0.25, 0.5, 0.75))
    split, merge = variation_of_information(gt, pred)
    cells = _fragments(gt, pred, 0.1, 0.25)[0]
    pairs, cut = z_split_pairs(gt, pred)
    clean, clean_cut = z_split_pairs(gt, pred, min_purity=0.5)
    geometry = LabelGeometry.from_volume(pred)
    rows = np.searchsorted(geometry.labels, clean)
    gaps = geometry.z_starts[rows[:, 1]] - geometry.z_stops[rows[:, 0]]
    return {
        "cells": int(np.count_nonzero(np.unique(gt))),
        "labels": int(np.count_nonzero(np.unique(pred))),
        "AP25": float(ap[0]), "AP50": float(ap[1]), "AP75": float(ap[2]),
        "mAP": float(ap.mean()), "jaccard": jaccard_index(gt, pred),
        "VOI_split": split, "VOI_merge": merge,
        "split_cells": int(np.sum(np.unique(cells, return_counts=True)[1] > 1)),
        "z_split_cells": int(np.unique(cut).size), "z_split_pairs": len(pairs),
        "clean_z_split_cells": int(np.unique(clean_cut).size),
        "clean_z_split_pairs": len(clean),
        "clean_gap_pairs": int(np.sum(gaps >= 1)),
    }


def slice_ap50(gt, slices_2d) -> float:
    """Mean over slices with any mask of the 2D AP at IoU 0.5 (2D quality)."""
    used = [z for z in range(gt.shape[0]) if gt[z].any() or slices_2d[z].any()]
    return float(np.mean([
        average_precision(gt[z], slices_2d[z], thresholds=0.5)[0] for z in used
    ]))


#: (z step, stitch threshold): native sampling with CellPose's usual threshold,
#: and every third layer (a coarser, anisotropic stack) with a stricter one.
CONFIGS = ((1, 0.25), (3, 0.5))
COLUMNS = ("cells", "labels", "AP25", "AP50", "AP75", "VOI_split", "VOI_merge",
           "split_cells", "z_split_cells", "clean_z_split_cells",
           "clean_z_split_pairs", "clean_gap_pairs")


def _row(name: str, scores: dict, extra: str) -> str:
    cells = " | ".join(
        f"{scores[c]:.3f}" if isinstance(scores[c], float) else str(scores[c])
        for c in COLUMNS
    )
    return f"| {name} | {extra} | {cells} |"


def main() -> None:
    """Print the per-file numbers of the 2D + stitching pipeline (markdown)."""
    from _shared_data import NAMES, load, require_shared_data

    require_shared_data()
    header = " | ".join(COLUMNS)
    for z_step, threshold in CONFIGS:
        print(f"\n2D per slice + IoU stitching, z step {z_step}, "
              f"stitch threshold {threshold}\n")
        print(f"| file | 2D AP50, seconds | {header} |")
        print("|---" * (len(COLUMNS) + 2) + "|")
        for name in NAMES:
            gt, raw, _ = load(name)
            gt, raw = gt[::z_step], raw[::z_step]
            kind, params = SETTINGS[name]
            start = time.perf_counter()
            segment = segment_membrane_slices if kind == "membrane" else (
                segment_nuclei_slices
            )
            slices = segment(raw, **params)
            flawed = stitch_labels(slices, threshold)
            seconds = time.perf_counter() - start
            extra = f"{slice_ap50(gt, slices):.3f}, {seconds:.1f}"
            print(_row(name, evaluate(gt, flawed), extra))
    print("\nGround truth with 2D masks dropped (p=0.05, seed 0)\n")
    print(f"| file | true pairs | {header} |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name in NAMES:
        gt = load(name)[0]
        flawed, pairs = drop_masks_per_slice(gt, 0.05, rng=0)
        print(_row(name, evaluate(gt, flawed), str(len(pairs))))


if __name__ == "__main__":
    main()

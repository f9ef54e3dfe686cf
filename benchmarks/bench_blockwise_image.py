"""Block-wise correction with the raw image: identical to in memory, on real data?

``correct_zarr(source, target, corrector, image=raw)`` reads the image by
blocks (its median and spread) and by pair crops; its result must equal
``corrector.correct(labels, image=raw)`` voxel for voxel. This benchmark
checks that on every shared real volume, with its own raw image, and times
both paths.

* Model: a pair pipeline with image features
  (``make_pair_pipeline(LogisticRegression, image=True)``) trained on
  synthetic tissue with drawn images (dense tissue with a membrane stain,
  nuclei with a nuclear stain), ``damage="axis"``. Label-only models ignore
  the image, so they would not test anything here.
* Test volumes: each shared ground truth damaged by the package's simulator
  (axis splits of a fifth of the cells, one missing layer, hard negatives
  and noise masks), with its raw image; plus ``nuclei_cells3d`` tiled twice
  along x (labels offset), 7.9 M voxels, beyond the 4 M-voxel sample of the
  normalisation, so the strided sample skips voxels there as it does on
  large volumes.
* Block-wise: labels and image in zarr stores with chunks of 8 x 64 x 64,
  dask's thread scheduler, blocks of one chunk.
* Times: medians of 3 runs after one warm-up correction; "ratio" is
  block-wise over in memory, in the same run.

Run: ``python benchmarks/bench_blockwise_image.py`` (skips cleanly without
``../shared/data``).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _shared_data import ALL_NAMES, load, require_shared_data
from bench_common import markdown_table, print_environment
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import MergeCorrector, make_pair_pipeline
from sklearn_overseg._image import sample_step
from sklearn_overseg.datasets import make_tissue, make_tissue_image, oversegment

CHUNKS = (8, 64, 64)
REPEATS = 3  # timings are medians of this many runs (after a warm-up run)


def image_model() -> MergeCorrector:
    volumes, images = [], []
    for i in range(2):
        dense = make_tissue((24, 96, 96), n_cells=40, random_state=100 + i)
        nuclei = make_tissue((40, 96, 96), n_cells=25, mode="nuclei",
                             random_state=110 + i)
        volumes += [dense, nuclei]
        images += [make_tissue_image(dense, "membrane", random_state=120 + i),
                   make_tissue_image(nuclei, "nuclei", random_state=130 + i)]
    pipe = make_pair_pipeline(
        LogisticRegression(max_iter=5000, class_weight="balanced"), image=True)
    return MergeCorrector(classifier=pipe, damage="axis", n_rounds=2,
                          random_state=0).fit(volumes, images=images)


def test_volumes():
    """(name, flawed labels, raw image, voxel size or None)."""
    for name in ALL_NAMES:
        labels, raw, voxel_size = load(name)
        yield name, labels, raw, voxel_size
    labels, raw, voxel_size = load("nuclei_cells3d")
    shifted = np.where(labels > 0, labels + int(labels.max()), 0)
    yield ("nuclei_cells3d x2 (tiled)", np.concatenate([labels, shifted], axis=2),
           np.concatenate([raw, raw[..., ::-1]], axis=2), voxel_size)


def to_zarr(array, path):
    import zarr

    store = zarr.open_array(store=str(path), mode="w", shape=array.shape,
                            dtype=array.dtype, chunks=CHUNKS)
    store[...] = array
    return store


def timed(call, repeats: int = REPEATS):
    """The result of ``call()`` and its median wall time over ``repeats`` runs."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return result, float(np.median(seconds))


def main() -> None:
    require_shared_data(ALL_NAMES)
    from sklearn_overseg.distributed import correct_zarr

    print_environment("python benchmarks/bench_blockwise_image.py")
    start = time.perf_counter()
    model = image_model()
    print(f"image model trained on synthetic tissue in "
          f"{time.perf_counter() - start:.0f} s ({model.n_training_pairs_} pairs)\n")
    rows, folder = [], Path(tempfile.mkdtemp(prefix="bench_blockwise_image_"))
    labels, raw, _ = load("ovule_plantseg")
    model.correct(labels, image=raw)  # warm-up: lazy imports, first allocations
    for k, (name, truth, raw, voxel_size) in enumerate(test_volumes()):
        n_cells = len(np.unique(truth)) - 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flawed, _ = oversegment(
                truth, n_splits=max(2, n_cells // 5), n_stacked_confounders=3,
                n_noise_masks=2, random_state=k)
        flawed = flawed.astype(np.uint32)
        size = None if not np.all(np.isfinite(voxel_size)) else voxel_size
        records = model.predict_merges(flawed, voxel_size=size, image=raw)
        expected, memory_s = timed(
            lambda: model.correct(flawed, voxel_size=size, image=raw))
        source, image = (to_zarr(a, folder / f"{k}_{n}.zarr")
                         for a, n in ((flawed, "labels"), (raw, "raw")))
        result, blockwise_s = timed(lambda: correct_zarr(
            source, folder / f"{k}_fixed.zarr", model, chunks=CHUNKS,
            voxel_size=size, image=image, overwrite=True))
        rows.append([
            name, "x".join(map(str, flawed.shape)), str(raw.dtype),
            sample_step(flawed.size), len(records),
            sum(r["merged"] for r in records),
            int(np.count_nonzero(result[...] != expected)),
            round(memory_s, 2), round(blockwise_s, 2),
            round(blockwise_s / memory_s, 1),
        ])
        print(f"{name}: done", flush=True)
    print()
    print(markdown_table(
        ["volume", "shape", "raw dtype", "sample step", "pairs", "merged",
         "voxels differing", "in memory s", "block-wise s", "ratio"], rows))


if __name__ == "__main__":
    main()

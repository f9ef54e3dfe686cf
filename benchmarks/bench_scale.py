"""Scaling benchmark: time and peak memory of the correction, in memory and on dask.

Synthetic flawed tissue of 10 M, 100 M and 1.2 G voxels (``300 x 2008 x 2008``
uint32, 4.8 GB) is built tile by tile straight into a ``.npy`` file on disk
(tiles of ``100 x 502 x 502`` voxels and 150 cells, flipped and transposed,
labels offset per tile, each tile damaged by the oversegmentation simulator
with its own seed), so building never holds the volume in memory.

Each measurement runs in a fresh subprocess, which reports its peak resident
memory (``ru_maxrss``):

* ``memory``: load the volume, one ``scipy.ndimage.find_objects`` pass (the
  reference cost of touching every voxel once), then
  ``MergeCorrector.correct(volume, out=volume)`` (in place) or
  ``correct(volume)`` (a new array) with the pretrained axis model;
* ``dask``: the volume converted to a zarr store, corrected by
  ``correct_zarr`` on a ``LocalCluster`` whose workers have a memory limit,
  and compared voxel for voxel with the in-memory result.

Usage::

    python benchmarks/bench_scale.py            # 10M and 100M, in memory
    python benchmarks/bench_scale.py --big      # also 1.2G voxels and dask

Results are printed as markdown (section 5 of ``benchmarks/RESULTS.md``
shows the last full run). Temporary volumes go
to ``$BENCH_SCALE_DIR`` (default ``/tmp/bench_scale``) and are deleted at the
end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

WORK = Path(os.environ.get("BENCH_SCALE_DIR", "/tmp/bench_scale"))
TILE = (100, 502, 502)
CELLS_PER_TILE = 150
SPLITS_PER_TILE = 20
NOISE_PER_TILE = 5
LABEL_STRIDE = 1000  # labels of tile k are k * LABEL_STRIDE + 1 ...
N_DISTINCT_TILES = 6
SIZES = {
    "10M": (40, 502, 502),
    "100M": (100, 1004, 1004),
    "1.2G": (300, 2008, 2008),
}


# ------------------------------------------------------------------ volumes
def _tile_variants(seed: int) -> list[np.ndarray]:
    """Distinct correct tissue tiles (generating them dominates build time)."""
    from sklearn_overseg.datasets import make_tissue

    return [
        make_tissue(TILE, n_cells=CELLS_PER_TILE, random_state=seed + k)
        for k in range(N_DISTINCT_TILES)
    ]


def build_volume(shape: tuple[int, int, int], path: Path, seed: int = 0) -> dict:
    """Write a flawed uint32 volume of ``shape`` into ``path`` (.npy), by tiles."""
    from sklearn_overseg.datasets import oversegment

    rng = np.random.default_rng(seed)
    tiles = _tile_variants(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=shape)
    n_true_pairs, index = 0, 0
    for z in range(0, shape[0], TILE[0]):
        for y in range(0, shape[1], TILE[1]):
            for x in range(0, shape[2], TILE[2]):
                tile = tiles[rng.integers(len(tiles))]
                if rng.random() < 0.5:
                    tile = tile[:, ::-1]
                if rng.random() < 0.5:
                    tile = tile[:, :, ::-1]
                if rng.random() < 0.5:
                    tile = tile.transpose(0, 2, 1)
                size = [min(t, n - a) for t, n, a in zip(TILE, shape, (z, y, x))]
                part = np.ascontiguousarray(tile[: size[0], : size[1], : size[2]])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    flawed, pairs = oversegment(
                        part, n_splits=SPLITS_PER_TILE, gap_layers=1,
                        n_noise_masks=NOISE_PER_TILE, random_state=index,
                    )
                flawed = flawed.astype(np.uint32)
                flawed[flawed > 0] += np.uint32(index * LABEL_STRIDE)
                out[z : z + size[0], y : y + size[1], x : x + size[2]] = flawed
                n_true_pairs += len(pairs)
                index += 1
    out.flush()
    del out
    return {"n_tiles": index, "n_true_pairs": n_true_pairs}


def npy_to_zarr(path: Path, store: Path, chunks=(32, 256, 256)) -> None:
    """Copy a .npy volume into a zarr array, slab by slab."""
    import zarr

    volume = np.load(path, mmap_mode="r")
    array = zarr.open_array(
        store=str(store), mode="w", shape=volume.shape, dtype=volume.dtype,
        chunks=chunks,
    )
    for z in range(0, volume.shape[0], chunks[0]):
        array[z : z + chunks[0]] = volume[z : z + chunks[0]]


# ------------------------------------------------------------ measurements
def _corrector():
    """The pretrained axis corrector, as snapshotted at the start of the run.

    Every subprocess of one run loads the same snapshot, so the in-memory and
    dask results are comparable even if the package's model is retrained
    while the benchmark runs.
    """
    snapshot = WORK / "corrector.pkl"
    if snapshot.exists():
        with open(snapshot, "rb") as f:
            return pickle.load(f)
    from sklearn_overseg import load_pretrained

    return load_pretrained("axis")


def _peak_mb() -> float:
    """Peak resident memory of this process image, in MB.

    ``VmHWM`` rather than ``ru_maxrss``: the latter keeps the peak of the
    parent when a subprocess is started with vfork, as Python does.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(path: Path, mode: str, save: Path | None) -> dict:
    """In a fresh process: find_objects pass, then the in-memory correction."""
    from scipy import ndimage as ndi

    corrector = _corrector()
    base = _peak_mb()
    volume = np.load(path)
    loaded = _peak_mb()
    t0 = time.perf_counter()
    ndi.find_objects(volume)
    t_find = time.perf_counter() - t0
    t0 = time.perf_counter()
    if mode == "inplace":
        result = corrector.correct(volume, out=volume)
    else:
        result = corrector.correct(volume)
    t_correct = time.perf_counter() - t0
    record = {
        "voxels": int(volume.size),
        "mode": mode,
        "array_mb": volume.nbytes / 2**20,
        "baseline_mb": base,
        "after_load_mb": loaded,
        "peak_mb": _peak_mb(),
        "find_objects_s": t_find,
        "correct_s": t_correct,
    }
    if save is not None:
        np.save(save, result)
    return record


def measure_dask(store: Path, target: Path, workers: int, limit: str) -> dict:
    """In a fresh process: correct_zarr on a LocalCluster with a memory limit."""
    from distributed import Client, LocalCluster

    from sklearn_overseg.distributed import correct_zarr

    corrector = _corrector()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, memory_limit=limit,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        worker_start = client.run(_peak_mb)
        t0 = time.perf_counter()
        correct_zarr(str(store), str(target), corrector, client=client, overwrite=True)
        elapsed = time.perf_counter() - t0
        worker_peak = client.run(_peak_mb)
    return {
        "workers": workers,
        "memory_limit": limit,
        "correct_zarr_s": elapsed,
        "worker_start_mb": max(worker_start.values()),
        "worker_peak_mb": max(worker_peak.values()),
        "client_peak_mb": _peak_mb(),
    }


def compare(result_npy: Path, store: Path) -> dict:
    """Voxel-for-voxel comparison of the in-memory result and the zarr output."""
    import zarr

    expected = np.load(result_npy, mmap_mode="r")
    found = zarr.open_array(store=str(store), mode="r")
    step = 16
    different = 0
    for z in range(0, expected.shape[0], step):
        block = slice(z, z + step)
        different += int(np.count_nonzero(expected[block] != found[block]))
    return {"differing_voxels": different}


def _subprocess(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _available_mb() -> float:
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) / 1024


def _notes(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def run(
    sizes: list[str], modes: list[str], dask_size: str | None, workers: int,
    limit: str,
) -> None:
    from sklearn_overseg import load_pretrained

    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "corrector.pkl", "wb") as f:
        pickle.dump(load_pretrained("axis"), f)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    lines = [
        f"\n## bench_scale.py, {stamp}, {os.cpu_count()} cores",
        "",
        "| voxels | array MB | correct | peak RSS MB | peak / array | "
        "correct s | find_objects s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        path = WORK / f"{size}.npy"
        if not path.exists():
            build_volume(SIZES[size], path)
        nbytes = np.load(path, mmap_mode="r").nbytes / 2**20
        for mode in modes:
            if _available_mb() < (2.4 if mode == "copy" else 1.4) * nbytes:
                lines.append(f"| {size} | {nbytes:.0f} | {mode} | skipped: "
                             "not enough free memory | | | | |")
                continue
            save = WORK / f"{size}_fixed.npy"
            keep = mode == "inplace" and size == dask_size
            rec = _subprocess("_memory", str(path), mode, str(save) if keep else "")
            if "error" in rec:
                lines.append(f"| {size} | {nbytes:.0f} | {mode} | error | | | | |")
                print(rec["error"], file=sys.stderr)
                continue
            lines.append(
                f"| {size} | {nbytes:.0f} | {mode} | {rec['peak_mb']:.0f} | "
                f"{rec['peak_mb'] / nbytes:.2f} | {rec['correct_s']:.1f} | "
                f"{rec['find_objects_s']:.2f} | "
                f"{rec['correct_s'] / rec['find_objects_s']:.0f} |"
            )
            print(lines[-1], f"(baseline {rec['baseline_mb']:.0f} MB)", flush=True)
    if dask_size is not None:
        store, target = WORK / f"{dask_size}.zarr", WORK / f"{dask_size}_fixed.zarr"
        subprocess.run(  # in its own process, which maps the whole .npy
            [sys.executable, __file__, "_to_zarr", str(WORK / f"{dask_size}.npy"),
             str(store)], check=True,
        )
        rec = _subprocess("_dask", str(store), str(target), str(workers), limit)
        if "error" in rec:
            print(rec["error"], file=sys.stderr)
            lines.append(f"\ncorrect_zarr on {dask_size}: error")
        else:
            same = compare(WORK / f"{dask_size}_fixed.npy", target)
            lines += [
                "",
                f"correct_zarr, {dask_size} voxels ({nbytes:.0f} MB as a .npy; "
                f"zarr chunks 32x256x256), LocalCluster {workers} workers x "
                f"{limit}, 1 thread each: {rec['correct_zarr_s']:.0f} s; worker "
                f"RSS {rec['worker_start_mb']:.0f} MB at start, "
                f"{rec['worker_peak_mb']:.0f} MB peak; client peak "
                f"{rec['client_peak_mb']:.0f} MB; voxels differing from the "
                f"in-memory result: {same['differing_voxels']}.",
            ]
            print(lines[-1], flush=True)
    _notes(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_memory":
        path, mode, save = sys.argv[2:5]
        record = measure_memory(Path(path), mode, Path(save) if save else None)
        print(json.dumps(record))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_to_zarr":
        npy_to_zarr(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_dask":
        store, target, workers, limit = sys.argv[2:6]
        print(json.dumps(measure_dask(Path(store), Path(target), int(workers), limit)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add 1.2G voxels + dask")
    parser.add_argument("--sizes", help="comma-separated subset of 10M,100M,1.2G")
    parser.add_argument("--modes", default="inplace,copy")
    parser.add_argument("--keep", action="store_true", help="keep the volumes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="800MB")
    args = parser.parse_args()
    sizes = ["10M", "100M"] + (["1.2G"] if args.big else [])
    sizes = args.sizes.split(",") if args.sizes else sizes
    modes = args.modes.split(",")
    dask_size = "1.2G" if args.big else None
    if dask_size and (dask_size not in sizes or "inplace" not in modes):
        parser.error("--big needs the 1.2G size and the inplace mode")
    try:
        run(sizes, modes, dask_size, args.workers, args.memory_limit)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()

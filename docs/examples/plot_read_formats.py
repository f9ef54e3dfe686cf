"""
Read and write label volumes: TIFF, HDF5, zarr and NumPy files
==============================================================

:mod:`sklearn_overseg.io` reads and writes 3D integer label volumes ``(z, y,
x)``, keeping their dtype and their voxel size. The file suffix picks the
format; container formats (``.npz``, HDF5, zarr) take the array's name as a
``key`` argument or after a colon in the path: ``"cells.h5:segmentation"``.
HDF5 and zarr need the optional packages of
``pip install 'sklearn_overseg[formats]'``.
"""

# %%
# One volume, five formats
# ------------------------
# A synthetic segmentation with an anisotropic voxel size of 2 x 0.5 x 0.5
# (z, y, x, say in micrometres), written in every format.
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_overseg import load_pretrained
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.io import read_labels, read_voxel_size, write_labels

truth = make_tissue((32, 96, 96), 40, mode="loose", random_state=0)
labels, _ = oversegment(truth, n_splits=5, random_state=0)
labels = labels.astype(np.uint16)
voxel_size = (2.0, 0.5, 0.5)

folder = Path(tempfile.mkdtemp())
paths = {
    "TIFF": folder / "cells.tif",
    "HDF5": f"{folder / 'cells.h5'}:segmentation",
    "zarr": folder / "cells.zarr",
    ".npz": folder / "cells.npz",
    ".npy": folder / "cells.npy",
}
for name, path in paths.items():
    if name == ".npy":
        write_labels(path, labels)  # .npy cannot store a voxel size
    else:
        write_labels(path, labels, voxel_size=voxel_size)

# %%
# Reading back
# ------------
# ``read_labels`` returns the stored array with its dtype;
# ``return_voxel_size=True`` adds the voxel size (``None`` when the file has
# none), and :func:`~sklearn_overseg.io.read_voxel_size` reads only that.
for name, path in paths.items():
    volume, size = read_labels(path, return_voxel_size=True)
    print(f"{name:>5}: {volume.shape} {volume.dtype}, voxel size {size}, "
          f"identical: {np.array_equal(volume, labels)}")
print("voxel size of the HDF5 dataset:", read_voxel_size(paths["HDF5"]))

# %%
# Lazy reading
# ------------
# ``lazy=True`` returns an array-like that reads voxels on demand (an
# ``h5py.Dataset``, a ``zarr.Array``, or a memory map for ``.npy`` and
# uncompressed TIFF): only the indexed part of a large volume is read.
lazy = read_labels(paths["zarr"], lazy=True)
print(type(lazy).__name__, lazy.shape, lazy.dtype)
middle_layer = np.asarray(lazy[16])
dataset = read_labels(paths["HDF5"], lazy=True)
side_view = np.asarray(dataset[:, 48, :])
dataset.file.close()  # an HDF5 dataset keeps its file open until closed

# %%
# Correct and write the result
# ----------------------------
# The usual round trip: read, correct, write, keeping the voxel size.
volume, size = read_labels(paths["TIFF"], return_voxel_size=True)
corrected = load_pretrained("axis").correct(volume)
write_labels(folder / "corrected.tif", corrected, voxel_size=size)
print("corrected:", read_labels(folder / "corrected.tif").dtype,
      read_voxel_size(folder / "corrected.tif"))

# %%
# File sizes, and what was read lazily
# ------------------------------------
# Label volumes compress well (``.npz``, zarr and HDF5 as written here
# compress; ``.npy`` and this TIFF do not).


def size_on_disk(path) -> int:
    """Bytes of a file, or of all files of a zarr directory store."""
    path = Path(str(path).removesuffix(":segmentation"))
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


names = list(paths)
sizes = [size_on_disk(paths[n]) / 1024 for n in names]
palette = np.random.default_rng(1).uniform(0.2, 0.95, (int(labels.max()) + 1, 3))
palette[0] = 1.0
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained",
                         width_ratios=(1.3, 1, 1))
axes[0].barh(names, sizes, color="tab:blue")
axes[0].set(xlabel="size on disk (KiB)", title=f"{labels.nbytes / 1024:.0f} KiB "
            "in memory")
axes[1].imshow(palette[middle_layer], interpolation="nearest")
axes[1].set(title="layer 16, read lazily from zarr", xticks=[], yticks=[])
axes[2].imshow(palette[side_view], interpolation="nearest",
               aspect=voxel_size[0] / voxel_size[2])
axes[2].set(title="XZ plane, read lazily from HDF5", xticks=[], yticks=[])
plt.show()

shutil.rmtree(folder)  # the temporary files

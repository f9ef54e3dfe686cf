"""Read and write 3D label volumes (and read raw images): ``.npy``, ``.npz``,
TIFF, HDF5 and zarr.

The file suffix picks the format. Container formats take a key, either as an
argument or in the path (``"cells.h5:segmentation"``). HDF5 and zarr need the
optional packages installed by ``pip install 'sklearn_overseg[formats]'``.
"""

from ._common import parse_path_key
from ._float_labels import WholeNumberLabels
from ._images import read_image
from ._labels import check_destination, same_data_as, write_labels
from ._read_labels import read_labels, read_voxel_size

__all__ = [
    "WholeNumberLabels",
    "check_destination",
    "parse_path_key",
    "read_image",
    "read_labels",
    "read_voxel_size",
    "same_data_as",
    "write_labels",
]

"""Sample data for the plugin: a synthetic tissue damaged by oversegmentation.

Made by :mod:`sklearn_overseg.datasets` on the fly (nothing is downloaded):
cells cut along z with missing layers, gaps between different stacked cells
(hard negatives) and noisy partial masks, plus a membrane-like image drawn
from the true cell borders, so that a new user can try the widget at once.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage
from skimage.segmentation import find_boundaries

from ..datasets import make_tissue, oversegment

__all__ = ["make_sample_data"]

#: z step over xy step of the sample (the shipped models' range is 1.5 to 5)
ANISOTROPY = 3.0


def make_sample_data(
    shape: tuple[int, int, int] = (32, 128, 128),
    n_cells: int = 40,
    n_splits: int = 8,
    random_state: int = 0,
) -> list[tuple]:
    """A damaged synthetic tissue and its membrane image, as napari layer data.

    Parameters
    ----------
    shape : tuple of 3 int, default=(32, 128, 128)
        Volume shape (z, y, x).
    n_cells : int, default=40
        Number of cells.
    n_splits : int, default=8
        Number of cells split along z.
    random_state : int, default=0
        Seed.

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)`` for an Image layer (``"membranes"``)
        and a Labels layer (``"damaged segmentation"``), both with scale
        ``(3, 1, 1)``.

    Examples
    --------
    >>> from sklearn_overseg.napari._sample import make_sample_data
    >>> (image, _, kind_a), (labels, meta, kind_b) = make_sample_data(
    ...     (16, 48, 48), n_cells=8, n_splits=2)
    >>> kind_a, kind_b, labels.shape, meta["scale"]
    ('image', 'labels', (16, 48, 48), (3.0, 1.0, 1.0))
    """
    truth = make_tissue(shape, n_cells, mode="loose", anisotropy=ANISOTROPY,
                        random_state=random_state)
    with warnings.catch_warnings():  # a small tissue may lack a stacked pair
        warnings.simplefilter("ignore", UserWarning)
        flawed, _ = oversegment(
            truth, n_splits=n_splits, n_stacked_confounders=max(1, n_splits // 3),
            n_noise_masks=max(1, n_splits // 4), shrink=1,
            random_state=random_state,
        )
    rng = np.random.default_rng(random_state)
    membranes = find_boundaries(truth, mode="inner").astype(np.float32)
    membranes = ndimage.gaussian_filter(membranes, (0.5, 1.0, 1.0))
    membranes += rng.normal(0.0, 0.05, shape).astype(np.float32)
    scale = (ANISOTROPY, 1.0, 1.0)
    return [
        (membranes, {"name": "membranes", "scale": scale,
                     "colormap": "gray"}, "image"),
        (flawed, {"name": "damaged segmentation", "scale": scale}, "labels"),
    ]

"""A synthetic microscope image for a label volume (membrane or nuclear stain).

Synthetic tissue has no raw image, yet a model that uses image evidence must
learn from pairs that carry one. :func:`make_tissue_image` draws one from the
(true) labels: a membrane stain is bright where a cell touches another cell
or the background, a nuclear stain fills each object with its own brightness
and texture. The optics are a Gaussian blur (less in z, where voxels are
longer), the camera adds noise, and gain and offset are random, so that
training sees the variety the per-volume normalisation must absorb. Unless
given, the blur, the noise and the membrane's contrast over the cytoplasm are
drawn at random too (domain randomisation): real stains range from crisp to
faint and blurred, and a model trained on one look only learns that look.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import check_label_volume

__all__ = ["make_tissue_image"]


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Voxels whose label differs from one of their six face neighbours."""
    edge = np.zeros(labels.shape, dtype=bool)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        differs = labels[tuple(lo)] != labels[tuple(hi)]
        edge[tuple(lo)] |= differs
        edge[tuple(hi)] |= differs
    return edge & (labels > 0)


@validate_params(
    {
        "labels": "no_validation",  # check_label_volume
        "kind": [StrOptions({"membrane", "nuclei"})],
        "blur": "no_validation",  # checked below: a number or 3, all >= 0
        "noise": [Interval(numbers.Real, 0, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_tissue_image(
    labels,
    kind: str = "membrane",
    *,
    blur=None,
    noise: float | None = None,
    random_state=None,
) -> np.ndarray:
    """Draw a synthetic raw image for a label volume.

    Parameters
    ----------
    labels : array-like of shape (z, y, x)
        The true labels (``0`` is background), for example from
        :func:`make_tissue`.
    kind : {"membrane", "nuclei"}, default="membrane"
        ``"membrane"``: bright cell outlines (each cell's membrane with its own
        brightness) over dim cytoplasm. ``"nuclei"``: each object filled with
        its own brightness and a smooth texture, over a dark background.
    blur : float, sequence of 3 floats or None, default=None
        Standard deviation of the Gaussian blur along (z, y, x), in voxels;
        ``None`` draws ``s`` in [0.5, 2] for y and x and ``s`` times [0.3, 1]
        for z.
    noise : float or None, default=None
        Standard deviation of the additive Gaussian noise, relative to the
        brightest structure (about 1); ``None`` draws it in [0.05, 0.4].
    random_state : int, RandomState or None, default=None
        Seed of the brightnesses, textures, noise, gain and offset.

    Returns
    -------
    ndarray of shape (z, y, x), dtype float32
        Non-negative intensities with a random gain (10 to 1000) and offset.

    Examples
    --------
    >>> from sklearn_overseg.datasets import make_tissue, make_tissue_image
    >>> labels = make_tissue((8, 32, 32), n_cells=6, random_state=0)
    >>> raw = make_tissue_image(labels, "membrane", random_state=0)
    >>> raw.shape == labels.shape, raw.dtype.name, bool(raw.min() >= 0)
    (True, 'float32', True)
    """
    labels = check_label_volume(labels, allow_background_only=True)
    if blur is not None:
        sigma = np.broadcast_to(np.asarray(blur, dtype=float), (3,))
        if not np.all(sigma >= 0):
            raise ValueError(f"blur must be non-negative, got {blur!r}")
    rng = check_random_state(random_state)
    if blur is None:
        lateral = rng.uniform(0.5, 2.0)
        sigma = np.array([lateral * rng.uniform(0.3, 1.0), lateral, lateral])
    if noise is None:
        noise = rng.uniform(0.05, 0.4)
    values, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape)
    per_label = rng.uniform(0.6, 1.4, size=len(values))
    if kind == "membrane":
        inside = rng.uniform(0.05, 0.5)
        signal = np.where(labels > 0, inside, 0.5 * inside).astype(np.float32)
        edge = _boundaries(labels)
        signal[edge] = per_label[inverse[edge]]
    else:
        texture = ndi.gaussian_filter(rng.standard_normal(labels.shape), 1.5)
        texture /= texture.std() or 1.0
        signal = per_label[inverse] * (1.0 + 0.15 * texture)
        signal = np.where(labels > 0, signal, rng.uniform(0.02, 0.1))
    image = ndi.gaussian_filter(signal.astype(np.float32), sigma)
    image += noise * rng.standard_normal(labels.shape).astype(np.float32)
    gain, offset = 10 ** rng.uniform(1, 3), rng.uniform(0, 100)
    return np.clip(image * gain + offset, 0, None).astype(np.float32)

"""Showing one candidate pair in the viewer: centre, z slider, highlight.

The camera centres on the pair's box; the z slider goes to the middle of the
box, or for a pair split along z to the last layer above its gap. The box
comes from the candidate (``origin`` and crop shape, in the volume's
voxels); world coordinates follow the input layer's ``scale`` and
``translate``. Both fragments are painted into a small highlight layer over
that box (upper fragment magenta, lower cyan), never into the input layer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HIGHLIGHT_NAME", "show_pair"]

#: Name of the layer that highlights the selected pair.
HIGHLIGHT_NAME = "overseg: selected pair"
_COLORS = {None: "transparent", 0: "transparent", 1: "magenta", 2: "cyan"}


def _box(candidate, shape) -> tuple[slice, ...]:
    start = np.asarray(candidate.origin, int)
    stop = np.minimum(start + np.asarray(candidate.crop.shape), shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop))


def _highlight_layer(viewer, layer):
    from napari.utils.colormaps import DirectLabelColormap

    if HIGHLIGHT_NAME in viewer.layers:
        return viewer.layers[HIGHLIGHT_NAME]
    highlight = viewer.add_labels(
        np.zeros((1, 1, 1), np.uint8), name=HIGHLIGHT_NAME, opacity=0.9,
        scale=layer.scale[-3:], blending="translucent_no_depth",
    )
    highlight.colormap = DirectLabelColormap(color_dict=_COLORS)
    viewer.layers.selection.active = layer  # keep the user's layer selected
    return highlight


def show_pair(viewer, layer, volume: np.ndarray, candidate, image=None) -> None:
    """Centre the view on a pair and highlight its two fragments.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    layer : napari layer
        The input labels layer (for scale and translate; not modified).
    volume : ndarray of shape (z, y, x)
        The labels the pair was found in.
    candidate : Candidate
        The pair.
    image : napari Image layer, optional
        Raw image; its contrast is set from the pair's neighbourhood.
    """
    box = _box(candidate, volume.shape)
    crop = volume[box]
    codes = np.zeros(crop.shape, np.uint8)
    codes[crop == candidate.upper] = 1
    codes[crop == candidate.lower] = 2
    scale = np.asarray(layer.scale[-3:], float)
    translate = np.asarray(layer.translate[-3:], float)
    start = np.array([s.start for s in box], float)
    highlight = _highlight_layer(viewer, layer)
    highlight.data = codes
    highlight.scale = scale
    highlight.translate = translate + start * scale
    highlight.visible = True
    centre = start + (np.array(crop.shape) - 1) / 2
    if candidate.kind == "axis" and candidate.gap is not None:
        # the last layer above the gap: both the cut and the upper fragment show
        centre[0] = start[0] + candidate.gap[0] - 1
    centre = translate + centre * scale
    ndim = viewer.dims.ndim
    viewer.dims.set_point(range(ndim - 3, ndim), tuple(centre.tolist()))
    viewer.camera.center = tuple(centre.tolist())
    if image is not None and np.ndim(image.data) == 3:
        values = np.asarray(image.data[box], float)
        if values.size and np.ptp(values) > 0:
            low, high = np.percentile(values, [1, 99.5])
            if high > low:
                image.contrast_limits = (float(low), float(high))

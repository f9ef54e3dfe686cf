"""Background work of the widget: checking the layer, loading, screening.

The corrector runs in a worker thread (:func:`napari.qt.threading.create_worker`)
so that the viewer stays responsive; the generator jobs here yield
``(step, n_steps, message)`` progress tuples. napari is imported only when a
worker is started.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from ..correction import MergeCorrector
from ..features import uses_image
from ..models import (
    available_pretrained,
    load_model,
    load_pretrained,
    without_stitch_splits,
)
from ._steps import apply_reviewed, run_steps

__all__ = [
    "image_problem", "labels_problem", "layer_data", "layer_voxel_size",
    "load_corrector", "screening_job", "start_worker",
]


def labels_problem(data, name: str) -> str | None:
    """Why a layer's data cannot be corrected, in the user's terms (or None)."""
    shape = np.shape(data)
    dtype = np.dtype(getattr(data, "dtype", np.asarray(data).dtype))
    if len(shape) == 2:
        return (f"'{name}' is a 2D image; the corrector needs a 3D (z, y, x) "
                "label volume")
    if len(shape) == 4:
        return (f"'{name}' is 4D {shape} (a time series or channels); the "
                "corrector needs one 3D (z, y, x) volume: add one time point "
                "as its own layer, e.g. viewer.add_labels(layer.data[0])")
    if len(shape) != 3:
        return f"'{name}' is {len(shape)}D; the corrector needs 3D (z, y, x) labels"
    if dtype.kind == "f":
        return (f"'{name}' holds floating-point values ({dtype}); pick a "
                "segmentation with integer labels, not a raw image")
    if dtype.kind not in "iu":
        return f"'{name}' holds {dtype} values; labels must be integers"
    return None


def layer_data(layer):
    """A layer's full-resolution data (level 0 of a multiscale layer)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def layer_voxel_size(layer) -> tuple[float, float, float] | None:
    """The voxel size (z, y, x) a layer's ``scale`` gives, or None.

    napari gives every layer the scale ``(1, 1, 1)`` unless told otherwise,
    so that scale means "no voxel size set" (``None``: a model trained with a
    voxel size then assumes its training one, and files store none); any
    other scale is the voxel size, in the units of the scale.
    """
    scale = tuple(float(s) for s in np.asarray(layer.scale, float)[-3:])
    return None if all(s == 1.0 for s in scale) else scale


def image_problem(data, name: str, labels_shape, labels_name: str) -> str | None:
    """Why a layer cannot serve as the labels' raw image, in user terms (or None)."""
    shape = tuple(np.shape(data))
    dtype = np.dtype(getattr(data, "dtype", np.asarray(data).dtype))
    if len(shape) != 3:
        kind = " (RGB or channels)" if len(shape) == 4 else ""
        return (f"image '{name}' is {len(shape)}D {shape}{kind}; choose the 3D "
                f"(z, y, x) raw image '{labels_name}' was drawn on, or image "
                "'(none)'")
    if shape != tuple(labels_shape):
        return (f"image '{name}' has shape {shape} but the labels "
                f"'{labels_name}' have shape {tuple(labels_shape)}; choose the "
                "raw image the labels were drawn on (same voxels), or image "
                "'(none)'")
    if dtype.kind not in "iuf":
        return (f"image '{name}' holds {dtype} values, not a microscope "
                "image of real numbers")
    return None


def load_corrector(choice: str | os.PathLike) -> MergeCorrector:
    """A fitted corrector: a shipped model's name or a model file's path."""
    if str(choice) in available_pretrained():
        return load_pretrained(str(choice))
    path = Path(choice)
    if not str(choice).strip():
        raise ValueError("choose a shipped model or a model file")
    if not path.exists() and not path.with_suffix(".json").exists():
        raise FileNotFoundError(f"model file not found: '{path}'")
    model = load_model(path)
    if not isinstance(model, MergeCorrector):
        raise ValueError(
            f"'{path.name}' holds a {type(model).__name__}, not a corrector "
            "made by 'overseg train' or save_model(MergeCorrector)"
        )
    return model


def screening_job(choice, volume: np.ndarray, voxel_size=None, image=None,
                  stitched: bool = True):
    """Load the model, then screen, score and decide (a generator job).

    The image goes to the corrector only when its model has image features
    (a label-only model would ignore it with a warning; the widget says so
    instead). ``stitched=False`` (labels not stitched from 2D slices) leaves
    out an axis model's gap-0 pairs, on a copy of a given corrector
    (:func:`~sklearn_overseg.models.without_stitch_splits`); contact models
    have none. Returns ``(corrector, screening)``.

    Raises
    ------
    ValueError
        If the model uses the raw image and none is given.
    """
    yield 0, 4, "loading the model"
    corrector = choice if isinstance(choice, MergeCorrector) else (
        load_corrector(choice)
    )
    if not stitched and corrector.screener_.mode == "axis":
        if corrector is choice:
            corrector = copy.deepcopy(corrector)  # the caller's stays as it is
        without_stitch_splits(corrector)
    if not uses_image(corrector.classifier_):
        image = None
    elif image is None:
        raise ValueError(
            "this model uses the raw image (image features): choose the image "
            "layer the labels were drawn on under 'image'"
        )
    screening = yield from run_steps(corrector, volume, voxel_size=voxel_size,
                                     image=image)
    return corrector, screening


def apply_job(corrector, volume, screening, merge):
    """Apply the reviewed merges (a generator job); returns the corrected copy."""
    yield 0, 1, f"merging {int(np.count_nonzero(merge))} pairs"
    return apply_reviewed(corrector, volume, screening, merge)


def start_worker(job, *args, on_progress, on_done, on_error, on_finished):
    """Run a generator job in a napari worker thread, wired to callbacks.

    An error in the job goes to ``on_error`` (a message in the widget), not
    back into the viewer's event loop as a traceback.
    """
    from napari.qt.threading import create_worker

    return create_worker(
        job, *args, _start_thread=True,
        _connect={"yielded": on_progress, "returned": on_done,
                  "errored": on_error, "finished": on_finished},
    )

"""Reslice one contact pair parallel to its contact plane, without validation.

The contact surface of the two touching fragments is fitted with a plane
(PCA of the shared voxel faces, in physical units; :mod:`._plane_fit`), the
pair is resampled on an isotropic grid whose layers are parallel to that plane
(:mod:`._sampling`), and the layer on the plane is blanked, so the pair looks
like an axis candidate with a one-layer gap. The public, validated entry is
:func:`~._reslice_pair.reslice_pair`. NumPy and SciPy only: the worker
processes of :class:`~._reslice.TiltedReslicer` and
:class:`~._contact_features.ContactFeatures` import it (and unpickle
:func:`_reslice_chunk`) without scikit-learn.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from .._candidates import LOWER, UPPER, Candidate
from ._plane_fit import _bounding_box, _check_crop, _frame, _pair_codes, _plane
from ._sampling import _TIE_BREAK, _sample_in_frame

#: What a worker process imports for the batches of both tilted steps beyond
#: the modules it starts with (:data:`sklearn_overseg._worker_pool.WORKER_IMPORTS`,
#: NumPy only): SciPy, ``ndimage`` for reslicing (about 0.25 s of one core)
#: and ``spatial`` for the contact features' hulls (0.1 s more); no
#: scikit-learn. One name for both, so that the contact features go to the
#: workers that the reslicer's batches started.
BATCH_IMPORTS = ("scipy",)

# 4-connectivity within a layer (2D hole filling).
_CROSS = ndi.generate_binary_structure(2, 1)


def _fill_layer_holes(codes: np.ndarray, code: int) -> None:
    """Fill, in place, the 2D holes of fragment ``code`` that hold code 0.

    A hole is a 4-connected region of a layer, outside the fragment, that
    does not reach the layer's edge; pixels of the other fragment in it stay.
    Holes lie inside the fragment's bounding box, and a region of the box
    reaches the box's edge exactly when it reaches the layer's, so only the
    box is labelled. The box's layers are labelled as one 2D image, stacked
    along the rows: a region that joins two layers crosses the last row of
    one and the first row of the next, both edges, so the holes (and every
    pixel's open or closed state) are those of the layers labelled apart.
    """
    box = _bounding_box(codes == code)
    if box is None:
        return
    codes = codes[box]
    outside = (codes != code).reshape(-1, codes.shape[2])
    try:  # uint16 labels are faster; scipy refuses them when there are more
        regions, n_regions = ndi.label(outside, structure=_CROSS, output=np.uint16)
    except RuntimeError:
        regions, n_regions = ndi.label(outside, structure=_CROSS)
    regions = regions.reshape(codes.shape)
    open_region = np.zeros(n_regions + 1, dtype=bool)
    open_region[0] = True  # the fragment itself
    for edge in (regions[:, 0], regions[:, -1], regions[:, :, 0], regions[:, :, -1]):
        open_region[edge] = True
    if open_region.all():
        return  # no hole
    codes[~open_region[regions] & (codes == 0)] = code


def _split_at_gap(sampled: np.ndarray, g: int, pixels) -> list[int]:
    """Blank layer ``g``; keep code 1 before it and code 2 after it, in place.

    A fragment left without any pixel on its side gets, in the layer next to
    the gap, its pixels of layer ``g`` or else the pixel under its centroid
    (``pixels``: fractional (u, v) grid positions of the two centroids).
    Returns the codes of the fragments rescued that way.
    """
    reference = sampled[g].copy()
    before, after = sampled[:g], sampled[g + 1 :]
    np.bitwise_and(before, UPPER, out=before)  # codes 0-2: drops code 2
    np.bitwise_and(after, LOWER, out=after)  # drops code 1
    sampled[g] = 0
    rescued = []
    for code, side, layer, pixel in (
        (UPPER, before, g - 1, pixels[0]),
        (LOWER, after, g + 1, pixels[1]),
    ):
        if side.max(initial=0) == code:
            continue
        rescued.append(code)
        if np.any(reference == code):
            sampled[layer][reference == code] = code
        else:
            top = np.array(sampled.shape[1:]) - 1
            i, j = np.clip(np.round(pixel - _TIE_BREAK).astype(int), 0, top)
            sampled[layer, i, j] = code
    return rescued


def _reslice(
    candidate: Candidate,
    spacing: float | None = None,
    min_contact_points: int = 10,
    fill_holes: bool = True,
    max_layers: int | None = None,
) -> Candidate:
    """:func:`~._reslice_pair.reslice_pair` of a contact candidate, unchecked."""
    crop = np.asarray(candidate.crop)
    voxel_size = _check_crop(crop, candidate.voxel_size)
    step = voxel_size.min() if spacing is None else float(spacing)
    codes = _pair_codes(crop)  # the crop itself when it holds only 0-2
    centroid, normal, method, n_faces, cen_a, cen_b, area = _plane(
        codes, voxel_size, min_contact_points
    )
    frame = _frame(normal)
    sampled, lo = _sample_in_frame(codes, voxel_size, centroid, frame, step, max_layers)
    g = int(-lo[0])
    if fill_holes:
        _fill_layer_holes(sampled[:g], UPPER)
        _fill_layer_holes(sampled[g + 1 :], LOWER)
    # Where each fragment's centroid falls in the (u, v) grid of a layer.
    pixels = [frame[1:] @ (c - centroid) / step - lo[1:] for c in (cen_a, cen_b)]
    rescued = _split_at_gap(sampled, g, pixels)

    box = _bounding_box(sampled)
    first = np.array([k.start for k in box])
    out = np.ascontiguousarray(sampled[box])
    origin = np.asarray(candidate.origin, dtype=float) * voxel_size
    meta = dict(candidate.meta)
    meta.update(
        normal=normal,
        centroid=origin + centroid,
        spacing=float(step),
        frame=frame,
        grid_origin=origin + centroid + frame.T @ ((lo + first + _TIE_BREAK) * step),
        plane_fit=method,
        n_contact_faces=int(n_faces),
        contact_area=area,
        source_voxel_size=tuple(float(v) for v in voxel_size),
        rescued_fragments=tuple(rescued),
        # The input crop itself when it holds only codes 0-2 (no copy).
        contact_crop=crop if codes is crop or np.array_equal(crop, codes) else codes,
    )
    gap = int(g - first[0])
    return replace(
        candidate,
        crop=out,
        gap=(gap, gap + 1),
        voxel_size=(float(step),) * 3,
        kind="tilted",
        gap_labels=(),
        meta=meta,
    )


def _reslice_chunk(candidates, params) -> list[Candidate]:
    """Resliced candidates, each whose contact crop is its input crop with
    ``meta["contact_crop"] = None``: a worker process need not send it back
    (:meth:`~._reslice.TiltedReslicer.transform` puts the input crop back)."""
    out = []
    for c in candidates:
        if c.gap is None:
            resliced = _reslice(c, **params)
            if resliced.meta["contact_crop"] is c.crop:
                resliced.meta["contact_crop"] = None
            c = resliced
        out.append(c)
    return out

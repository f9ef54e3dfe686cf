"""Figures of the review report: one pair before and after, and a histogram.

A pair's figure shows the XY layers above, at and below the gap (or the
contact) and an XZ section through the pair, before and after correction,
each label in a fixed random colour except the two pieces, filled and
outlined in the legend's colours (cyan upper, magenta lower); after
correction the merged cell is outlined in white. When the raw image is
given, a first row shows it in grey at the same places, with the two pieces
outlined, so that a reviewer can see whether a membrane or a gap in the
signal separates them. Used by
:func:`~sklearn_overseg.write_review_report`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import hsv_to_rgb, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .._geometry import LabelGeometry

__all__ = ["draw_histogram", "draw_pair"]


def _make_palette(n: int = 1024, seed: int = 7) -> np.ndarray:
    """A fixed random colour per label (hue random, bright enough to see)."""
    rng = np.random.default_rng(seed)
    hsv = np.column_stack([
        rng.uniform(0, 1, n), rng.uniform(0.45, 0.95, n), rng.uniform(0.7, 1, n)
    ])
    return hsv_to_rgb(hsv)


_PALETTE = _make_palette()
_UPPER_COLOUR, _LOWER_COLOUR, _MERGED_COLOUR = "#00e5ff", "#ff3df5", "#ffffff"


def _colour(labels: np.ndarray, highlight, fills=None) -> np.ndarray:
    """RGB image of labels: highlighted labels bright, others dimmed.

    ``fills`` maps labels to a colour of their own (the legend's colours of
    the two pieces), used instead of the palette's.
    """
    labels = np.asarray(labels)
    rgb = _PALETTE[(labels % len(_PALETTE)).astype(np.intp)]
    rgb[~np.isin(labels, highlight)] *= 0.4
    for label, colour in (fills or {}).items():
        rgb[labels == label] = to_rgb(colour)
    rgb[labels == 0] = 0.0
    return rgb


def _outline(ax, mask: np.ndarray, colour: str) -> None:
    if mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour],
                   linewidths=1.4)


def _panel(ax, image, highlight, aspect, upper, lower, merged_labels) -> None:
    """Draw a label image with the fragments (or, after, the merged cell) outlined.

    ``merged_labels`` is ``None`` for the "before" row.
    """
    fills = {upper: _UPPER_COLOUR, lower: _LOWER_COLOUR} if merged_labels is None \
        else None
    ax.imshow(_colour(image, highlight, fills), interpolation="nearest",
              aspect=aspect)
    if merged_labels is None:
        _outline(ax, image == upper, _UPPER_COLOUR)
        _outline(ax, image == lower, _LOWER_COLOUR)
    else:
        _outline(ax, np.isin(image, merged_labels), _MERGED_COLOUR)


def _pair_layers(record, geometry: LabelGeometry, n_layers: int):
    """Layers above, at and below the gap (or the contact) and their names."""
    if record.get("gap_start") is not None:
        g0, g1 = int(record["gap_start"]), int(record["gap_stop"])
        layers, names = [g0 - 1, (g0 + g1 - 1) // 2, g1], ["above", "gap", "below"]
    else:
        zu = geometry.z_extent(record["upper"])
        zl = geometry.z_extent(record["lower"])
        lo, hi = max(zu[0], zl[0]), min(zu[1], zl[1])
        at = (lo + hi - 1) // 2 if lo < hi else hi - 1
        layers, names = [at - 1, at, at + 1], ["above", "contact", "below"]
    return [int(np.clip(z, 0, n_layers - 1)) for z in layers], names


def _grey(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """An image crop scaled to [0, 1] between two intensities (clipped)."""
    scaled = (np.asarray(values, dtype=np.float32) - low) / max(high - low, 1e-6)
    return np.clip(scaled, 0.0, 1.0)


def _image_panel(ax, values, labels, aspect, upper, lower, low, high) -> None:
    """Draw the raw image in grey with the two pieces outlined."""
    ax.imshow(_grey(values, low, high), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest", aspect=aspect)
    _outline(ax, labels == upper, _UPPER_COLOUR)
    _outline(ax, labels == lower, _LOWER_COLOUR)


def draw_pair(volume, corrected, geometry, record, spacing, path,
              image=None) -> None:
    """Save the before/after figure of one pair (XY layers and an XZ section).

    ``image`` (the raw image, same shape as ``volume``) adds a first row of
    the signal with the two pieces outlined; its grey scale spans the 1st to
    99th percentile of the pair's crop.
    """
    upper, lower = int(record["upper"]), int(record["lower"])
    try:
        box = geometry.union_bbox(upper, lower)
    except KeyError as exc:
        raise ValueError(
            f"{exc.args[0]}; were the records made on another volume?"
        ) from None
    nz, ny, nx = volume.shape
    margin = max(6, int(0.2 * max(box[1].stop - box[1].start,
                                  box[2].stop - box[2].start)))
    ys = slice(max(0, box[1].start - margin), min(ny, box[1].stop + margin))
    xs = slice(max(0, box[2].start - margin), min(nx, box[2].stop + margin))
    zs = slice(max(0, box[0].start - 3), min(nz, box[0].stop + 3))
    before, after = volume[zs, ys, xs], corrected[zs, ys, xs]
    pair = np.isin(before, [upper, lower])
    merged_labels = np.setdiff1d(np.unique(after[pair]), [0])
    row = int(np.argmax(pair.sum(axis=(0, 2))))
    layers, names = _pair_layers(record, geometry, nz)

    rows = [(before, [upper, lower]), (after, merged_labels)]
    fig = Figure(figsize=(10, 5.2 if image is None else 7.6), dpi=72,
                 layout="constrained")
    FigureCanvasAgg(fig)
    all_axes = fig.subplots(len(rows) + (image is not None), 4)
    axes = all_axes
    if image is not None:
        raw = np.asarray(image[zs, ys, xs])
        low, high = (float(v) for v in np.percentile(raw, [1, 99]))
        for c, (z, name) in enumerate(zip(layers, names)):
            _image_panel(axes[0, c], raw[z - zs.start], before[z - zs.start],
                         spacing[1] / spacing[2], upper, lower, low, high)
            axes[0, c].set_title(f"z={z} ({name})", fontsize=10)
        _image_panel(axes[0, 3], raw[:, row, :], before[:, row, :],
                     spacing[0] / spacing[2], upper, lower, low, high)
        axes[0, 3].set_title(f"XZ at y={ys.start + row}", fontsize=10)
        axes[0, 0].set_ylabel("image", fontsize=11)
        axes = axes[1:]
    for r, (block, highlight) in enumerate(rows):
        for c, (z, name) in enumerate(zip(layers, names)):
            ax = axes[r, c]
            _panel(ax, block[z - zs.start], highlight, spacing[1] / spacing[2],
                   upper, lower, merged_labels if r else None)
            ax.axhline(row, color="w", lw=0.6, ls=":", alpha=0.6)
            ax.set_title(f"z={z} ({name})", fontsize=10)
        ax = axes[r, 3]
        _panel(ax, block[:, row, :], highlight, spacing[0] / spacing[2],
               upper, lower, merged_labels if r else None)
        if record.get("gap_start") is not None:
            for z in (record["gap_start"], record["gap_stop"]):
                ax.axhline(z - zs.start - 0.5, color="#ffd400", lw=0.8, ls="--")
        ax.set_title(f"XZ at y={ys.start + row}", fontsize=10)
        axes[r, 0].set_ylabel("before" if r == 0 else "after", fontsize=11)
    for ax in all_axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(handles=_legend(upper, lower), loc="outside lower center", ncols=3,
               fontsize=9, frameon=False)
    fig.savefig(path)


def _legend(upper: int, lower: int) -> list[Patch]:
    """The legend: the two pieces' colours (fill and outline), the merged cell."""
    return [
        Patch(facecolor=_UPPER_COLOUR, edgecolor=_UPPER_COLOUR,
              label=f"upper piece {upper}"),
        Patch(facecolor=_LOWER_COLOUR, edgecolor=_LOWER_COLOUR,
              label=f"lower piece {lower}"),
        Patch(facecolor="0.25", edgecolor=_MERGED_COLOUR, linewidth=2,
              label="merged cell (outline)"),
    ]


def draw_histogram(probabilities, merged, threshold, borderline, path) -> None:
    """Save the histogram of merge probabilities, threshold and unsure band."""
    fig = Figure(figsize=(5.2, 2.8), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    p = np.asarray(probabilities, dtype=float)
    m = np.asarray(merged, dtype=bool)
    ax.axvspan(max(0, threshold - borderline), min(1, threshold + borderline),
               color="#f0a020", alpha=0.2, label="unsure")
    bins = np.linspace(0, 1, 21)
    ax.hist([p[m], p[~m]], bins=bins, stacked=True, color=["#2a7d3a", "#9a9a9a"],
            label=["merged", "not merged"])
    ax.axvline(threshold, color="k", ls="--", lw=1, label="threshold")
    ax.set_xlim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("merge probability")
    ax.set_ylabel("candidate pairs")
    ax.legend(fontsize=8, frameon=False)
    fig.savefig(path)

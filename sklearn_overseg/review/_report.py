"""An HTML review report of merge decisions, with a figure per pair.

:func:`write_review_report` writes ``index.html`` (self-contained: relative
image paths, inline CSS), ``histogram.png``, one PNG per reviewed pair in
``pairs/`` and ``decisions.csv`` (to approve or reject merges and re-apply
them with ``overseg apply-decisions``). A pair's figure shows the XY layers
above, at and below the gap and an XZ section through the pair, before and
after correction, with the two fragments outlined.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from .._geometry import LabelGeometry
from .._image import check_image
from .._progress import progress
from .._validation import check_label_volume
from .._voxel_size import check_voxel_size
from ._decisions import decision_of, is_borderline, review_order, write_decisions
from ._figures import draw_histogram, draw_pair
from ._report_html import feature_table, pair_card, report_page

__all__ = ["write_review_report"]

_REQUIRED = ("upper", "lower", "probability", "merged")

def _check_records(records) -> list[dict]:
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise TypeError("records must be a list of dicts (see predict_merges).")
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise TypeError(f"records[{i}] is a {type(r).__name__}, not a dict.")
        missing = [k for k in _REQUIRED if k not in r]
        if missing:
            raise ValueError(f"records[{i}] lacks key(s) {', '.join(missing)}.")
        out.append(dict(r, index=i))
    return out


def _is_unsure(r, threshold, borderline) -> bool:
    return decision_of(r) == "unsure" or is_borderline(
        r["probability"], threshold, borderline
    )


def _pick_pairs(records, threshold, borderline, max_pairs):
    """Unsure pairs (left undecided first, then borderline), then sure merges."""
    ordered = review_order(records, threshold, borderline)
    unsure = [r for r in ordered if _is_unsure(r, threshold, borderline)]
    merged = [r for r in records
              if r["merged"] and not _is_unsure(r, threshold, borderline)]
    merged.sort(key=lambda r: r["probability"])
    shown = (unsure + merged)[:max_pairs]
    return unsure, merged, {id(r) for r in shown}


@validate_params(
    {
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "borderline": [Interval(Real, 0, None, closed="left")],
        "max_pairs": [Interval(Integral, 0, None, closed="left")],
        "image": ["array-like", None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def write_review_report(
    volume,
    corrected,
    records: Sequence[Mapping],
    out_dir: str | os.PathLike,
    *,
    threshold: float = 0.5,
    borderline: float = 0.2,
    max_pairs: int = 50,
    features: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    standardised_features: np.ndarray | None = None,
    voxel_size=None,
    image: np.ndarray | None = None,
    source: str | None = None,
    verbose: int = 0,
) -> Path:
    """Write an HTML report of the merged and unsure pairs, for human review.

    Parameters
    ----------
    volume, corrected : ndarray of shape (z, y, x)
        The segmentation before and after correction.
    records : list of dict
        The records of :meth:`MergeCorrector.predict_merges` for ``volume``.
    out_dir : str or path-like
        Folder to write ``index.html``, ``histogram.png``, ``pairs/*.png`` and
        ``decisions.csv`` into (created if needed).
    threshold : float, default=0.5
        The decision threshold used.
    borderline : float, default=0.2
        Pairs whose probability lies within this of the threshold are unsure.
    max_pairs : int, default=50
        Most pairs drawn (unsure first); ``decisions.csv`` lists them all.
    features : ndarray of shape (n_records, n_features), optional
        Feature values of each record's pair, shown beside its figure.
    feature_names : sequence of str, optional
        Names of the features.
    standardised_features : ndarray of shape (n_records, n_features), optional
        Standardised features; the largest in absolute value are shown.
    voxel_size : sequence of 3 float, optional
        Voxel size (z, y, x), for the aspect ratio of the XZ sections.
    image : ndarray of shape (z, y, x), optional
        The raw microscope image of ``volume``. Each figure then shows it
        first, in grey with the two pieces outlined, at the same layers.
    source : str, optional
        Name of the input, shown in the report.
    verbose : int, default=0
        Show a progress bar while drawing.

    Returns
    -------
    Path
        The ``index.html`` written.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_overseg import load_pretrained
    >>> from sklearn_overseg import write_review_report
    >>> from sklearn_overseg.datasets import make_tissue, oversegment
    >>> flawed, _ = oversegment(make_tissue((24, 64, 64), n_cells=20,
    ...                         random_state=3), n_splits=2, random_state=0)
    >>> corrector = load_pretrained()
    >>> page = write_review_report(flawed, corrector.correct(flawed),
    ...                            corrector.predict_merges(flawed),
    ...                            tempfile.mkdtemp())
    >>> page.name
    'index.html'
    """
    volume = check_label_volume(volume, name="volume", allow_background_only=True)
    corrected = check_label_volume(
        corrected, name="corrected", allow_background_only=True
    )
    if corrected.shape != volume.shape:
        raise ValueError(
            f"corrected has shape {corrected.shape}, volume {volume.shape}."
        )
    records = _check_records(records)
    for name, table in (("features", features),
                        ("standardised_features", standardised_features)):
        if table is not None and np.shape(table)[0] != len(records):
            raise ValueError(f"{name} needs one row per record ({len(records)}).")
    spacing = check_voxel_size(voxel_size)
    if image is not None:
        image = check_image(image, volume)
    out = Path(out_dir)
    (out / "pairs").mkdir(parents=True, exist_ok=True)

    geometry = LabelGeometry.from_volume(volume)
    unsure, merged, shown = _pick_pairs(records, threshold, borderline, max_pairs)
    draw_histogram([r["probability"] for r in records],
                   [r["merged"] for r in records], threshold, borderline,
                   out / "histogram.png")
    write_decisions(records, out / "decisions.csv", threshold=threshold,
                    borderline=borderline)
    cards: dict[int, str] = {}
    to_draw = [r for r in unsure + merged if id(r) in shown]
    for r in progress(to_draw, desc="drawing report", unit="pair",
                      enabled=verbose > 0):
        figure = f"pairs/pair_{r['upper']}_{r['lower']}.png"
        draw_pair(volume, corrected, geometry, r, spacing, out / figure,
                  image=image)
        cards[id(r)] = pair_card(
            r, figure, threshold, borderline,
            feature_table(r["index"], features, feature_names,
                          standardised_features, str(r.get("kind", "axis"))),
        )
    n_cells_after = len(LabelGeometry.from_volume(corrected))
    page = report_page(
        source, volume.shape, records, unsure, merged, cards, threshold,
        borderline, len(geometry), n_cells_after, out / "decisions.csv",
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


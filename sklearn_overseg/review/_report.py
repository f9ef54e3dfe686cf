"""An HTML review report of merge decisions, with a figure per pair.

:func:`write_review_report` writes ``index.html`` (self-contained: relative
image paths, inline CSS), ``histogram.png``, one PNG per reviewed pair in
``pairs/`` and ``decisions.csv`` (to approve or reject merges and re-apply
them with ``overseg apply-decisions``). A pair's figure shows the XY layers
above, at and below the gap and an XZ section through the pair, before and
after correction, with the two fragments outlined.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from .._geometry import LabelGeometry
from .._image import check_image
from .._progress import progress
from .._validation import check_label_volume, check_voxel_size
from ._decisions import decision_of, is_borderline, review_order, write_decisions
from ._figures import draw_histogram, draw_pair
from ._plain_words import plain_words_table

__all__ = ["write_review_report"]

_REQUIRED = ("upper", "lower", "probability", "merged")
_N_TOP_FEATURES = 6

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 margin:0 auto;max-width:1080px;padding:1.5em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;
 border-bottom:2px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.92em}
td,th{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:left}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.summary{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
.pair{border:1px solid #ddd;border-radius:8px;padding:.8em 1em;margin:1em 0;
 background:#fcfcfc}.pair h3{margin:.1em 0 .4em}
.pair img{max-width:100%;height:auto;display:block;margin:.5em 0}
.tag{display:inline-block;padding:.05em .55em;border-radius:1em;font-size:.85em;
 margin-left:.4em;color:#fff}.yes{background:#2a7d3a}.no{background:#8a8a8a}
.unsure{background:#c77700}code{background:#f1f1f1;padding:.1em .3em}
.note{color:#555;font-size:.92em}.plain{margin:.4em 0}
details{margin:.4em 0}summary{cursor:pointer}
"""


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


def _top_features(index, features, names, standardised, kind="axis") -> str:
    """Plain-words statements, then the raw features behind a toggle."""
    if features is None:
        return ""
    values = features[index]
    plain = plain_words_table(values, names, kind=kind) if names is not None else ""
    names = names if names is not None else [f"feature {j}" for j in
                                             range(len(values))]
    if standardised is not None:
        scores = standardised[index]
        order = np.argsort(-np.abs(scores), kind="stable")[:_N_TOP_FEATURES]
        head = "<tr><th>feature</th><th>value</th><th>SDs from training</th></tr>"
        rows = "".join(
            f"<tr><td>{html.escape(str(names[j]))}</td>"
            f"<td class=num>{values[j]:.3g}</td>"
            f"<td class=num>{scores[j]:+.2f}</td></tr>" for j in order
        )
        caption = "Features furthest from the training average"
    else:
        order = range(min(len(values), _N_TOP_FEATURES))
        head = "<tr><th>feature</th><th>value</th></tr>"
        rows = "".join(
            f"<tr><td>{html.escape(str(names[j]))}</td>"
            f"<td class=num>{values[j]:.3g}</td></tr>" for j in order
        )
        caption = "Features"
    return (f"{plain}<details><summary class=note>{caption} (feature values)"
            f"</summary><table>{head}{rows}</table></details>")


def _where(gap_start: int | None, gap_stop: int | None) -> str:
    """Where the two pieces of a pair meet, in the report's words."""
    if gap_start is None:
        return "touching cells (no gap)"
    if gap_stop == gap_start:
        return f"stitch split: z = {gap_start - 1} directly above z = {gap_start}"
    if gap_stop - gap_start == 1:
        return f"missing layer z = {gap_start}"
    return f"missing layers z = {gap_start}&ndash;{gap_stop - 1}"


def _card(r, image, threshold, borderline, features_html) -> str:
    p = r["probability"]
    tags = f"<span class='tag {'yes' if r['merged'] else 'no'}'>" \
        f"{'merged' if r['merged'] else 'not merged'}</span>"
    if decision_of(r) == "unsure":
        tags += "<span class='tag unsure'>unsure: left to you</span>"
    elif is_borderline(p, threshold, borderline):
        tags += "<span class='tag unsure'>borderline</span>"
    if r.get("out_of_range"):
        tags += "<span class='tag unsure'>unlike the training pairs</span>"
    where = _where(r.get("gap_start"), r.get("gap_stop"))
    kind = html.escape(str(r.get("kind", "")))
    return (
        f"<article class=pair id='pair-{r['upper']}-{r['lower']}'>"
        f"<h3>Cells {r['upper']} + {r['lower']}{tags}</h3>"
        f"<div>probability <b>{p:.3f}</b> &middot; {kind} &middot; {where}</div>"
        f"<img src='{image}' alt='cells {r['upper']} and {r['lower']} before and "
        f"after correction'>{features_html}</article>"
    )


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
        cards[id(r)] = _card(
            r, figure, threshold, borderline,
            _top_features(r["index"], features, feature_names,
                          standardised_features, str(r.get("kind", "axis"))),
        )
    n_cells_after = len(LabelGeometry.from_volume(corrected))
    page = _page(
        source, volume.shape, records, unsure, merged, cards, threshold,
        borderline, len(geometry), n_cells_after, out / "decisions.csv",
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _section(title: str, items, cards, empty: str) -> str:
    drawn = [cards[id(r)] for r in items if id(r) in cards]
    note = ""
    if len(drawn) < len(items):
        note = (f"<p class=note>Showing {len(drawn)} of {len(items)}; all are "
                "listed in <a href='decisions.csv'>decisions.csv</a>.</p>")
    body = "".join(drawn) if items else f"<p class=note>{empty}</p>"
    return f"<h2>{title} ({len(items)})</h2>{note}{body}"


def _page(source, shape, records, unsure, merged, cards, threshold, borderline,
          n_before, n_after, decisions) -> str:
    n_merged = sum(bool(r["merged"]) for r in records)
    n_left = sum(decision_of(r) == "unsure" for r in records)
    name = html.escape(source) if source else "the segmentation"
    summary = "".join(
        f"<tr><th>{k}</th><td class=num>{v}</td></tr>" for k, v in [
            ("volume (z, y, x)", " &times; ".join(map(str, shape))),
            ("candidate pairs", len(records)),
            ("merged pairs", n_merged),
            ("unsure pairs left to you (not merged)", n_left),
            (f"unsure or borderline pairs (|p &minus; {threshold:g}| &le; "
             f"{borderline:g})", len(unsure)),
            ("decision threshold", f"{threshold:g}"),
            ("cells before &rarr; after", f"{n_before} &rarr; {n_after}"),
        ]
    )
    command = html.escape(
        f"overseg apply-decisions {source or 'INPUT'} {decisions} -o reviewed.tif"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Merge review &ndash; {name}</title><style>{_CSS}</style></head>
<body>
<h1>Merge review</h1>
<p class=note>Oversegmentation correction of {name}. Each figure shows the XY
layers above, at and below the gap, and an XZ section through the pair
(right), before (top row) and after (bottom row) correction. Before, the
upper piece is filled and outlined in cyan and the lower one in magenta, as in
each figure's legend; after, the merged cell is outlined in white. Other cells
are dimmed.</p>
<div class=summary><table>{summary}</table>
<img src="histogram.png" alt="histogram of merge probabilities"></div>
<h2>How to review</h2>
<p>Open <a href="decisions.csv">decisions.csv</a> in a spreadsheet or text
editor, set <code>merged</code> to <code>yes</code> or <code>no</code> for each
pair, save it (as CSV) and run<br>
<code>{command}</code><br>
(with the same <code>--model</code> as for the correction). Only the pairs
marked <code>yes</code> are merged, into the original segmentation.
The pairs the corrector left <b>unsure</b> (probability in its review band,
or features unlike any training pair) come first; they are not merged
unless you mark them <code>yes</code>.</p>
{_section("Unsure pairs", unsure, cards, "No pair was close to the threshold.")}
{_section("Confident merges", merged, cards, "No other pair was merged.")}
</body></html>
"""

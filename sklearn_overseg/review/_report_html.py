"""The HTML of the review report: the page, its sections and one card per pair.

:func:`~sklearn_overseg.review.write_review_report` draws the figures and
writes the files; this module turns the review records into the page that
links them (inline CSS, relative image paths).
"""

from __future__ import annotations

import html

import numpy as np

from ._decisions import decision_of, is_borderline
from ._plain_words import plain_words_table

__all__ = ["feature_table", "pair_card", "report_page"]

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


def feature_table(index, features, names, standardised, kind="axis") -> str:
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


def pair_card(r, image, threshold, borderline, features_html) -> str:
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


def _section(title: str, items, cards, empty: str) -> str:
    drawn = [cards[id(r)] for r in items if id(r) in cards]
    note = ""
    if len(drawn) < len(items):
        note = (f"<p class=note>Showing {len(drawn)} of {len(items)}; all are "
                "listed in <a href='decisions.csv'>decisions.csv</a>.</p>")
    body = "".join(drawn) if items else f"<p class=note>{empty}</p>"
    return f"<h2>{title} ({len(items)})</h2>{note}{body}"


def report_page(source, shape, records, unsure, merged, cards, threshold, borderline,
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

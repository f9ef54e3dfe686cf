"""What a pair's features say, in plain words, for the review report.

The classifier weighs many features; a reviewer wants to know in words what
the evidence is. Two statements follow directly from the feature values,
without any threshold learned or tuned for the report:

* **the shape changes smoothly across the gap** when the earth mover's
  distance between the masks on either side of the gap (``gap_emd``) is no
  larger than the largest distance between layers the same number of layers
  apart within either piece (``upper_emd_max``, ``lower_emd_max``): the gap
  changes the shape no more than the cell itself does;
* **the joined cell grows then shrinks, like one cell** when the overlap curve
  of the two pieces stacked as one cell is unimodal (``unimodal``, the case
  in which the topology score, the paper's R², is 1).

They are evidence, not the decision: a distinct-cell gap can change smoothly
too. A statement is left out when the model does not compute the features it
needs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

__all__ = ["plain_words", "plain_words_table"]


def _lookup(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    """Feature values by their short name (without the ``geo__`` prefixes)."""
    return {str(n).rsplit("__", 1)[-1]: float(v) for n, v in zip(names, values)}


def plain_words(values: np.ndarray, names: Sequence[str], *, kind: str = "axis"
                ) -> list[tuple[str, bool, str]]:
    """Statements about one pair: ``(statement, holds, evidence)`` triples.

    Parameters
    ----------
    values : ndarray of shape (n_features,)
        The pair's raw feature values (before standardisation).
    names : sequence of str
        Feature names, as ``get_feature_names_out`` gives them.
    kind : str, default="axis"
        The pair's kind: ``"axis"`` pairs have a gap, others a cut.

    Returns
    -------
    list of tuple
        One ``(statement, holds, evidence)`` per statement the features
        support.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_overseg.review._plain_words import plain_words
    >>> names = ["geo__upper_emd_max", "geo__lower_emd_max", "geo__gap_emd"]
    >>> plain_words(np.array([2.0, 3.0, 1.5]), names)[0][:2]
    ('shape changes smoothly across the gap', True)
    """
    f = _lookup(names, values)
    where = "the gap" if kind == "axis" else "the cut"
    said = []
    if {"gap_emd", "upper_emd_max", "lower_emd_max"} <= f.keys():
        within = max(f["upper_emd_max"], f["lower_emd_max"])
        said.append((
            f"shape changes smoothly across {where}",
            f["gap_emd"] <= within,
            f"change across {where} {f['gap_emd']:.3g}; largest change between "
            f"layers within the pieces {within:.3g} (earth mover's distance)",
        ))
    if "unimodal" in f:
        said.append((
            "the joined cell grows then shrinks, like one cell",
            f["unimodal"] > 0.5,
            "overlap of consecutive layers of the two pieces stacked as one: "
            + ("rises then falls (topology score 1)" if f["unimodal"] > 0.5
               else "dips in between"),
        ))
    return said


def plain_words_table(values: np.ndarray, names: Sequence[str], *,
                      kind: str = "axis") -> str:
    """The statements of :func:`plain_words` as an HTML table ('' if none)."""
    said = plain_words(values, names, kind=kind)
    if not said:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(text)}</td><td><b>{'yes' if holds else 'no'}</b>"
        f"</td><td class=note>{html.escape(evidence)}</td></tr>"
        for text, holds, evidence in said
    )
    return ("<table class=plain><tr><th>in plain words</th><th></th>"
            f"<th>from the features</th></tr>{rows}</table>")

"""Human review: the decisions CSV and the HTML review report.

The report needs matplotlib, which is imported only when a report is written.
"""

from ._apply_decisions import apply_decisions
from ._decisions import is_borderline, read_decisions, write_decisions

__all__ = [
    "apply_decisions",
    "is_borderline",
    "read_decisions",
    "write_decisions",
    "write_review_report",
]


def __getattr__(name: str):
    """Import the report writer (and matplotlib) on first access."""
    if name != "write_review_report":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._report import write_review_report

    globals()[name] = write_review_report
    return write_review_report

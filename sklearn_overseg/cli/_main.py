"""The ``overseg`` command: correct, train, evaluate, demo, apply-decisions.

``overseg correct cells.tif -o fixed.tif`` finds cells wrongly split in two
(or more) labels in a 3D segmentation and merges them. Run ``overseg
COMMAND --help`` for the options of each command. A bad input ends the
command with one line ``overseg: error: ...`` on stderr and exit code 1
(2 for bad options); progress bars go to stderr, results to stdout.
"""

from __future__ import annotations

import logging
import sys
import warnings

from ._parser import build_parser

__all__ = ["main", "build_parser"]

# errors caused by the input, reported in one line; anything else is a bug
USER_ERRORS = (
    ValueError, TypeError, KeyError, OSError, ImportError, MemoryError,
)


def _message(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    if isinstance(exc, MemoryError):
        text = "not enough memory" + (f": {text}" if text != "MemoryError" else "")
    return text


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"overseg: warning: {_message(Warning(str(message)))}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``overseg`` with the given arguments; returns the exit code.

    Examples
    --------
    >>> from sklearn_overseg.cli import main
    >>> main(["evaluate", "missing.tif", "truth.tif"])
    1
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version or a bad option
        return exc.code if isinstance(exc.code, int) else 0
    # imported after parsing, so that --help stays quick
    from . import _commands as commands

    run = {
        "correct": commands.run_correct, "train": commands.run_train,
        "evaluate": commands.run_evaluate, "demo": commands.run_demo,
        "apply-decisions": commands.run_apply_decisions,
    }
    # tifffile logs its complaints about damaged files; the error says it all
    tiff_log = logging.getLogger("tifffile")
    tiff_level = tiff_log.level
    tiff_log.setLevel(logging.ERROR + 10)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return run[args.command](args)
        except KeyboardInterrupt:
            print("overseg: interrupted", file=sys.stderr)
            return 130
        except USER_ERRORS as exc:
            print(f"overseg: error: {_message(exc)}", file=sys.stderr)
            return 1
        finally:
            tiff_log.setLevel(tiff_level)

"""Progress bars on stderr for the slow steps (screening, features, interpolation).

Thin helpers over tqdm with the package's conventions: bars go to stderr, so
that results printed on stdout stay clean; a bar appears only once its step
has taken more than a second, so quick runs print nothing; and a disabled bar
costs nothing. :func:`progress` wraps an iterable, :func:`stage` times one
long call that has no natural steps (it shows the elapsed time).

When stderr is not a terminal (a log file, a pipe, a cluster job's output),
redrawn bars would fill the log with ``\r`` frames; there each step that
lasted over a second prints one line when it ends instead, e.g.
``pair features: 120 pairs, 3.2 s``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["progress", "stage"]

#: Seconds a step must run before its bar is shown.
DELAY = 1.0
#: Seconds between refreshes of a :func:`stage` bar.
_TICK = 0.5


def progress(
    iterable: Iterable | None = None,
    *,
    desc: str,
    total: int | None = None,
    enabled: bool = True,
    unit: str = "it",
) -> tqdm:
    """A tqdm bar on stderr, shown only when the loop lasts over a second.

    Parameters
    ----------
    iterable : iterable, optional
        What to loop over; without it, call ``update`` on the bar yourself.
    desc : str
        Short name of the step, shown before the bar.
    total : int, optional
        Number of items (taken from ``len(iterable)`` when possible).
    enabled : bool, default=True
        ``False`` gives a silent bar.
    unit : str, default="it"
        Name of one item.

    Returns
    -------
    tqdm
        Iterate over it (or use it as a context manager).

    Examples
    --------
    >>> from sklearn_overseg._progress import progress
    >>> sum(progress(range(4), desc="adding", enabled=False))
    6
    """
    if enabled and not _is_terminal():
        return _LogLine(iterable, desc=desc, total=total, unit=unit)
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=not enabled,
        file=sys.stderr,
        delay=DELAY,
        unit=unit,
        dynamic_ncols=True,
    )


@contextmanager
def stage(desc: str, *, enabled: bool = True) -> Iterator[None]:
    """Show the elapsed time of one long call on stderr (after a second).

    Parameters
    ----------
    desc : str
        Short name of the step.
    enabled : bool, default=True
        ``False`` shows nothing.

    Examples
    --------
    >>> from sklearn_overseg._progress import stage
    >>> with stage("screening", enabled=False):
    ...     total = sum(range(10))
    >>> total
    45
    """
    if not enabled:
        yield
        return
    if not _is_terminal():
        start = time.perf_counter()
        yield
        _log(f"{desc}: {_seconds(time.perf_counter() - start)}", start)
        return
    bar = tqdm(
        total=None,
        desc=desc,
        file=sys.stderr,
        delay=DELAY,
        bar_format="{desc}: {elapsed}",
        dynamic_ncols=True,
    )
    done = threading.Event()

    def tick() -> None:
        # update(0) redraws once the delay has passed, and keeps tqdm's own
        # bookkeeping right so that close() ends the line properly
        while not done.wait(_TICK):
            bar.update(0)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        bar.close()


def _is_terminal() -> bool:
    """Whether stderr is an interactive terminal (bars) or a log (lines)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _seconds(elapsed: float) -> str:
    return f"{elapsed:.1f} s"


def _log(line: str, start: float) -> None:
    """Print one line on stderr if the step lasted over :data:`DELAY`."""
    if time.perf_counter() - start >= DELAY:
        print(line, file=sys.stderr, flush=True)


class _LogLine:
    """The part of tqdm's interface the package uses, as one line per step.

    Counts items (iteration or ``update``) and, when the step ends (the loop
    is exhausted, or ``close`` or the ``with`` block ends without an error),
    prints ``desc: n units, seconds`` if the step lasted over a second.
    """

    def __init__(self, iterable, *, desc: str, total, unit: str) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n = total, 0
        self._start, self._closed = time.perf_counter(), False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1
        self.close()

    def __len__(self) -> int:
        return len(self.iterable) if self.total is None else self.total

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        count = "" if self.unit == "it" else (
            f"{self.n} {self.unit}{'' if self.n == 1 else 's'}, "
        )
        _log(f"{self.desc}: {count}{_seconds(time.perf_counter() - self._start)}",
             self._start)

    def __enter__(self) -> _LogLine:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        self._closed = True

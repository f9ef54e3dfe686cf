"""Progress bars on stderr for the slow steps (screening, features, interpolation).

Thin helpers over tqdm with the package's conventions: bars go to stderr, so
that results printed on stdout stay clean; a bar appears only once its step
has taken more than a second, so quick runs print nothing; and a disabled bar
costs nothing. :func:`progress` wraps an iterable, :func:`stage` times one
long call that has no natural steps (it shows the elapsed time).
"""

from __future__ import annotations

import sys
import threading
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

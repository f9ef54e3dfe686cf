"""Warnings that point at the user's own line.

A warning raised deep inside the package (behind :func:`validate_params`,
a ``Pipeline`` or a reader) should name the line of the user's script or
notebook that caused it, not a line of this package or of scikit-learn.
A fixed ``stacklevel`` cannot do that: the depth changes with the way a
function is reached (decorated or not, through ``correct`` or ``apply``).
:func:`warn_user` counts the frames instead.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn_user"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _internal_prefixes() -> tuple[str, ...]:
    prefixes = [_PACKAGE]
    sklearn = sys.modules.get("sklearn")
    if sklearn is not None and getattr(sklearn, "__file__", None):
        prefixes.append(os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep)
    return tuple(prefixes)


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside this package and sklearn.

    Counted for the :func:`warnings.warn` call made by this function's
    caller, :func:`warn_user`: ``1`` would name that call itself.
    """
    prefixes = _internal_prefixes()
    frame = sys._getframe(2)  # the function that called warn_user
    level = 2
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(prefixes) and "functools" not in filename:
            return level
        frame = frame.f_back
        level += 1
    return 2


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the user's code that led to it.

    Parameters
    ----------
    message : str
        What happened, in the user's terms.
    category : Warning subclass, default=UserWarning
        For example :class:`FutureWarning` for a deprecation.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_overseg._warnings import warn_user
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("something to know")
    >>> str(caught[0].message)
    'something to know'
    """
    warnings.warn(message, category, stacklevel=user_stacklevel())

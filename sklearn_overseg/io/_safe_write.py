"""Writes that never leave a half-written file, and input-versus-output checks.

A label file is first written beside its destination, under a hidden
temporary name in the same folder, and then renamed over the destination with
:func:`os.replace` (atomic on one file system). A crash, a full disk or Ctrl-C
during the write thus leaves either the old file or the new one, never a
truncated mix, and the temporary file is removed on failure. Zarr stores are
directories: a whole store is written to a temporary directory and swapped in
by two renames. Only writing a dataset into an existing HDF5 file or zarr
group happens in place (the other datasets of the file must stay).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_directory", "same_data"]

# formats whose file holds one array: writing replaces the whole file
_WHOLE_FILE_FORMATS = ("tiff", "npy", "npz")


def _new_file_mode(existing: Path) -> int:
    """Permission bits for the result: the replaced file's, else the umask's."""
    if existing.exists():
        return existing.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary)`` then rename the temporary file to ``path``.

    The temporary file lies in the folder of ``path`` (of its target when
    ``path`` is a symbolic link, which keeps pointing at the new file) and ends
    with the same suffix, so that format libraries see the usual name.
    """
    target = Path(os.path.realpath(path))
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def atomic_write_directory(path: Path, write: Callable[[Path], None]) -> None:
    """Write a directory store (zarr) to a temporary directory and swap it in.

    An existing store at ``path`` is first renamed aside, then the new one is
    renamed into place and the old one deleted; if the second rename fails the
    old store is put back.
    """
    target = Path(os.path.realpath(path))
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part",
                                      dir=target.parent))
    try:
        _remove(temporary)  # the writer creates the store itself
        write(temporary)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / "store")
            try:
                os.replace(temporary, target)
            except BaseException:
                os.replace(old / "store", target)
                raise
            finally:
                _remove(old)
        else:
            os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def same_data(
    source: tuple[Path, str | None, str], destination: tuple[Path, str | None, str]
) -> bool:
    """Whether writing ``destination`` would overwrite the data read from ``source``.

    Each argument is ``(path, key, format)``. Two paths naming one file (also
    through a symbolic link, a hard link or ``..``) conflict when the format
    replaces whole files (TIFF, ``.npy``, ``.npz``), when either key is unset
    (the only array, or the whole zarr store) or when the keys are equal.
    Different datasets of one HDF5 file or zarr group do not conflict.
    """
    (path_in, key_in, _), (path_out, key_out, fmt_out) = source, destination
    if not path_out.exists() or not path_in.exists():
        return False
    try:
        same_file = os.path.samefile(path_in, path_out)
    except OSError:
        same_file = path_in.resolve() == path_out.resolve()
    if not same_file:
        return False
    if fmt_out in _WHOLE_FILE_FORMATS or key_in is None or key_out is None:
        return True
    return key_in.strip("/") == key_out.strip("/")

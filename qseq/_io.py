"""File I/O shared by the library.

* :func:`atomic_write`: a crash leaves either the old or the new version of a file, never half of it.
* :func:`load_torch`, :func:`read_json`, :func:`read_cached_array`: read back what qseq wrote, with a
  clear :class:`DamagedFileError` (naming the file and what to do) instead of a parser's traceback
  for a truncated, overwritten or foreign file. Nothing is ever deleted or rewritten on that path:
  the file stays as it is for the user to inspect or restore.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "check_writable_dir",
    "DamagedFileError",
    "damaged",
    "load_torch",
    "read_json",
    "read_cached_array",
]


def _umask() -> int:
    """The process umask (read once at import: ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of the files we write: what ``open()`` would give (temporary files are created 0o600).
_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` via a temporary file in the same directory, fsync, then ``os.replace``.

    A failure anywhere leaves the previous ``path`` untouched and removes the temporary file
    (named ``.<name>.<random>.tmp``, so it is never mistaken for the real file).
    """
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
        try:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, _FILE_MODE)
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def check_writable_dir(path: str | os.PathLike, what: str = "directory") -> None:
    """Refuse, before any work, a ``path`` that cannot serve as an output directory: an existing file,
    a path below a file, or a place where no file can be created (permissions, a read-only or
    virtual file system). Nothing is created: a nameless probe file is opened and closed in the
    nearest existing directory.

    Raises:
        NotADirectoryError: ``path`` or one of its parents is a file.
        PermissionError: no file can be created there.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"{what} {path} is a file, not a directory; name a directory (it is created if missing)"
        )
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {path} cannot be created: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise PermissionError(
            f"{what} {path} cannot be written: no file can be created in {existing} ({err.strerror}); "
            "choose a writable directory"
        ) from None


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DamagedFileError(ValueError):
    """A file cannot be read back as what it should be: truncated, overwritten, or not written by
    qseq. The message names the file and what to do; the file itself is left untouched."""


def damaged(path: str | os.PathLike, what: str, err: BaseException, remedy: str, detail: str = "") -> DamagedFileError:
    """The :class:`DamagedFileError` for ``path``, which should be a ``what`` and could not be read
    (``err``; ``detail`` adds the parser's own words where they are short and useful)."""
    cause = type(err).__name__ + (f": {detail}" if detail else "")
    return DamagedFileError(
        f"{path} is not a readable {what} ({cause}); it may be damaged or truncated, and is left as it is. {remedy}"
    )


def load_torch(path: Path, what: str, remedy: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, or a :class:`DamagedFileError` naming ``path`` when the
    file cannot be unpickled. Opening it (a missing file, permissions) raises ``OSError`` as usual."""
    import torch

    with open(path, "rb") as f:
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        except MemoryError:
            raise
        except Exception as err:  # a bad file raises many types: UnpicklingError, RuntimeError, OSError, EOFError
            raise damaged(path, what, err, remedy) from None


def read_json(path: Path, what: str, remedy: str) -> Any:
    """The JSON value in ``path``, or a :class:`DamagedFileError` naming the file, the line and the column."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise damaged(path, what, err, remedy, "not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise damaged(path, what, err, remedy, f"{err.msg} at line {err.lineno}, column {err.colno}") from None


def read_cached_array(path: Path, set_aside: bool = True) -> Any:
    """A cached ``.npy`` array, or ``None`` with a ``RuntimeWarning`` naming the file when it cannot be
    read: the caller computes the values again. With ``set_aside`` the unreadable file is renamed to
    ``<name>.damaged`` (``.damaged-2``, ... if taken), so the new values never overwrite it; it is
    never unpickled or deleted. A missing file or a permission error raises ``OSError`` as usual."""
    import numpy as np

    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        kept = ""
        if set_aside:
            target = path.with_name(path.name + ".damaged")
            n = 1
            while target.exists():
                n += 1
                target = path.with_name(f"{path.name}.damaged-{n}")
            os.replace(path, target)
            kept = f" (kept as {target.name})"
        warnings.warn(
            f"the cache file {path} cannot be read ({type(err).__name__}){kept}; its values are computed again",
            RuntimeWarning,
            stacklevel=2,
        )
        return None

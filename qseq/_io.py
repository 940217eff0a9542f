"""Atomic file writes: a crash leaves either the old or the new version of a file, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


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


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

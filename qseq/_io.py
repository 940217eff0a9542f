"""File I/O shared by the library.

* :func:`atomic_write`: a crash leaves either the old or the new version of a file, never half of it;
  :func:`atomic_write_text` for text.
* :func:`save_torch`, :func:`write_json`, :func:`write_cached_array`: write a checkpoint, a JSON
  record or a cached array with a SHA-256 checksum of its contents (:func:`digest`): inside the
  checkpoint and the record (the key ``"sha256"``), beside the array (``<name>.sha256``: the ``.npy``
  format has no room for one).
* :func:`load_torch`, :func:`read_json`, :func:`read_cached_array`: read back what qseq wrote, with a
  clear :class:`DamagedFileError` (naming the file and what to do) instead of a parser's traceback
  for a truncated, overwritten or foreign file, and for one whose contents no longer match their
  checksum (edited, or damaged on disk in a way that still parses). Files written without a checksum
  (by earlier versions) are read as before. Nothing is ever deleted or rewritten on that path: the
  file stays as it is for the user to inspect or restore.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "check_writable_dir",
    "DamagedFileError",
    "damaged",
    "digest",
    "CHECKSUM_KEY",
    "save_torch",
    "load_torch",
    "write_json",
    "read_json",
    "write_cached_array",
    "read_cached_array",
]

#: The key under which :func:`save_torch` and :func:`write_json` store the checksum of the rest.
CHECKSUM_KEY = "sha256"
#: The suffix of the file that holds a cached array's checksum (:func:`write_cached_array`).
_CHECKSUM_SUFFIX = ".sha256"


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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 with :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


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


def digest(value: Any) -> str:
    """The SHA-256 (64 hex digits) of a nested value, computed from its contents, not from how they were
    serialised: the checksum of what :func:`save_torch`, :func:`write_json` and
    :func:`write_cached_array` write.

    ``value`` may hold mappings (keys in order), lists and tuples (alike), strings, bytes, ints,
    floats (exactly: ``-0.0`` is not ``0.0``), booleans, ``None``, torch tensors and numpy arrays
    (dtype, shape and bytes; a tensor's device does not count).

    Raises:
        TypeError: ``value`` holds another type (an object, an array of Python objects).
    """
    h = hashlib.sha256()
    _digest_into(h, value)
    return h.hexdigest()


def _digest_into(h: Any, value: Any) -> None:
    """Feed ``value`` to ``h``: a type tag, a length where the size varies, then the contents."""
    import numpy as np
    import torch

    def chunk(tag: bytes, data: bytes) -> None:
        h.update(tag + str(len(data)).encode() + b":" + data)

    if value is None or isinstance(value, bool):
        h.update(repr(value).encode() + b";")
    elif isinstance(value, int):
        chunk(b"i", str(int(value)).encode())
    elif isinstance(value, float):
        chunk(b"f", value.hex().encode())
    elif isinstance(value, str):
        chunk(b"s", value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, bytes):
        chunk(b"b", value)
    elif isinstance(value, (list, tuple)):
        h.update(b"l" + str(len(value)).encode() + b";")
        for item in value:
            _digest_into(h, item)
    elif isinstance(value, Mapping):
        h.update(b"d" + str(len(value)).encode() + b";")
        for key, item in value.items():
            _digest_into(h, key)
            _digest_into(h, item)
    elif isinstance(value, torch.Tensor):
        flat = value.detach().resolve_conj().resolve_neg().cpu().contiguous().reshape(-1)
        chunk(b"t", f"{value.dtype}{tuple(value.shape)}".encode())
        h.update(flat.view(torch.uint8).numpy())
    elif isinstance(value, np.ndarray) and not value.dtype.hasobject:
        chunk(b"a", f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
    else:
        raise TypeError(
            f"cannot checksum a value of type {type(value).__name__!r}: not a tensor, an array or a JSON-like value"
        )


def _mismatch(path: Path, what: str, remedy: str) -> DamagedFileError:
    return DamagedFileError(
        f"{path} does not match the SHA-256 checksum written with it: this {what} was changed after qseq wrote "
        f"it (edited, or damaged on disk), and is left as it is. {remedy}"
    )


def _checked(path: Path, saved: Any, what: str, remedy: str) -> Any:
    """``saved`` without its :data:`CHECKSUM_KEY`, which must match the rest; as it is without one."""
    if not isinstance(saved, dict) or CHECKSUM_KEY not in saved:
        return saved
    expected = saved.pop(CHECKSUM_KEY)
    if expected != digest(saved):
        raise _mismatch(path, what, remedy)
    return saved


def save_torch(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` the dict ``payload`` to ``path`` atomically (:func:`atomic_write`), with the
    :func:`digest` of its contents under :data:`CHECKSUM_KEY`: :func:`load_torch` checks it. The file
    stays loadable with ``torch.load(weights_only=True)``."""
    import torch

    if not isinstance(payload, dict) or CHECKSUM_KEY in payload:
        raise TypeError(f"save_torch() takes a dict without the key {CHECKSUM_KEY!r}, got {type(payload).__name__}")
    record = {**payload, CHECKSUM_KEY: digest(payload)}
    atomic_write(path, lambda f: torch.save(record, f))


def load_torch(path: Path, what: str, remedy: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, or a :class:`DamagedFileError` naming ``path`` when the
    file cannot be unpickled or its contents do not match the checksum :func:`save_torch` stored in
    it (the checksum is removed from the dict returned; a file without one loads as it is). Opening
    it (a missing file, permissions) raises ``OSError`` as usual."""
    import torch

    with open(path, "rb") as f:
        try:
            saved = torch.load(f, map_location=map_location, weights_only=True)
        except MemoryError:
            raise
        except Exception as err:  # a bad file raises many types: UnpicklingError, RuntimeError, OSError, EOFError
            raise damaged(path, what, err, remedy) from None
    return _checked(path, saved, what, remedy)


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write the dict ``record`` to ``path`` atomically as indented JSON, with the :func:`digest` of
    its contents (as JSON reads them back) under :data:`CHECKSUM_KEY`: :func:`read_json` checks it."""
    if not isinstance(record, dict) or CHECKSUM_KEY in record:
        raise TypeError(f"write_json() takes a dict without the key {CHECKSUM_KEY!r}, got {type(record).__name__}")
    plain = json.loads(json.dumps(record))  # what a reader sees: tuples as lists, keys as strings
    text = json.dumps({**plain, CHECKSUM_KEY: digest(plain)}, indent=2) + "\n"
    atomic_write_text(path, text)


def read_json(path: Path, what: str, remedy: str) -> Any:
    """The JSON value in ``path``, or a :class:`DamagedFileError` naming the file, the line and the
    column; or naming the file when its contents do not match the checksum :func:`write_json` stored
    in it (the checksum is removed from the object returned; a file without one reads as it is)."""
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise damaged(path, what, err, remedy, "not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise damaged(path, what, err, remedy, f"{err.msg} at line {err.lineno}, column {err.colno}") from None
    edited = f'If it was edited on purpose, delete its "{CHECKSUM_KEY}" entry to accept the edit.'
    return _checked(Path(path), saved, what, f"{remedy} {edited}")


def _checksum_file(path: Path) -> Path:
    return path.with_name(path.name + _CHECKSUM_SUFFIX)


def write_cached_array(path: Path, array: Any) -> None:
    """Cache ``array`` (a numpy array of numbers) at ``path`` (``.npy``, atomically) and its
    :func:`digest` beside it, in ``<name>.sha256``, which :func:`read_cached_array` checks. The
    checksum is written first: a crash in between leaves no array, a cache miss, never an array with
    a stale checksum."""
    import numpy as np

    array = np.asarray(array)
    text = digest(array) + "\n"
    atomic_write_text(_checksum_file(path), text)
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def read_cached_array(path: Path, set_aside: bool = True) -> Any:
    """A cached ``.npy`` array, or ``None`` with a ``RuntimeWarning`` naming the file when it cannot be
    read or does not match the checksum beside it (``<name>.sha256``, see :func:`write_cached_array`;
    an array without one is read as it is): the caller computes the values again. With ``set_aside``
    the bad file is renamed to ``<name>.damaged`` (``.damaged-2``, ... if taken), so the new values
    never overwrite it; it is never unpickled or deleted. A missing file or a permission error raises
    ``OSError`` as usual."""
    import numpy as np

    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        problem = f"cannot be read ({type(err).__name__})"
    else:
        checksum = _checksum_file(path)
        if not checksum.is_file() or checksum.read_bytes().strip() == digest(array).encode():
            return array
        problem = f"does not match its checksum ({checksum.name})"
    kept = ""
    if set_aside:
        target = path.with_name(path.name + ".damaged")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.damaged-{n}")
        os.replace(path, target)
        kept = f" (kept as {target.name})"
    warnings.warn(f"the cache file {path} {problem}{kept}; its values are computed again", RuntimeWarning, stacklevel=2)
    return None

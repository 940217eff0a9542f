"""C kernels compiled at first use with the system's C compiler and loaded with :mod:`ctypes`.

A kernel is one C source file shipped with qseq. :func:`load` compiles it once per machine into
qseq's cache directory (``QSEQ_CACHE_DIR``, else ``$XDG_CACHE_HOME/qseq`` or ``~/.cache/qseq``),
keyed by a hash of the source, the compiler, its flags and the CPU, and loads the shared library;
later processes load the cached file (milliseconds). A compile takes 0.1–1.3 s; the first one a
process waits for queues the other kernels' in the background (:class:`_Queue`). Writes are atomic
(a half-written library is never loaded), so processes may compile the same kernel at once.

Where no compiler is found, the compile fails or ``QSEQ_NATIVE=0`` is set, :func:`load` returns
``None`` (warning once with the reason, except when disabled on purpose) and callers take their
torch path, which computes the same values. The compiler is ``CC`` if set, else ``cc``.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

__all__ = ["load", "kernel_functions", "call", "copy_record", "register", "enabled", "cache_dir", "library_path"]

#: Each kernel is built once per precision: ``(function-name suffix, preprocessor defines)``.
_PRECISIONS = {
    torch.float32: ("f32", ("QSEQ_FLOAT",)),
    torch.complex64: ("f32", ("QSEQ_FLOAT",)),
    torch.float64: ("f64", ()),
    torch.complex128: ("f64", ()),
}
#: The header every kernel includes (``#include "_native.h"``): precision, vectors, entry-point names.
_HEADER = Path(__file__).with_name("_native.h")
_FLAGS = ("-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC", f"-I{_HEADER.parent}")
_LOCK = threading.Lock()


def enabled() -> bool:
    """Whether compiled kernels may be used (``QSEQ_NATIVE`` is not ``0``)."""
    return os.environ.get("QSEQ_NATIVE", "1").strip() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where compiled kernels are kept."""
    if os.environ.get("QSEQ_CACHE_DIR"):
        return Path(os.environ["QSEQ_CACHE_DIR"]) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qseq" / "native"


def _cpu() -> str:
    """The CPU's model and feature flags (``-march=native`` code runs only where they match)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags", "Features"))]
    return "\n".join(dict.fromkeys(lines))


def _compile(compiler: str, source: Path, defines: tuple[str, ...], target: Path) -> str | None:
    """Compile ``source`` into ``target`` atomically; ``None`` on success, else the compiler's complaint."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        for flags in (_FLAGS, tuple(f for f in _FLAGS if f != "-march=native")):
            cmd = [compiler, *flags, *(f"-D{d}" for d in defines), str(source), "-o", tmp, "-lm"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as err:
                return str(err)
            if done.returncode == 0:
                os.replace(tmp, target)
                return None
        return (done.stderr or done.stdout).strip()[-2000:]
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def _warn_once(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _included(source: Path) -> list[str]:
    """The text of the qseq sources that ``source`` includes (``#include "path"``, relative to the
    package: one kernel may build on another's functions), their own includes first."""
    texts = []
    for name in re.findall(r'^#include "([^"]+)"', source.read_text(), flags=re.M):
        path = _HEADER.parent / name
        texts += _included(path) + [path.read_text()]
    return texts


def library_path(source: Path, defines: tuple[str, ...], compiler: str) -> Path:
    """Where the library built from ``source`` with ``defines`` by ``compiler`` is cached: the name
    holds a hash of the source and what it includes (the shared header among them), compiler,
    flags, defines and CPU."""
    key = "\0".join([source.read_text(), *_included(source), compiler, " ".join(_FLAGS), *defines, _cpu()])
    return cache_dir() / f"{source.stem}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.so"


#: Every kernel source, registered by its module at import (:func:`register`).
_KERNELS: dict[Path, int] = {}  # source -> its background priority


class _Queue:
    """Background compiles of one precision, run one after another by a daemon thread, so that the
    compile a process waits for keeps a core to itself: on two cores, with five kernels compiling
    side by side, the one the first training step needed took 1.6 s instead of 0.7. Each compile
    writes under a temporary name and renames its library into place itself (a shell one-liner), so
    nothing is left to do if it is never waited for; a failed one leaves nothing and is compiled
    again, with its error reported, when needed."""

    def __init__(self, jobs: list[tuple[Path, str]]):
        self.pending = dict(jobs)  # library path -> its shell script, in the order to build
        self.running: tuple[Path, subprocess.Popen] | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="qseq-native-compiles", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    self.running = None
                    return
                target = next(iter(self.pending))
                script = self.pending.pop(target)
                process = subprocess.Popen(
                    ["sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
                )
                self.running = (target, process)
            process.wait()

    def claim(self, target: Path, timeout: float) -> None:
        """Take ``target`` off the queue (the caller compiles it now) or, when it is being built, wait
        for it (killed after ``timeout`` seconds: the caller then compiles it)."""
        with self.lock:
            self.pending.pop(target, None)
            running = self.running
        if running is not None and running[0] == target:
            try:
                running[1].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                running[1].kill()
                running[1].wait()


#: Background compiles started by this process, one queue per precision and compiler.
_QUEUES: list[_Queue] = []
_BACKGROUND_STARTED: set[tuple] = set()


def register(source: Path, priority: int = 1) -> Path:
    """Declare a kernel source (at import): the first compile a process needs then queues the other
    registered kernels' compiles in the background (:class:`_Queue`), lower ``priority`` first, then
    in the order registered, so that a model needing several kernels mostly finds them built (the
    fused QLSTM layer's kernel, the largest a training step needs, goes first). Returns ``source``."""
    _KERNELS[source] = priority
    return source


def _start_background(source: Path, defines: tuple[str, ...], compiler: str) -> None:
    """Queue the compile of every registered kernel but ``source`` with ``defines`` that is not
    cached, once per process and cache directory, at a lower priority than the caller's."""
    key = (defines, compiler, cache_dir())
    if key in _BACKGROUND_STARTED or os.name != "posix":
        return
    _BACKGROUND_STARTED.add(key)
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    jobs = []
    for other in sorted(_KERNELS, key=_KERNELS.__getitem__):  # stable: registration order within a priority
        target = library_path(other, defines, compiler)
        if other == source or target.exists():
            continue
        tmp = target.parent / f".{target.stem}.{os.getpid()}.building"
        cmd = shlex.join([*nice, compiler, *_FLAGS, *(f"-D{d}" for d in defines), str(other), "-o", str(tmp), "-lm"])
        tmp_q, target_q = shlex.quote(str(tmp)), shlex.quote(str(target))
        jobs.append((target, f"{cmd} && mv -f {tmp_q} {target_q} || rm -f {tmp_q}"))
    if jobs:
        _QUEUES.append(_Queue(jobs))


def _wait_for_background(target: Path, timeout: float = 120) -> None:
    """Before compiling ``target``: take it off this process's background queues, or wait for it if
    one is building it."""
    for queue in _QUEUES:
        queue.claim(target, timeout)


@atexit.register
def _finish_background() -> None:
    """At exit, let the queued compiles finish (they fill the cache for the next process)."""
    for queue in _QUEUES:
        queue.thread.join(timeout=60)


@functools.cache
def _load_cached(source: Path, defines: tuple[str, ...]) -> ctypes.CDLL | None:
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        _warn_once(
            f"qseq: no C compiler {compiler!r} on PATH, so the compiled CPU kernels are off and qseq runs "
            "its torch operations instead (same values, several times slower for small recurrent models). "
            "Install a C compiler or set CC; set QSEQ_NATIVE=0 to silence this."
        )
        return None
    target = library_path(source, defines, compiler)
    _wait_for_background(target)
    for attempt in range(2):
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _start_background(source, defines, compiler)
            error = _compile(compiler, source, defines, target)
            if error is not None:
                _warn_once(
                    f"qseq: compiling {source.name} with {compiler!r} failed, so qseq runs its torch operations "
                    f"instead (same values, slower). Set QSEQ_NATIVE=0 to silence this. The compiler said:\n{error}"
                )
                return None
        try:
            return ctypes.CDLL(str(target))
        except OSError as err:  # a damaged or foreign file: compile again, once
            if attempt:
                _warn_once(f"qseq: cannot load the compiled kernel {target} ({err}); running torch operations instead")
                return None
            target.unlink(missing_ok=True)
    return None


def load(source: Path, defines: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """The shared library compiled from ``source`` with the preprocessor ``defines``, or ``None``
    where compiled kernels are disabled or cannot be built (see the module docstring)."""
    if not enabled():
        return None
    with _LOCK:
        try:
            return _load_cached(source, defines)
        except OSError as err:  # an unwritable cache directory
            _warn_once(f"qseq: cannot keep compiled kernels in {cache_dir()} ({err}); set QSEQ_CACHE_DIR")
            return None


def kernel_functions(source: Path, dtype: torch.dtype, names: tuple[str, ...], args: type) -> tuple | None:
    """The C functions ``<name>_f32`` or ``<name>_f64`` (by ``dtype``'s precision) of the library built
    from ``source``, each taking a pointer to the ``ctypes.Structure`` ``args`` and returning a
    status (0: done); ``None`` for another dtype or where :func:`load` gives no library."""
    if dtype not in _PRECISIONS:
        return None
    suffix, defines = _PRECISIONS[dtype]
    lib = load(source, defines)
    return None if lib is None else _functions(lib, tuple(f"{name}_{suffix}" for name in names), args)


@functools.cache
def _functions(lib: ctypes.CDLL, names: tuple[str, ...], args: type) -> tuple:
    """``lib``'s functions ``names`` with their signature set (once per loaded library)."""
    fns = tuple(getattr(lib, name) for name in names)
    for fn in fns:
        fn.argtypes, fn.restype = [ctypes.POINTER(args)], ctypes.c_int
    return fns


def call(
    fn, args: ctypes.Structure, what: str, work: int = 0, strides: dict[str, int] | None = None, align: int = 1
) -> int:
    """Run the kernel function ``fn`` on ``args`` and return its status: 0 done; 1 (its scratch
    memory could not be allocated) is raised as a ``MemoryError`` naming ``what``; other statuses
    are the kernel's own, for the caller to explain.

    With ``strides`` (``{pointer field: bytes per item}``) the call's ``items`` independent items
    (``args.N`` of them: states, matrix sets) may be split into one chunk per intra-op thread
    (``torch.get_num_threads()``), each a copy of ``args`` with ``N`` and those pointers moved to its
    first item, run in parallel threads (a ``ctypes`` call releases the GIL). ``work`` is the call's
    size in amplitudes: below :data:`PARALLEL_MIN_WORK` one call is cheaper than a thread pool's
    dispatch. Chunks start at multiples of ``align`` items (a kernel that works on blocks of items).
    """
    threads = min(torch.get_num_threads(), args.N) if strides else 1
    if threads < 2 or work < PARALLEL_MIN_WORK:
        statuses = [fn(ctypes.byref(args))]
    else:
        bounds = [args.N * k // threads // align * align for k in range(threads)] + [args.N]
        chunks = []
        for first, end in zip(bounds, bounds[1:], strict=False):
            if end == first:
                continue
            chunk = copy_record(args)
            chunk.N = end - first
            for name, stride in (strides or {}).items():
                if getattr(args, name):
                    setattr(chunk, name, getattr(args, name) + first * stride)
            chunks.append(chunk)
        statuses = list(_pool().map(lambda chunk: fn(ctypes.byref(chunk)), chunks))
    if 1 in statuses:
        raise MemoryError(f"{what} could not allocate its scratch memory")
    return max(statuses)


def copy_record(args: ctypes.Structure) -> ctypes.Structure:
    """A call's own copy of a prepared argument record (calls may run in several threads at once)."""
    return type(args).from_buffer_copy(args)


#: Work (amplitudes touched by a call) from which :func:`call` splits it over threads. Measured on a
#: 16-core host (``chen_vqc(n, 2)``, batch 256): at 8 qubits (65,536 amplitudes) a split gained
#: nothing forward; at 12 qubits 10.9 -> 3.3 ms on 8 threads, at 16 qubits 393 -> 34 ms on 16.
PARALLEL_MIN_WORK = 1 << 18


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="qseq-native")

"""Compiled kernels (``qseq/_native.py``): compiled once and reused from the cache, and every way of
not having one — disabled, no compiler, a failing compiler, a damaged cached file, an unwritable
cache — ends in the torch path with the same numbers, warning once with what to do."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import pytest
import torch

from qseq import _native
from qseq.models import QLSTM, fused_native

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache directory and no kernels loaded in this process (restored afterwards)."""
    monkeypatch.setenv("QSEQ_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("QSEQ_NATIVE", raising=False)
    monkeypatch.delenv("CC", raising=False)
    _native._load_cached.cache_clear()
    _native._warn_once.cache_clear()
    yield tmp_path
    _native._load_cached.cache_clear()
    _native._warn_once.cache_clear()


@pytest.fixture
def compiles(monkeypatch):
    """Counts compiler runs."""
    calls = []
    run = subprocess.run
    monkeypatch.setattr(_native.subprocess, "run", lambda *a, **k: calls.append(a[0]) or run(*a, **k))
    return calls


def _model_output(x):
    torch.manual_seed(0)
    model = QLSTM(1, 3, dtype=torch.float64)
    y, _ = model(x)
    (grad,) = torch.autograd.grad(y.sum(), model.cells[0].vqc["gates"].weight)
    return y.detach(), grad


@needs_compiler
def test_a_kernel_is_compiled_once_and_then_loaded_from_the_cache(fresh, compiles):
    assert fused_native.kernel(torch.float64) is not None
    assert len(compiles) == 1 and "-march=native" in compiles[0]
    assert len(list((fresh / "native").glob("fused_kernel-*.so"))) == 1
    _native._load_cached.cache_clear()  # a new process: the cached library is loaded, not rebuilt
    assert fused_native.kernel(torch.float64) is not None
    assert len(compiles) == 1
    assert fused_native.kernel(torch.float32) is not None  # float32 is a second library
    assert len(compiles) == 2


@needs_compiler
def test_the_first_compile_builds_the_other_kernels_in_the_background(fresh, compiles):
    from qseq.backends.engine import compiled_gates, compiled_lanes, compiled_run

    assert fused_native.kernel(torch.float64) is not None  # one compile waited for ...
    assert len(compiles) == 1
    _native._finish_background()  # ... the others run beside it (here: waited for, as at exit)
    built = {p.name.split("-")[0] for p in (fresh / "native").glob("*.so")}
    assert built == {"fused_kernel", "fused_lanes_kernel", "compiled_run", "compiled_gates", "compiled_lanes"}
    assert not list((fresh / "native").glob(".*"))  # no temporary file is left
    assert compiled_run._kernel(torch.complex128) is not None and compiled_gates._kernel(torch.complex128)
    assert _native.kernel_functions(compiled_lanes._SOURCE, torch.complex128, ("lanes_forward",), compiled_lanes._Args)
    assert len(compiles) == 1  # loaded from the cache, not compiled again


@needs_compiler
def test_the_kernel_and_the_torch_path_agree(fresh, monkeypatch):
    x = torch.randn(5, 3, 1, dtype=torch.float64)
    native = _model_output(x)
    monkeypatch.setenv("QSEQ_NATIVE", "0")
    assert fused_native.kernel(torch.float64) is None
    plain = _model_output(x)
    for a, b in zip(native, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_disabled_on_purpose_is_silent(fresh, monkeypatch, compiles):
    monkeypatch.setenv("QSEQ_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_native.kernel(torch.float64) is None
        _model_output(torch.randn(3, 2, 1, dtype=torch.float64))
    assert compiles == []


def test_no_compiler_warns_once_and_falls_back(fresh, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-qseq")
    x = torch.randn(4, 2, 1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="no C compiler 'no-such-compiler-qseq'.*QSEQ_NATIVE=0"):
        y, grad = _model_output(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        _model_output(x)
    monkeypatch.setenv("QSEQ_NATIVE", "0")
    want = _model_output(x)
    torch.testing.assert_close(y, want[0], atol=0, rtol=0)
    torch.testing.assert_close(grad, want[1], atol=0, rtol=0)


def test_a_failing_compiler_is_reported_with_its_message(fresh, monkeypatch, tmp_path):
    script = tmp_path / "broken-cc"
    script.write_text("#!/bin/sh\necho 'fatal: this compiler is broken' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    with pytest.warns(RuntimeWarning, match="compiling fused_kernel.c .* failed(.|\n)*this compiler is broken"):
        assert fused_native.kernel(torch.float64) is None
    assert not list((fresh / "native").glob("*.so*"))  # nothing half-written is left


@needs_compiler
def test_a_damaged_cached_library_is_rebuilt(fresh, compiles):
    path = _native.library_path(fused_native._SOURCE, ("QSEQ_FLOAT",), "cc")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a shared library")  # e.g. copied in part from another machine's cache
    assert fused_native.kernel(torch.float32) is not None
    assert len(compiles) == 1
    assert path.read_bytes()[:4] == b"\x7fELF"


def test_an_unwritable_cache_directory_names_the_setting(fresh, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("QSEQ_CACHE_DIR", str(blocker))  # a file where a directory should be
    if shutil.which("cc") is None:
        pytest.skip("no C compiler: the compiler check answers first")
    with pytest.warns(RuntimeWarning, match="cannot keep compiled kernels in .*QSEQ_CACHE_DIR"):
        assert fused_native.kernel(torch.float64) is None

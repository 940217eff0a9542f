"""The fused QLSTM layer (``qseq/models/fused.py``) in both its forms — the compiled CPU kernel
(``fused_native.py``) and the torch operations: the same outputs, final states and gradients as
stepping the cell through the general engine, gradients equal to finite differences, taken where it
applies (counted) and not elsewhere."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.torch_engine import TorchBackend
from qseq.models import QLSTM, QLSTMCell, fused_native
from qseq.models import fused as fused_module

CONFIGS = {
    "paper": dict(input_size=1, hidden_size=3),
    "two_qubits": dict(input_size=1, hidden_size=1, n_qubits=2),
    "seven_qubits_readout": dict(input_size=7, hidden_size=5, n_qubits=7, readout_vqc=True),
    "projection_readout": dict(input_size=2, hidden_size=3, n_qubits=5, readout_vqc=True),
    "two_layers": dict(input_size=2, hidden_size=2, n_qubits=4, num_layers=2),
    "batch_first": dict(input_size=3, hidden_size=4, batch_first=True),
}


@pytest.fixture(params=["native", "torch"])
def impl(request, monkeypatch):
    """Runs a test with the compiled kernel, then with the torch operations (the kernel switched off)."""
    if request.param == "torch":
        monkeypatch.setattr(fused_module, "kernel", lambda dtype: None)
    elif fused_native.kernel(torch.float64) is None:
        pytest.skip("no C compiler here: the compiled kernel is off (tests/test_native.py covers that case)")
    return request.param


@pytest.fixture
def fused_calls(monkeypatch, impl):
    """Counts the fused layer's forward passes (so a test knows the fused path was taken); after the
    test, checks that every one ran in the form ``impl`` names."""
    calls, native = [], []
    monkeypatch.setattr(fused_module, "_layer_forward", _counting(fused_module._layer_forward, calls))
    monkeypatch.setattr(fused_module, "native_forward", _counting(fused_module.native_forward, native))
    yield calls
    assert len(native) == (len(calls) if impl == "native" else 0)


def _counting(fn, calls: list):
    def wrapped(*args):
        calls.append(1)
        return fn(*args)

    return wrapped


def _pair(config: dict, dtype=torch.float64) -> tuple[QLSTM, QLSTM]:
    torch.manual_seed(1)
    fused = QLSTM(**config, dtype=dtype, init="uniform")
    stepped = QLSTM(**config, dtype=dtype, init="uniform", backend=TorchBackend(fuse=False))
    stepped.load_state_dict(fused.state_dict())
    return fused, stepped


def _sequence(config: dict, n_qubits: int, length: int, batch: int, dtype, seed: int):
    """``(x, h0, c0, episode starts)`` for a model of ``config``, drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    layers = config.get("num_layers", 1)
    shape = (batch, length) if config.get("batch_first") else (length, batch)
    x = torch.randn(*shape, config["input_size"], generator=g, dtype=dtype)
    h0 = torch.randn(layers, batch, config["hidden_size"], generator=g, dtype=dtype)
    c0 = torch.randn(layers, batch, n_qubits, generator=g, dtype=dtype)
    return x, h0, c0, torch.rand(*shape, generator=g) < 0.3


def _run(model: QLSTM, x, h0, c0, starts):
    model.backend.usage.reset()
    leaves = [t.clone().requires_grad_() for t in (x, h0, c0)]
    y, (h, c) = model(leaves[0], (leaves[1], leaves[2]), episode_starts=starts)
    loss = y.sin().sum() + (h * h).sum() + c.cos().sum()
    grads = torch.autograd.grad(loss, leaves + list(model.parameters()))
    return (y, h, c), grads, (model.backend.usage.calls, model.backend.usage.circuits)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_layer_equals_stepping_the_cell(name, dtype, tol, fused_calls):
    config = CONFIGS[name]
    fused, stepped = _pair(config, dtype)
    layers = config.get("num_layers", 1)
    x, h0, c0, starts = _sequence(config, fused.n_qubits, 6, 5, dtype, seed=2)
    out_f, grads_f, usage_f = _run(fused, x, h0, c0, starts)
    assert len(fused_calls) == layers
    out_s, grads_s, usage_s = _run(stepped, x, h0, c0, starts)
    assert len(fused_calls) == layers  # the general engine's model stepped its cells
    assert usage_f == usage_s  # the same calls and circuits are reported
    for a, b in zip(out_f, out_s, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=0)
    for a, b in zip(grads_f, grads_s, strict=True):
        assert b.abs().max() > 1e-4  # not a vacuous comparison
        torch.testing.assert_close(a, b, atol=tol * 10, rtol=0)


def test_fused_layer_gradients_equal_finite_differences(fused_calls):
    model = QLSTM(2, 2, n_qubits=3, readout_vqc=True, dtype=torch.float64, init="uniform")
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    starts = torch.tensor([[False, False], [True, False], [False, False]])

    def f(x, *values):
        values = dict(zip(params, values, strict=True))
        out = torch.func.functional_call(model, values, (x,), {"episode_starts": starts})
        return out[0], out[1][0], out[1][1]

    assert torch.autograd.gradcheck(f, (x, *params.values()))
    assert fused_calls


def test_inference_reuses_the_binding_and_matches_training_mode(fused_calls, lanes_calls):
    model = QLSTM(1, 3, dtype=torch.float64, init="uniform")
    x = torch.randn(4, 2, 1, dtype=torch.float64)
    with torch.no_grad():
        first = model(x)[0]
        bound = model.cells[0]._joint_bound
        second = model(x)[0]
        assert model.cells[0]._joint_bound is bound  # weights unchanged: bound once
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    torch.testing.assert_close(model(x)[0].detach(), first, atol=1e-12, rtol=0)  # training mode: the fused layer
    with torch.no_grad():
        model.cells[0].vqc["gates"].weight.add_(0.1)
        assert not torch.allclose(model(x)[0], first)  # an in-place update is seen
    assert len(fused_calls) == 1 and len(lanes_calls) == 3  # without gradients: the lanes layer


@pytest.fixture
def lanes_calls(monkeypatch):
    """Counts the lanes layer's calls (the fused layer without gradients, :func:`qlstm_lanes_layer`)."""
    if fused_native.lanes_kernel(torch.float64) is None:
        pytest.skip("no C compiler here: the compiled kernel is off (tests/test_native.py covers that case)")
    calls: list = []
    monkeypatch.setattr(fused_module, "native_lanes_forward", _counting(fused_module.native_lanes_forward, calls))
    return calls


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_lanes_layer_equals_stepping_the_cell(name, dtype, tol, lanes_calls):
    config = CONFIGS[name]
    fused, stepped = _pair(config, dtype)
    layers = config.get("num_layers", 1)
    x, h0, c0, starts = _sequence(config, fused.n_qubits, 5, 19, dtype, seed=4)  # 19: whole and partial vectors
    usage = []
    with torch.no_grad():
        for model in (fused, stepped):
            model.backend.usage.reset()
            y, (h, c) = model(x, (h0, c0), episode_starts=starts)
            usage.append(((y, h, c), (model.backend.usage.calls, model.backend.usage.circuits)))
    assert len(lanes_calls) == layers
    (got, usage_f), (want, usage_s) = usage
    assert usage_f == usage_s  # the same calls and circuits are reported
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=0)


def test_the_lanes_layer_is_taken_without_gradients_only(lanes_calls, monkeypatch):
    model = QLSTM(3, 4, n_qubits=6, dtype=torch.float64)
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    model(x)  # gradients recorded: the fused layer with its backward pass
    with torch.no_grad():
        model(x)
        QLSTM(3, 4, n_qubits=6, backend=TorchBackend(fuse=True), dtype=torch.float64)(x)  # the user's choice
        assert len(lanes_calls) == 1
        monkeypatch.setattr("qseq.models.cells.LANES_LAYER_MAX_BATCH", 4)  # the dense form pays at 8 inputs
        model(x)
    assert len(lanes_calls) == 1


def test_the_fused_path_is_not_taken_where_it_does_not_apply(fused_calls):
    x = torch.randn(3, 2, 2)
    QLSTM(2, 5, n_qubits=4)(x)  # hidden_size > n_qubits: a hidden projection
    QLSTM(2, 2, backend=TorchBackend(fuse=False))(x)
    QLSTM(2, 2, backend=TorchBackend(diff="adjoint"))(x)
    assert fused_calls == []


def test_a_cell_call_is_a_fused_sequence_of_one_step(fused_calls):
    torch.manual_seed(3)
    fused = QLSTMCell(2, 2, n_qubits=3, init="uniform", dtype=torch.float64)
    stepped = QLSTMCell(2, 2, n_qubits=3, backend=TorchBackend(fuse=False), dtype=torch.float64)
    stepped.load_state_dict(fused.state_dict())
    x = torch.randn(4, 2, dtype=torch.float64)
    state = (torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64))
    got, want = fused(x, state), stepped(x, state)
    assert len(fused_calls) == 1
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)

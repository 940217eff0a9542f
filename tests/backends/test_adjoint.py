"""Adjoint differentiation in the torch engine: the same gradients as autograd (itself checked against
finite differences and PennyLane in test_torch_engine.py) and against central finite differences,
with a constant number of stored states, chosen by the backend option or automatically."""

from __future__ import annotations

import zlib

import pytest
import torch
from reference import all_gates_circuit, flat_params, mixed_observables, random_params

from qseq.backends import get
from qseq.backends.engine import adjoint, compiled_run
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import angle_embedding, chen_vqc, fwp_vqc, strongly_entangling

BUILDERS = {
    "chen_4_2": lambda: chen_vqc(4, 2),
    "fwp_6_2_3_in2": lambda: fwp_vqc(6, 2, 3, n_inputs=2),
    "angleY_strong_4_2": lambda: angle_embedding(4, "Y") + strongly_entangling(4, 2),
    "all_gates": all_gates_circuit,  # Dense stages (controlled rotations) and phased permutations
}


@pytest.fixture
def sweeps(monkeypatch):
    """Counts the adjoint backward sweeps, so a test knows the adjoint path was taken."""
    count = []
    backward = adjoint._AdjointExpval.backward
    monkeypatch.setattr(
        adjoint._AdjointExpval, "backward", staticmethod(lambda ctx, g: count.append(1) or backward(ctx, g))
    )
    return count


def _grads(backend, circuit, groups, cot):
    leaves = {n: t.clone().requires_grad_() for n, t in groups.items()}
    out = backend.expval(circuit, leaves)
    (out * cot).sum().backward()
    return out.detach(), {n: t.grad for n, t in leaves.items()}


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["c128", "c64"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared_weights", "per_sample_weights"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_adjoint_gradients_equal_autograd(name, shared, dtype, tol, sweeps):
    circuit = BUILDERS[name]().measure(mixed_observables(BUILDERS[name]().n_qubits))
    groups = random_params(circuit, 3, dtype=dtype, seed=zlib.crc32(name.encode()))
    if shared:
        groups["weights"] = groups["weights"][0]
    cot = torch.randn(3, circuit.n_obs, generator=torch.Generator().manual_seed(5), dtype=dtype)
    out_a, grad_a = _grads(TorchBackend(diff="adjoint"), circuit, groups, cot)
    assert sweeps == [1]
    out_b, grad_b = _grads(TorchBackend(diff="backprop"), circuit, groups, cot)
    torch.testing.assert_close(out_a, out_b, atol=tol, rtol=0)
    for n in groups:
        assert grad_b[n].abs().max() > 1e-3  # not a vacuous comparison
        torch.testing.assert_close(grad_a[n], grad_b[n], atol=tol, rtol=0)


def test_adjoint_gradients_match_finite_differences_on_the_wire_level_path(monkeypatch, sweeps):
    from qseq.backends.engine import program

    monkeypatch.setattr(program, "TABLE_QUBITS", 1)  # the large-register readout, on a small register
    circuit = all_gates_circuit().measure(mixed_observables(4))
    flat = flat_params(circuit, random_params(circuit, 2, seed=7)).requires_grad_()
    backend = get("torch:diff=adjoint")
    assert backend._entry(circuit)[1].readout is None
    grad = torch.autograd.grad(backend.expval(circuit, flat).sum(), flat)[0]
    assert sweeps == [1]
    eps = 1e-6
    with torch.no_grad():
        for k in range(circuit.n_params):
            step = torch.zeros_like(flat)
            step[:, k] = eps
            fd = (backend.expval(circuit, flat + step).sum(-1) - backend.expval(circuit, flat - step).sum(-1)) / (
                2 * eps
            )
            torch.testing.assert_close(grad[:, k], fd, atol=1e-7, rtol=0)


def test_states_and_unitaries_are_differentiated_by_autograd(sweeps):
    """The adjoint method differentiates expectation values; ``unitary`` (the identity's rows evolved
    as initial states) and ``state`` keep autograd under ``diff='adjoint'``, with the same result."""
    circuit = chen_vqc(3, 1)
    w = random_params(circuit, (), seed=3)["weights"]
    x = random_params(circuit, (), seed=4)["inputs"]
    cot = torch.randn(8, 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(6))
    grads = []
    for diff in ("adjoint", "backprop"):
        wl = w.clone().requires_grad_()
        backend = TorchBackend(diff=diff)
        u = backend.unitary(circuit, {"inputs": x, "weights": wl})
        psi = backend.state(circuit, {"inputs": x, "weights": wl})
        ((u * cot).real.sum() + (psi * cot[0]).imag.sum()).backward()
        grads.append(wl.grad)
    assert sweeps == []
    torch.testing.assert_close(grads[0], grads[1], atol=1e-10, rtol=0)


def _saved_state_bytes(backend, circuit, params) -> int:
    """Bytes of state-sized tensors autograd keeps for the backward pass of one call."""
    dim, seen = 2**circuit.n_qubits, {}

    def pack(t):
        if t.numel() >= dim and t.requires_grad:  # states, not the constant readout tables
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        backend.expval(circuit, params).sum()
    return sum(seen.values())


def test_adjoint_keeps_a_constant_number_of_states(monkeypatch):
    state = 2**12 * 16  # one complex128 state of 12 qubits
    kept = []
    for layers in (2, 6):
        circuit = angle_embedding(12, "Y") + strongly_entangling(12, layers)
        params = torch.rand(1, circuit.n_params, dtype=torch.float64, requires_grad=True)
        compiled = _saved_state_bytes(TorchBackend(diff="backprop"), circuit, params)
        with monkeypatch.context() as patch:  # torch's stages, one by one
            patch.setattr(compiled_run, "_kernel", lambda cdtype: None)
            backprop = _saved_state_bytes(TorchBackend(diff="backprop"), circuit, params)
        adj = _saved_state_bytes(TorchBackend(diff="adjoint"), circuit, params)
        assert adj == 0  # the adjoint function keeps the final state itself, outside autograd
        assert backprop >= 2 * layers * state  # at least one per stage
        kept.append(compiled)
    assert kept[0] == kept[1] < 2 * 2 * state  # the compiled run keeps its final state, whatever the depth


def test_adjoint_is_chosen_when_autograd_states_would_not_fit(monkeypatch, sweeps):
    from qseq.backends import torch_engine

    monkeypatch.setattr(torch_engine, "CHECKED_BYTES", 0)
    circuit = chen_vqc(10, 3)
    state = 2**10 * 16
    params = random_params(circuit, 4, seed=8)
    monkeypatch.setattr(torch_engine, "_free_bytes", lambda device: 6 * 4 * state)  # 6 states of the batch
    _, grad_auto = _grads(TorchBackend(), circuit, params, 1.0)
    assert sweeps == [1]
    monkeypatch.setattr(torch_engine, "_free_bytes", lambda device: 10**12)
    _, grad_ref = _grads(TorchBackend(), circuit, params, 1.0)
    assert sweeps == [1]  # plenty of memory: autograd
    for n in params:
        torch.testing.assert_close(grad_auto[n], grad_ref[n], atol=1e-10, rtol=0)
    # forcing autograd where it cannot fit names the way out
    monkeypatch.setattr(torch_engine, "_free_bytes", lambda device: 6 * 4 * state)
    with pytest.raises(MemoryError, match="diff='adjoint'"):
        _grads(TorchBackend(diff="backprop"), circuit, params, 1.0)


def test_diff_option_is_checked_and_reaches_the_backend_from_a_spec():
    assert get("torch:diff=adjoint").diff == "adjoint"
    assert get("torch:cpu,diff=backprop").diff == "backprop"
    assert get("torch").diff is None
    with pytest.raises(ValueError, match="diff must be None, 'backprop' or 'adjoint'"):
        TorchBackend(diff="parameter-shift")


def test_without_gradients_adjoint_changes_nothing(sweeps):
    circuit = chen_vqc(5, 2)
    params = random_params(circuit, 4, seed=9)
    torch.testing.assert_close(
        TorchBackend(diff="adjoint").expval(circuit, params), TorchBackend().expval(circuit, params), atol=0, rtol=0
    )
    assert sweeps == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_adjoint_on_cuda_matches_the_cpu(sweeps):
    circuit = all_gates_circuit().measure(mixed_observables(4))
    groups = random_params(circuit, 3, dtype=torch.float32, seed=11)
    cot = torch.randn(3, circuit.n_obs, generator=torch.Generator().manual_seed(12))
    out_gpu, grad_gpu = _grads(
        TorchBackend("cuda", diff="adjoint"), circuit, {n: t.cuda() for n, t in groups.items()}, cot.cuda()
    )
    out_cpu, grad_cpu = _grads(TorchBackend(diff="backprop"), circuit, groups, cot)
    assert sweeps == [1]
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, atol=1e-5, rtol=0)
    for n in groups:
        torch.testing.assert_close(grad_gpu[n].cpu(), grad_cpu[n], atol=1e-5, rtol=0)

"""The Triton passes for large registers on CUDA (``engine/gpu_passes.py``): blocks equal to the torch
path of ``apply_block`` at every position, shared or per sample; CNOT-ring gathers (and their
inverses) equal to the index tables; a whole forward pass and adjoint gradients equal to the CPU
engine in complex128; taken where they apply (counted). Needs CUDA and Triton."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.engine import gpu_passes, simulate
from qseq.backends.engine.program import Permute, compile_circuit
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Operation, chen_vqc
from qseq.circuits.circuit import build

if not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)
if gpu_passes._kernel() is None:
    pytest.skip("needs Triton", allow_module_level=True)

N = gpu_passes.GPU_BLOCK_MIN_QUBITS


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    apply = gpu_passes.apply_block_gpu

    def counted(*args):
        out = apply(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(simulate, "apply_block_gpu", counted)
    return calls


@pytest.mark.parametrize("first", [0, 5, N - 4])
@pytest.mark.parametrize("samples, block_samples", [(1, 1), (2, 2), (2, 1)])
def test_equals_the_torch_path(first, samples, block_samples, kernel_calls):
    g = torch.Generator(device="cuda").manual_seed(first)
    psi = torch.randn(samples, 2**N, dtype=torch.complex64, device="cuda", generator=g)
    m = torch.randn(block_samples, 16, 16, dtype=torch.complex64, device="cuda", generator=g)
    m = m if block_samples > 1 else m[0]
    got = simulate.apply_block(psi, m, first, 4, N)
    assert kernel_calls == [True]
    want = simulate.apply_block(psi.cpu().to(torch.complex128), m.cpu().to(torch.complex128), first, 4, N)
    torch.testing.assert_close(got.cpu().to(torch.complex128), want, atol=2e-5, rtol=1e-5)


def test_a_forward_pass_equals_the_cpu_engine(kernel_calls):
    circuit = chen_vqc(N + 2, 2)
    x = torch.rand(1, circuit.n_params, dtype=torch.float64) * 6.28
    got = TorchBackend().expval(circuit, x.float().cuda())
    assert any(kernel_calls)
    want = TorchBackend().expval(circuit, x)
    torch.testing.assert_close(got.cpu().double(), want, atol=1e-5, rtol=0)


def test_not_taken_with_gradients_or_in_complex128(kernel_calls):
    psi = torch.randn(2**N, dtype=torch.complex64, device="cuda", requires_grad=True)
    m = torch.randn(16, 16, dtype=torch.complex64, device="cuda")
    simulate.apply_block(psi, m, 0, 4, N)
    simulate.apply_block(psi.detach().to(torch.complex128), m.to(torch.complex128), 0, 4, N)
    assert kernel_calls == [False, False]


def test_adjoint_gradients_equal_the_cpu_engine(kernel_calls):
    circuit = chen_vqc(N + 1, 1)
    x = torch.rand(1, circuit.n_params, dtype=torch.float64) * 6.28
    x_gpu = x.float().cuda().requires_grad_()
    TorchBackend(diff="adjoint").expval(circuit, x_gpu).sum().backward()
    assert any(kernel_calls)  # the adjoint sweeps apply blocks without autograd
    x_cpu = x.clone().requires_grad_()
    TorchBackend().expval(circuit, x_cpu).sum().backward()
    torch.testing.assert_close(x_gpu.grad.cpu().double(), x_cpu.grad, atol=1e-4, rtol=0)


@pytest.mark.parametrize("inverse", [False, True])
def test_cnot_ring_gathers_equal_the_index_tables(inverse):
    program = compile_circuit(chen_vqc(N, 2))
    tables = simulate.make_tables(program, torch.device("cuda"), torch.complex64)
    psi = torch.randn(2, 2**N, dtype=torch.complex64, device="cuda")
    for stage in [s for s in program.stages if isinstance(s, Permute)]:
        got = gpu_passes.apply_gather_gpu(psi, simulate.gpu_gather(tables, stage, N), N, inverse)
        assert id(stage) not in tables.per_stage  # no index table made: the gather needs none
        source, phase = simulate.permutation_table(tables, stage, N)
        assert phase is None and got is not None
        want = simulate.apply_permutation(psi, source, None) if not inverse else torch.empty_like(psi)
        if inverse:
            want[..., source] = psi
        torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_gathers_with_phases_take_the_torch_path():
    ops = [Operation("CZ", (0, 1)), Operation("RX", (0,), (0,)), Operation("CNOT", (1, 2))]
    circuit = build(N, ops, [("weights", 1)], [{0: "Z"}])
    program = compile_circuit(circuit)
    tables = simulate.make_tables(program, torch.device("cuda"), torch.complex64)
    assert simulate.gpu_gather(tables, next(s for s in program.stages if isinstance(s, Permute)), N) is None
    x = torch.full((1, 1), 0.3, dtype=torch.float64)
    got = TorchBackend().expval(circuit, x.float().cuda())
    torch.testing.assert_close(got.cpu().double(), TorchBackend().expval(circuit, x), atol=1e-5, rtol=0)

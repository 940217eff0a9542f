"""The one-kernel forward pass of small per-sample circuits on CUDA (``engine/gpu_circuit.py``):
values equal PennyLane's ``default.qubit`` and the CPU engine in complex128, and float32 within
its precision, for every single-qubit gate of the table, CNOT/CZ/SWAP (with phases), registers of 1
to 10 qubits and batches that leave programs partly filled; taken where it should be (counted),
inside CUDA graphs too, and not where a gradient is needed. Needs CUDA and Triton."""

from __future__ import annotations

import pytest
import torch
from reference import every_single_qubit_gate, pennylane_expval

from qseq.backends.engine import gpu_circuit
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Circuit, Operation, ParamGroup, chen_vqc

if not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)
if not gpu_circuit.available():
    pytest.skip("needs Triton", allow_module_level=True)


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    call = gpu_circuit.GpuCircuit.__call__

    def counted(self, angles):
        calls.append(angles.shape[0])
        return call(self, angles)

    monkeypatch.setattr(gpu_circuit.GpuCircuit, "__call__", counted)
    return calls


def _params(circuit: Circuit, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, circuit.n_params, generator=g, dtype=torch.float64) * 2 - 1) * 3.2


CIRCUITS = [every_single_qubit_gate(), chen_vqc(1, 1), chen_vqc(4, 2), chen_vqc(7, 2)]


@pytest.mark.parametrize("circuit", CIRCUITS, ids=str)
def test_values_equal_pennylane_and_the_cpu_engine(circuit, kernel_calls):
    params = _params(circuit, 37)  # 37: partly filled programs
    backend = TorchBackend(graphs=False)
    got = backend.expval(circuit, params.cuda())
    assert kernel_calls == [37] and backend.paths == {"compiled": 1} and got.dtype == torch.float64
    want = torch.as_tensor(pennylane_expval(circuit, params))
    torch.testing.assert_close(got.cpu(), want, atol=1e-10, rtol=0)
    torch.testing.assert_close(got.cpu(), TorchBackend().expval(circuit, params), atol=1e-12, rtol=0)
    single = backend.expval(circuit, params.float().cuda())
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.cpu().double(), want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("n", [2, 5, 8, 9, 10])
def test_registers_up_to_the_limit_equal_the_cpu_engine(n, kernel_calls):
    circuit = chen_vqc(n, 2)
    params = _params(circuit, 70, seed=n)
    got = TorchBackend(graphs=False).expval(circuit, params.cuda())
    assert kernel_calls == [70]
    torch.testing.assert_close(got.cpu(), TorchBackend().expval(circuit, params), atol=1e-11, rtol=0)


def test_groups_with_leading_shapes(kernel_calls):
    circuit = chen_vqc(4, 2)
    x = torch.rand(3, 5, 8, dtype=torch.float64)  # inputs (3, 5) × per-sample weights (3, 5)
    w = torch.rand(3, 5, circuit.group_sizes["weights"], dtype=torch.float64)
    got = TorchBackend(graphs=False).expval(circuit, {"inputs": x.cuda(), "weights": w.cuda()})
    assert kernel_calls == [15] and got.shape == (3, 5, 4)
    torch.testing.assert_close(
        got.cpu(), TorchBackend().expval(circuit, {"inputs": x, "weights": w}), atol=1e-12, rtol=0
    )


def test_taken_inside_cuda_graphs(kernel_calls):
    circuit = chen_vqc(4, 2)
    params = _params(circuit, 256).float().cuda()
    backend = TorchBackend()  # graphs on
    first, again = backend.expval(circuit, params), backend.expval(circuit, params * 0.5)
    assert backend.paths == {"graph": 2} and kernel_calls  # captured with the kernel in it
    eager = TorchBackend(graphs=False)
    torch.testing.assert_close(again, eager.expval(circuit, params * 0.5), atol=0, rtol=0)
    torch.testing.assert_close(first, eager.expval(circuit, params), atol=0, rtol=0)


def test_not_taken_with_gradients(kernel_calls):
    circuit = chen_vqc(4, 2)
    params = _params(circuit, 8)
    x = params.cuda().requires_grad_()
    backend = TorchBackend(graphs=False)
    backend.expval(circuit, x).sum().backward()
    assert kernel_calls == [] and "compiled" not in backend.paths
    ref = params.clone().requires_grad_()
    TorchBackend().expval(circuit, ref).sum().backward()
    torch.testing.assert_close(x.grad.cpu(), ref.grad, atol=1e-12, rtol=0)
    with torch.no_grad():
        backend.expval(circuit, x)
    assert kernel_calls == [8]


def test_other_observables_take_the_torch_path(kernel_calls):
    circuit = Circuit(2, (Operation("RY", (0,), (0,)), Operation("CNOT", (0, 1))), (ParamGroup("inputs", 1),), ("XX",))
    params = torch.tensor([[0.3], [1.1]], dtype=torch.float64)
    got = TorchBackend(graphs=False).expval(circuit, params.cuda())
    assert kernel_calls == []
    torch.testing.assert_close(got.cpu(), TorchBackend().expval(circuit, params), atol=1e-12, rtol=0)

"""The compiled build of a fused run's unitary (``engine/compiled_run.py``): equal to PennyLane's matrix
of the same circuit and to the torch build, gradients equal to finite differences, taken on the CPU
for runs of Local and Permute stages and not for others."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.engine import compiled_run, simulate
from qseq.backends.engine.program import compile_circuit
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Operation, chen_vqc, to_pennylane
from qseq.circuits.circuit import build

qml = pytest.importorskip("pennylane")

if compiled_run._kernel(torch.complex128) is None:
    pytest.skip("no C compiler here: the compiled kernels are off (tests/test_native.py)", allow_module_level=True)


def weights_only(n: int):
    """Gates on weights only, starting with a CNOT (no product-state preparation): Rot and RX layers,
    a wire left without a gate, H, CZ and SWAP (phased permutations), CNOTs both ways."""
    ops = [Operation("CNOT", (0, n - 1))]
    ops += [Operation("Rot", (w,), (3 * w, 3 * w + 1, 3 * w + 2)) for w in range(n)]
    ops += [Operation("CZ", (0, 1)), Operation("SWAP", (1, n - 1)), Operation("H", (0,))]
    ops += [Operation("RX", (w,), (3 * n + w,)) for w in range(1, n)]  # wire 0: H only
    ops += [Operation("CNOT", (n - 1, 0)), Operation("RY", (1,), (4 * n,))]
    return build(n, ops, [("weights", 4 * n + 1)], [{w: "Z"} for w in range(n)])


def _rows(circuit, weights, compiled: bool, monkeypatch) -> torch.Tensor:
    """The rows of all of ``circuit``'s stages after its preparation, by the compiled kernel or by
    the torch build."""
    program = compile_circuit(circuit)
    cdtype = torch.complex128 if weights.dtype == torch.float64 else torch.complex64
    tables = simulate.make_tables(program, torch.device("cpu"), cdtype)
    groups = {"weights": weights}
    mats = simulate._Matrices(program, tables, groups)
    run = range(len(program.stages))
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(compiled_run, "_kernel", lambda cdtype: None)
        return simulate._fused_rows(program.stages, run, tables, mats, groups, program.n_qubits)


@pytest.fixture
def compiled_calls(monkeypatch):
    calls = []
    kernel = compiled_run._kernel
    monkeypatch.setattr(compiled_run, "_kernel", lambda cdtype: calls.append(cdtype) or kernel(cdtype))
    return calls


@pytest.mark.parametrize("n", [3, 5])
def test_equals_pennylanes_matrix(n, monkeypatch, compiled_calls):
    circuit = weights_only(n)
    w = torch.rand(2, circuit.group_sizes["weights"], dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    rows = _rows(circuit, w, True, monkeypatch)
    assert compiled_calls
    for k in range(2):
        want = qml.matrix(to_pennylane(circuit), wire_order=range(n))(w[k])
        torch.testing.assert_close(rows[k].T, torch.as_tensor(want), atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)], ids=["c128", "c64"])
@pytest.mark.parametrize("n", [2, 4, 6])
def test_equals_the_torch_build(n, dtype, tol, monkeypatch, compiled_calls):
    circuit = chen_vqc(n, 2)  # its Rot layers take the layered form: one view of the matrices
    w = torch.rand(3, 1, circuit.group_sizes["weights"], dtype=dtype, generator=torch.Generator().manual_seed(n))
    program = compile_circuit(circuit)
    want = _rows(circuit, w, False, monkeypatch)
    got = _rows(circuit, w, True, monkeypatch)
    assert compiled_calls and len(program.stages) >= 2
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    assert got.shape == (3, 1, 2**n, 2**n)


def test_gradients_equal_finite_differences(monkeypatch, compiled_calls):
    circuit = weights_only(3)
    w = torch.rand(2, circuit.group_sizes["weights"], dtype=torch.float64, requires_grad=True)
    probe = torch.randn(2, 8, 8, dtype=torch.complex128)

    def f(w):
        rows = _rows(circuit, w, True, monkeypatch)
        return (rows * probe).sum().real, (rows.abs() ** 2 * probe.real).sum()

    assert torch.autograd.gradcheck(f, (w,))
    assert compiled_calls


@pytest.fixture
def kernel_uses(monkeypatch):
    """Counts the engine's calls of the compiled kernel, by kind: a run's rows or a batch of states."""
    uses = {"rows": 0, "states": 0}
    for kind in uses:
        fn = getattr(simulate, f"run_{kind}")
        monkeypatch.setattr(
            simulate, f"run_{kind}", lambda *a, fn=fn, kind=kind: uses.update({kind: uses[kind] + 1}) or fn(*a)
        )
    return uses


def test_taken_for_runs_of_gate_layers_on_the_cpu(kernel_uses):
    circuit = chen_vqc(4, 2)
    w = torch.rand(6, 1, circuit.group_sizes["weights"])
    x = torch.rand(5, 8)
    TorchBackend(fuse=False).bind(circuit, weights=w)(inputs=x)
    assert kernel_uses == {"rows": 0, "states": 0}  # shared layers, not fused: torch's blocks, one GEMM each
    backend = TorchBackend()  # with gradients: the product-state path over the run's rows
    backend.bind(circuit, weights=w.requires_grad_())(inputs=x)
    assert backend.paths == {"product": 1} and kernel_uses == {"rows": 1, "states": 0}
    x_word = circuit.measure([{0: "X"}, {1: "Z"}])  # (⟨Z⟩ alone: the whole-circuit kernel, test_compiled_gates)
    TorchBackend().expval(x_word, torch.rand(5, circuit.n_params))  # per-sample weights: through the run
    assert kernel_uses == {"rows": 1, "states": 1}


def test_not_taken_for_controlled_rotations_or_large_registers(kernel_uses, monkeypatch):
    dense = build(2, [Operation("CRX", (0, 1), (0,)), Operation("RY", (1,), (1,))], [("weights", 2)], [{0: "Z"}])
    TorchBackend(fuse=False).expval(dense, torch.rand(3, 2))
    assert kernel_uses == {"rows": 0, "states": 1}  # the RY after the Dense stage only
    monkeypatch.setattr(simulate, "COMPILED_MAX_QUBITS", 4)
    n = simulate.COMPILED_MAX_QUBITS + 1
    TorchBackend().expval(chen_vqc(n, 1), torch.rand(1, chen_vqc(n, 1).n_params))
    assert kernel_uses == {"rows": 0, "states": 1}


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)], ids=["c128", "c64"])
def test_per_sample_states_equal_the_torch_stages_and_pennylane(dtype, tol, monkeypatch, kernel_uses):
    circuit = chen_vqc(3, 2).measure([{0: "X"}, {1: "Y", 2: "Z"}, {2: "Z"}])
    params = torch.rand(4, circuit.n_params, dtype=dtype, requires_grad=True)
    got = TorchBackend().expval(circuit, params)
    (grad,) = torch.autograd.grad(got.sum(), params)
    assert kernel_uses["states"] == 1
    with monkeypatch.context() as patch:
        patch.setattr(compiled_run, "_kernel", lambda cdtype: None)
        want = TorchBackend().expval(circuit, params)
        (want_grad,) = torch.autograd.grad(want.sum(), params)
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    torch.testing.assert_close(grad, want_grad, atol=10 * tol, rtol=0)
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=3), interface="torch")
    reference = torch.stack(qnode(params.detach().double()), -1)
    torch.testing.assert_close(got.double(), reference, atol=tol, rtol=0)


def test_per_sample_gradients_equal_finite_differences(kernel_uses):
    circuit = weights_only(3).measure([{0: "X"}, {1: "Z"}])  # from |000⟩: one state for the batch's matrices
    params = torch.rand(2, circuit.n_params, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: TorchBackend(fuse=False).expval(circuit, p), (params,))
    assert kernel_uses["states"] > 0

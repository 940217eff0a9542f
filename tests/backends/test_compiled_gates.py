"""The compiled gate matrices (``engine/compiled_gates.py``) and per-sample circuits run whole in C
(``engine/compiled_circuit.py``): the table's rotation form equals its matrices, the kernel's
matrices equal the table's, gradients equal finite differences, whole circuits equal PennyLane and
the torch engine, and the whole-circuit path is taken where it should be."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from reference import every_single_qubit_gate

from qseq.backends.engine import compiled_circuit, compiled_gates, compiled_run, simulate
from qseq.backends.engine.program import Local, compile_circuit
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import GATES, Operation, chen_vqc, to_pennylane
from qseq.circuits.circuit import build

qml = pytest.importorskip("pennylane")

if compiled_run._kernel(torch.complex128) is None:
    pytest.skip("no C compiler here: the compiled kernels are off (tests/test_native.py)", allow_module_level=True)

PAULI = {
    "X": torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128),
    "Y": torch.tensor([[0, -1j], [1j, 0]], dtype=torch.complex128),
    "Z": torch.tensor([[1, 0], [0, -1]], dtype=torch.complex128),
}


@pytest.mark.parametrize("name", [n for n, s in GATES.items() if s.axes])
def test_the_tables_rotation_form_is_its_matrix(name):
    spec = GATES[name]
    angles = torch.rand(5, spec.n_params, dtype=torch.float64) * 2 * math.pi - math.pi
    for row in angles:
        want = torch.eye(2, dtype=torch.complex128)
        for axis, theta in zip(spec.axes, row, strict=True):  # exp(-iθσ/2) = cos(θ/2) I - i sin(θ/2) σ
            rotation = math.cos(theta / 2) * torch.eye(2, dtype=torch.float64) - 1j * math.sin(theta / 2) * PAULI[axis]
            want = rotation @ want
        torch.testing.assert_close(spec.matrix(row, torch.complex128), want, atol=1e-14, rtol=0)


def _plan_and_torch_matrices(circuit, params: torch.Tensor, cdtype):
    """The gate plan of the circuit's Local stages and their matrices by torch ``(N, L, n, 2, 2)``."""
    program = compile_circuit(circuit)
    tables = simulate.make_tables(program, torch.device("cpu"), cdtype)
    local = [s for s in ((program.prep,) if program.prep else ()) + program.stages if isinstance(s, Local)]
    plan = compiled_gates.gate_plan(local, circuit.n_qubits, circuit.group_sizes, cdtype)
    mats = simulate._Matrices(program, tables, {"weights": params})
    eye = torch.eye(2, dtype=cdtype)
    per_wire = [m if m is not None else eye for s in local for m in mats.per_wire(s)]
    want = torch.stack([m.expand(params.shape[0], 2, 2) for m in per_wire], 1)
    return plan, want.unflatten(1, (len(local), circuit.n_qubits))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-14), (torch.float32, 1e-6)], ids=["c128", "c64"])
def test_matrices_equal_the_tables(dtype, tol):
    circuit = every_single_qubit_gate()
    params = torch.rand(4, circuit.n_params, dtype=dtype) * 7 - 3.5
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    plan, want = _plan_and_torch_matrices(circuit, params, cdtype)
    got = compiled_gates.build_matrices(params, plan)
    torch.testing.assert_close(got.view_as(want), want, atol=tol, rtol=0)


@pytest.mark.parametrize("sets", [2, 11])  # a partial block of sets, and a whole one and a partial one
def test_matrix_gradients_equal_finite_differences(sets):
    circuit = every_single_qubit_gate()
    params = torch.rand(sets, circuit.n_params, dtype=torch.float64, requires_grad=True)
    plan, _ = _plan_and_torch_matrices(circuit, params.detach(), torch.complex128)
    assert torch.autograd.gradcheck(lambda p: compiled_gates.build_matrices(p, plan), (params,))


@pytest.fixture
def runs(monkeypatch):
    """Counts the whole-circuit kernel's calls and the compiled runs of states (other circuits)."""
    uses = {"circuit": 0, "states": 0}
    call, run_states = compiled_circuit.CircuitKernel.__call__, simulate.run_states

    def circuit(kernel, angles):
        uses["circuit"] += 1
        return call(kernel, angles)

    def states(*args):
        uses["states"] += 1
        return run_states(*args)

    monkeypatch.setattr(compiled_circuit.CircuitKernel, "__call__", circuit)
    monkeypatch.setattr(simulate, "run_states", states)
    return uses


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)], ids=["c128", "c64"])
def test_whole_circuits_equal_pennylane(dtype, tol, runs):
    circuit = every_single_qubit_gate()
    params = torch.rand(5, circuit.n_params, dtype=dtype) * 7 - 3.5
    backend = TorchBackend()
    got = backend.expval(circuit, params)
    assert backend.paths == {"compiled": 1} and runs == {"circuit": 1, "states": 0}
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=circuit.n_qubits))
    want = torch.stack(qnode(params.double()), -1)
    torch.testing.assert_close(got.double(), want, atol=tol, rtol=0)


def test_whole_circuit_gradients_equal_finite_differences(runs):
    circuit = every_single_qubit_gate()
    params = torch.rand(3, circuit.n_params, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: TorchBackend().expval(circuit, p), (params,))
    assert runs["circuit"] > 0 and runs["states"] == 0


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_every_register_size_and_both_precisions_agree_with_the_torch_engine(n, monkeypatch):
    circuit = chen_vqc(n, 2)  # the last wires pair amplitudes inside one SIMD vector
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        params = torch.rand(6, circuit.n_params, dtype=dtype, requires_grad=True)
        probe = torch.randn(6, n, dtype=dtype)
        got = TorchBackend().expval(circuit, params)
        (grad,) = torch.autograd.grad((got * probe).sum(), params)
        with monkeypatch.context() as patch:
            patch.setattr(compiled_run, "_kernel", lambda cdtype: None)
            backend = TorchBackend()
            want = backend.expval(circuit, params)
            (want_grad,) = torch.autograd.grad((want * probe).sum(), params)
            assert backend.paths == {"state": 1}
        torch.testing.assert_close(got, want, atol=tol, rtol=0)
        torch.testing.assert_close(grad, want_grad, atol=10 * tol, rtol=0)


def test_a_gate_without_the_rotation_form_gets_torchs_matrices(runs, monkeypatch):
    monkeypatch.setitem(GATES, "RX", dataclasses.replace(GATES["RX"], axes=""))  # as a future gate might be
    circuit = every_single_qubit_gate()
    params = torch.rand(3, circuit.n_params, dtype=torch.float64)
    program = compile_circuit(circuit)
    local = [s for s in (program.prep, *program.stages) if isinstance(s, Local)]
    assert compiled_gates.gate_plan(local, 3, circuit.group_sizes, torch.complex128) is None
    got = TorchBackend().expval(circuit, params)
    assert runs == {"circuit": 0, "states": 1}  # the general engine's compiled run, with torch's matrices
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=3))
    torch.testing.assert_close(got, torch.stack(qnode(params), -1), atol=1e-12, rtol=0)


def test_where_whole_circuits_are_not_taken(runs):
    circuit = chen_vqc(3, 2)
    x = torch.rand(4, circuit.n_params)
    words = TorchBackend()
    words.expval(circuit.measure([{0: "X"}, {1: "Z"}]), x)  # an X word: torch's readout of compiled states
    assert words.paths == {"state": 1} and runs == {"circuit": 0, "states": 1}
    shared = TorchBackend()  # weights shared by the batch: the lanes kernel, with gradients the product path
    shared.expval(circuit, {"inputs": torch.rand(4, 6), "weights": torch.rand(1, 18)})
    shared.expval(circuit, {"inputs": torch.rand(4, 6), "weights": torch.rand(1, 18, requires_grad=True)})
    assert shared.paths == {"lanes": 1, "product": 1}
    dense = build(2, [Operation("RY", (0,), (0,)), Operation("CRX", (0, 1), (1,))], [("weights", 2)], [{1: "Z"}])
    controlled = TorchBackend()
    controlled.expval(dense, torch.rand(3, 2))
    assert controlled.paths == {"state": 1} and runs["circuit"] == 0


def test_a_call_split_over_threads_gives_the_same_numbers(split_over_threads):
    circuit = every_single_qubit_gate()
    params = torch.rand(7, circuit.n_params, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(7, circuit.n_obs, dtype=torch.float64)

    def run():
        out = TorchBackend().expval(circuit, params)
        return out, torch.autograd.grad((out * probe).sum(), params)[0]

    want = run()
    got = split_over_threads(run)  # 7 states over 3 threads
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=0, rtol=0)


def _without_kernels(monkeypatch, fn):
    """``fn()`` with the compiled kernels off: the torch engine's reference answer."""
    with monkeypatch.context() as patch:
        patch.setattr(compiled_run, "_kernel", lambda cdtype: None)
        patch.setattr(compiled_gates, "_kernel", lambda dtype: None)
        return fn()


@pytest.mark.parametrize(
    "params",
    [
        lambda c: torch.rand(2, 3, c.n_params, dtype=torch.float64),  # a batch of two dims
        lambda c: {  # inputs shared by the batch, re-uploaded beside per-sample weights
            "inputs": torch.rand(1, c.group_sizes["inputs"], dtype=torch.float64),
            "weights": torch.rand(5, c.group_sizes["weights"], dtype=torch.float64),
        },
    ],
    ids=["2d-batch", "shared-inputs"],
)
def test_batch_shapes_and_broadcasting_match_the_torch_engine(params, runs, monkeypatch):
    ops = [Operation("RY", (w,), (w,)) for w in range(3)] + [Operation("CNOT", (0, 1)), Operation("CNOT", (1, 2))]
    ops += [Operation("RX", (w,), (3 + w,)) for w in range(3)] + [Operation("RZ", (w,), (w,)) for w in range(3)]
    circuit = build(3, ops, [("weights", 3), ("inputs", 3)], [{0: "Z"}, {2: "Z"}])
    p = params(circuit)
    backend = TorchBackend()
    got = backend.expval(circuit, p)
    want = _without_kernels(monkeypatch, lambda: TorchBackend().expval(circuit, p))
    assert backend.paths == {"compiled": 1} and got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_a_gradient_for_one_group_only(runs, monkeypatch):
    circuit = chen_vqc(3, 2)
    inputs = torch.rand(4, circuit.group_sizes["inputs"], dtype=torch.float64, requires_grad=True)
    weights = torch.rand(4, circuit.group_sizes["weights"], dtype=torch.float64)

    def grad():
        out = TorchBackend().expval(circuit, {"inputs": inputs, "weights": weights})
        return torch.autograd.grad((out * torch.arange(3.0, dtype=torch.float64)).sum(), inputs)[0]

    torch.testing.assert_close(grad(), _without_kernels(monkeypatch, grad), atol=1e-12, rtol=0)
    assert runs["circuit"] == 1

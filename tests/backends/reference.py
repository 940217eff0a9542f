"""Independent reference simulators for the backend tests.

Nothing here goes through qseq's engine, exporters or gate table: each reference walks
``circuit.ops`` itself and rebuilds the circuit in Qiskit (``Statevector``) or PennyLane (QNodes), with
gate names from its own tables below. They take qseq's circuit description as given, so they check
the engine and the gate table, not the builders: ``tests/circuits/test_independent_references.py``
writes the builders' circuits out by hand.

Conventions checked by these references (PennyLane's, see ``circuits/gates.py``):

* wire ``i`` is Qiskit qubit ``i``; the engine's basis index has wire 0 as the most significant bit,
  Qiskit's has qubit 0 as the least significant one, so a Qiskit vector is bit-reversed to compare;
* ``Rot(φ, θ, ω) = RZ(ω) · RY(θ) · RZ(φ)``, i.e. apply ``rz(φ)``, then ``ry(θ)``, then ``rz(ω)``;
* controlled gates take the control wire first.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import torch

from qseq.circuits import GATES, Circuit, Operation, ParamGroup
from qseq.circuits.circuit import build

# Our own name table (not GateSpec.qiskit), so an error in the table cannot hide here.
QISKIT_METHODS = {
    "H": "h",
    "X": "x",
    "Y": "y",
    "Z": "z",
    "S": "s",
    "T": "t",
    "RX": "rx",
    "RY": "ry",
    "RZ": "rz",
    "CNOT": "cx",
    "CZ": "cz",
    "SWAP": "swap",
    "CRX": "crx",
    "CRY": "cry",
    "CRZ": "crz",
    "Rot": None,  # decomposed below
}


# Likewise for PennyLane (not GateSpec.pennylane).
PENNYLANE_CLASSES = {
    "H": "Hadamard",
    "X": "PauliX",
    "Y": "PauliY",
    "Z": "PauliZ",
    "S": "S",
    "T": "T",
    "RX": "RX",
    "RY": "RY",
    "RZ": "RZ",
    "CNOT": "CNOT",
    "CZ": "CZ",
    "SWAP": "SWAP",
    "CRX": "CRX",
    "CRY": "CRY",
    "CRZ": "CRZ",
    "Rot": "Rot",
}


# -- Qiskit -----------------------------------------------------------------------------------
def qiskit_circuit(circuit: Circuit, values) -> QuantumCircuit:  # noqa: F821
    """A ``qiskit.QuantumCircuit`` of ``circuit`` with the angles ``values`` (1-D, length n_params)."""
    from qiskit import QuantumCircuit

    values = np.asarray(values, dtype=np.float64)
    qc = QuantumCircuit(circuit.n_qubits)
    for op in circuit.ops:
        angles = [float(values[p]) for p in op.params]
        wires = list(op.wires)
        if op.name == "Rot":
            phi, theta, omega = angles
            qc.rz(phi, wires[0])
            qc.ry(theta, wires[0])
            qc.rz(omega, wires[0])
        else:
            getattr(qc, QISKIT_METHODS[op.name])(*angles, *wires)
    return qc


def qiskit_observable(pauli, n_qubits: int):
    from qiskit.quantum_info import SparsePauliOp

    letters = "".join(p for _, p in pauli.terms)
    wires = [w for w, _ in pauli.terms]
    return SparsePauliOp.from_sparse_list([(letters, wires, 1.0)], num_qubits=n_qubits)


def _batched(circuit: Circuit, params, fn, out_shape) -> np.ndarray:
    p = params.detach().cpu().double().numpy() if isinstance(params, torch.Tensor) else np.asarray(params, np.float64)
    lead = p.shape[:-1]
    flat = p.reshape(int(np.prod(lead)), p.shape[-1])
    rows = [fn(row) for row in flat]
    return np.asarray(rows).reshape(*lead, *out_shape)


def qiskit_state(circuit: Circuit, params) -> np.ndarray:
    """``(..., 2**n)`` complex128 final state in the engine's order (wire 0 = most significant bit)."""
    from qiskit.quantum_info import Statevector

    n = circuit.n_qubits

    def one(row):
        data = Statevector(qiskit_circuit(circuit, row)).data
        # Qiskit index: qubit 0 least significant -> reverse the qubit axes.
        return data.reshape([2] * n).transpose(tuple(reversed(range(n)))).reshape(-1)

    return _batched(circuit, params, one, (2**n,))


def qiskit_expval(circuit: Circuit, params) -> np.ndarray:
    """``(..., n_obs)`` float64 expectation values from ``Statevector.expectation_value``."""
    from qiskit.quantum_info import Statevector

    n = circuit.n_qubits
    ops = [qiskit_observable(o, n) for o in circuit.observables]

    def one(row):
        sv = Statevector(qiskit_circuit(circuit, row))
        vals = [sv.expectation_value(o) for o in ops]
        assert all(abs(np.imag(v)) < 1e-12 for v in vals)
        return [float(np.real(v)) for v in vals]

    return _batched(circuit, params, one, (circuit.n_obs,))


# -- PennyLane --------------------------------------------------------------------------------
def _pl_observable(pauli):
    import pennylane as qml

    names = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
    if not pauli.terms:
        return qml.Identity(0)
    return functools.reduce(operator.matmul, [names[p](w) for w, p in pauli.terms])


def _pl_body(circuit: Circuit):
    import pennylane as qml

    def body(params):
        for op in circuit.ops:
            cls = getattr(qml, PENNYLANE_CLASSES[op.name])
            cls(*[params[..., p] for p in op.params], wires=list(op.wires))
        return [qml.expval(_pl_observable(o)) for o in circuit.observables]

    return body


def pennylane_qnode(circuit: Circuit, device: str = "default.qubit", diff_method="backprop"):
    """A torch-interface QNode taking a ``(..., n_params)`` tensor (broadcast over the batch)."""
    import pennylane as qml

    dev = qml.device(device, wires=circuit.n_qubits)
    qnode = qml.QNode(_pl_body(circuit), dev, interface="torch", diff_method=diff_method)

    def run(params: torch.Tensor) -> torch.Tensor:
        out = qnode(params)
        return torch.stack([torch.as_tensor(o) for o in out], dim=-1)

    return run


def pennylane_expval(circuit: Circuit, params: torch.Tensor) -> np.ndarray:
    """default.qubit (float64 angles, broadcast) -> ``(..., n_obs)`` numpy."""
    p = params.detach().cpu().double()
    lead = p.shape[:-1]
    out = pennylane_qnode(circuit, "default.qubit")(p.reshape(-1, p.shape[-1]))
    return out.detach().numpy().reshape(*lead, circuit.n_obs)


def lightning_expval(circuit: Circuit, params) -> np.ndarray:
    """lightning.qubit, one execution per sample (no reliance on its broadcasting)."""
    import pennylane as qml

    dev = qml.device("lightning.qubit", wires=circuit.n_qubits)
    qnode = qml.QNode(_pl_body(circuit), dev, interface=None, diff_method=None)
    return _batched(circuit, params, lambda row: [float(v) for v in qnode(row)], (circuit.n_obs,))


# -- circuits ---------------------------------------------------------------------------------
def every_single_qubit_gate(n: int = 3) -> Circuit:
    """Every single-qubit gate of the table on rotating wires, between CNOT, CZ and SWAP layers, and
    ⟨Z⟩ on some wires in shuffled order: the circuits the compiled kernels run whole. Group:
    weights."""
    ops, k = [], 0
    single = [name for name, spec in GATES.items() if spec.n_wires == 1]
    for layer in range(2):
        for i, name in enumerate(single):
            spec = GATES[name]
            ops.append(Operation(name, ((i + layer) % n,), tuple(range(k, k + spec.n_params))))
            k += spec.n_params
        ops += [Operation("CNOT", (0, 1)), Operation("CZ", (1, 2)), Operation("SWAP", (0, 2))]
    return build(n, ops, [("weights", k)], [{2: "Z"}, {0: "Z"}])


def all_gates_circuit() -> Circuit:
    """4 qubits using every gate of the table, gates after entanglers, controls above targets,
    and one angle used twice. Groups: inputs (3), weights (14)."""
    op = Operation
    ops = [
        op("H", (0,)),
        op("X", (1,)),
        op("H", (2,)),
        op("Y", (2,)),
        op("H", (3,)),
        op("Z", (3,)),
        op("S", (0,)),
        op("T", (1,)),
        op("H", (1,)),
        op("T", (1,)),
        op("RX", (2,), (0,)),
        op("RY", (3,), (1,)),
        op("RZ", (0,), (2,)),
        op("Rot", (1,), (3, 4, 5)),
        op("CNOT", (0, 1)),
        op("CZ", (1, 2)),
        op("SWAP", (2, 3)),
        op("CRX", (3, 0), (6,)),
        op("CRY", (2, 1), (7,)),
        op("CRZ", (1, 3), (8,)),
        op("CNOT", (3, 1)),
        op("CZ", (2, 0)),
        op("H", (2,)),
        op("S", (3,)),
        op("T", (0,)),
        op("X", (1,)),
        op("RX", (3,), (9,)),
        op("Rot", (0,), (10, 11, 12)),
        op("X", (3,)),
        op("Z", (2,)),
        op("SWAP", (3, 0)),
        op("CRZ", (3, 2), (13,)),
        op("CRX", (2, 0), (14,)),
        op("RY", (1,), (15,)),
        op("RZ", (2,), (0,)),
        op("CRY", (1, 0), (16,)),
        op("CNOT", (2, 1)),
        op("S", (1,)),
        op("H", (3,)),
        op("T", (3,)),
    ]
    names = {op.name for op in ops}
    assert names == set(GATES), f"all_gates_circuit misses {set(GATES) - names}"
    return Circuit(4, tuple(ops), (ParamGroup("inputs", 3), ParamGroup("weights", 14)))


def mixed_observables(n_qubits: int) -> list:
    """Non-Z observables (and one Z word) for an n-qubit circuit, in the forms Circuit.measure takes."""
    n = n_qubits
    cycle = "".join("XZIY"[i % 4] for i in range(n))
    obs = [cycle, {0: "Y"}, {n - 1: "X", 0: "Z"}, "Z" * min(2, n) + "I" * (n - min(2, n))]
    if n >= 2:
        obs.append({1: "Y", n - 1: "Y"} if n > 2 else {0: "X", 1: "Y"})
    return obs


def random_params(circuit: Circuit, batch, dtype=torch.float64, seed=0, scale=np.pi):
    """``{group: (*batch, size)}`` uniform in [-scale, scale)."""
    gen = torch.Generator().manual_seed(seed)
    batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    return {
        g.name: ((torch.rand(*batch, g.size, generator=gen, dtype=torch.float64) * 2 - 1) * scale).to(dtype)
        for g in circuit.param_groups
        if g.size
    }


def flat_params(circuit: Circuit, groups: dict) -> torch.Tensor:
    """Concatenate a ``{group: tensor}`` mapping (same leading shape) in circuit order."""
    parts = [groups[g.name] for g in circuit.param_groups if g.size]
    lead = torch.broadcast_shapes(*(p.shape[:-1] for p in parts))
    return torch.cat([p.expand(*lead, p.shape[-1]) for p in parts], dim=-1)

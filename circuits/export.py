"""Exporters: the same :class:`~qseq.circuits.Circuit` as a Qiskit circuit, a PennyLane quantum
function, or OpenQASM 3 text.

Every exporter is a walk over ``circuit.ops`` that looks each gate up in
:data:`~qseq.circuits.gates.GATES`; gates a target has no native name for are first expanded by
:data:`DECOMPOSITIONS`. Parameters stay symbolic, so one export serves every parameter vector.

Wire ``i`` becomes Qiskit qubit ``i``: Qiskit orders basis states little-endian, so its statevector
is the bit-reversal of ours (wire 0 is our most significant bit), while expectation values of
Pauli words are the same without any reordering.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from .._optional import require
from .circuit import Circuit, Operation, Pauli
from .gates import gate

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector
    from qiskit.quantum_info import SparsePauliOp

__all__ = ["QiskitCircuit", "DECOMPOSITIONS", "to_qiskit", "to_pennylane", "to_qasm3"]

# Gates without a Qiskit / OpenQASM 3 name, as the single-angle gates applied in order, one per
# angle: Rot(φ, θ, ω) = RZ(ω)·RY(θ)·RZ(φ) is RZ(φ), then RY(θ), then RZ(ω) (exact, no global phase).
DECOMPOSITIONS: dict[str, tuple[str, ...]] = {"Rot": ("RZ", "RY", "RZ")}


class QiskitCircuit(NamedTuple):
    """What :func:`to_qiskit` returns.

    Attributes:
        circuit: the gates on ``n_qubits`` qubits, no measurements.
        params: the ``n_params`` symbolic angles ``p[0], p[1], ...`` in the circuit's flat order;
            bind values with ``circuit.assign_parameters(dict(zip(params, values)))``.
        observables: one ``SparsePauliOp`` per observable of the circuit, in order.
    """

    circuit: QuantumCircuit
    params: ParameterVector
    observables: list[SparsePauliOp]


def _native_ops(circuit: Circuit) -> Iterator[Operation]:
    """``circuit.ops`` with every gate of :data:`DECOMPOSITIONS` expanded into its parts."""
    for op in circuit.ops:
        parts = DECOMPOSITIONS.get(op.name)
        if parts is None:
            yield op
        else:
            yield from (Operation(name, op.wires, (p,)) for name, p in zip(parts, op.params, strict=True))


# -- Qiskit ------------------------------------------------------------------------------------


def _sparse_pauli_op(pauli: Pauli, n_qubits: int) -> SparsePauliOp:
    from qiskit.quantum_info import SparsePauliOp

    letters = "".join(letter for _, letter in pauli.terms)
    return SparsePauliOp.from_sparse_list([(letters, list(pauli.wires), 1.0)], num_qubits=n_qubits)


def to_qiskit(circuit: Circuit) -> QiskitCircuit:
    """The circuit as a parametrised :class:`qiskit.QuantumCircuit`.

    Args:
        circuit: the circuit to export.

    Returns:
        A :class:`QiskitCircuit` whose ``params`` is a ``ParameterVector`` named ``"p"`` of length
        ``circuit.n_params`` and whose ``observables`` are ``circuit.n_obs`` ``SparsePauliOp`` s.

    Raises:
        ImportError: qiskit is not installed.
        ValueError: a gate has neither a Qiskit name nor a decomposition.
    """
    require("qiskit", "qiskit")
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    params = ParameterVector("p", circuit.n_params)
    qc = QuantumCircuit(circuit.n_qubits)
    for op in _native_ops(circuit):
        method = gate(op.name).qiskit
        if method is None:
            raise ValueError(
                f"gate {op.name!r} has no Qiskit name and no entry in DECOMPOSITIONS: add one to export it"
            )
        apply = getattr(qc, method)
        apply(*(params[i] for i in op.params), *op.wires)
    observables = [_sparse_pauli_op(o, circuit.n_qubits) for o in circuit.observables]
    return QiskitCircuit(qc, params, observables)


# -- PennyLane ---------------------------------------------------------------------------------


def _pennylane_word(qml: ModuleType, pauli: Pauli) -> Any:
    factors = [getattr(qml, letter)(wire) for wire, letter in pauli.terms]
    return functools.reduce(operator.matmul, factors) if factors else qml.Identity(0)


def to_pennylane(circuit: Circuit) -> Callable[[Any], list]:
    """The circuit as a PennyLane quantum function, to wrap in a ``qml.QNode``.

    Args:
        circuit: the circuit to export.

    Returns:
        ``qfunc(params)`` with ``params`` shaped ``(..., n_params)`` (tensor or array of any
        interface): applies the gates with angles ``params[..., i]``, so a ``(B, n_params)`` batch
        uses PennyLane's parameter broadcasting, and returns one ``qml.expval`` per observable.

    Raises:
        ImportError: pennylane is not installed.
    """
    qml = require("pennylane", "pennylane")

    def qfunc(params: Any) -> list:
        for op in circuit.ops:
            getattr(qml, gate(op.name).pennylane)(*(params[..., i] for i in op.params), wires=list(op.wires))
        return [qml.expval(_pennylane_word(qml, o)) for o in circuit.observables]

    return qfunc


# -- OpenQASM 3 --------------------------------------------------------------------------------


def _qasm_param_names(circuit: Circuit) -> list[str]:
    """``<group>_<index in group>`` for every entry of the flat parameter vector."""
    names = []
    for g in circuit.param_groups:
        if not g.name.isidentifier():
            raise ValueError(f"parameter group name {g.name!r} is not a valid OpenQASM identifier")
        names += [f"{g.name}_{i}" for i in range(g.size)]
    return names


def to_qasm3(circuit: Circuit) -> str:
    """The circuit as OpenQASM 3 source.

    Every angle is an ``input float[64]`` named after its group (``inputs_0``, ``weights_5``), the
    wires are the register ``q``, and a trailing comment lists the observables (OpenQASM has no
    expectation values). ``qiskit.qasm3.loads`` reads it back with one parameter per input.

    Args:
        circuit: the circuit to export.

    Returns:
        The program text, ending with a newline.
    """
    names = _qasm_param_names(circuit)
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += [f"input float[64] {name};" for name in names]
    lines.append(f"qubit[{circuit.n_qubits}] q;")
    for op in _native_ops(circuit):
        args = f"({', '.join(names[i] for i in op.params)})" if op.params else ""
        wires = ", ".join(f"q[{w}]" for w in op.wires)
        lines.append(f"{gate(op.name).qasm3}{args} {wires};")
    words = ", ".join(o.label(circuit.n_qubits) for o in circuit.observables)
    lines.append(f"// observables (Pauli words, wire 0 first): {words}")
    return "\n".join(lines) + "\n"

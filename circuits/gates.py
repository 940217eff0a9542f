"""The gate table: every gate a :class:`~qseq.circuits.Circuit` may contain.

A gate is one :class:`GateSpec` entry: its name, how many wires and angles it takes, its matrix as a
function of the angles, and its names in the stacks we export to. Adding a gate is adding one entry
to :data:`GATES`; the engine, the exporters and the validation all read this table.

Conventions (PennyLane's, which the papers' code uses):

* Wire 0 is the most significant bit of a basis-state index.
* ``RX(θ) = exp(-iθX/2)``, ``RY(θ) = exp(-iθY/2)``, ``RZ(θ) = exp(-iθZ/2)``.
* ``Rot(φ, θ, ω) = RZ(ω) · RY(θ) · RZ(φ)``.
* Controlled gates take the control wire(s) first: ``CNOT(c, t)``, ``CRX(c, t)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["GateSpec", "GATES", "gate"]

MatrixFn = Callable[[torch.Tensor, torch.dtype], torch.Tensor]


@dataclass(frozen=True)
class GateSpec:
    """One entry of the gate table.

    Attributes:
        name: the gate's name in a :class:`~qseq.circuits.Operation` (``"RX"``, ``"CNOT"``, ...).
        n_wires: number of wires the gate acts on.
        n_params: number of angles (radians) it takes.
        matrix: ``matrix(angles, dtype)`` with ``angles`` shaped ``(..., n_params)`` returns the
            unitary shaped ``(..., 2**n_wires, 2**n_wires)`` in the complex ``dtype``. For a gate
            without angles ``angles`` has a last dimension of 0 and the result has no batch dims.
        qiskit: the method name on :class:`qiskit.QuantumCircuit`, or ``None`` when the
            exporter decomposes the gate (``Rot``).
        pennylane: the class name in ``pennylane``.
        qasm3: the gate name in OpenQASM 3's ``stdgates.inc``, or ``None`` when decomposed.
        shift_rule: the parameter-shift rule of each of its angles, ``((c_1, s_1), ...)`` with
            ``∂f/∂θ = Σ_k c_k f(θ + s_k)`` exactly (every angle of a gate here enters as one
            rotation ``exp(-iθG/2)``, so one rule serves all of them); empty for fixed gates.
        axes: for a single-qubit gate that is a product of Pauli rotations, the axis of each angle
            in order: the matrix is ``R_{axes[k-1]}(θ_{k-1}) ⋯ R_{axes[0]}(θ_0)`` with
            ``R_a(θ) = exp(-iθσ_a/2)`` (``"ZYZ"`` for ``Rot``). Compiled kernels build the matrices
            from this form; empty for other gates.
    """

    name: str
    n_wires: int
    n_params: int
    matrix: MatrixFn
    qiskit: str | None
    pennylane: str
    qasm3: str | None
    shift_rule: tuple[tuple[float, float], ...] = ()
    axes: str = ""

    @property
    def parametric(self) -> bool:
        return self.n_params > 0


def _constant_matrix(rows: tuple, _angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype, device=_angles.device)


def _const(rows: list[list[complex]]) -> MatrixFn:
    """The matrix function of a gate without angles (picklable: a partial of a module function)."""
    return functools.partial(_constant_matrix, tuple(map(tuple, rows)))


def _stack2x2(a, b, c, d) -> torch.Tensor:
    """``[[a, b], [c, d]]`` for tensors of equal shape ``(...)`` -> ``(..., 2, 2)``."""
    return torch.stack((a, b, c, d), -1).unflatten(-1, (2, 2))


def _half_angle(angles: torch.Tensor, dtype: torch.dtype):
    """``cos(θ/2), sin(θ/2)`` of the first angle, as the complex ``dtype`` (trig in real arithmetic)."""
    half = angles[..., 0] / 2
    return torch.cos(half).to(dtype), torch.sin(half).to(dtype)


def _phase(angle: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``exp(i·angle)`` for real ``angle`` (``torch.polar`` is far cheaper than a complex ``exp``)."""
    return torch.polar(torch.ones_like(angle), angle).to(dtype)


def _rx(angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    c, s = _half_angle(angles, dtype)
    s = -1j * s
    return _stack2x2(c, s, s, c)


def _ry(angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    c, s = _half_angle(angles, dtype)
    return _stack2x2(c, -s, s, c)


def _rz(angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    e = _phase(-angles[..., 0] / 2, dtype)
    zero = torch.zeros_like(e)
    return _stack2x2(e, zero, zero, e.conj())


def _rot(angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # RZ(ω) RY(θ) RZ(φ) in closed form (PennyLane's qml.Rot).
    phi, omega = angles[..., 0], angles[..., 2]
    c, s = _half_angle(angles[..., 1:2], dtype)
    plus, minus = _phase(-(phi + omega) / 2, dtype), _phase((phi - omega) / 2, dtype)
    return _stack2x2(plus * c, -minus * s, minus.conj() * s, plus.conj() * c)


def _controlled_matrix(target: MatrixFn, angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    u = target(angles, dtype)
    out = torch.zeros(*u.shape[:-2], 4, 4, dtype=dtype, device=u.device)
    out[..., 0, 0] = 1
    out[..., 1, 1] = 1
    out[..., 2:, 2:] = u
    return out


def _controlled(target: MatrixFn) -> MatrixFn:
    """The matrix function of ``target`` controlled by the first wire (picklable)."""
    return functools.partial(_controlled_matrix, target)


_S2 = 1 / math.sqrt(2)

# Generators with eigenvalues ±1/2 (RX, RY, RZ, each angle of Rot): the two-term rule.
_TWO_TERM = ((0.5, math.pi / 2), (-0.5, -math.pi / 2))
# Controlled rotations, eigenvalues {0, ±1/2}: the four-term rule (Anselmetti et al. 2021, as
# PennyLane's CRX), c± = (√2 ± 1) / (4√2).
_CP, _CM = (math.sqrt(2) + 1) / (4 * math.sqrt(2)), (math.sqrt(2) - 1) / (4 * math.sqrt(2))
_FOUR_TERM = ((_CP, math.pi / 2), (-_CP, -math.pi / 2), (-_CM, 3 * math.pi / 2), (_CM, -3 * math.pi / 2))
_T = complex(math.cos(math.pi / 4), math.sin(math.pi / 4))

GATES: dict[str, GateSpec] = {
    g.name: g
    for g in (
        GateSpec("H", 1, 0, _const([[_S2, _S2], [_S2, -_S2]]), "h", "Hadamard", "h"),
        GateSpec("X", 1, 0, _const([[0, 1], [1, 0]]), "x", "PauliX", "x"),
        GateSpec("Y", 1, 0, _const([[0, -1j], [1j, 0]]), "y", "PauliY", "y"),
        GateSpec("Z", 1, 0, _const([[1, 0], [0, -1]]), "z", "PauliZ", "z"),
        GateSpec("S", 1, 0, _const([[1, 0], [0, 1j]]), "s", "S", "s"),
        GateSpec("T", 1, 0, _const([[1, 0], [0, _T]]), "t", "T", "t"),
        GateSpec("RX", 1, 1, _rx, "rx", "RX", "rx", _TWO_TERM, "X"),
        GateSpec("RY", 1, 1, _ry, "ry", "RY", "ry", _TWO_TERM, "Y"),
        GateSpec("RZ", 1, 1, _rz, "rz", "RZ", "rz", _TWO_TERM, "Z"),
        GateSpec("Rot", 1, 3, _rot, None, "Rot", None, _TWO_TERM, "ZYZ"),
        GateSpec("CNOT", 2, 0, _const([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]), "cx", "CNOT", "cx"),
        GateSpec("CZ", 2, 0, _const([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]]), "cz", "CZ", "cz"),
        GateSpec(
            "SWAP", 2, 0, _const([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]), "swap", "SWAP", "swap"
        ),
        GateSpec("CRX", 2, 1, _controlled(_rx), "crx", "CRX", "crx", _FOUR_TERM),
        GateSpec("CRY", 2, 1, _controlled(_ry), "cry", "CRY", "cry", _FOUR_TERM),
        GateSpec("CRZ", 2, 1, _controlled(_rz), "crz", "CRZ", "crz", _FOUR_TERM),
    )
}


def gate(name: str) -> GateSpec:
    """The table entry for ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return GATES[name]
    except KeyError:
        raise ValueError(f"unknown gate {name!r}; known gates: {', '.join(GATES)}") from None

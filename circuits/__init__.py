"""``qseq.circuits`` — what a circuit is, independent of where it runs.

* :class:`Circuit`, :class:`Operation`, :class:`ParamGroup`, :class:`Pauli`: the immutable description.
* :data:`GATES`: the gate table (one entry per gate).
* Builders: :func:`chen_vqc`, :func:`fwp_vqc`, :func:`angle_embedding`, :func:`basic_entangler`,
  :func:`strongly_entangling` (compose with ``+``).
* Exporters: :func:`to_qiskit`, :func:`to_pennylane`, :func:`to_qasm3`, :func:`draw`.
"""

from .circuit import Circuit, Operation, ParamGroup, Pauli
from .draw import draw
from .export import QiskitCircuit, to_pennylane, to_qasm3, to_qiskit
from .gates import GATES, GateSpec, gate
from .library import angle_embedding, basic_entangler, chen_vqc, fwp_vqc, strongly_entangling

__all__ = [
    "Circuit",
    "Operation",
    "ParamGroup",
    "Pauli",
    "GATES",
    "GateSpec",
    "gate",
    "chen_vqc",
    "fwp_vqc",
    "angle_embedding",
    "basic_entangler",
    "strongly_entangling",
    "QiskitCircuit",
    "to_qiskit",
    "to_pennylane",
    "to_qasm3",
    "draw",
]

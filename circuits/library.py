"""Ansatz builders: the papers' circuits and general composable layers.

Every builder returns a :class:`~qseq.circuits.Circuit` whose angles live in named parameter groups:
``"inputs"`` for encoded data (per sample) and ``"weights"`` for trained angles (usually shared by a
batch). Layouts are row-major over the shapes given in each docstring, so a weight tensor shaped like
the paper's (``(n_layers, n_qubits, 3)``) is passed as ``w.reshape(..., -1)``.
"""

from __future__ import annotations

from .circuit import Circuit, Operation, build

__all__ = ["chen_vqc", "fwp_vqc", "angle_embedding", "basic_entangler", "strongly_entangling"]

_ROTATIONS = ("X", "Y", "Z")


def _check_positive(**kw: int) -> None:
    for name, value in kw.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _measured(n_qubits: int, n_measured: int | None) -> list[str]:
    n = n_qubits if n_measured is None else n_measured
    if not isinstance(n, int) or not 1 <= n <= n_qubits:
        raise ValueError(f"n_measured must be in [1, n_qubits={n_qubits}], got {n_measured!r}")
    return [f"Z{w}" for w in range(n)]


def chen_vqc(n_qubits: int, n_layers: int, n_measured: int | None = None) -> Circuit:
    """The VQC block of Chen et al.'s QLSTM / QRNN-RC cells (see docs/references.md, "Chen VQC block").

    ::

        H on every wire
        RY(inputs[i]) then RZ(inputs[n + i]) on wire i        # the model passes arctan v, arctan v²
        n_layers × ( CNOT(i, i+1 mod n) for all i;
                     CNOT(i, i+2 mod n) for all i;
                     Rot(w[l, i, 0], w[l, i, 1], w[l, i, 2]) on wire i )
        ⟨Z_i⟩ for i < n_measured

    Groups: ``inputs`` (``2·n_qubits``: the RY angles, then the RZ angles) and ``weights``
    (``(n_layers, n_qubits, 3)`` row-major).
    """
    _check_positive(n_qubits=n_qubits, n_layers=n_layers)
    n = n_qubits
    ops = [Operation("H", (i,)) for i in range(n)]
    for i in range(n):
        ops += [Operation("RY", (i,), (i,)), Operation("RZ", (i,), (n + i,))]
    base = 2 * n
    for layer in range(n_layers):
        if n > 1:
            ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]
            ops += [Operation("CNOT", (i, (i + 2) % n)) for i in range(n) if (i + 2) % n != i]
        for i in range(n):
            first = base + 3 * (layer * n + i)
            ops.append(Operation("Rot", (i,), (first, first + 1, first + 2)))
    return build(n, ops, [("inputs", 2 * n), ("weights", 3 * n * n_layers)], _measured(n, n_measured))


def fwp_vqc(n_qubits: int, depth: int, n_measured: int, n_inputs: int = 1) -> Circuit:
    """The fast-programmer VQC of the quantum fast weight programmer (QFWP paper, see docs/references.md).

    ::

        H on every wire
        RY(inputs[i]) on wire i, i < n_inputs             # raw input values, no arctan
        depth × ( CNOT(0,1), CNOT(2,3), ...; CNOT(1,2), CNOT(3,4), ...;   # brick entangler
                  RY(w[k, q]) on every wire q )
        ⟨Z_q⟩ for q < n_measured

    Groups: ``inputs`` (``n_inputs``; the paper feeds one feature) and ``weights``
    (``(depth, n_qubits)`` row-major): the fast weights, different for every sample.
    """
    _check_positive(n_qubits=n_qubits, depth=depth, n_inputs=n_inputs)
    if n_inputs > n_qubits:
        raise ValueError(f"n_inputs={n_inputs} exceeds n_qubits={n_qubits}")
    n = n_qubits
    ops = [Operation("H", (i,)) for i in range(n)]
    ops += [Operation("RY", (i,), (i,)) for i in range(n_inputs)]
    for k in range(depth):
        ops += [Operation("CNOT", (i, i + 1)) for i in range(0, n - 1, 2)]
        ops += [Operation("CNOT", (i, i + 1)) for i in range(1, n - 1, 2)]
        ops += [Operation("RY", (q,), (n_inputs + k * n + q,)) for q in range(n)]
    return build(n, ops, [("inputs", n_inputs), ("weights", depth * n)], _measured(n, n_measured))


def _rotation(rotation: str) -> str:
    r = rotation.upper()
    if r not in _ROTATIONS:
        raise ValueError(f"rotation must be one of X, Y, Z, got {rotation!r}")
    return "R" + r


def angle_embedding(n_qubits: int, rotation: str = "X", n_inputs: int | None = None) -> Circuit:
    """``R{rotation}(inputs[i])`` on wire ``i`` (PennyLane's ``AngleEmbedding``).

    Group: ``inputs`` (``n_inputs``, default ``n_qubits``; wires ``0..n_inputs-1``).
    """
    _check_positive(n_qubits=n_qubits)
    k = n_qubits if n_inputs is None else n_inputs
    if not isinstance(k, int) or not 1 <= k <= n_qubits:
        raise ValueError(f"n_inputs must be in [1, {n_qubits}], got {n_inputs!r}")
    name = _rotation(rotation)
    return build(n_qubits, [Operation(name, (i,), (i,)) for i in range(k)], [("inputs", k)])


def _ring(n: int, distance: int = 1) -> list[Operation]:
    if n == 1:
        return []
    if n == 2:
        return [Operation("CNOT", (0, 1))]
    return [Operation("CNOT", (i, (i + distance) % n)) for i in range(n)]


def basic_entangler(n_qubits: int, n_layers: int, rotation: str = "X") -> Circuit:
    """PennyLane's ``BasicEntanglerLayers``: per layer ``R{rotation}(w[l, i])`` on every wire,
    then a CNOT ring ``CNOT(i, i+1 mod n)`` (one CNOT for two wires, none for one).

    Group: ``weights`` (``(n_layers, n_qubits)`` row-major).
    """
    _check_positive(n_qubits=n_qubits, n_layers=n_layers)
    name, n, ops = _rotation(rotation), n_qubits, []
    for layer in range(n_layers):
        ops += [Operation(name, (i,), (layer * n + i,)) for i in range(n)]
        ops += _ring(n)
    return build(n, ops, [("weights", n_layers * n)])


def strongly_entangling(n_qubits: int, n_layers: int, ranges: tuple[int, ...] | None = None) -> Circuit:
    """PennyLane's ``StronglyEntanglingLayers``: per layer ``Rot(w[l, i, 0..2])`` on every wire,
    then ``CNOT(i, i + r_l mod n)`` for every wire, with ``r_l = ranges[l]`` (default
    ``l mod (n-1) + 1``).

    Group: ``weights`` (``(n_layers, n_qubits, 3)`` row-major).
    """
    _check_positive(n_qubits=n_qubits, n_layers=n_layers)
    n = n_qubits
    if ranges is None:
        ranges = tuple((layer % (n - 1)) + 1 if n > 1 else 0 for layer in range(n_layers))
    if len(ranges) != n_layers:
        raise ValueError(f"ranges needs one entry per layer ({n_layers}), got {len(ranges)}")
    ops = []
    for layer in range(n_layers):
        for i in range(n):
            first = 3 * (layer * n + i)
            ops.append(Operation("Rot", (i,), (first, first + 1, first + 2)))
        if n > 1:
            r = ranges[layer]
            if not 1 <= r < n:
                raise ValueError(f"ranges[{layer}]={r} must be in [1, {n - 1}]")
            ops += [Operation("CNOT", (i, (i + r) % n)) for i in range(n)]
    return build(n, ops, [("weights", 3 * n_layers * n)])

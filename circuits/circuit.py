"""The immutable circuit description every backend runs.

A :class:`Circuit` says *what* to run and nothing about *where*: ``n_qubits`` wires starting in
``|0…0⟩``, an ordered tuple of :class:`Operation` s whose angles are *references* into one flat
parameter vector, and the Pauli observables whose expectation values come out. The parameter
vector is split into named, contiguous :class:`ParamGroup` s (``"inputs"``, ``"weights"``, ...) so a
backend can tell which angles a whole batch shares (the trained weights of a recurrent cell) from
the ones that change per sample (the encoded data) and exploit it.

Classical encodings such as ``arctan(x)`` are *not* part of a circuit: models compute angles in
torch before calling a backend, so every backend sees the same angle vector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

from .gates import gate

__all__ = ["Operation", "ParamGroup", "Pauli", "Circuit", "ObservableLike"]

MAX_QUBITS = 64  # a basis index must fit an int64; backends set their own, smaller limits


@dataclass(frozen=True)
class Operation:
    """One gate application.

    Attributes:
        name: a key of :data:`~qseq.circuits.gates.GATES`.
        wires: the wires it acts on, control wires first.
        params: indices into the circuit's flat parameter vector, one per angle of the gate.
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[int, ...] = ()

    def __str__(self) -> str:
        args = ", ".join(f"p[{i}]" for i in self.params)
        return f"{self.name}({args}) @ {list(self.wires)}" if args else f"{self.name} @ {list(self.wires)}"


@dataclass(frozen=True)
class ParamGroup:
    """A named, contiguous slice of the parameter vector (``"inputs"``, ``"weights"``)."""

    name: str
    size: int


@dataclass(frozen=True)
class Pauli:
    """A Pauli word: a tensor product of X, Y, Z on some wires (identity elsewhere).

    ``terms`` is a tuple of ``(wire, letter)`` sorted by wire. Build one with :meth:`parse`::

        Pauli.parse("ZIZI")          # Z on wires 0 and 2 of a 4-qubit circuit
        Pauli.parse({0: "X", 3: "Y"})
        Pauli.parse("Z1")            # shorthand: Z on wire 1
    """

    terms: tuple[tuple[int, str], ...]

    @classmethod
    def parse(cls, spec: ObservableLike, n_qubits: int | None = None) -> Pauli:
        if isinstance(spec, Pauli):
            return spec
        if isinstance(spec, Mapping):
            items = [(int(w), str(p).upper()) for w, p in spec.items()]
        elif isinstance(spec, str) and spec[:1].upper() in "XYZ" and spec[1:].isdigit():
            items = [(int(spec[1:]), spec[0].upper())]
        elif isinstance(spec, str):
            if n_qubits is not None and len(spec) != n_qubits:
                raise ValueError(f"Pauli string {spec!r} has {len(spec)} letters for {n_qubits} qubits")
            items = [(w, p.upper()) for w, p in enumerate(spec)]
        else:
            raise TypeError(f"observable must be a Pauli string, a {{wire: letter}} mapping or Pauli, got {spec!r}")
        for _, p in items:
            if p not in "IXYZ" or len(p) != 1:
                raise ValueError(f"unknown Pauli letter {p!r} in observable {spec!r}; use I, X, Y or Z")
        return cls(tuple(sorted((w, p) for w, p in items if p != "I")))

    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(w for w, _ in self.terms)

    @property
    def is_diagonal(self) -> bool:
        """True when the word holds only Z (and identities): measurable from probabilities alone."""
        return all(p == "Z" for _, p in self.terms)

    def label(self, n_qubits: int) -> str:
        """The full-length string, wire 0 first: ``"ZIZI"``."""
        letters = ["I"] * n_qubits
        for w, p in self.terms:
            letters[w] = p
        return "".join(letters)

    def __str__(self) -> str:
        return " ".join(f"{p}{w}" for w, p in self.terms) or "I"


ObservableLike: TypeAlias = str | Mapping[int, str] | Pauli


def _unparsed_observables(observables: Iterable[ObservableLike] | None) -> tuple[Pauli, ...]:
    """Pass observables to :class:`Circuit` as given; its ``__post_init__`` parses them (and fills in
    the default for ``None``), so the cast only states the type the field holds afterwards."""
    return cast("tuple[Pauli, ...]", None if observables is None else tuple(observables))


def _z_on_all(n_qubits: int) -> tuple[Pauli, ...]:
    return tuple(Pauli(((w, "Z"),)) for w in range(n_qubits))


@dataclass(frozen=True)
class Circuit:
    """An immutable variational circuit.

    Attributes:
        n_qubits: number of wires, all starting in ``|0⟩``.
        ops: the gates in the order they are applied.
        param_groups: the named slices of the flat parameter vector, in order; their sizes add up
            to :attr:`n_params`.
        observables: the Pauli words measured; :meth:`~qseq.backends.Backend.expval` returns one
            expectation value per word. Default: Pauli-Z on every wire.

    A backend call takes parameters shaped ``(..., n_params)`` (or a ``{group: (..., size)}``
    mapping whose leading dimensions broadcast) and returns ``(..., n_obs)``.

    Circuits compose with ``+``: ``angle_embedding(4) + strongly_entangling(4, 2)`` applies the
    left operand's gates first. Groups of the same name are concatenated (left then right), other
    groups keep their order of first appearance, and the right operand's observables are kept.
    """

    n_qubits: int
    ops: tuple[Operation, ...]
    param_groups: tuple[ParamGroup, ...] = ()
    # Typed by its normalised form: ``None`` (Z on every wire) and any ObservableLike entries are
    # replaced by a tuple of Pauli in __post_init__, which the type system cannot follow.
    observables: tuple[Pauli, ...] = field(default=cast("tuple[Pauli, ...]", None))

    def __post_init__(self):
        if not isinstance(self.n_qubits, int) or not 1 <= self.n_qubits <= MAX_QUBITS:
            raise ValueError(f"n_qubits must be an integer in [1, {MAX_QUBITS}], got {self.n_qubits!r}")
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "param_groups", tuple(self.param_groups))
        names = [g.name for g in self.param_groups]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter group names must be unique, got {names}")
        if any(g.size < 0 for g in self.param_groups):
            raise ValueError(f"parameter group sizes must be >= 0, got {self.param_groups}")
        obs = _z_on_all(self.n_qubits) if self.observables is None else self.observables
        obs = tuple(Pauli.parse(o, self.n_qubits) for o in obs)
        if not obs:
            raise ValueError("a circuit needs at least one observable")
        for o in obs:
            for w in o.wires:
                self._check_wire(w, f"observable {o}")
        object.__setattr__(self, "observables", obs)
        for op in self.ops:
            self._check_op(op)

    def _check_wire(self, w: int, where: str) -> None:
        if not isinstance(w, int) or not 0 <= w < self.n_qubits:
            raise ValueError(f"{where}: wire {w!r} is outside 0..{self.n_qubits - 1}")

    def _check_op(self, op: Operation) -> None:
        spec = gate(op.name)
        if len(op.wires) != spec.n_wires:
            raise ValueError(f"{op}: {op.name} acts on {spec.n_wires} wire(s), got {len(op.wires)}")
        if len(set(op.wires)) != len(op.wires):
            raise ValueError(f"{op}: wires must be distinct")
        for w in op.wires:
            self._check_wire(w, str(op))
        if len(op.params) != spec.n_params:
            raise ValueError(f"{op}: {op.name} takes {spec.n_params} angle(s), got {len(op.params)}")
        for p in op.params:
            if not isinstance(p, int) or not 0 <= p < self.n_params:
                raise ValueError(f"{op}: parameter index {p!r} is outside 0..{self.n_params - 1}")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(g.size for g in self.param_groups)

    @property
    def n_obs(self) -> int:
        """Number of expectation values a call returns (the last output dimension)."""
        return len(self.observables)

    @property
    def group_sizes(self) -> dict[str, int]:
        """``{group name: size}`` in circuit order."""
        return {g.name: g.size for g in self.param_groups}

    def group_slices(self) -> dict[str, slice]:
        """``{group name: slice}`` into the flat parameter vector."""
        out, start = {}, 0
        for g in self.param_groups:
            out[g.name] = slice(start, start + g.size)
            start += g.size
        return out

    # -- derived circuits ----------------------------------------------------------------------
    def measure(self, observables: Iterable[ObservableLike]) -> Circuit:
        """The same gates with other observables (strings such as ``"ZZII"``, ``{wire: letter}``)."""
        return Circuit(self.n_qubits, self.ops, self.param_groups, _unparsed_observables(observables))

    def __add__(self, other: Circuit) -> Circuit:
        if not isinstance(other, Circuit):
            return NotImplemented
        if other.n_qubits != self.n_qubits:
            raise ValueError(f"cannot compose circuits on {self.n_qubits} and {other.n_qubits} qubits")
        order = list(dict.fromkeys([g.name for g in self.param_groups] + [g.name for g in other.param_groups]))
        sizes = {name: 0 for name in order}
        left_offset: dict[str, int] = {}
        right_offset: dict[str, int] = {}
        for circuit, offsets in ((self, left_offset), (other, right_offset)):
            for g in circuit.param_groups:
                offsets[g.name] = sizes[g.name]
                sizes[g.name] += g.size
        starts, pos = {}, 0
        for name in order:
            starts[name] = pos
            pos += sizes[name]

        def remap(circuit: Circuit, offsets: dict[str, int]) -> list[Operation]:
            index = {}
            for name, sl in circuit.group_slices().items():
                for i in range(sl.start, sl.stop):
                    index[i] = starts[name] + offsets[name] + i - sl.start
            return [Operation(op.name, op.wires, tuple(index[p] for p in op.params)) for op in circuit.ops]

        ops = remap(self, left_offset) + remap(other, right_offset)
        groups = tuple(ParamGroup(name, sizes[name]) for name in order)
        return Circuit(self.n_qubits, tuple(ops), groups, other.observables)

    def __str__(self) -> str:
        groups = ", ".join(f"{g.name}={g.size}" for g in self.param_groups)
        return (
            f"Circuit({self.n_qubits} qubits, {len(self.ops)} ops, params: {groups or 'none'}, "
            f"observables: {', '.join(str(o) for o in self.observables)})"
        )


def build(
    n_qubits: int,
    ops: Sequence[Operation],
    groups: Sequence[tuple[str, int]],
    observables: Iterable[ObservableLike] | None = None,
) -> Circuit:
    """Convenience constructor used by the builders: ``groups`` as ``(name, size)`` pairs."""
    return Circuit(
        n_qubits,
        tuple(ops),
        tuple(ParamGroup(n, s) for n, s in groups),
        _unparsed_observables(observables),
    )

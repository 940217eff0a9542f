"""Compiling a :class:`~qseq.circuits.Circuit` into a short program of batched tensor stages.

Compilation happens once per circuit (the :class:`~qseq.backends.torch_engine.TorchBackend` keeps
the result) and is pure bookkeeping: numpy index tables, no torch work. The stages:

* :class:`Local` — single-qubit gates on distinct wires, all applied in one stage. Wires whose gate
  sequences have the same names form a :class:`WireGroup`, so their matrices are built in one
  vectorised call however many wires there are. Single-qubit gates are deferred past multi-qubit
  gates on other wires, so a layer of rotations is one stage.
* :class:`Permute` — a run of constant multi-qubit gates that permute basis states up to phases
  (CNOT, CZ, SWAP) fused into one gather ``ψ'[i] = phase[i] · ψ[source[i]]``.
* :class:`Dense` — any other multi-qubit gate (CRX, CRY, CRZ): a small matrix on its wires.

The first :class:`Local` stage, if it comes before any multi-qubit gate, is the *preparation*: applied
to ``|0…0⟩`` it gives a product state, computed as a Kronecker product of per-wire 2-vectors instead
of a state evolution. Every stage records which parameter groups it reads, so the simulator can
tell at call time which runs of stages are shared by the whole batch (and may be fused into one
unitary) and which change per sample.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from itertools import groupby

import numpy as np

from ...circuits import Circuit, GateSpec, Pauli, gate

__all__ = [
    "WireGroup",
    "MatrixBatch",
    "Local",
    "Permute",
    "Dense",
    "Readout",
    "Program",
    "TABLE_QUBITS",
    "compile_circuit",
]


@dataclass(frozen=True)
class WireGroup:
    """Wires of one :class:`Local` stage that carry the same sequence of gate names.

    Attributes:
        wires: the wires, ascending.
        gates: the gate sequence applied to each of them, first gate first.
        angles: per gate, an int array ``(len(wires), n_params)`` of indices into the stage's
            source vector (see :attr:`Stage.groups`); empty for constant gates.
        batch, offset: the :class:`MatrixBatch` that builds this group's matrices, and where its
            wires start in that batch.
    """

    wires: tuple[int, ...]
    gates: tuple[GateSpec, ...]
    angles: tuple[np.ndarray, ...]
    batch: int = -1
    offset: int = 0


@dataclass(frozen=True)
class MatrixBatch:
    """Wire groups of *all* Local stages with the same gate sequence and source groups: their 2×2
    matrices are built by one vectorised call (both Rot layers of a Chen VQC at once)."""

    gates: tuple[GateSpec, ...]
    groups: tuple[str, ...]
    angles: tuple[np.ndarray, ...]  # per gate: (total wires, n_params) source indices


@dataclass(frozen=True)
class Stage:
    """Base of all stages. ``groups``: the parameter groups the stage reads, in circuit order; the
    stage's angle indices point into their concatenation (the stage's *source vector*)."""

    groups: tuple[str, ...]


@dataclass(frozen=True)
class Local(Stage):
    """Single-qubit gates on distinct wires, applied as Kronecker blocks of adjacent wires.

    ``blocks`` (matrices shared by a batch) and ``sample_blocks`` (per-sample matrices) list
    ``(first wire, n wires)`` of each block; ``cost`` is the multiply-adds per amplitude.
    """

    wire_groups: tuple[WireGroup, ...]
    blocks: tuple[tuple[int, int], ...]
    sample_blocks: tuple[tuple[int, int], ...]

    @property
    def cost(self) -> int:
        return sum(2**k for _, k in self.blocks)


@dataclass(frozen=True)
class Permute(Stage):
    """A run of constant phased-permutation gates, ``gates`` = ``((wires, sigma, g), ...)`` with
    ``M|j⟩ = g[j] |sigma[j]⟩`` on ``wires``: compiled as wires only; the simulator composes the run
    into one gather ``ψ'[i] = phase[i] · ψ[source[i]]`` on the device, once per device."""

    gates: tuple[tuple[tuple[int, ...], np.ndarray, np.ndarray], ...]

    cost = 1


@dataclass(frozen=True)
class Dense(Stage):
    """A multi-qubit gate that is not a phased permutation."""

    spec: GateSpec
    wires: tuple[int, ...]
    angles: np.ndarray  # (n_params,) indices into the source vector

    @property
    def cost(self) -> int:
        return 2 ** len(self.wires)


@dataclass(frozen=True)
class Readout:
    """How to turn a state into expectation values of the circuit's Pauli words.

    Words of Z only are read from probabilities with one matmul against a ±1 ``diagonal`` table
    ``(D, n_diag)``. Words with X/Y flip bits: for each distinct flip mask ``m``,
    ``⟨P⟩ = Re Σ_i conj(ψ_i) ψ_{i⊕m} c(i⊕m)`` with the phase table ``c`` of shape ``(D, n_words)``.
    ``order`` puts the concatenated results back into observable order.
    """

    diagonal: np.ndarray | None
    flips: tuple[tuple[np.ndarray, np.ndarray], ...]  # (source index i⊕m, complex table)
    order: np.ndarray


#: Largest register for which the compiler builds readout tables of ``2^n`` entries (and the simulator
#: a basis-order table for the preparation). Above it the observables are read on the wire axes, so
#: compilation costs the same at 20 or 30 qubits.
TABLE_QUBITS = 16


@dataclass(frozen=True)
class Program:
    """A compiled circuit. ``prep`` is the product-state preparation (``None``: start in |0…0⟩)."""

    n_qubits: int
    prep: Local | None
    stages: tuple[Stage, ...]
    readout: Readout | None  # None above TABLE_QUBITS: the observables are read on the wires
    matrix_batches: tuple[MatrixBatch, ...]
    observables: tuple[Pauli, ...] = ()

    @property
    def dim(self) -> int:
        return 2**self.n_qubits

    @functools.cached_property
    def stage_groups(self) -> tuple[tuple[str, ...], ...]:
        """The distinct tuples of parameter groups that the stages after the preparation read."""
        return tuple(dict.fromkeys(s.groups for s in self.stages if s.groups))

    @functools.cached_property
    def stage_names(self) -> tuple[str, ...]:
        """The parameter groups that the stages after the preparation read, each once, in order."""
        return tuple(dict.fromkeys(g for s in self.stages for g in s.groups))


# Single-qubit gates are applied as one (2^k × 2^k) Kronecker block per k adjacent wires, so a layer
# touches the state n/k times instead of n. Shared matrices are combined once per call, so large
# blocks are nearly free: SHARED_BLOCK_QUBITS. Per-sample blocks cost a Kronecker product per sample
# and 2^k multiply-adds per amplitude: measured on a 2-core CPU (benchmarks/engine.py, chen_vqc,
# batch 256), 2-wire blocks are fastest below 10 qubits and 4-wire blocks above, where the state no
# longer fits in cache and the number of passes over it dominates.
SHARED_BLOCK_QUBITS = 4


def sample_block_qubits(n_qubits: int) -> int:
    return 2 if n_qubits < 10 else 4


def _blocks(n_qubits: int, wires: list[int], size: int) -> tuple[tuple[int, int], ...]:
    """Blocks of ``size`` adjacent wires (the last one shorter) that contain any of ``wires``."""
    return tuple(
        (s, min(size, n_qubits - s)) for s in range(0, n_qubits, size) if any(s <= w < s + size for w in wires)
    )


def _bits(n_qubits: int, wires: tuple[int, ...]) -> np.ndarray:
    """``(D, len(wires))`` bits of every basis index on ``wires`` (wire 0 = most significant)."""
    index = np.arange(2**n_qubits, dtype=np.int64)[:, None]
    shifts = np.array([n_qubits - 1 - w for w in wires], dtype=np.int64)
    return (index >> shifts) & 1


def _as_phased_permutation(matrix: np.ndarray):
    """``(sigma, g)`` with ``M|j⟩ = g[j] |sigma[j]⟩``, or ``None`` if ``M`` is not of that form."""
    nonzero = np.abs(matrix) > 1e-12
    if not (nonzero.sum(axis=0) == 1).all():
        return None
    sigma = nonzero.argmax(axis=0)
    return sigma, matrix[sigma, np.arange(matrix.shape[1])]


class _Builder:
    """Walks the circuit once, grouping operations into stages."""

    def __init__(self, circuit: Circuit):
        self.circuit = circuit
        self.n = circuit.n_qubits
        self.group_of = np.empty(circuit.n_params, dtype=object)
        self.start = {}
        for name, sl in circuit.group_slices().items():
            self.group_of[sl] = name
            self.start[name] = sl.start
        self.order = [g.name for g in circuit.param_groups]
        self.stages: list[Stage] = []
        self.pending: dict[int, list] = {}  # wire -> [(spec, params)] single-qubit gates not yet staged
        self.perm: list[tuple[tuple[int, ...], np.ndarray, np.ndarray]] = []  # pending permutation gates
        self.touched = False  # has any multi-qubit gate been applied yet?
        self.prep: Local | None = None

    def _groups(self, indices) -> tuple[str, ...]:
        used = {self.group_of[i] for i in indices}
        return tuple(g for g in self.order if g in used)

    def _remap(self, groups: tuple[str, ...], indices: np.ndarray) -> np.ndarray:
        """Global parameter indices -> indices into the concatenation of ``groups``."""
        sizes = dict(zip(self.order, (g.size for g in self.circuit.param_groups), strict=True))
        # The cumulative sums have one entry more than ``groups`` (the total size), which zip drops.
        offsets = dict(zip(groups, np.cumsum([0] + [sizes[g] for g in groups]), strict=False))
        lookup = np.array([offsets.get(g, 0) + i - self.start[g] for i, g in enumerate(self.group_of)], dtype=np.int64)
        return lookup[np.asarray(indices, dtype=np.int64)]

    def add(self, op) -> None:
        spec = gate(op.name)
        if spec.n_wires == 1:
            self.pending.setdefault(op.wires[0], []).append((spec, op.params))
            return
        if any(w in self.pending for w in op.wires):
            self._flush_local()
        if not spec.parametric:
            sigma_g = _as_phased_permutation(_const_matrix(spec))
            if sigma_g is not None:
                self._add_permutation(op.wires, *sigma_g)
                self.touched = True
                return
        self._flush_perm()
        groups = self._groups(op.params)
        self.stages.append(Dense(groups, spec, op.wires, self._remap(groups, np.array(op.params, dtype=np.int64))))
        self.touched = True

    def _add_permutation(self, wires, sigma, g) -> None:
        self.perm.append((tuple(wires), sigma, g))

    def _flush_perm(self) -> None:
        if self.perm:
            self.stages.append(Permute((), tuple(self.perm)))
            self.perm = []

    def _flush_local(self) -> None:
        if not self.pending:
            return
        self._flush_perm()
        wires = sorted(self.pending)
        all_params = [p for w in wires for _, params in self.pending[w] for p in params]
        groups = self._groups(all_params)
        signature = lambda w: tuple(spec.name for spec, _ in self.pending[w])  # noqa: E731
        wire_groups = []
        for _, same_gates in groupby(sorted(wires, key=signature), key=signature):
            members = tuple(sorted(same_gates))
            gates = tuple(spec for spec, _ in self.pending[members[0]])
            angles = tuple(
                self._remap(groups, np.array([self.pending[w][k][1] for w in members], dtype=np.int64))
                for k in range(len(gates))
            )
            wire_groups.append(WireGroup(members, gates, angles))
        stage = Local(
            groups,
            tuple(wire_groups),
            _blocks(self.n, wires, SHARED_BLOCK_QUBITS),
            _blocks(self.n, wires, sample_block_qubits(self.n)),
        )
        self.pending = {}
        if not self.touched and not self.stages and self.prep is None:
            self.prep = stage
        else:
            self.stages.append(stage)

    def finish(self) -> Program:
        self._flush_local()
        self._flush_perm()
        batches: dict[tuple, list[WireGroup]] = {}
        for stage in ([self.prep] if self.prep else []) + self.stages:
            if isinstance(stage, Local):
                for group in stage.wire_groups:
                    batches.setdefault((tuple(g.name for g in group.gates), stage.groups), []).append(group)
        matrix_batches, assigned = [], {}
        for b, ((_, groups), members) in enumerate(batches.items()):
            offset = 0
            for group in members:
                assigned[id(group)] = replace(group, batch=b, offset=offset)
                offset += len(group.wires)
            angles = tuple(np.concatenate([m.angles[k] for m in members]) for k in range(len(members[0].gates)))
            matrix_batches.append(MatrixBatch(members[0].gates, groups, angles))

        def relink(stage):
            if not isinstance(stage, Local):
                return stage
            return replace(stage, wire_groups=tuple(assigned[id(g)] for g in stage.wire_groups))

        return Program(
            self.n,
            relink(self.prep) if self.prep else None,
            tuple(relink(s) for s in self.stages),
            _readout(self.n, self.circuit.observables) if self.n <= TABLE_QUBITS else None,
            tuple(matrix_batches),
            self.circuit.observables,
        )


def _const_matrix(spec: GateSpec) -> np.ndarray:
    import torch

    return spec.matrix(torch.zeros(0, dtype=torch.float64), torch.complex128).numpy()


def _readout(n_qubits: int, observables: tuple[Pauli, ...]) -> Readout:
    d = 2**n_qubits
    all_bits = _bits(n_qubits, tuple(range(n_qubits)))  # (D, n)
    diagonal_cols, diagonal_pos = [], []
    by_mask: dict[int, list] = {}
    for pos, word in enumerate(observables):
        if word.is_diagonal:
            z = [w for w, _ in word.terms]
            diagonal_cols.append((-1.0) ** all_bits[:, z].sum(axis=1))
            diagonal_pos.append(pos)
            continue
        mask = sum(1 << (n_qubits - 1 - w) for w, p in word.terms if p in "XY")
        by_mask.setdefault(mask, []).append((pos, word))
    pieces_pos = list(diagonal_pos)
    flips = []
    index = np.arange(d, dtype=np.int64)
    for mask, words in by_mask.items():
        source = index ^ mask
        table = np.ones((d, len(words)), dtype=np.complex128)
        for col, (pos, word) in enumerate(words):
            for w, p in word.terms:
                bit = all_bits[source, w]  # the bit of j = i ⊕ m that the Pauli acts on
                if p == "Z":
                    table[:, col] *= (-1.0) ** bit
                elif p == "Y":
                    table[:, col] *= 1j * (-1.0) ** bit
            pieces_pos.append(pos)
        flips.append((source, table))
    order = np.argsort(np.array(pieces_pos))
    diagonal = np.stack(diagonal_cols, axis=1) if diagonal_cols else None
    return Readout(diagonal, tuple(flips), order)


def compile_circuit(circuit: Circuit) -> Program:
    """Compile ``circuit`` into a :class:`Program` (pure bookkeeping; cache the result)."""
    builder = _Builder(circuit)
    for op in circuit.ops:
        builder.add(op)
    return builder.finish()

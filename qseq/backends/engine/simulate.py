"""Running a compiled :class:`~.program.Program` on batched torch state vectors.

States are complex tensors ``(*lead, 2**n)`` with wire 0 the most significant bit. Every stage
broadcasts: the angles of a stage have their own leading shape (``(B,)`` for per-sample inputs,
``(K, 1)`` for the weights of K gate circuits shared by a batch), and the state's leading shape
grows to the broadcast of both. Nothing here loops over samples; the Python work per call is a
fixed number of tensor operations per stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..._checks import records_grad
from .compiled_circuit import CircuitKernel
from .compiled_gates import GatePlan, build_matrices, gate_plan
from .compiled_lanes import LANES_MAX_QUBITS, LANES_MIN_GROUP, LanesForm, LanesKernel
from .compiled_run import RunPlan, available, run_plan, run_rows, run_states
from .gpu_circuit import GPU_CIRCUIT_MAX_QUBITS, GpuCircuit
from .gpu_circuit import available as gpu_circuit_available
from .gpu_passes import GPU_BLOCK_MIN_QUBITS, GatherTables, apply_block_gpu, apply_gather_gpu, gather_tables
from .product import PRODUCT_SAVED_OPS, ProductExpval, ProductTables, product_tables, real_rows
from .program import Dense, Local, Permute, Program, Stage
from .shapes import broadcast_shapes

__all__ = [
    "Tables",
    "make_tables",
    "evolve",
    "expval_product",
    "expval_compiled",
    "expval_lanes",
    "lanes_call",
    "lanes_form",
    "product_unitaries",
    "expectations",
    "REAL_DTYPE",
]

#: Largest register whose gate layers the compiled CPU kernels apply (:mod:`.compiled_run`,
#: :mod:`.compiled_circuit`). They take one state at a time through every gate, so the state stays in
#: cache while torch's operations each stream the whole batch: on a 2-core CPU (one kernel thread
#: against two torch threads) they were 2-5x faster at 14-20 qubits, batches 2-256. Above 20 qubits
#: nothing was measured, and torch's multi-wire blocks make fewer passes over states that no longer
#: fit any cache.
COMPILED_MAX_QUBITS = 20
# A tensor operation's fixed cost (dispatch, allocation) expressed in amplitudes touched: the
# cost model that decides when to fuse a shared run of stages into one unitary counts it per op.
OP_OVERHEAD_AMPLITUDES = 4096
#: The real dtype of angles and expectation values for each complex state dtype.
REAL_DTYPE = {torch.complex64: torch.float32, torch.complex128: torch.float64}
# Single-qubit matrices used by at least this many states each count as shared (larger blocks).
SHARED_REUSE = 4
# Pieces the long reduction of a weight gradient on CUDA is split into (see _SplitKMatmul).
SPLIT_K_CHUNKS = 64


@dataclass
class Tables:
    """Device tensors of one program for one (device, complex dtype); built once, then reused."""

    device: torch.device
    cdtype: torch.dtype
    per_stage: dict  # id(stage) -> stage-specific tensors
    per_batch: list  # per MatrixBatch: its gate steps (see _steps)
    readout: tuple | None  # None above TABLE_QUBITS: the observables are read on the wires
    zero: torch.Tensor  # |0⟩ = (1, 0)
    eye2: torch.Tensor  # the 2×2 identity (wires without a gate in a Local stage)
    prep_order: torch.Tensor | None  # basis permutation from stacking order to wire order (see _prepare)
    prep_axes: tuple[int, ...] | None = None  # the same as an axis permutation, above TABLE_QUBITS
    product: ProductTables | None = None  # the product-state fast path's tables, where it applies
    gathers: dict[int, GatherTables | None] = field(default_factory=dict)  # GPU gathers' tables (gpu_passes)
    runs: dict[tuple[int, ...], RunPlan | None] = field(default_factory=dict)  # compiled runs' plans, by stage ids
    gate_plans: dict[tuple[int, ...], GatePlan | None] = field(default_factory=dict)  # the same for their matrices
    circuit_kernel: Any = None  # the whole-circuit kernel, made once; False where it does not apply
    lanes_kernel: Any = None  # the lanes kernel of the stages after the preparation, the same way


def _steps(batch, device, cdtype) -> list:
    """A matrix batch's gate sequence as ("angles", spec, index) and pre-multiplied constants."""
    steps: list[tuple] = []
    for spec, angles in zip(batch.gates, batch.angles, strict=True):
        if spec.parametric:
            steps.append(("angles", spec, torch.as_tensor(angles, device=device)))
            continue
        matrix = spec.matrix(torch.zeros(0, device=device), cdtype)
        if steps and steps[-1][0] == "const":
            matrix = matrix @ steps[-1][1]
            steps.pop()
        steps.append(("const", matrix))
    return steps


def make_tables(program: Program, device: torch.device, cdtype: torch.dtype) -> Tables:
    per_stage: dict[int, Any] = {}  # id(stage) -> a Permute's (source, phase), a Dense's angle indices
    for stage in program.stages:
        if isinstance(stage, Permute):  # large registers on CUDA: made when first needed (gathers need none)
            if device.type != "cuda" or program.n_qubits < GPU_BLOCK_MIN_QUBITS:
                per_stage[id(stage)] = _compose_permutation(program.n_qubits, stage.gates, device, cdtype)
        elif isinstance(stage, Dense):
            per_stage[id(stage)] = torch.as_tensor(stage.angles, device=device)
    real = REAL_DTYPE[cdtype]
    r = program.readout
    readout = None
    if r is not None:
        readout = (
            None if r.diagonal is None else torch.as_tensor(r.diagonal, device=device).to(real),
            tuple(
                (torch.as_tensor(s, device=device), torch.as_tensor(t, device=device).to(cdtype)) for s, t in r.flips
            ),
            None if (r.order == range(len(r.order))).all() else torch.as_tensor(r.order, device=device),
        )
    zero = torch.tensor([1, 0], dtype=cdtype, device=device)
    per_batch = [_steps(b, device, cdtype) for b in program.matrix_batches]
    axes = _prep_axes(program)
    # without readout tables (above TABLE_QUBITS) no other 2^n table either: the axes are permuted
    order = None if axes is None or program.readout is None else _basis_order(program.n_qubits, axes, device)
    return Tables(
        device,
        cdtype,
        per_stage,
        per_batch,
        readout,
        zero,
        torch.eye(2, dtype=cdtype, device=device),
        order,
        axes if order is None else None,
        product_tables(program, device, real),
    )


def _z_wires(program: Program) -> torch.Tensor | None:
    """The wire of every observable where each is a single ``Z_w`` (int32), else ``None``."""
    words = program.observables
    if not words or any(len(w.terms) != 1 or w.terms[0][1] != "Z" for w in words):
        return None
    return torch.tensor([w.terms[0][0] for w in words], dtype=torch.int32)


def _compose_permutation(n: int, gates, device, cdtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One gather for a run of phased-permutation gates: ``(source, phase)`` with
    ``ψ'[i] = phase[i] · ψ[source[i]]`` (``phase`` ``None`` when every gate's phases are 1), built with
    bit operations on the device: a few passes over ``2^n`` indices per gate, once per device."""
    index = torch.arange(2**n, device=device)
    source, phase = index, None
    for wires, sigma, g in gates:
        k = len(wires)
        local = sum(
            (((index >> (n - 1 - w)) & 1) << (k - 1 - pos) for pos, w in enumerate(wires)), torch.zeros_like(index)
        )
        j = torch.as_tensor(np.argsort(sigma), device=device)[local]  # the local state that lands on each i
        gate_source = index
        for pos, w in enumerate(wires):
            gate_source = (gate_source & ~(1 << (n - 1 - w))) | (((j >> (k - 1 - pos)) & 1) << (n - 1 - w))
        source = source[gate_source]
        if phase is not None:
            phase = phase[gate_source]
        if not np.allclose(g, 1):
            gate_phase = torch.as_tensor(g, device=device).to(cdtype)[j]
            phase = gate_phase if phase is None else gate_phase * phase
    return source, phase


def _prep_axes(program: Program) -> tuple[int, ...] | None:
    """For each wire, its axis in the preparation's stacking order (wire groups in order, then wires
    left in |0⟩); ``None`` when the orders agree."""
    if program.prep is None:
        return None
    n = program.n_qubits
    stacking = [w for g in program.prep.wire_groups for w in g.wires]
    stacking += [w for w in range(n) if w not in stacking]
    if stacking == list(range(n)):
        return None
    row = {w: r for r, w in enumerate(stacking)}
    return tuple(row[w] for w in range(n))


def _basis_order(n: int, axes: tuple[int, ...], device) -> torch.Tensor:
    """``order[i]``: the basis index, in stacking order, of basis state ``i`` in wire order."""
    basis = torch.arange(2**n)
    return sum((((basis >> (n - 1 - w)) & 1) << (n - 1 - axes[w]) for w in range(n)), torch.zeros_like(basis)).to(
        device
    )


# -- angles ------------------------------------------------------------------------------------
def _source(groups: dict, names: tuple[str, ...]) -> torch.Tensor | None:
    """The concatenation of the named groups (broadcast): the vector a stage's indices point into."""
    if not names:
        return None
    if len(names) == 1:
        return groups[names[0]]
    parts = [groups[n] for n in names]
    lead = broadcast_shapes(*(p.shape[:-1] for p in parts))
    return torch.cat([p.expand(*lead, p.shape[-1]) for p in parts], dim=-1)


class _Matrices:
    """The 2×2 matrices of every :class:`~.program.MatrixBatch`, built lazily once per call.

    Indexing by batch returns ``(*lead, n_wires, 2, 2)``, or ``(2, 2)`` for a constant sequence.
    """

    def __init__(self, program: Program, tables: Tables, groups: dict):
        self.program, self.tables, self.groups = program, tables, groups
        self.built: dict[int, torch.Tensor] = {}

    def __getitem__(self, b: int) -> torch.Tensor:
        m = self.built.get(b)
        if m is None:
            src = _source(self.groups, self.program.matrix_batches[b].groups)
            for step in self.tables.per_batch[b]:
                if step[0] == "angles":
                    assert src is not None  # a batch with angles reads at least one group
                    g = step[1].matrix(src[..., step[2]], self.tables.cdtype)
                else:
                    g = step[1]
                m = g if m is None else _product_2x2(g, m)
            assert m is not None  # every batch holds at least one gate
            self.built[b] = m
        return m

    def per_wire(self, stage: Local, extra_dim: bool = False) -> list:
        """``[(2, 2) or (*lead, 2, 2) or None]`` indexed by wire (``None``: no gate on that wire).
        ``extra_dim`` inserts a size-1 dim before the matrix dims (for building a fused unitary)."""
        out: list[torch.Tensor | None] = [None] * self.program.n_qubits
        for group in stage.wire_groups:
            m = self[group.batch]
            for i, w in enumerate(group.wires):
                mw = m if m.ndim == 2 else m[..., group.offset + i, :, :]
                out[w] = mw.unsqueeze(-3) if extra_dim and mw.ndim > 2 else mw
        return out


def _product_2x2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for (batches of) 2×2 matrices. On CUDA as one broadcast multiply and a sum: cuBLAS
    runs a batch of millions of 2×2 products slowly; on the CPU the batched matmul is faster."""
    return _broadcast_product(a, b) if a.is_cuda else a @ b


def _broadcast_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for small matrices as a broadcast multiply and a sum over the inner index."""
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)


def _kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product of matrices ``(..., p, p)`` and ``(..., q, q)``."""
    p, q = a.shape[-1], b.shape[-1]
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], p * q, p * q)


# -- stages ------------------------------------------------------------------------------------
def _prepare(stage: Local, mats: _Matrices, tables: Tables, n_qubits: int) -> torch.Tensor:
    """Product state ``ψ = ⊗_w v_w`` with ``v_w = M_w|0⟩``: ``(*lead, 2**n)``.

    The single-wire states come stacked by wire group, ``(*lead, n, 2)``; their Kronecker product
    is built one wire at a time and permuted to wire order once. (A one-shot gather-and-product over
    an ``(n, 2^n)`` table was measured too: no faster at 4 qubits, slower with gradients at 8, and
    ``n`` times the memory.)
    """
    columns = []
    for group in stage.wire_groups:
        m = mats[group.batch]
        if m.ndim == 2:  # constant gates: the same state on every wire of the group
            columns.append(m[:, 0].expand(len(group.wires), 2))
        else:
            columns.append(m[..., group.offset : group.offset + len(group.wires), :, 0])
    absent = n_qubits - sum(len(g.wires) for g in stage.wire_groups)
    if absent:
        columns.append(tables.zero.expand(absent, 2))
    if len(columns) == 1:
        states = columns[0]
    else:
        lead = broadcast_shapes(*(c.shape[:-2] for c in columns))
        states = torch.cat([c.expand(*lead, *c.shape[-2:]) for c in columns], dim=-2)
    psi = states[..., 0, :]
    for k in range(1, n_qubits):
        psi = (psi[..., :, None] * states[..., k, None, :]).flatten(-2)
    if tables.prep_order is not None:
        return psi[..., tables.prep_order]
    if tables.prep_axes is not None:  # no 2^n table above TABLE_QUBITS: permute the wire axes
        lead = psi.shape[:-1]
        x = psi.reshape(*lead, *([2] * n_qubits)).permute(*range(len(lead)), *(len(lead) + a for a in tables.prep_axes))
        return x.reshape(*lead, 2**n_qubits)
    return psi


def apply_block(psi: torch.Tensor, m: torch.Tensor, first: int, k: int, n_qubits: int) -> torch.Tensor:
    """Apply a ``(2^k × 2^k)`` matrix ``(*lead_m, K, K)`` to wires ``first..first+k-1`` of ``psi``.

    The state is viewed as ``(*lead, before, K, after)``; the product is arranged so that the
    matmul's batch is the sample batch, never ``sample × before`` tiny matrices.
    """
    out = apply_block_gpu(psi, m, first, k, n_qubits)  # large registers on CUDA: one pass, in Triton
    if out is not None:
        return out
    size, before, after = 2**k, 2**first, 2 ** (n_qubits - first - k)
    lead = psi.shape[:-1]
    if before == 1:  # leading wires: a plain (batched) matmul, no copies
        out = m @ psi.reshape(*lead, size, after)
    elif after == 1:  # trailing wires: multiply from the right
        out = psi.reshape(*lead, before, size) @ m.mT
    elif after >= before:  # few, wide products
        out = m.unsqueeze(-3) @ psi.reshape(*lead, before, size, after)
        return out.reshape(*out.shape[:-3], 2**n_qubits)
    else:  # bring the block's axis to the front: one wide product per sample
        x = psi.reshape(*lead, before, size, after).movedim(-2, -3).reshape(*lead, size, before * after)
        x = m @ x  # (the reassignments free each copy as soon as the next exists: large registers)
        x = x.reshape(*x.shape[:-2], size, before, after).movedim(-3, -2)
        return x.reshape(*x.shape[:-3], 2**n_qubits)
    return out.reshape(*out.shape[:-2], 2**n_qubits)


def _apply_local(
    stage: Local, tables: Tables, psi, mats: _Matrices, lead: torch.Size, n_qubits: int, fused: bool, store
) -> torch.Tensor:
    """Apply a layer of single-qubit gates whose angles have leading shape ``lead``.

    The matrices are combined into one ``2^k × 2^k`` Kronecker block per group of adjacent wires
    (identity where a wire has no gate), so the state is touched once per block; blocks are larger
    when the matrices are shared by many states (built once, not per sample). ``store`` (a bound
    circuit's cache, for a stage that reads only bound groups) keeps the blocks for later calls.
    """
    shared = math.prod(lead) * SHARED_REUSE <= math.prod(psi.shape[:-1])
    key = ("blocks", id(stage), shared, fused, tables.cdtype, tables.device, torch.is_grad_enabled())
    blocks = None if store is None else store.get(key)
    if blocks is None:
        blocks = local_blocks(stage, tables, mats, shared, fused)
        if store is not None and not any(b.requires_grad for _, _, b in blocks):  # a graph lives one pass
            store[key] = blocks
    for first, k, block in blocks:
        psi = apply_block(psi, block, first, k, n_qubits)
    return psi


def local_blocks(stage: Local, tables: Tables, mats: _Matrices, shared: bool, fused: bool = False) -> list:
    """``[(first wire, k, block (*lead, 2^k, 2^k))]``: a Local stage's gates as Kronecker blocks of
    adjacent wires (``shared``: the larger blocks used when the matrices serve many states)."""
    per_wire = mats.per_wire(stage, fused)
    eye = torch.eye(2, dtype=tables.cdtype, device=tables.device)
    blocks = []
    for first, k in stage.blocks if shared else stage.sample_blocks:
        block = None
        for w in range(first, first + k):
            m = eye if per_wire[w] is None else per_wire[w]
            block = m if block is None else _kron(block, m)
        assert block is not None  # every block spans at least one wire
        blocks.append((first, k, block))
    return blocks


def dense_matrix(stage: Dense, tables: Tables, src) -> torch.Tensor:
    """A Dense stage's gate matrix ``(*lead, 2^k, 2^k)`` for the stage's source vector ``src``."""
    index = tables.per_stage[id(stage)]
    angles = torch.zeros(0, device=tables.device, dtype=REAL_DTYPE[tables.cdtype]) if src is None else src[..., index]
    return stage.spec.matrix(angles, tables.cdtype)


def apply_on_wires(psi: torch.Tensor, m: torch.Tensor, wires: tuple[int, ...], n_qubits: int) -> torch.Tensor:
    """Apply a (possibly batched) ``(2^k × 2^k)`` matrix ``(*lead_m, 2^k, 2^k)`` to arbitrary ``wires``."""
    k = len(wires)
    lead = psi.shape[:-1]
    x = psi.reshape(*lead, *([2] * n_qubits)).movedim([len(lead) + w for w in wires], list(range(-k, 0)))
    x = x.reshape(*lead, 2 ** (n_qubits - k), 2**k) @ m.mT  # (*lead_out, rest, 2^k)
    out_lead = x.shape[:-2]
    x = x.reshape(*out_lead, *([2] * n_qubits)).movedim(list(range(-k, 0)), [len(out_lead) + w for w in wires])
    return x.reshape(*out_lead, 2**n_qubits)


def permutation_table(tables: Tables, stage: Permute, n_qubits: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A Permute stage's ``(source, phase)`` index tables (``2^n`` entries), made on first use."""
    if id(stage) not in tables.per_stage:
        tables.per_stage[id(stage)] = _compose_permutation(n_qubits, stage.gates, tables.device, tables.cdtype)
    return tables.per_stage[id(stage)]


def gpu_gather(tables: Tables, stage: Permute, n_qubits: int):
    """The Triton gather's tables of a Permute stage (:mod:`.gpu_passes`; they serve its inverse too),
    made once per stage and device, or ``None`` where it does not apply."""
    if tables.device.type != "cuda" or n_qubits < GPU_BLOCK_MIN_QUBITS:
        return None
    if id(stage) not in tables.gathers:
        tables.gathers[id(stage)] = gather_tables(stage.gates, n_qubits, tables.device)
    return tables.gathers[id(stage)]


def apply_permutation(psi: torch.Tensor, source: torch.Tensor, phase: torch.Tensor | None) -> torch.Tensor:
    """``ψ'[i] = phase[i] · ψ[source[i]]`` (a fused run of CNOT-like gates)."""
    psi = psi[..., source]  # advanced indexing: ~2x faster than index_select on CPU
    return psi if phase is None else psi * phase


def _apply(
    stage: Stage, tables: Tables, psi, mats: _Matrices, groups: dict, n_qubits: int, fused: bool = False, store=None
):
    """Apply one stage; ``fused`` marks ``psi`` as the identity's rows (one extra leading dim);
    ``store``: where a stage reading only bound groups may keep what it derives from them."""
    if isinstance(stage, Permute):
        out = apply_gather_gpu(psi, gpu_gather(tables, stage, n_qubits), n_qubits)
        return out if out is not None else apply_permutation(psi, *permutation_table(tables, stage, n_qubits))
    if isinstance(stage, Local):
        return _apply_local(stage, tables, psi, mats, _lead(groups, stage.groups), n_qubits, fused, store)
    src = _source(groups, stage.groups)
    if fused and src is not None:
        src = src.unsqueeze(-2)
    assert isinstance(stage, Dense)  # the only other kind of stage
    return apply_on_wires(psi, dense_matrix(stage, tables, src), stage.wires, n_qubits)


# -- fusion ------------------------------------------------------------------------------------
def _ops(stage: Stage) -> int:
    """Rough count of tensor operations a stage issues (for the cost model)."""
    if isinstance(stage, Local):
        return 2 * sum(len(g.gates) for g in stage.wire_groups) + 2 * len(stage.blocks)
    return 2


def _apply_unitary_rows(psi: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``ψ ↦ U ψ`` given ``rows = Uᵀ`` shaped ``(*lead_u, D, D)``, without materialising ``U`` per sample.

    Leading dims where ``rows`` has size 1 but the state does not (the batch sharing one unitary)
    are moved into the matmul's row dimension, so the product is one (batched) GEMM.
    """
    d = psi.shape[-1]
    lead = broadcast_shapes(psi.shape[:-1], rows.shape[:-2])
    r = len(lead)
    lead_u = (1,) * (r - (rows.ndim - 2)) + tuple(rows.shape[:-2])
    shared = [i for i in range(r) if lead_u[i] == 1 and lead[i] > 1]
    batch = [i for i in range(r) if i not in shared]
    x = psi.expand(*lead, d).permute(*batch, *shared, r)
    n_batch = math.prod(lead[i] for i in batch)
    n_shared = math.prod(lead[i] for i in shared)
    u = rows.reshape(*(lead_u[i] for i in batch), d, d).expand(*(lead[i] for i in batch), d, d)
    y = _complex_matmul(x.reshape(n_batch, n_shared, d), u.reshape(n_batch, d, d))
    y = y.reshape(*(lead[i] for i in batch), *(lead[i] for i in shared), d)
    inverse = [0] * r
    for pos, i in enumerate(batch + shared):
        inverse[i] = pos
    return y.permute(*inverse, r)


def _complex_matmul(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``x @ u`` for complex ``x`` ``(b, m, d)`` and ``u`` ``(b, d, d)``.

    On CUDA the product runs as a real GEMM on interleaved (re, im) pairs, ``(b, m, 2d) @ (b, 2d, 2d)``
    with ``u``'s 2×2 real blocks ``[[Re u, Im u], [-Im u, Re u]]``: cuBLAS picks slow kernels for complex
    GEMMs with so small a ``d`` and a long ``m`` (measured on an H200: 280 µs for a (16384 × 16) ·
    (16 × 16) product and its backward, against a few µs in real arithmetic).
    """
    return _real_block_matmul(x, u) if x.is_cuda else torch.matmul(x, u)


def _real_block_matmul(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``x @ u`` (complex, ``(b, m, d) @ (b, d, d)``) as a real product on interleaved (re, im) pairs."""
    d = u.shape[-1]
    top = torch.stack((u.real, u.imag), dim=-1)  # rows j, re part of x_j: (b, j, k, [re, im] of y_k)
    bottom = torch.stack((-u.imag, u.real), dim=-1)  # im part of x_j
    w = torch.stack((top, bottom), dim=-3).reshape(*u.shape[:-2], 2 * d, 2 * d)
    y = _SplitKMatmul.apply(torch.view_as_real(x).reshape(*x.shape[:-1], 2 * d), w)
    return torch.view_as_complex(y.reshape(*y.shape[:-1], d, 2))


class _SplitKMatmul(torch.autograd.Function):
    """``x @ w`` for ``x`` ``(b, m, k)``, ``w`` ``(b, k, n)`` whose gradient for ``w`` — a reduction over
    the long ``m`` — is split into chunks summed afterwards. With small ``k``, ``n`` cuBLAS runs that
    reduction on a handful of thread blocks (measured on an H200: 0.48 ms for m = 16,384, k = n = 32)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return x @ w

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        grad_x = grad @ w.mT if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            b, m, k = x.shape
            chunks = math.gcd(m, SPLIT_K_CHUNKS)
            xs = x.reshape(b * chunks, m // chunks, k)
            gs = grad.reshape(b * chunks, m // chunks, grad.shape[-1])
            grad_w = (xs.mT @ gs).reshape(b, chunks, k, -1).sum(1)
        return grad_x, grad_w


def _forget(store: dict, key):
    """A gradient hook that drops ``store[key]`` and leaves the gradient unchanged."""

    def hook(_grad):
        store.pop(key, None)

    return hook


def _lead(groups: dict, names: tuple[str, ...]) -> torch.Size:
    if len(names) == 1:
        return groups[names[0]].shape[:-1]
    return broadcast_shapes(*(groups[n].shape[:-1] for n in names)) if names else torch.Size()


def _runs(stages, leads, n_state: int):
    """Split stages into maximal runs of shared (lead smaller than the state's batch) and others."""
    run: list[int] = []
    shared_run: bool | None = None
    for i, stage in enumerate(stages):
        shared = math.prod(leads[i]) < n_state or not stage.groups
        if run and shared != shared_run:
            yield shared_run, run
            run = []
        run.append(i)
        shared_run = shared
    if run:
        yield shared_run, run


def _should_fuse(
    stages, run, n_state: int, n_seg: int, dim: int, cached: bool, fuse: bool | None, saved_ops: int = 0
) -> bool:
    """Whether to fuse a shared run into one unitary: the amplitudes its build and one product touch
    against applying the stages one by one, each tensor operation counted as
    ``OP_OVERHEAD_AMPLITUDES``; ``saved_ops`` are further operations that fusing removes."""
    if not any(stages[i].groups for i in run):
        return False  # constant-only runs are cheap to apply directly
    if fuse is not None:
        return fuse
    direct = sum(n_state * dim * stages[i].cost + OP_OVERHEAD_AMPLITUDES * _ops(stages[i]) for i in run)
    direct += OP_OVERHEAD_AMPLITUDES * saved_ops
    build = (
        0 if cached else sum(n_seg * dim * dim * stages[i].cost + OP_OVERHEAD_AMPLITUDES * _ops(stages[i]) for i in run)
    )
    return build + n_state * dim * dim + OP_OVERHEAD_AMPLITUDES < direct


def _layered_matrices(stages, run, mats: _Matrices, n_qubits: int) -> torch.Tensor | None:
    """``(*lead, layers, n, 2, 2)``: every wire's matrix in each Local stage of ``run``, where those
    stages' matrices all come from one matrix batch in layer order (a layered ansatz: the Rot layers
    of a Chen VQC), as one view of that batch; ``None`` for other runs."""
    local = [i for i in run if isinstance(stages[i], Local)]
    groups = [stages[i].wire_groups for i in local]
    if not local or any(len(g) != 1 or g[0].wires != tuple(range(n_qubits)) for g in groups):
        return None
    if len({g[0].batch for g in groups}) != 1 or [g[0].offset for g in groups] != [
        k * n_qubits for k in range(len(local))
    ]:
        return None
    m = mats[groups[0][0].batch]
    if m.ndim == 2 or m.shape[-3] != n_qubits * len(local):
        return None
    return m.unflatten(-3, (len(local), n_qubits))


def _layer_products(stages, run, mats: _Matrices, n_qubits: int) -> dict[int, torch.Tensor]:
    """``{stage index: (*lead, D, D)}``: the Kronecker product of every wire's matrix for the Local
    stages of a layered ``run`` (:func:`_layered_matrices`), built for all layers at once; other runs
    get ``{}``."""
    m = _layered_matrices(stages, run, mats, n_qubits)
    if m is None:
        return {}
    layer = m[..., 0, :, :]
    for q in range(1, n_qubits):
        layer = _kron(layer, m[..., q, :, :])
    local = [i for i in run if isinstance(stages[i], Local)]
    return {i: layer[..., k, :, :] for k, i in enumerate(local)}


def _gate_plan(local: list[Local], tables: Tables, sizes: dict[str, int], n_qubits: int) -> GatePlan | None:
    """The compiled gate kernel's plan for the Local stages ``local`` (:func:`.compiled_gates.gate_plan`),
    made once per stages and tables."""
    key = tuple(id(stage) for stage in local)
    if key not in tables.gate_plans:
        tables.gate_plans[key] = gate_plan(local, n_qubits, sizes, tables.cdtype)
    return tables.gate_plans[key]


def _run_plan(stages: list[Stage], tables: Tables, n_qubits: int) -> RunPlan | None:
    """The compiled run kernel's plan for ``stages`` (:func:`.compiled_run.run_plan`), made once per
    stages and tables, or ``None`` where the kernel cannot run them: a stage other than Local and
    Permute, or no Local stage."""
    key = tuple(id(stage) for stage in stages)
    if key not in tables.runs:
        kinds = [0 if isinstance(s, Local) else 1 if isinstance(s, Permute) else 2 for s in stages]
        plan = None
        if 2 not in kinds and 0 in kinds:
            gathers = [permutation_table(tables, s, n_qubits) for s in stages if isinstance(s, Permute)]
            plan = run_plan(kinds, gathers, 2**n_qubits, tables.cdtype)
        tables.runs[key] = plan
    return tables.runs[key]


def _angle_rows(groups: dict, names: tuple[str, ...], cdtype: torch.dtype) -> tuple[torch.Tensor, torch.Size]:
    """The concatenation of the named groups (:func:`_source`) as rows ``(N, P)`` for a compiled
    kernel, and their leading shape (``(1,)`` and no columns where no group is named)."""
    src = _source(groups, names)
    if src is None:
        src = torch.zeros(1, 0, dtype=REAL_DTYPE[cdtype])
    return src.reshape(math.prod(src.shape[:-1]), src.shape[-1]), src.shape[:-1]


def _run_matrices(stages, run, tables: Tables, mats: _Matrices, n_qubits: int) -> torch.Tensor:
    """``(*lead, L, n, 2, 2)``: every wire's matrix in each of the ``L`` Local stages of ``run``, by the
    compiled gate kernel (:mod:`.compiled_gates`) where it applies, else from torch's matrices."""
    local = [stages[i] for i in run if isinstance(stages[i], Local)]
    plan = _gate_plan(local, tables, {name: t.shape[-1] for name, t in mats.groups.items()}, n_qubits)
    if plan is not None:
        rows, lead = _angle_rows(mats.groups, plan.groups, tables.cdtype)
        built = build_matrices(rows, plan)
        if built is not None:
            return built.view(*lead, len(local), n_qubits, 2, 2)
    m = _layered_matrices(stages, run, mats, n_qubits)
    if m is None:  # any Local stages: every wire's matrix, stacked
        per_wire = [w if w is not None else tables.eye2 for stage in local for w in mats.per_wire(stage)]
        lead = broadcast_shapes(*(w.shape[:-2] for w in per_wire))
        m = torch.stack([w.expand(*lead, 2, 2) for w in per_wire], dim=-3).unflatten(-3, (-1, n_qubits))
    return m


def _compiled_run(stages, run, tables: Tables, mats: _Matrices, n_qubits: int):
    """``(matrices (*lead, L, n, 2, 2), plan)`` of a run for the compiled kernel (:mod:`.compiled_run`),
    or ``None`` where it does not apply: not on the CPU, a stage other than Local and Permute, no
    Local stage, more than :data:`COMPILED_MAX_QUBITS` wires, or no compiled kernel."""
    if tables.device.type != "cpu" or n_qubits > COMPILED_MAX_QUBITS or not available(tables.cdtype):
        return None
    plan = _run_plan([stages[i] for i in run], tables, n_qubits)
    return None if plan is None else (_run_matrices(stages, run, tables, mats, n_qubits), plan)


def _compiled_rows(stages, run, tables: Tables, mats: _Matrices, n_qubits: int) -> torch.Tensor | None:
    """The rows ``(*lead, D, D)`` of a run by the compiled kernel (one call each way), or ``None``."""
    compiled = _compiled_run(stages, run, tables, mats, n_qubits)
    if compiled is None:
        return None
    m, plan = compiled
    rows = run_rows(m.reshape(-1, *m.shape[-4:]), plan)
    return None if rows is None else rows.reshape(*m.shape[:-4], *rows.shape[-2:])


def _compiled_states(stages, run, tables: Tables, mats: _Matrices, psi: torch.Tensor, n_qubits: int):
    """``psi`` ``(*lead, D)`` evolved through a run by the compiled kernel, each state with its own
    matrices (broadcast to the states' leading shape), or ``None`` where it does not apply."""
    compiled = _compiled_run(stages, run, tables, mats, n_qubits)
    if compiled is None:
        return None
    m, plan = compiled
    lead = broadcast_shapes(psi.shape[:-1], m.shape[:-4])
    states = psi.expand(*lead, psi.shape[-1]).reshape(-1, psi.shape[-1])
    out = run_states(states, m.expand(*lead, *m.shape[-4:]).reshape(-1, *m.shape[-4:]), plan)
    return None if out is None else out.view(*lead, psi.shape[-1])


def _circuit_kernel(program: Program, tables: Tables, groups: dict) -> CircuitKernel | GpuCircuit | None:
    """The program's whole-circuit kernel, made on first use: in C on the CPU
    (:mod:`.compiled_circuit`), in Triton on CUDA (:mod:`.gpu_circuit`, forward only). ``None`` where
    it does not apply: an observable other than one wire's Z, a stage other than Local and Permute,
    more than :data:`COMPILED_MAX_QUBITS` wires (:data:`~.gpu_circuit.GPU_CIRCUIT_MAX_QUBITS` on
    CUDA), a gate the matrix kernel does not build, or no compiler (C, or Triton)."""
    if tables.circuit_kernel is None:
        stages = ([program.prep] if program.prep is not None else []) + list(program.stages)
        cuda, n = tables.device.type == "cuda", program.n_qubits
        fits = n <= GPU_CIRCUIT_MAX_QUBITS and gpu_circuit_available() if cuda else n <= COMPILED_MAX_QUBITS
        z_wires, kernel = _z_wires(program), None
        run = _run_plan(stages, tables, n) if fits and tables.device.type in ("cpu", "cuda") else None
        if z_wires is not None and run is not None:
            sizes = {name: t.shape[-1] for name, t in groups.items()}
            gates = _gate_plan([s for s in stages if isinstance(s, Local)], tables, sizes, n)
            if cuda:
                kernel = None if gates is None else GpuCircuit(gates, run, z_wires, n, tables.device)
            else:
                n_angles = 0 if gates is None else sum(sizes[g] for g in gates.groups)
                kernel = CircuitKernel.build(gates, run, z_wires, n, n_angles)
        tables.circuit_kernel = kernel if kernel is not None else False
    return tables.circuit_kernel or None


def expval_compiled(program: Program, tables: Tables, groups: dict, batch_shape: torch.Size) -> torch.Tensor | None:
    """Expectation values ``(*batch_shape, n_obs)`` of circuits whose every gate layer has per-sample
    angles, by the whole-circuit kernel (:func:`_circuit_kernel`: on the CPU gate matrices, evolution
    from ``|0…0⟩`` and ``⟨Z⟩`` in two C calls each way; on CUDA one Triton call, without gradients),
    or ``None`` where it does not apply (see :func:`_circuit_kernel`; and where a stage's angles are
    shared by the batch, which the other paths fuse or cache; on CUDA, where a gradient is needed)."""
    if tables.device.type == "cuda" and records_grad(*groups.values()):
        return None
    n_state = math.prod(batch_shape)
    if any(math.prod(_lead(groups, names)) < n_state for names in program.stage_groups):
        return None
    kernel = _circuit_kernel(program, tables, groups)
    if kernel is None:
        return None
    rows, lead = _angle_rows(groups, kernel.gates.groups, tables.cdtype)
    out = kernel(rows)
    return out.view(*lead, out.shape[-1]).expand(*batch_shape, out.shape[-1])


def _lanes_kernel(program: Program, tables: Tables, sizes: dict[str, int]) -> LanesKernel | None:
    """The lanes kernel of the program's stages after its preparation (:mod:`.compiled_lanes`), made
    on first use, or ``None`` where it does not apply: no Local preparation, an observable other than
    one wire's Z, a stage other than Local and Permute, a register above
    :data:`~.compiled_lanes.LANES_MAX_QUBITS`, a gate the matrix kernel does not build, or no
    compiled kernels."""
    if tables.lanes_kernel is None:
        z_wires, kernel, n, prep = _z_wires(program), None, program.n_qubits, program.prep
        if isinstance(prep, Local) and z_wires is not None and n <= LANES_MAX_QUBITS:
            run = _run_plan(list(program.stages), tables, n)
            gates = _gate_plan([prep], tables, sizes, n)
            kernel = None if run is None else LanesKernel.build(gates, run, z_wires, n)
        tables.lanes_kernel = kernel if kernel is not None else False
    return tables.lanes_kernel or None


def _outer_inner(batch_shape: torch.Size, outer: torch.Size, inner: torch.Size) -> bool:
    """Whether leading shapes ``outer`` and ``inner`` (right-aligned to ``batch_shape``) vary only over
    a prefix and a suffix of it respectively: state ``r`` of the flattened batch then takes row
    ``r // (N / prod(outer))`` of one and row ``r % prod(inner)`` of the other."""
    rank = len(batch_shape)
    if len(outer) > rank or len(inner) > rank:
        return False
    outer = torch.Size((1,) * (rank - len(outer))) + outer
    inner = torch.Size((1,) * (rank - len(inner))) + inner
    split = next((i for i in range(rank) if outer[i] != batch_shape[i]), rank)
    start = next((i for i in range(rank, 0, -1) if inner[i - 1] != batch_shape[i - 1]), 0)
    return all(size == 1 for size in outer[split:]) and all(size == 1 for size in inner[:start])


def lanes_call(
    program: Program, tables: Tables, groups: dict, batch_shape: torch.Size, cache=None
) -> tuple[tuple[str, ...], Callable[..., torch.Tensor]] | None:
    """The lanes kernel (:mod:`.compiled_lanes`) prepared for one call signature: ``(names, call)``
    where ``call(angles, check=True)`` maps the preparation's angle rows ``(n_prep, P)`` (the
    concatenation of the groups ``names``, as :func:`_angle_rows` makes them) to the expectation
    values ``(*batch_shape, n_obs)`` (``check``: reject NaN or infinite angles), with the stages'
    matrices made from ``groups`` now (and kept in ``cache`` for a bound circuit). ``None`` where it
    does not apply: see :func:`_lanes_kernel`; and off the CPU, where the stages' and the
    preparation's leading dimensions interleave, or where fewer than
    :data:`~.compiled_lanes.LANES_MIN_GROUP` states share each set of the stages' matrices.
    Nothing is differentiated."""
    prep = program.prep
    if tables.device.type != "cpu" or prep is None or not prep.groups:
        return None
    kernel = _lanes_kernel(program, tables, {name: t.shape[-1] for name, t in groups.items()})
    if kernel is None:
        return None
    names = program.stage_names
    lead_w, lead_p = _lead(groups, names), _lead(groups, prep.groups)
    if not _outer_inner(batch_shape, lead_w, lead_p):
        return None
    n_states = math.prod(batch_shape)
    if n_states < LANES_MIN_GROUP * math.prod(lead_w):
        return None
    shared = _stage_matrices(program, tables, groups, names, cache)
    shared = shared.reshape(-1, *shared.shape[-4:])
    out_shape = (*batch_shape, len(program.observables))
    return kernel.prep.groups, lambda angles, check=True: kernel(angles, shared, n_states, check).view(out_shape)


def _stage_matrices(program: Program, tables: Tables, groups: dict, names: tuple[str, ...], cache) -> torch.Tensor:
    """``(*lead, L, n, 2, 2)``: every Local stage's matrices after the preparation (complex,
    contiguous, without autograd), from the groups ``names``; kept in ``cache`` for a bound circuit."""
    n, stages = program.n_qubits, program.stages
    mats = _Matrices(program, tables, groups)
    store = cache.store if cache is not None and set(names) <= cache.fixed else None
    key = ("lanes", tables.cdtype, tables.device)
    shared = _kept(store, key, lambda: _run_matrices(stages, range(len(stages)), tables, mats, n))
    return shared.detach().resolve_conj().contiguous()


def lanes_form(program: Program, tables: Tables, groups: dict, sizes: dict[str, int], cache=None) -> LanesForm | None:
    """A bound bank in the lanes kernel's form (:class:`~.compiled_lanes.LanesForm`), for models that
    drive the evaluation themselves, or ``None`` where it does not apply: see :func:`_lanes_kernel`;
    and off the CPU, without the product-state tables of the preparation, or where the stages read
    a group the preparation reads. ``groups``: the bound groups; ``sizes``: every group's length."""
    prep = program.prep
    if tables.device.type != "cpu" or prep is None or not prep.groups or tables.product is None:
        return None
    kernel = _lanes_kernel(program, tables, sizes)
    names = program.stage_names
    if kernel is None or set(names) & set(prep.groups):
        return None
    shared = _stage_matrices(program, tables, groups, names, cache)
    return LanesForm(kernel, shared.reshape(-1, *shared.shape[-4:]), tables.product)


def expval_lanes(
    program: Program, tables: Tables, groups: dict, batch_shape: torch.Size, fuse: bool | None = None, cache=None
) -> torch.Tensor | None:
    """Expectation values ``(*batch_shape, n_obs)`` by the lanes kernel for circuits whose
    preparation alone reads per-sample angles, where no group needs a gradient; ``None`` where it
    does not apply (see :func:`lanes_call`), and where ``fuse`` forces the other paths' choice."""
    if fuse is not None or records_grad(*groups.values()):
        return None
    prepared = lanes_call(program, tables, groups, batch_shape, cache)
    if prepared is None:
        return None
    names, call = prepared
    return call(_angle_rows(groups, names, tables.cdtype)[0], check=False)  # check_params scanned them


def _apply_direct(stages, direct, tables: Tables, psi, mats: _Matrices, groups: dict, n_qubits: int):
    """Apply the stages ``direct`` (``[(index, store, shared)]``) in order: each stretch between Dense
    stages whose gate layers are per sample by the compiled kernel where it applies
    (:func:`_compiled_states`), the rest one by one. Layers shared by the batch stay with torch's
    blocks: one block (kept by a bound circuit) multiplies every state as one GEMM, which measured
    faster than the kernel's wire-by-wire loop at 8 qubits and batch 256."""
    segment: list[tuple[int, dict | None, bool]] = []
    for item in [*direct, (None, None, True)]:  # a sentinel ends the last stretch
        if item[0] is not None and not isinstance(stages[item[0]], Dense):
            segment.append(item)
            continue
        if segment:
            indices = [i for i, _, _ in segment]
            per_sample = any(not shared and isinstance(stages[i], Local) for i, _, shared in segment)
            compiled = _compiled_states(stages, indices, tables, mats, psi, n_qubits) if per_sample else None
            if compiled is not None:
                psi = compiled
            else:
                for i, store, _ in segment:
                    psi = _apply(stages[i], tables, psi, mats, groups, n_qubits, store=store)
            segment = []
        if item[0] is not None:
            psi = _apply(stages[item[0]], tables, psi, mats, groups, n_qubits, store=item[1])
    return psi


def _fused_rows(stages, run, tables: Tables, mats: _Matrices, groups: dict, n_qubits: int) -> torch.Tensor:
    """The rows ``Uᵀ`` ``(*lead, D, D)`` of a run of stages (``ψ ↦ ψ @ rows`` applies the run).

    A Local stage is one Kronecker product of its wires' matrices (for a layered ansatz, all layers'
    products at once), multiplied in as ``rows @ Lᵀ`` — one GEMM per stage instead of block
    products over the identity's rows; permutations are gathers of the columns; other stages are
    applied to the rows as to a batch of states.
    """
    compiled = _compiled_rows(stages, run, tables, mats, n_qubits)
    if compiled is not None:
        return compiled
    layers = _layer_products(stages, run, mats, n_qubits)
    rows = torch.eye(2**n_qubits, dtype=tables.cdtype, device=tables.device)
    for i in run:
        stage = stages[i]
        if isinstance(stage, Local):
            layer = layers.get(i)
            if layer is None:
                for m in mats.per_wire(stage):
                    m = tables.eye2 if m is None else m
                    layer = m if layer is None else _kron(layer, m)
            assert layer is not None  # a Local stage spans at least one wire
            rows = rows @ layer.mT
        else:
            rows = _apply(stage, tables, rows, mats, groups, n_qubits, fused=True)
    return rows


def _kept(store: dict | None, key, build) -> torch.Tensor:
    """``store[key]``, built by ``build()`` when absent (kept only while its graph, if any, is unused:
    a backward pass frees the graph, so the value is rebuilt next time)."""
    value = None if store is None else store.get(key)
    if value is None:
        value = build()
        if store is not None:
            store[key] = value
            if value.requires_grad:
                value.register_hook(_forget(store, key))
    return value


def evolve(
    program: Program,
    tables: Tables,
    groups: dict,
    batch_shape: torch.Size,
    initial: torch.Tensor | None = None,
    fuse: bool | None = None,
    cache=None,
) -> torch.Tensor:
    """The final state ``(*lead, 2**n)`` for parameter ``groups`` (``{name: (*lead_g, size)}``).

    ``initial`` (``(*lead_0, 2**n)``) replaces the product-state preparation from ``|0…0⟩``.
    ``fuse``: ``None`` decides per run of shared stages with a cost model, ``True``/``False`` force.
    ``cache``: a :class:`~qseq.backends.base.BindCache`; fused unitaries of runs that read only its
    fixed groups are stored there and reused.
    """
    n, dim = program.n_qubits, program.dim
    stages = program.stages
    mats = _Matrices(program, tables, groups)
    if initial is None:
        if program.prep is None:
            psi = torch.zeros(dim, dtype=tables.cdtype, device=tables.device)
            psi[0] = 1
        else:
            psi = _prepare(program.prep, mats, tables, n)
    else:
        psi = initial
        if program.prep is not None:
            stages = (program.prep,) + stages
    n_state = math.prod(broadcast_shapes(batch_shape, psi.shape[:-1]))
    leads = [_lead(groups, s.groups) for s in stages]
    direct: list[tuple[int, dict | None, bool]] = []  # stages applied directly: (index, store, shared)
    for shared, run in _runs(stages, leads, n_state):
        names = tuple(dict.fromkeys(g for i in run for g in stages[i].groups))
        store = cache.store if cache is not None and set(names) <= cache.fixed else None
        key = ("fused", run[0], run[-1], tables.cdtype, tables.device, torch.is_grad_enabled())
        n_seg = math.prod(_lead(groups, names))
        if shared and _should_fuse(stages, run, n_state, n_seg, dim, store is not None, fuse):
            psi = _apply_direct(stages, direct, tables, psi, mats, groups, n)
            direct = []
            rows = _kept(store, key, lambda run=run: _fused_rows(stages, run, tables, mats, groups, n))
            psi = _apply_unitary_rows(psi, rows)
        else:
            direct.extend((i, store, bool(shared)) for i in run)
    psi = _apply_direct(stages, direct, tables, psi, mats, groups, n)
    return psi.expand(*broadcast_shapes(batch_shape, psi.shape[:-1]), dim)


def product_unitaries(
    program: Program, tables: Tables, groups: dict, n_state: int, fuse: bool | None = None, cache=None
) -> torch.Tensor | None:
    """The real unitaries ``(2D, K·2D)`` (:func:`.product.real_rows`) of the stages after a qualifying
    preparation, for the product-state fast path, or ``None`` where it does not apply: the program
    does not qualify, those stages read a group the preparation reads, or the cost model (``fuse``)
    would not fuse them into one unitary for ``n_state`` states. Only the stages' groups are read
    from ``groups``; ``cache`` keeps the result while its graph, if any, is unused."""
    t, prep, stages = tables.product, program.prep, program.stages
    if t is None or prep is None or not prep.groups or not stages or fuse is False:
        return None
    names = program.stage_names
    if not names or set(names) & set(prep.groups) or not set(names) <= set(groups):
        return None
    n_seg = math.prod(_lead(groups, names))
    store = cache.store if cache is not None and set(names) <= cache.fixed else None
    run = range(len(stages))
    if not _should_fuse(stages, run, n_state, n_seg, program.dim, store is not None, fuse, PRODUCT_SAVED_OPS):
        return None
    mats = _Matrices(program, tables, groups)
    key = ("product", tables.cdtype, tables.device, torch.is_grad_enabled())
    return _kept(store, key, lambda: real_rows(_fused_rows(stages, run, tables, mats, groups, program.n_qubits)))


def expval_product(
    program: Program, tables: Tables, groups: dict, batch_shape: torch.Size, fuse: bool | None = None, cache=None
) -> torch.Tensor | None:
    """Expectation values ``(*batch_shape, n_obs)`` by the product-state fast path (:mod:`.product`),
    or ``None`` where it does not apply (see :func:`product_unitaries`, and: the circuits' and the
    inputs' leading dimensions must not interleave)."""
    prep = program.prep
    if tables.product is None or prep is None or not prep.groups:
        return None
    rank = len(batch_shape)
    names = tuple(n for n in groups if n not in prep.groups)
    lead_in = (1,) * rank + tuple(_lead(groups, prep.groups))
    lead_w = (1,) * rank + tuple(_lead(groups, names))
    lead_in, lead_w = lead_in[len(lead_in) - rank :], lead_w[len(lead_w) - rank :]
    last_w = max((i for i in range(rank) if lead_w[i] > 1), default=-1)
    if any(size > 1 for size in lead_in[: last_w + 1]):
        return None
    w = product_unitaries(program, tables, groups, math.prod(batch_shape), fuse, cache)
    if w is None:
        return None
    src = _source(groups, prep.groups)
    assert src is not None  # a qualifying preparation reads its angles from at least one group
    src = src.reshape(-1, src.shape[-1])
    t = tables.product
    out = ProductExpval.apply(src[:, t.ry], src[:, t.rz], w, t)  # (B, K, n_obs)
    return out.transpose(0, 1).reshape(*batch_shape, out.shape[-1])


def expectations(tables: Tables, psi: torch.Tensor, program: Program | None = None) -> torch.Tensor:
    """Expectation values of the program's observables: ``(*lead, n_obs)`` real. Above
    :data:`TABLE_QUBITS` (no readout tables) the ``program``'s Pauli words are read on the wires."""
    if tables.readout is None:
        assert program is not None  # the caller passes the program when it has no readout tables
        return _words_on_wires(psi, program)
    diagonal, flips, order = tables.readout
    pieces = []
    if diagonal is not None:
        pieces.append((psi * psi.conj()).real @ diagonal)  # |ψ|², cheapest form on CPU
    for source, table in flips:
        pieces.append(((psi.conj() * psi[..., source]) @ table).real)
    out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)
    return out if order is None else out.index_select(-1, order)


def _words_on_wires(psi: torch.Tensor, program: Program) -> torch.Tensor:
    """Each Pauli word's ⟨P⟩ with no ``2^n`` table: Z-only words reduce the probabilities over the
    other wires (all single-wire ⟨Z_w⟩ together, in about two passes); words with X/Y apply P on the
    wire axes (flips and per-axis signs and phases) and take ``Re ⟨ψ|Pψ⟩``."""
    n, lead = program.n_qubits, psi.shape[:-1]
    r = len(lead)
    x = psi.reshape(*lead, *([2] * n))
    probs = (x * x.conj()).real
    single_z = None
    values = []
    for word in program.observables:
        wires = [w for w, _ in word.terms]
        if word.is_diagonal and len(wires) == 1:
            if single_z is None:
                single_z = _single_wire_z(probs, r, n)
            values.append(single_z[wires[0]])
        elif word.is_diagonal:
            others = [r + w for w in range(n) if w not in wires]
            marginal = probs.sum(dim=others) if others else probs  # (*lead, 2, ..., 2) over `wires`
            for _ in wires:  # ⟨Z...Z⟩: the parity-signed sum, one wire at a time
                marginal = marginal.select(r, 0) - marginal.select(r, 1)
            values.append(marginal)
        else:
            y = x
            for w, p in word.terms:
                axis = r + w
                if p in "XY":
                    y = y.flip(axis)
                if p == "Y":  # after the flip: new[0] = -i·old[1], new[1] = i·old[0]
                    y = torch.stack((-1j * y.select(axis, 0), 1j * y.select(axis, 1)), dim=axis)
                elif p == "Z":
                    y = torch.stack((y.select(axis, 0), -y.select(axis, 1)), dim=axis)
            values.append((x.conj() * y).real.sum(dim=list(range(r, r + n))))
    return torch.stack([v.expand(lead) for v in values], dim=-1)


def _single_wire_z(probs: torch.Tensor, r: int, n: int) -> list[torch.Tensor]:
    """``⟨Z_w⟩`` for every wire from probabilities ``(*lead, 2, ..., 2)``: the last wire's marginal,
    then the probabilities summed over it (half the size), and so on — about two passes in all."""
    out: list[torch.Tensor] = [probs] * n
    p = probs
    for w in reversed(range(n)):
        marginal = p.sum(dim=list(range(r, r + w))) if w else p  # (*lead, 2): wire w alone
        out[w] = marginal[..., 0] - marginal[..., 1]
        p = p.sum(dim=-1)
    return out

"""The product-state fast path: the recurrent cells' circuits in a few real tensor operations.

A circuit qualifies when its preparation puts every wire in ``RZ(b) · RY(a) · H^h |0⟩`` (each gate
optional, ``h ∈ {0, 1}``), everything after it is shared by the batch (the bound weights of a cell's
VQC bank) and it measures Pauli-Z words. The preparation is then a product state with real
magnitudes and a phase linear in the RZ angles, wire ``q`` contributing

.. math::

    ψ_q(s) = m_q(s) · e^{i (s - 1/2) b_q},\\qquad m_q(s) = \\sin(α_q a_q + c_{q,s})

(``α_q = 1/2`` with an RY gate, 0 without; ``c = (3π/4, π/4)`` after H, ``(π/2, 0)`` without), and a
bank of ``K`` circuits with unitaries ``U_k`` gives

.. math::

    ⟨Z\\text{-word}_j⟩_k = \\sum_i |(U_k ψ)_i|^2 \\, O_{ij}.

All of it runs in real arithmetic on interleaved ``(re, im)`` pairs: the magnitudes' Kronecker
product (``n - 1`` multiplies), the phases (one matmul), one GEMM ``(B, 2D) @ (2D, K·2D)`` for the
whole bank and one readout matmul — about a dozen tensor operations forward and two dozen backward,
hand-written in one :class:`torch.autograd.Function`, where the general engine issues over a hundred
(gate matrices, 2×2 products, complex products, their autograd graph). The unitaries come from the
general engine (a fused run, differentiable) once per binding; :func:`product_tables` decides
applicability at compile time and :func:`expval_product` at call time. The general engine is the
reference the fast path is tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .program import Program

__all__ = [
    "ProductTables",
    "ProductForm",
    "ProductState",
    "product_tables",
    "real_rows",
    "product_forward",
    "backward_rows",
    "product_backward",
    "ProductExpval",
]

#: Largest register for the fast path: the bank's real unitary is ``(2D, K·2D)`` and each call a GEMM
#: over it, so above about 10 qubits the stage-by-stage engine does less work per sample.
PRODUCT_MAX_QUBITS = 10
#: Tensor operations (forward and backward) the general engine spends per call on what the fast path
#: replaces — the preparation's gate matrices and Kronecker steps, the complex readout and their
#: autograd graph — about 125 against 35 on the paper cell's banks (profiled on a 2-core CPU). The
#: cost model that decides whether to fuse counts them for the fast path.
PRODUCT_SAVED_OPS = 90

_AFTER_H = (3 * math.pi / 4, math.pi / 4)  # sin(a/2 + c_s): (cos, sin)(a/2 + π/4) = H then RY(a)
_FROM_ZERO = (math.pi / 2, 0.0)  # (cos, sin)(a/2) = RY(a)|0⟩


@dataclass
class ProductTables:
    """Device tensors of the fast path for one program, device and dtype.

    Attributes:
        ry, rz: per wire, the index of its RY / RZ angle in the preparation's source vector (0 where
            the wire has none: its scale is 0).
        trig: ``(n, 4)`` offsets ``[c_0, c_1, c_0 + π/2, c_1 + π/2]``; ``sin(α a + trig)`` gives the
            magnitudes and their derivatives in one call.
        scale: ``(n, 1)`` ``α_q`` (1/2 or 0).
        phase: ``(n, D)`` ``(bit_q(s) - 1/2)`` where wire ``q`` has RZ, else 0.
        phase_grad: ``(2D, n)``: the phase table acting on ``Im(conj ψ · ∂ψ)`` in interleaved form.
        quarter: ``[π/2, 0]``, turning ``sin(φ + quarter)`` into ``(cos φ, sin φ)``.
        readout: ``(2D, n_obs)`` the ±1 table of the Z words for interleaved squared amplitudes, in
            observable order; ``readout_grad`` is ``2 · readout.T``.
        arctan_positive: every wire has H and RY, so the magnitudes are positive for RY angles in
            ``(-π/2, π/2)`` (``arctan`` of anything) and the log-domain form applies.
        log_table, log_bias: ``[log m (2n), b (n)] @ log_table + log_bias`` ``(B, 3D)`` holds
            ``log |ψ_s| = Σ_q log m_q(s_q)`` for every amplitude, then the pairs ``(φ_s + π/2, φ_s)``.
        log_trig: ``(n, 2)`` the first two columns of ``trig`` (the log-domain form needs no derivatives).
        log_grad: ``(4D, 3n)``: maps ``[∂L/∂ψ ⊙ ψ, flip(∂L/∂ψ) ⊙ ψ]`` (interleaved; ``flip`` swaps each
            ``(re, im)`` pair) to the gradient of ``[log m, b]``.
        trig_sin: ``(n, 4)`` ``sin(trig)``: ``[sin c_0, sin c_1, cos c_0, cos c_1]`` per wire.
        has_rz: ``(n,)`` 1 where the wire has RZ, else 0.
        diagonal: ``(D, n_obs)`` the ±1 table of the Z words, one row per amplitude.
        (The last three are the per-wire form a compiled layer reads: :mod:`qseq.models.fused_native`.)
    """

    ry: torch.Tensor | slice
    rz: torch.Tensor | slice
    trig: torch.Tensor
    scale: torch.Tensor
    phase: torch.Tensor
    phase_grad: torch.Tensor
    quarter: torch.Tensor
    readout: torch.Tensor
    readout_grad: torch.Tensor
    arctan_positive: bool
    log_table: torch.Tensor
    log_bias: torch.Tensor
    log_trig: torch.Tensor
    log_grad: torch.Tensor
    trig_sin: torch.Tensor
    has_rz: torch.Tensor
    diagonal: torch.Tensor


def _wire_gates(names: tuple[str, ...]) -> tuple[bool, int | None, int | None] | None:
    """``(H first?, position of RY, position of RZ)`` for a sequence ``[H] [RY] [RZ]``, else ``None``."""
    pos, has_h, ry, rz = 0, False, None, None
    if names[pos : pos + 1] == ("H",):
        has_h, pos = True, pos + 1
    if names[pos : pos + 1] == ("RY",):
        ry, pos = pos, pos + 1
    if names[pos : pos + 1] == ("RZ",):
        rz, pos = pos, pos + 1
    return (has_h, ry, rz) if pos == len(names) else None


def _index(indices: np.ndarray, device) -> torch.Tensor | slice:
    """A contiguous ascending index array as a slice (a view), otherwise an index tensor."""
    if len(indices) and (np.diff(indices) == 1).all():
        return slice(int(indices[0]), int(indices[0]) + len(indices))
    return torch.as_tensor(indices, device=device)


def product_tables(program: Program, device: torch.device, real: torch.dtype) -> ProductTables | None:
    """The fast path's tables, or ``None`` when the program's preparation or readout do not qualify."""
    n, prep, readout = program.n_qubits, program.prep, program.readout
    if prep is None or readout is None or readout.flips or readout.diagonal is None or n > PRODUCT_MAX_QUBITS:
        return None
    ry, rz = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    scale, has_rz = np.zeros(n), np.zeros(n)
    offsets = np.tile(_FROM_ZERO, (n, 1))
    for group in prep.wire_groups:
        form = _wire_gates(tuple(g.name for g in group.gates))
        if form is None:
            return None
        has_h, ry_at, rz_at = form
        for i, w in enumerate(group.wires):
            offsets[w] = _AFTER_H if has_h else _FROM_ZERO
            if ry_at is not None:
                ry[w], scale[w] = group.angles[ry_at][i, 0], 0.5
            if rz_at is not None:
                rz[w], has_rz[w] = group.angles[rz_at][i, 0], 1.0
    d = 2**n
    bits = (np.arange(d)[None, :] >> (n - 1 - np.arange(n))[:, None]) & 1  # (n, D), wire 0 most significant
    phase = (bits - 0.5) * has_rz[:, None]
    phase_grad = np.stack([-phase.T, phase.T], axis=1).reshape(2 * d, n)
    table = np.repeat(readout.diagonal[:, readout.order], 2, axis=0)  # (2D, n_obs), in observable order
    trig = np.concatenate([offsets, offsets + math.pi / 2], axis=1)
    select = np.zeros((2 * n, d))  # log m_q(s) enters the amplitudes whose bit q is s
    for s in (0, 1):
        select[s::2] = bits == s
    log_table = np.zeros((3 * n, 3 * d))
    log_table[: 2 * n, :d] = select
    log_table[2 * n :, d:] = np.repeat(phase, 2, axis=1)
    log_bias = np.concatenate([np.zeros(d), np.tile([math.pi / 2, 0.0], d)])
    log_grad = np.zeros((4 * d, 3 * n))
    log_grad[: 2 * d, : 2 * n] = np.repeat(select.T, 2, axis=0)
    log_grad[2 * d :, 2 * n :] = -phase_grad  # Im(conj ψ · ∂L/∂ψ) = (flip(∂L/∂ψ) ⊙ ψ)[re] - [im]

    def t(x):
        return torch.as_tensor(np.ascontiguousarray(x), device=device, dtype=real)

    return ProductTables(
        ry=_index(ry, device),
        rz=_index(rz, device),
        trig=t(trig),
        scale=t(scale[:, None]),
        phase=t(phase),
        phase_grad=t(phase_grad),
        quarter=t([math.pi / 2, 0.0]),
        readout=t(table),
        readout_grad=t(2 * table.T),
        arctan_positive=bool((scale == 0.5).all() and (offsets == _AFTER_H).all()),
        log_table=t(log_table),
        log_bias=t(log_bias),
        log_trig=t(offsets),
        log_grad=t(log_grad),
        trig_sin=t(np.sin(trig)),
        has_rz=t(has_rz),
        diagonal=t(table[::2]),
    )


def real_rows(rows: torch.Tensor) -> torch.Tensor:
    """A bank's unitaries as one real matrix: ``rows`` ``(*lead, D, D)`` complex, with ``ψ ↦ ψ @ rows``,
    becomes ``(2D, K·2D)`` (``K = prod(lead)``) acting on interleaved ``(re, im)`` pairs, so that
    ``real(ψ) @ W`` holds the ``K`` evolved states side by side."""
    d = rows.shape[-1]
    r = torch.view_as_real(rows.reshape(-1, d, d))  # (K, D_in, D_out, [re, im])
    from_re = r  # an input's real part contributes (Re u, Im u)
    from_im = torch.stack((-r[..., 1], r[..., 0]), dim=-1)  # its imaginary part (-Im u, Re u)
    w = torch.stack((from_re, from_im), dim=2)  # (K, D_in, 2, D_out, 2)
    return w.permute(1, 2, 0, 3, 4).reshape(2 * d, -1)


@dataclass(frozen=True)
class ProductForm:
    """A bound bank of ``K`` circuits in fast-path form, for models that drive the evaluation
    themselves (a fused recurrent layer): call :func:`product_forward` / :func:`product_backward`
    with ``w`` and ``tables``; the preparation's RY and RZ angles are ``inputs[..., tables.ry]`` and
    ``inputs[..., tables.rz]``.

    Attributes:
        w: ``(2D, K·2D)`` real unitaries (:func:`real_rows`), attached to the bound weights' graph.
        tables: the fast path's tables.
    """

    w: torch.Tensor
    tables: ProductTables

    @property
    def n_circuits(self) -> int:
        """``K``, the circuits side by side in ``w``."""
        return self.w.shape[1] // self.w.shape[0]


class ProductState(NamedTuple):
    """What the backward pass of one fast-path evaluation needs (see :func:`product_forward`)."""

    arg: torch.Tensor  # (B, n, 4): α a + trig (sin of it: the magnitudes and their derivatives); log form (B, n, 2)
    psi: torch.Tensor  # (B, 2D): the product state, interleaved (re, im)
    phase: torch.Tensor  # (B, D, 2): its phase factors (cos φ, sin φ)
    y: torch.Tensor  # (B, K·2D): the evolved states
    partial: tuple[torch.Tensor, ...] | None  # Kronecker products of the first 1 … n-1 wires' magnitudes


def product_forward(
    a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, t: ProductTables, arctan: bool = False
) -> tuple[torch.Tensor, ProductState]:
    """Expectation values ``(B, K, n_obs)`` of ``K`` circuits with RY angles ``a`` and RZ angles ``b``
    (``(B, n)``, radians) and real unitaries ``w`` (``(2D, K·2D)``, :func:`real_rows`), plus what
    :func:`product_backward` needs. No autograd: callers differentiate with the backward function.

    ``arctan=True`` promises ``|a| < π/2`` (Chen's ``a = arctan v``); with
    ``t.arctan_positive`` every magnitude is then positive and the magnitudes' Kronecker product is
    built in the log domain together with the phases, ``[log m, b] @ log_table`` (one matmul and an
    ``exp`` instead of ``n - 1`` Kronecker steps, and a shorter backward pass).
    """
    batch, n = a.shape
    if arctan and t.arctan_positive:
        arg = torch.addcmul(t.log_trig, a.unsqueeze(-1), t.scale)  # (B, n, 2)
        log_m = torch.log(torch.sin(arg)).view(batch, -1)  # (B, 2n)
        z = torch.addmm(t.log_bias, torch.cat([log_m, b], dim=-1), t.log_table)  # (B, 3D)
        d = z.shape[-1] // 3
        phase = torch.sin(z[:, d:]).view(batch, d, 2)
        psi = (phase * torch.exp(z[:, :d]).unsqueeze(-1)).view(batch, -1)
        partial = None
    else:
        arg = torch.addcmul(t.trig, a.unsqueeze(-1), t.scale)  # (B, n, 4)
        m = torch.sin(arg[..., :2])
        partial_list = [m[:, 0]]  # Kronecker products of the first q + 1 wires' magnitudes
        for q in range(1, n):
            partial_list.append((partial_list[-1].unsqueeze(-1) * m[:, q].unsqueeze(-2)).reshape(batch, -1))
        phase = torch.sin((b @ t.phase).unsqueeze(-1) + t.quarter)  # (B, D, 2)
        psi = (partial_list[-1].unsqueeze(-1) * phase).reshape(batch, -1)  # (B, 2D) interleaved
        partial = tuple(partial_list[:-1])
    y = psi @ w  # (B, K·2D)
    out = (y * y).reshape(-1, t.readout.shape[0]) @ t.readout
    return out.reshape(batch, -1, out.shape[-1]), ProductState(arg, psi, phase, y, partial)


def backward_rows(w: torch.Tensor) -> torch.Tensor:
    """``(K·2D, 4D)``: ``w.T`` beside the transpose of ``w`` with each ``(re, im)`` row pair swapped, so
    that one product gives ``∂L/∂ψ`` and its pair-swapped copy (the log-domain backward pass; make
    it once per ``w`` and pass it to :func:`product_backward`)."""
    swapped = w.view(-1, 2, w.shape[-1]).flip(1).reshape(w.shape)
    return torch.cat([w, swapped]).T


def product_backward(
    grad: torch.Tensor,
    s: ProductState,
    w: torch.Tensor,
    t: ProductTables,
    need_a: bool = True,
    need_b: bool = True,
    w_back: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(grad_y, grad_a, grad_b)`` for ``grad`` ``(B, K, n_obs)`` of :func:`product_forward`'s output.

    The unitaries' gradient is ``s.psi.T @ grad_y`` (left to the caller, which may sum it over many
    calls in one product). ``w_back``: :func:`backward_rows` of ``w`` for the log-domain form (made
    here when not given)."""
    batch, n = s.arg.shape[:2]
    grad_y = (grad.reshape(-1, grad.shape[-1]) @ t.readout_grad).reshape(batch, -1) * s.y
    if not (need_a or need_b):
        return grad_y, None, None
    if s.partial is None:  # log domain: ∂ψ/∂log|ψ| = ψ and ∂ψ/∂φ = i ψ, through one table
        both = (grad_y @ (backward_rows(w) if w_back is None else w_back)).view(batch, 2, -1)
        grad_r = (both * s.psi.unsqueeze(1)).view(batch, -1) @ t.log_grad  # (B, 3n): [log m, b]
        grad_log_m = grad_r[:, : 2 * n].view(batch, n, 2)  # ∂ log m / ∂(α a) = cot(α a + c)
        return grad_y, (grad_log_m / torch.tan(s.arg)).sum(-1) * t.scale.squeeze(-1), grad_r[:, 2 * n :]
    grad_psi = grad_y @ w.T  # (B, 2D)
    grad_psi = grad_psi.view(batch, -1, 2)
    grad_a: torch.Tensor | None = None
    grad_b: torch.Tensor | None = None
    if need_b:  # ∂ψ/∂φ = i ψ: Im(conj ψ · grad) per amplitude, through the phase table
        grad_b = (grad_psi * s.psi.view(batch, -1, 2).flip(-1)).reshape(batch, -1) @ t.phase_grad
    if need_a:
        grad_m = (grad_psi * s.phase).sum(-1)  # (B, D) gradient of the magnitudes' product
        m = torch.sin(s.arg[..., :2])
        per_wire = []
        for q in range(n - 1, 0, -1):  # undo one Kronecker factor at a time
            g = grad_m.reshape(batch, -1, 2)
            per_wire.append((g * s.partial[q - 1].unsqueeze(-1)).sum(1))
            grad_m = (g * m[:, q].unsqueeze(1)).sum(-1)
        per_wire.append(grad_m)
        grad_mag = torch.stack(per_wire[::-1], dim=1)  # (B, n, 2)
        grad_a = (grad_mag * torch.sin(s.arg[..., 2:])).sum(-1) * t.scale.squeeze(-1)
    return grad_y, grad_a, grad_b


class ProductExpval(torch.autograd.Function):
    """``(a (B, n), b (B, n), w (2D, K·2D), tables) -> (B, K, n_obs)``: :func:`product_forward` with
    :func:`product_backward` as its backward pass."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, t: ProductTables) -> torch.Tensor:
        out, ctx.state = product_forward(a, b, w, t)
        ctx.tables = t
        ctx.save_for_backward(w)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (w,) = ctx.saved_tensors
        need_a, need_b, need_w = ctx.needs_input_grad[:3]
        grad_y, grad_a, grad_b = product_backward(grad, ctx.state, w, ctx.tables, need_a, need_b)
        return grad_a, grad_b, (ctx.state.psi.T @ grad_y if need_w else None), None

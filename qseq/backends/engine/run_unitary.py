"""A run's unitary in one compiled call each way (``run_unitary.c``), on the CPU.

Fusing a shared run (a cell's VQC bank) builds its unitary from the gate matrices: in torch, a
Kronecker product per layer, a matrix product per stage, gathers and their autograd graph — about
a hundred small operations forward and backward for the paper QLSTM's bank, each a few µs on the
CPU. For a run of Local and Permute stages, :func:`run_rows` does it in one C call forward and one
backward (the adjoint method over the identity's rows), taking the per-wire matrices from torch
(whose construction from the angles stays in autograd's graph) and giving back the rows. It is
compiled at first use by :mod:`qseq._native`; where that is not possible, or on other devices,
:func:`run_rows` answers ``None`` and the torch build runs (the reference it is tested against).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import torch

from ... import _native

__all__ = ["RunPlan", "run_plan", "run_rows"]

_SOURCE = Path(__file__).with_name("run_unitary.c")


class _Args(ctypes.Structure):
    """The kernel's ``run_args``."""

    _fields_ = [(name, ctypes.c_int) for name in ("K", "n", "S")] + [
        (name, ctypes.c_void_p) for name in ("kind", "mats", "source", "phase", "rows", "grad_rows", "grad_mats")
    ]


def _kernel(cdtype: torch.dtype):
    """``(forward, backward)`` C functions for ``cdtype``, or ``None`` (see :mod:`qseq._native`)."""
    return _native.kernel_functions(_SOURCE, cdtype, ("run_forward", "run_backward"), _Args)


class RunPlan(NamedTuple):
    """A run's stage kinds and gathers in the kernel's layout (made once per run, device and dtype)."""

    kind: torch.Tensor  # (S,) int32: 0 Local, 1 Permute
    source: torch.Tensor  # (P, D) int64
    phase: torch.Tensor  # (P, D) complex (ones where a gather has no phases)
    n_local: int


def run_plan(kinds: list[int], gathers: list[tuple[torch.Tensor, torch.Tensor | None]], dim: int, cdtype) -> RunPlan:
    """The plan of a run whose stages are ``kinds`` (0 Local, 1 Permute), with the Permute stages'
    ``(source, phase or None)`` in order."""
    source = torch.stack([s for s, _ in gathers]) if gathers else torch.zeros(0, dim, dtype=torch.int64)
    phase = torch.ones(len(gathers), dim, dtype=cdtype)
    for i, (_, p) in enumerate(gathers):
        if p is not None:
            phase[i] = p
    kind = torch.tensor(kinds, dtype=torch.int32)
    return RunPlan(kind, source.to(torch.int64).contiguous(), phase, kinds.count(0))


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _args(plan: RunPlan, mats: torch.Tensor, rows: torch.Tensor) -> _Args:
    k, n = mats.shape[0], mats.shape[2]
    args = _Args(K=k, n=n, S=plan.kind.shape[0])
    args.kind, args.mats, args.source, args.phase = _ptr(plan.kind), _ptr(mats), _ptr(plan.source), _ptr(plan.phase)
    args.rows = _ptr(rows)
    return args


class _RunRows(torch.autograd.Function):
    """``(mats (K, L, n, 2, 2) complex, plan, kernel) -> rows (K, D, D)``."""

    @staticmethod
    def forward(ctx, mats: torch.Tensor, plan: RunPlan, fns) -> torch.Tensor:
        mats = mats.detach().resolve_conj().contiguous()
        dim = 2 ** mats.shape[2]
        rows = mats.new_empty(mats.shape[0], dim, dim)
        if fns[0](ctypes.byref(_args(plan, mats, rows))) != 0:
            raise MemoryError("the run-unitary kernel could not allocate its scratch memory")
        ctx.plan, ctx.fns = plan, fns
        ctx.save_for_backward(mats, rows)
        return rows

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mats, rows = ctx.saved_tensors
        grad = grad.resolve_conj().contiguous()
        grad_mats = torch.empty_like(mats)
        args = _args(ctx.plan, mats, rows)
        args.grad_rows, args.grad_mats = _ptr(grad), _ptr(grad_mats)
        if ctx.fns[1](ctypes.byref(args)) != 0:
            raise MemoryError("the run-unitary kernel could not allocate its scratch memory")
        return grad_mats, None, None


def run_rows(mats: torch.Tensor, plan: RunPlan) -> torch.Tensor | None:
    """The rows ``(K, D, D)`` of a run (``ψ ↦ ψ @ rows``) with Local stages' matrices ``mats``
    ``(K, L, n, 2, 2)``, or ``None`` where the compiled kernel does not apply (not on the CPU, or
    not available)."""
    if mats.device.type != "cpu":
        return None
    fns = _kernel(mats.dtype)
    return None if fns is None else _RunRows.apply(mats, plan, fns)

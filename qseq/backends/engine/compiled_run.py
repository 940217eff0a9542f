"""Runs of Local and Permute stages in one compiled call each way (``compiled_run.c``), on the CPU.

In torch, a run of gate layers costs a few tensor operations per stage and wire block, forward and
backward, each a few µs on the CPU whatever its size — most of the time of a small circuit. The C
kernel evolves every state through the whole run in one call and differentiates it by the adjoint
method in one more (nothing per stage is stored). It serves three callers:

* :func:`run_rows`: a fused run's unitary (a cell's VQC bank): the identity's rows evolved with
  one set of matrices per circuit;
* :func:`run_states`: a batch of states evolved with per-sample matrices (per-sample angles of a
  circuit whose readout the kernel does not do, layers after a Dense stage);
* :mod:`.compiled_circuit`: whole per-sample circuits from ``|0…0⟩`` (a product state built
  directly) with their ``⟨Z⟩`` read in the kernel (:data:`ZERO_STATE`, the ``n_z`` fields).

The per-wire 2×2 matrices are an input (:mod:`.compiled_gates` builds them, or torch where it
cannot), so their dependence on the angles stays outside this kernel. It is compiled at first use by
:mod:`qseq._native`; where that is not possible, or on other devices, the functions answer ``None``
and the torch stages run (the reference they are tested against).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import torch

from ... import _native

__all__ = ["RunPlan", "run_plan", "run_rows", "run_states", "available", "plan_args"]

_SOURCE = _native.register(Path(__file__).with_name("compiled_run.c"))


class _Args(ctypes.Structure):
    """The kernel's ``run_args``."""

    _fields_ = (
        [(name, ctypes.c_int) for name in ("N", "n", "S", "per_group", "start")]
        + [
            (name, ctypes.c_void_p)
            for name in ("kind", "mats", "source", "phase", "states", "grad", "grad_mats", "grad_initial")
        ]
        + [("n_z", ctypes.c_int), ("z_wires", ctypes.c_void_p), ("expvals", ctypes.c_void_p)]
    )


def _kernel(cdtype: torch.dtype):
    """``(forward, backward)`` C functions for ``cdtype``, or ``None`` (see :mod:`qseq._native`)."""
    return _native.kernel_functions(_SOURCE, cdtype, ("run_forward", "run_backward"), _Args)


def available(cdtype: torch.dtype) -> bool:
    """Whether the kernel can run states of ``cdtype`` here (compiled, or compiled now)."""
    return _kernel(cdtype) is not None


class RunPlan(NamedTuple):
    """A run's stage kinds and gathers in the kernel's layout (made once per run, device and dtype)."""

    kind: torch.Tensor  # (S,) int32: 0 Local, 1 Permute
    source: torch.Tensor  # (P, D) int64
    phase: torch.Tensor  # (P, D) complex (ones where a gather has no phases)


def run_plan(kinds: list[int], gathers: list[tuple[torch.Tensor, torch.Tensor | None]], dim: int, cdtype) -> RunPlan:
    """The plan of a run whose stages are ``kinds`` (0 Local, 1 Permute), with the Permute stages'
    ``(source, phase or None)`` in order: the gathers on their device, the kinds on the CPU."""
    source = torch.stack([s for s, _ in gathers]) if gathers else torch.zeros(0, dim, dtype=torch.int64)
    phase = torch.ones(len(gathers), dim, dtype=cdtype, device=source.device)
    for i, (_, p) in enumerate(gathers):
        if p is not None:
            phase[i] = p
    return RunPlan(torch.tensor(kinds, dtype=torch.int32), source.to(torch.int64).contiguous(), phase)


#: The kernel's start modes: evolve the given states, the identity's rows, or ``|0…0⟩``
#: (:mod:`.compiled_circuit`).
GIVEN_STATES, IDENTITY_ROWS, ZERO_STATE = 0, 1, 2


def plan_args(plan: RunPlan, n_qubits: int, start: int) -> _Args:
    """The kernel's argument record with the plan's fields set, for ``start`` (a start mode); a call
    sets ``N``, ``per_group`` and its tensors' pointers (the plan must outlive the calls)."""
    args = _Args(n=n_qubits, S=plan.kind.shape[0], start=start, per_group=1)
    args.kind, args.source, args.phase = plan.kind.data_ptr(), plan.source.data_ptr(), plan.phase.data_ptr()
    return args


class _Run(torch.autograd.Function):
    """``(states (N, D) or None, mats (G, L, n, 2, 2), plan, kernel) -> final states (N, D)``; with
    ``states=None`` the initial states are the identity's rows, ``D`` per matrix group."""

    @staticmethod
    def forward(ctx, states, mats, plan: RunPlan, fns):
        mats = mats.detach().resolve_conj().contiguous()
        dim = 2 ** mats.shape[2]
        rows = states is None
        out = mats.new_empty(mats.shape[0] * dim, dim) if rows else states.detach().resolve_conj().clone()
        args = plan_args(plan, mats.shape[2], IDENTITY_ROWS if rows else GIVEN_STATES)
        args.N, args.per_group = out.shape[0], max(out.shape[0] // max(mats.shape[0], 1), 1)  # (empty batches)
        args.mats, args.states = mats.data_ptr(), out.data_ptr()
        _native.call(fns[0], args, "the compiled run's forward pass")
        ctx.plan, ctx.fns, ctx.args = plan, fns, args  # the plan's tensors back pointers in args
        ctx.save_for_backward(mats, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mats, out = ctx.saved_tensors
        grad = grad.resolve_conj().contiguous()
        grad_mats = torch.empty_like(mats)
        grad_states = torch.empty_like(out) if ctx.needs_input_grad[0] else None
        args = ctx.args
        args.grad, args.grad_mats = grad.data_ptr(), grad_mats.data_ptr()
        args.grad_initial = None if grad_states is None else grad_states.data_ptr()
        args.mats, args.states = mats.data_ptr(), out.data_ptr()
        _native.call(ctx.fns[1], args, "the compiled run's backward pass")
        return grad_states, grad_mats, None, None


def run_rows(mats: torch.Tensor, plan: RunPlan) -> torch.Tensor | None:
    """The rows ``(K, D, D)`` of a run (``ψ ↦ ψ @ rows``) with Local stages' matrices ``mats``
    ``(K, L, n, 2, 2)``, or ``None`` where the compiled kernel does not apply (not on the CPU, or
    not available)."""
    fns = _kernel(mats.dtype) if mats.device.type == "cpu" else None
    if fns is None:
        return None
    dim = 2 ** mats.shape[2]
    return _Run.apply(None, mats, plan, fns).view(mats.shape[0], dim, dim)


def run_states(states: torch.Tensor, mats: torch.Tensor, plan: RunPlan) -> torch.Tensor | None:
    """``states`` ``(N, D)`` evolved through a run whose Local stages' matrices are ``mats``
    ``(N, L, n, 2, 2)`` (one set per state), or ``None`` where the compiled kernel does not apply."""
    fns = _kernel(mats.dtype) if mats.device.type == "cpu" else None
    return None if fns is None else _Run.apply(states, mats, plan, fns)

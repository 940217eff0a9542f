"""Whole circuits in C on the CPU: every state's gate matrices, its evolution from ``|0…0⟩`` and its
``⟨Z⟩`` readout in two compiled calls forward (:mod:`.compiled_gates`, :mod:`.compiled_run`) and two
backward, under one autograd node.

This is the path of circuits whose every gate layer has per-sample angles (QFWP's fast weights, any
circuit called with a parameter row per sample) and whose observables are single-wire Z: there is
nothing shared by the batch to fuse into a unitary, so the cost is the gates' arithmetic — and, in
torch, a few tensor operations per gate and stage that cost more than the arithmetic below about ten
qubits. A :class:`CircuitKernel` is prepared once per program and dtype (its plans and the kernels'
argument records with every pointer that does not change between calls), so a call costs a handful
of Python operations, the half angles' sines and cosines (torch's vectorised functions) and the
C calls.
"""

from __future__ import annotations

import ctypes

import torch

from ... import _native
from . import compiled_gates, compiled_run
from .compiled_gates import GatePlan
from .compiled_run import RunPlan

__all__ = ["CircuitKernel"]


class CircuitKernel:
    """The whole-circuit kernel of one program for one complex dtype.

    Args:
        gates: the matrices' plan of every Local stage, preparation first.
        run: the run's plan (its stages in order, preparation first).
        z_wires: the wire of each observable's Z, int32 ``(n_obs,)``.
        n_qubits: the register.
        n_angles: the length of the angle vectors (the concatenation of ``gates.groups``).

    Calling it with angle vectors ``(N, n_angles)`` of the matching real dtype gives ``(N, n_obs)``
    expectation values, differentiable with respect to the angles.
    """

    def __init__(self, gates: GatePlan, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, n_angles: int, fns):
        self.gates, self.run, self.z_wires, self.n_qubits, self.fns = gates, run, z_wires, n_qubits, fns
        self.gate_args = compiled_gates.plan_args(gates)
        self.slots = self.gate_args.slots
        self.run_args = compiled_run.plan_args(run, n_qubits, compiled_run.ZERO_STATE)
        self.run_args.n_z, self.run_args.z_wires = z_wires.shape[0], z_wires.data_ptr()
        # bytes per state of each per-state array, to split a call over threads (_native.call)
        real = z_wires.new_empty(0, dtype=run.phase.dtype).real.element_size()
        mats, row, obs = 8 * self.slots * real, n_angles * real, z_wires.shape[0] * real
        self.gate_strides = {"cos_half": row, "sin_half": row, "mats": mats, "grad_mats": mats, "grad_angles": row}
        self.run_strides = {
            "mats": mats,
            "states": 2 * real << n_qubits,
            "expvals": obs,
            "grad": obs,
            "grad_mats": mats,
        }

    @classmethod
    def build(cls, gates: GatePlan | None, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, n_angles: int):
        """The kernel, or ``None`` where the compiled kernels are not available or ``gates`` is
        ``None`` (a gate the matrix kernel does not build)."""
        cdtype = run.phase.dtype
        gate_fns, run_fns = compiled_gates._kernel(cdtype), compiled_run._kernel(cdtype)
        if gates is None or gate_fns is None or run_fns is None:
            return None
        return cls(gates, run, z_wires, n_qubits, n_angles, gate_fns + run_fns)

    def __call__(self, angles: torch.Tensor) -> torch.Tensor:
        return _Circuit.apply(angles, self)


class _Circuit(torch.autograd.Function):
    """``angles (N, P), kernel -> ⟨Z⟩ (N, n_obs)``; the backward gives the angles' gradient."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, kernel: CircuitKernel):
        cos, sin = compiled_gates.half_angle_trig(angles)
        n_states, cdtype = angles.shape[0], kernel.run.phase.dtype
        mats = torch.empty(n_states, kernel.slots, 2, 2, dtype=cdtype)
        # the final states are kept for the backward pass only: without one, the kernel reads each
        # state's ⟨Z⟩ from a scratch state (no pages to map and fill for the batch's states)
        keep = ctx.needs_input_grad[0]
        states = torch.empty(n_states if keep else 0, 2**kernel.n_qubits, dtype=cdtype)
        out = torch.empty(n_states, kernel.z_wires.shape[0], dtype=angles.dtype)
        work = n_states << kernel.n_qubits
        g = _copy(kernel.gate_args)
        g.N, g.P, g.mats = n_states, angles.shape[1], mats.data_ptr()
        g.cos_half, g.sin_half = cos.data_ptr(), sin.data_ptr()
        _native.call(kernel.fns[0], g, "the compiled gate matrices", work, kernel.gate_strides)
        r = _copy(kernel.run_args)
        r.N, r.mats, r.expvals = n_states, mats.data_ptr(), out.data_ptr()
        r.states = states.data_ptr() if keep else None
        _native.call(kernel.fns[2], r, "the compiled circuit's forward pass", work, kernel.run_strides)
        ctx.kernel, ctx.gate_args, ctx.run_args = kernel, g, r
        ctx.save_for_backward(cos, sin, mats, states)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin, mats, states = ctx.saved_tensors
        grad = grad.contiguous()
        grad_mats = torch.empty_like(mats)
        r, work = ctx.run_args, states.numel()
        r.mats, r.states = mats.data_ptr(), states.data_ptr()
        r.grad, r.grad_mats = grad.data_ptr(), grad_mats.data_ptr()
        r.grad_initial = None
        _native.call(ctx.kernel.fns[3], r, "the compiled circuit's backward pass", work, ctx.kernel.run_strides)
        grad_angles = torch.empty_like(cos)
        g = ctx.gate_args
        g.cos_half, g.sin_half = cos.data_ptr(), sin.data_ptr()
        g.grad_mats, g.grad_angles = grad_mats.data_ptr(), grad_angles.data_ptr()
        _native.call(ctx.kernel.fns[1], g, "the compiled gate matrices' backward pass", work, ctx.kernel.gate_strides)
        return grad_angles, None


def _copy(args: ctypes.Structure) -> ctypes.Structure:
    """A call's own copy of a prepared argument record (calls may run in several threads)."""
    return type(args).from_buffer_copy(args)

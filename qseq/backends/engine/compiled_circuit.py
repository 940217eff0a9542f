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

import torch

from ... import _native
from . import compiled_gates, compiled_lanes, compiled_run
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

    def __init__(
        self, gates: GatePlan, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, n_angles: int, fns, lanes_fns=None
    ):
        self.gates, self.run, self.z_wires, self.n_qubits, self.fns = gates, run, z_wires, n_qubits, fns
        self.gate_args = compiled_gates.plan_args(gates)
        self.slots = self.gate_args.slots
        self.run_args = compiled_run.plan_args(run, n_qubits, compiled_run.ZERO_STATE)
        self.run_args.n_z, self.run_args.z_wires = z_wires.shape[0], z_wires.data_ptr()
        real = z_wires.new_empty(0, dtype=run.phase.dtype).real.element_size()
        self.lanes_fns, self.lanes_args = lanes_fns, None
        if lanes_fns is not None:  # the preparation's slots, then the later stages' (offset in bytes)
            self.lanes_args, self._lanes_tensors = compiled_lanes.per_sample_args(run, z_wires, n_qubits, self.slots)
            self.lanes_offset = 8 * n_qubits * real
        # bytes per state of each per-state array, to split a call over threads (_native.call)
        mats, row, obs = 8 * self.slots * real, n_angles * real, z_wires.shape[0] * real
        self.gate_strides = {"cos_half": row, "sin_half": row, "mats": mats, "grad_mats": mats, "grad_angles": row}
        self.run_strides = {
            "mats": mats,
            "states": 2 * real << n_qubits,
            "expvals": obs,
            "grad": obs,
            "grad_mats": mats,
        }
        self.lanes_strides = {**self.run_strides, "prep": mats, "grad_prep": mats}

    @classmethod
    def build(cls, gates: GatePlan | None, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, n_angles: int):
        """The kernel, or ``None`` where the compiled kernels are not available or ``gates`` is
        ``None`` (a gate the matrix kernel does not build)."""
        cdtype = run.phase.dtype
        gate_fns, run_fns = compiled_gates._kernel(cdtype), compiled_run._kernel(cdtype)
        if gates is None or gate_fns is None or run_fns is None:
            return None
        lanes = n_qubits <= compiled_lanes.LANES_MAX_QUBITS and run.kind[0] == 0  # a preparation first
        lanes_fns = compiled_lanes.functions(cdtype) if lanes else None
        return cls(gates, run, z_wires, n_qubits, n_angles, gate_fns + run_fns, lanes_fns)

    def __call__(self, angles: torch.Tensor) -> torch.Tensor:
        return _Circuit.apply(angles, self)


class _Circuit(torch.autograd.Function):
    """``angles (N, P), kernel -> ⟨Z⟩ (N, n_obs)``; the backward gives the angles' gradient."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, kernel: CircuitKernel):
        n_states, cdtype = angles.shape[0], kernel.run.phase.dtype
        work = n_states << kernel.n_qubits
        mats, g, cos, sin = compiled_gates.matrices_by_kernel(
            kernel.fns[0], kernel.gate_args, angles, cdtype, work, kernel.gate_strides
        )
        out = torch.empty(n_states, kernel.z_wires.shape[0], dtype=angles.dtype)
        ctx.kernel, ctx.gate_args = kernel, g
        if kernel.lanes_args is not None and n_states >= compiled_lanes.LANES_MIN_STATES:
            # the batch across SIMD lanes, whole vectors of states kept for the backward pass
            lanes = compiled_lanes.LANE_BYTES // angles.element_size()
            keep = -(-n_states // lanes) * lanes if ctx.needs_input_grad[0] else 0
            states = angles.new_empty(keep, 2 << kernel.n_qubits)
            r = _native.copy_record(kernel.lanes_args)
            r.N = r.n_prep = n_states
            r.prep, r.mats, r.expvals = mats.data_ptr(), mats.data_ptr() + kernel.lanes_offset, out.data_ptr()
            r.states = states.data_ptr() if keep else None
            _native.call(kernel.lanes_fns[0], r, "the lanes kernel", work, kernel.lanes_strides, align=lanes)
            ctx.lanes, ctx.run_args = lanes, r
        else:
            # the final states are kept for the backward pass only: without one, the kernel reads each
            # state's ⟨Z⟩ from a scratch state (no pages to map and fill for the batch's states)
            keep = ctx.needs_input_grad[0]
            states = torch.empty(n_states if keep else 0, 2**kernel.n_qubits, dtype=cdtype)
            r = _native.copy_record(kernel.run_args)
            r.N, r.mats, r.expvals = n_states, mats.data_ptr(), out.data_ptr()
            r.states = states.data_ptr() if keep else None
            _native.call(kernel.fns[2], r, "the compiled circuit's forward pass", work, kernel.run_strides)
            ctx.lanes, ctx.run_args = 0, r
        ctx.save_for_backward(cos, sin, mats, states)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin, mats, states = ctx.saved_tensors
        grad = grad.contiguous()
        grad_mats = torch.empty_like(mats)
        r, work, kernel = ctx.run_args, mats.shape[0] << ctx.kernel.n_qubits, ctx.kernel
        r.grad = grad.data_ptr()
        if ctx.lanes:
            r.prep, r.mats, r.states = mats.data_ptr(), mats.data_ptr() + kernel.lanes_offset, states.data_ptr()
            r.grad_prep, r.grad_mats = grad_mats.data_ptr(), grad_mats.data_ptr() + kernel.lanes_offset
            _native.call(
                kernel.lanes_fns[1], r, "the lanes kernel's backward pass", work, kernel.lanes_strides, align=ctx.lanes
            )
        else:
            r.mats, r.states = mats.data_ptr(), states.data_ptr()
            r.grad_mats, r.grad_initial = grad_mats.data_ptr(), None
            _native.call(kernel.fns[3], r, "the compiled circuit's backward pass", work, kernel.run_strides)
        grad_angles = torch.empty_like(cos)
        g = ctx.gate_args
        g.cos_half, g.sin_half = cos.data_ptr(), sin.data_ptr()
        g.grad_mats, g.grad_angles = grad_mats.data_ptr(), grad_angles.data_ptr()
        _native.call(kernel.fns[1], g, "the compiled gate matrices' backward pass", work, kernel.gate_strides)
        return grad_angles, None

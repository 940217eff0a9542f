"""The 2×2 matrices of a run's single-qubit gates built from their angles in one compiled call each
way (``compiled_gates.c``), on the CPU.

Built in torch, a Local stage's matrices cost a handful of tensor operations per gate (half angles,
sines, cosines, phases, stacking, products), forward and backward: several µs each, most of the
time of a small circuit's run (:mod:`.compiled_run`). The kernel builds every matrix of every Local
stage of a run in one call from the angles and gives the angles' gradient in one more. It knows no
gate by name: every parametric single-qubit gate of the table is a product of Pauli rotations
(:attr:`~qseq.circuits.GateSpec.axes`), and constant gates come as their matrices from the table.
Where a run holds a gate without that form, or the kernel is not available, :func:`gate_plan` or
:func:`build_matrices` answer ``None`` and torch builds the matrices.
"""

from __future__ import annotations

import ctypes
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

import torch

from ... import _native
from .program import Local

__all__ = ["GatePlan", "gate_plan", "build_matrices", "plan_args", "half_angle_trig", "matrices_by_kernel"]

_SOURCE = _native.register(Path(__file__).with_name("compiled_gates.c"))
_AXIS = {"X": 0, "Y": 1, "Z": 2}
_CONSTANT = 3


class _Args(ctypes.Structure):
    """The kernel's ``gate_args``."""

    _fields_ = [(name, ctypes.c_int) for name in ("N", "P", "slots")] + [
        (name, ctypes.c_void_p)
        for name in ("start", "axis", "arg", "consts", "cos_half", "sin_half", "mats", "grad_mats", "grad_angles")
    ]


class GatePlan(NamedTuple):
    """How to build a run's matrices: ``groups`` names the parameter groups whose concatenation is
    the angle vector the steps read; slot ``s`` (wire ``s % n`` of Local stage ``s // n``) applies
    steps ``start[s]`` to ``start[s + 1] - 1``."""

    groups: tuple[str, ...]
    start: torch.Tensor  # (slots + 1,) int32
    axis: torch.Tensor  # (T,) int32: 0 X, 1 Y, 2 Z rotations, 3 a constant
    arg: torch.Tensor  # (T,) int32: the angle's column, or the constant's number
    consts: torch.Tensor  # (C, 2, 2) complex


def gate_plan(stages: list[Local], n_qubits: int, sizes: dict[str, int], cdtype: torch.dtype) -> GatePlan | None:
    """The plan for ``stages`` (in run order, ``sizes``: every group's length), or ``None`` when a
    gate is not a product of Pauli rotations."""
    groups = tuple(dict.fromkeys(g for stage in stages for g in stage.groups))
    offset = dict(zip(groups, accumulate([0] + [sizes[g] for g in groups]), strict=False))
    start, axis, arg = [0], [], []
    consts: list[torch.Tensor] = []
    for stage in stages:
        # the stage's source vector (its groups concatenated) -> the run's angle columns
        columns = [offset[g] + i for g in stage.groups for i in range(sizes[g])]
        by_wire = {w: (group, k) for group in stage.wire_groups for k, w in enumerate(group.wires)}
        for w in range(n_qubits):
            if w in by_wire:
                group, k = by_wire[w]
                for spec, angles in zip(group.gates, group.angles, strict=True):
                    if not spec.parametric:
                        axis.append(_CONSTANT)
                        arg.append(len(consts))
                        consts.append(spec.matrix(torch.zeros(0), cdtype))
                    elif len(spec.axes) == spec.n_params and spec.n_wires == 1:
                        axis += [_AXIS[a] for a in spec.axes]
                        arg += [columns[int(i)] for i in angles[k]]
                    else:
                        return None
            start.append(len(axis))
    as_int = lambda values: torch.tensor(values, dtype=torch.int32)  # noqa: E731
    stacked = torch.stack(consts) if consts else torch.zeros(0, 2, 2, dtype=cdtype)
    return GatePlan(groups, as_int(start), as_int(axis), as_int(arg), stacked.contiguous())


def _kernel(dtype: torch.dtype):
    return _native.kernel_functions(_SOURCE, dtype, ("gates_forward", "gates_backward"), _Args)


def plan_args(plan: GatePlan) -> _Args:
    """The kernel's argument record with the plan's fields set (a call sets ``N``, ``P`` and its
    tensors' pointers; the plan must outlive every call made with the record)."""
    args = _Args(slots=plan.start.shape[0] - 1)
    args.start, args.axis, args.arg = plan.start.data_ptr(), plan.axis.data_ptr(), plan.arg.data_ptr()
    args.consts = plan.consts.data_ptr()
    return args


def half_angle_trig(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos(θ/2), sin(θ/2)`` of angles ``(N, P)``: what the kernel reads (torch's vectorised functions)."""
    half = angles.detach() * 0.5
    return half.cos(), half.sin()


def matrices_by_kernel(fn, record: _Args, angles: torch.Tensor, cdtype, work: int = 0, strides=None) -> tuple:
    """``(mats (N, slots, 2, 2), call record, cos, sin)``: the matrices of angle vectors ``angles``
    ``(N, P)`` by the forward function ``fn`` on a copy of the prepared ``record``
    (:func:`plan_args`), with what the backward pass reads (the record and the half angles' cosines
    and sines). ``work`` and ``strides`` as in :func:`qseq._native.call`."""
    cos, sin = half_angle_trig(angles)
    mats = torch.empty(angles.shape[0], record.slots, 2, 2, dtype=cdtype)
    args = _native.copy_record(record)
    args.N, args.P, args.mats = angles.shape[0], angles.shape[1], mats.data_ptr()
    args.cos_half, args.sin_half = cos.data_ptr(), sin.data_ptr()
    _native.call(fn, args, "the compiled gate matrices", work, strides)
    return mats, args, cos, sin


class _Gates(torch.autograd.Function):
    """``angles (N, P) -> matrices (N, slots, 2, 2)`` by the kernel; the backward gives the angles'
    gradient."""

    @staticmethod
    def forward(ctx, angles: torch.Tensor, plan: GatePlan, fns):
        mats, args, cos, sin = matrices_by_kernel(fns[0], plan_args(plan), angles, plan.consts.dtype)
        ctx.args, ctx.fns, ctx.plan = args, fns, plan  # the plan's tensors back the pointers in args
        ctx.save_for_backward(cos, sin)
        return mats

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin = ctx.saved_tensors
        grad = grad.resolve_conj().contiguous()
        grad_angles = torch.empty_like(cos)
        args = ctx.args
        args.cos_half, args.sin_half = cos.data_ptr(), sin.data_ptr()
        args.grad_mats, args.grad_angles = grad.data_ptr(), grad_angles.data_ptr()
        _native.call(ctx.fns[1], args, "the compiled gate matrices' backward pass")
        return grad_angles, None, None


def build_matrices(angles: torch.Tensor, plan: GatePlan) -> torch.Tensor | None:
    """The matrices ``(N, slots, 2, 2)`` (complex, the plan's dtype) for angle vectors ``angles``
    ``(N, P)`` of the matching real dtype, or ``None`` where the kernel does not apply (not on the
    CPU, or not available)."""
    fns = _kernel(plan.consts.dtype) if angles.device.type == "cpu" else None
    return None if fns is None else _Gates.apply(angles, plan, fns)

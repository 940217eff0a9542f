"""Circuits with the batch across SIMD lanes (``compiled_lanes.c``), on the CPU: 8 or 16 states
through the gates together, one per lane of a vector, each lane with its own matrices or all with
the same.

Two callers. A recurrent cell's step without gradients — acting in an environment, inference —
evaluates a bank of bound circuits on a few to a few hundred encoded inputs: the product-state path
(:mod:`.product`) multiplies each input by the bank's dense unitary (``4·D²`` multiply-adds per
circuit and input in real arithmetic) and the stage-by-stage path issues a few torch operations per
stage, where here a gate is ``8·D`` multiply-adds per input at full vector width on every wire and
the call is one C call (:class:`LanesKernel`, forward only; for circuits whose preparation is the
only stage that reads per-sample angles). And the whole-circuit kernel (:mod:`.compiled_circuit`)
runs per-sample circuits of :data:`LANES_MIN_STATES` or more states here, forward and backward
(:func:`per_sample_args`). Both need single-wire Z observables and at most :data:`LANES_MAX_QUBITS`
wires.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import torch

from ... import _native
from . import compiled_gates
from .compiled_gates import GatePlan
from .compiled_run import RunPlan
from .product import ProductTables

__all__ = [
    "LanesKernel",
    "LanesForm",
    "LANES_MAX_QUBITS",
    "LANES_MIN_GROUP",
    "LANES_MIN_STATES",
    "LANE_BYTES",
    "functions",
    "per_sample_args",
]

_SOURCE = _native.register(Path(__file__).with_name("compiled_lanes.c"))

#: Largest register of the lanes kernel: a vector of states is ``4 · 64 · 2^n`` bytes with its
#: scratch copy (256 KiB at 10 qubits), and above that one state at a time (:mod:`.compiled_circuit`)
#: stays in cache where a vector of them does not.
LANES_MAX_QUBITS = 10
#: Bytes of a vector of lanes (``lane`` in the C file): 16 complex64 or 8 complex128 states at once.
LANE_BYTES = 64
#: Fewest states per set of the stages' matrices for :class:`LanesKernel`. With a set per state
#: (per-sample angles) the whole-circuit kernel (:mod:`.compiled_circuit`) is the path: it makes
#: every matrix in one call, and the general path's per-call planning made a per-sample call here
#: slower below about 64 states (measured on a 2-core CPU).
LANES_MIN_GROUP = 2
#: Fewest states for which the whole-circuit kernel (:mod:`.compiled_circuit`) runs per-sample
#: circuits in lanes, forward and backward: below it both took the same time (Python's share), from
#: it the lanes were faster (fwd+bwd 1.3-1.9x at 8-10 qubits and 16-256 states; 2-core CPU).
LANES_MIN_STATES = 16


class _Args(ctypes.Structure):
    """The kernel's ``lanes_args``."""

    _fields_ = (
        [(name, ctypes.c_int) for name in ("N", "n", "S", "per_group", "n_prep")]
        + [(name, ctypes.c_void_p) for name in ("kind", "prep", "mats")]
        + [(name, ctypes.c_int) for name in ("prep_stride", "set_stride")]
        + [(name, ctypes.c_void_p) for name in ("source", "phase", "phased")]
        + [("n_z", ctypes.c_int), ("z_wires", ctypes.c_void_p), ("expvals", ctypes.c_void_p)]
        + [("n_finite", ctypes.c_int), ("finite", ctypes.c_void_p)]
        + [(name, ctypes.c_void_p) for name in ("grad", "grad_prep", "grad_mats", "states")]
    )


def functions(cdtype: torch.dtype) -> tuple | None:
    """``(forward, backward)`` C functions for ``cdtype``, or ``None`` (see :mod:`qseq._native`)."""
    return _native.kernel_functions(_SOURCE, cdtype, ("lanes_forward", "lanes_backward"), _Args)


def _record(kind: torch.Tensor, run: RunPlan, z_wires: torch.Tensor, n_qubits: int) -> tuple[_Args, torch.Tensor]:
    """The kernel's record for the stages ``kind`` with the plan's gathers and the readout set, and
    the tensor of the gathers' phase flags it points to (keep it alive with the record)."""
    phased = (run.phase != 1).any(dim=-1).to(torch.int32)
    args = _Args(n=n_qubits, S=kind.shape[0], n_z=z_wires.shape[0])
    args.kind, args.source, args.phase = kind.data_ptr(), run.source.data_ptr(), run.phase.data_ptr()
    args.phased, args.z_wires = phased.data_ptr(), z_wires.data_ptr()
    return args, phased


def per_sample_args(
    run: RunPlan, z_wires: torch.Tensor, n_qubits: int, slots: int
) -> tuple[_Args, tuple[torch.Tensor, ...]]:
    """The kernel's record for per-sample matrix sets ``(N, slots, 2, 2)`` whose first ``n_qubits``
    slots are the preparation (the first stage of ``run``, Local) and the rest the later Local
    stages, with every field but ``N`` and the calls' pointers set; and the tensors it points to
    besides the plan's (keep them alive with it). :mod:`.compiled_circuit` runs its circuits so."""
    kind = run.kind[1:].contiguous()
    args, phased = _record(kind, run, z_wires, n_qubits)
    args.per_group, args.prep_stride, args.set_stride = 1, 8 * slots, 8 * slots
    return args, (kind, phased)


class LanesKernel:
    """The lanes kernel of one program's stages after its preparation, for one complex dtype.

    Args:
        prep: the matrices' plan of the preparation (:func:`.compiled_gates.gate_plan`).
        run: the run's plan of the stages after the preparation (:func:`.compiled_run.run_plan`).
        z_wires: the wire of each observable's Z, int32 ``(n_obs,)``.
        n_qubits: the register.

    Calling it with the preparation's angle vectors ``(n_prep, P)`` (real) and the stages' matrices
    ``(G, L, n, 2, 2)`` (complex, ``L`` Local stages) gives the ``(N, n_obs)`` expectation values of
    ``N`` states in ``G`` groups of ``N / G`` consecutive states, state ``r`` prepared from row
    ``r % n_prep`` and evolved with group ``r // (N / G)``'s matrices (contiguous, conjugation
    resolved). Nothing is differentiated. With ``check``, NaN or infinite angles raise a
    ``ValueError`` naming the preparation's first group (the kernel scans values it reads anyway).
    """

    def __init__(self, prep: GatePlan, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, fns):
        self.prep, self.run, self.z_wires, self.n_qubits, self.fns = prep, run, z_wires, n_qubits, fns
        self.z_order = tuple(z_wires.tolist())  # the observables' wires, for checks without a tensor
        self.gate_args = compiled_gates.plan_args(prep)
        self.args, self.phased = _record(run.kind, run, z_wires, n_qubits)

    @classmethod
    def build(cls, prep: GatePlan | None, run: RunPlan, z_wires: torch.Tensor, n_qubits: int) -> LanesKernel | None:
        """The kernel, or ``None`` where the compiled kernels are not available, ``prep`` is ``None``
        (a gate the matrix kernel does not build) or the register is larger than
        :data:`LANES_MAX_QUBITS`."""
        cdtype = run.phase.dtype
        lanes, gates = functions(cdtype), compiled_gates._kernel(cdtype)
        if prep is None or lanes is None or gates is None or n_qubits > LANES_MAX_QUBITS:
            return None
        return cls(prep, run, z_wires, n_qubits, (gates[0], lanes[0]))

    def __call__(self, angles: torch.Tensor, mats: torch.Tensor, n_states: int, check: bool = True) -> torch.Tensor:
        prep, _, cos, _ = compiled_gates.matrices_by_kernel(self.fns[0], self.gate_args, angles, mats.dtype)
        out = torch.empty(n_states, self.z_wires.shape[0], dtype=angles.dtype)
        args = _native.copy_record(self.args)
        args.N, args.per_group, args.n_prep = n_states, n_states // mats.shape[0], angles.shape[0]
        args.prep_stride, args.set_stride = 8 * self.n_qubits, 2 * mats[0].numel()  # reals
        args.prep, args.mats, args.expvals = prep.data_ptr(), mats.data_ptr(), out.data_ptr()
        if check:  # cos(θ/2) is NaN for a NaN or infinite θ
            args.n_finite, args.finite = cos.numel(), cos.data_ptr()
        if _native.call(self.fns[1], args, "the lanes kernel") == 2:
            raise ValueError(f"parameter group {self.prep.groups[0]!r} contains NaN or infinite angles")
        return out


class LanesForm(NamedTuple):
    """A bound bank of ``K`` circuits in the lanes kernel's form, for models that drive the evaluation
    themselves (the fused QLSTM layer without gradients, :mod:`qseq.models.fused_native`).

    Attributes:
        kernel: the bank's kernel: ``kernel.run`` holds the stages after the preparation (kinds,
            gathers, phases), ``kernel.phased`` the gathers' phase flags, ``kernel.z_wires`` the
            observables' wires.
        mats: ``(K, L, n, 2, 2)`` complex: every circuit's Local matrices after the preparation.
        tables: the preparation's product-state tables (its encoding: :mod:`.product`).
    """

    kernel: LanesKernel
    mats: torch.Tensor
    tables: ProductTables

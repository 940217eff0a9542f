"""Adjoint differentiation: gradients of a circuit with a constant number of stored states.

Autograd keeps every intermediate state of a forward pass for its backward pass, one per stage:
at 28 qubits (2 GiB a state in complex64) a two-layer circuit needs tens of GiB. The adjoint method
(as in PennyLane Lightning) keeps only the final state. For an objective ``L`` whose gradient with
respect to the final state is ``λ_N = ∂L/∂ψ_N`` (from the readout's own backward), it sweeps the
steps ``ψ_i = A_i ψ_{i-1}`` (each ``A_i`` a unitary operator tensor: a Kronecker block, a gate
matrix, or a phased permutation) backwards:

    ψ_{i-1} = A_i† ψ_i                      (uncompute the state)
    ∂L/∂A_i = the vector-Jacobian product of A ↦ A ψ_{i-1} with λ_i     (a small contraction)
    λ_{i-1} = A_i† λ_i

so the backward pass holds the state, its adjoint and one step's temporaries, whatever the depth.
The operator gradients ``∂L/∂A_i`` then flow into the angles through autograd's graph of the small
matrix construction. The forward pass applies the stages one by one (no fused unitaries: the
method is meant for registers far too large to fuse) and costs the same as without gradients; the
backward pass costs about three forward passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .gpu_passes import apply_gather_gpu
from .program import Dense, Local, Permute, Program
from .shapes import broadcast_shapes
from .simulate import (
    SHARED_REUSE,
    Tables,
    _lead,
    _Matrices,
    _source,
    apply_block,
    apply_on_wires,
    apply_permutation,
    dense_matrix,
    gpu_gather,
    local_blocks,
    permutation_table,
)

__all__ = ["expval_adjoint", "ADJOINT_STATES"]

#: State-sized tensors alive at once in the adjoint backward pass: the state, its adjoint, the
#: uncomputed state and one step's output.
ADJOINT_STATES = 4


@dataclass(frozen=True)
class _Block:
    """``ψ ↦ A ψ`` for a ``(2^k × 2^k)`` operator on adjacent wires ``first..first+k-1``."""

    first: int
    k: int
    n_qubits: int

    def apply(self, psi: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
        return apply_block(psi, op, self.first, self.k, self.n_qubits)

    def operator_grad(self, psi: torch.Tensor, adjoint: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
        """``∂L/∂A[i, j] = Σ λ[.., i, ..] conj(ψ[.., j, ..])`` over the other wires (autograd's
        convention for complex tensors), summed to the operator's shape."""
        size, before = 2**self.k, 2**self.first
        view = lambda t: t.reshape(*t.shape[:-1], before, size, -1)  # noqa: E731
        return torch.einsum("...bia,...bja->...ij", view(adjoint), view(psi).conj()).sum_to_size(op.shape)


@dataclass(frozen=True)
class _OnWires:
    """``ψ ↦ A ψ`` for a gate matrix on arbitrary ``wires``."""

    wires: tuple[int, ...]
    n_qubits: int

    def apply(self, psi: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
        return apply_on_wires(psi, op, self.wires, self.n_qubits)

    def operator_grad(self, psi: torch.Tensor, adjoint: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
        """``∂L/∂A`` by autograd through one application (gates on scattered wires are small and rare)."""
        with torch.enable_grad():
            leaf = op.detach().requires_grad_()
            return torch.autograd.grad(self.apply(psi, leaf), leaf, adjoint)[0]


@dataclass(frozen=True)
class _Permutation:
    """``ψ'[i] = phase[i] · ψ[source[i]]`` (constant: no operator tensor, no gradient): by the Triton
    gather of the map or of its inverse where it applies (:mod:`.gpu_passes`), else through the
    stage's index tables (made on first use)."""

    stage: Permute
    tables: Tables
    n_qubits: int

    def apply(self, psi: torch.Tensor) -> torch.Tensor:
        n = self.n_qubits
        out = apply_gather_gpu(psi, gpu_gather(self.tables, self.stage, n), n)
        return out if out is not None else apply_permutation(psi, *permutation_table(self.tables, self.stage, n))

    def undo(self, psi: torch.Tensor) -> torch.Tensor:
        """The inverse (= adjoint) map: ``out[source[i]] = conj(phase[i]) · ψ[i]``."""
        fast = apply_gather_gpu(psi, gpu_gather(self.tables, self.stage, self.n_qubits), self.n_qubits, inverse=True)
        if fast is not None:
            return fast
        source, phase = permutation_table(self.tables, self.stage, self.n_qubits)
        out = torch.empty_like(psi)
        out[..., source] = psi if phase is None else psi * phase.conj()
        return out


def _plan(
    program: Program, tables: Tables, mats: _Matrices, groups: dict, lead: torch.Size, stages
) -> tuple[list, list]:
    """The steps of ``stages`` and the operator tensor of each step that has one (built with autograd
    from the angles: they are small), tracking the state's leading shape to choose block sizes as
    :func:`~.simulate.evolve` does."""
    n = program.n_qubits
    steps: list = []
    ops: list[torch.Tensor] = []
    for stage in stages:
        if isinstance(stage, Permute):
            steps.append(_Permutation(stage, tables, n))
            continue
        if isinstance(stage, Local):
            shared = math.prod(_lead(groups, stage.groups)) * SHARED_REUSE <= math.prod(lead)
            for first, k, block in local_blocks(stage, tables, mats, shared):
                steps.append(_Block(first, k, n))
                ops.append(block)
        else:
            assert isinstance(stage, Dense)  # the only other kind of stage
            steps.append(_OnWires(stage.wires, n))
            ops.append(dense_matrix(stage, tables, _source(groups, stage.groups)))
        lead = broadcast_shapes(lead, ops[-1].shape[:-2])
    return steps, ops


class _AdjointExpval(torch.autograd.Function):
    """Expectation values ``read(A_N ⋯ A_1 |0…0⟩)`` with the adjoint backward pass (module docstring).

    The function ends at the expectation values, not at the state, so no state-sized gradient ever
    enters it from autograd: the sweep starts from ``λ_N``, the readout's vector-Jacobian product.
    """

    @staticmethod
    def forward(ctx, steps: list, read, tables: Tables, dim: int, *ops: torch.Tensor) -> torch.Tensor:
        ctx.steps, ctx.read = steps, read
        psi = torch.zeros(dim, dtype=tables.cdtype, device=tables.device)  # |0…0⟩, made here: no caller holds it
        psi[0] = 1
        operators = iter(ops)
        for step in steps:
            psi = step.apply(psi) if isinstance(step, _Permutation) else step.apply(psi, next(operators))
        ctx.save_for_backward(*ops)
        ctx.final = psi  # not saved for backward: the sweep drops it once it has uncomputed it
        return read(psi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        ops = ctx.saved_tensors
        psi, ctx.final = ctx.final, None
        with torch.enable_grad():  # λ_N: the readout's vector-Jacobian product (no second name for ψ)
            (adjoint,) = torch.autograd.grad(ctx.read(psi.requires_grad_()), psi, grad)
        psi.requires_grad_(False)
        grads: list[torch.Tensor | None] = [None] * len(ops)
        j = len(ops)
        for step in reversed(ctx.steps):
            if isinstance(step, _Permutation):
                psi = step.undo(psi)
                adjoint = step.undo(adjoint)
                continue
            j -= 1
            dagger = ops[j].conj().mT
            psi = step.apply(psi, dagger)
            if ctx.needs_input_grad[4 + j]:
                grads[j] = step.operator_grad(psi, adjoint, ops[j])
            adjoint = step.apply(adjoint, dagger)
        return None, None, None, None, *grads


def expval_adjoint(program: Program, tables: Tables, groups: dict, batch_shape: torch.Size, read) -> torch.Tensor:
    """The expectation values ``read(ψ)`` (``(*lead, n_obs)``) of the circuit's final state ``ψ``, as
    :func:`~.simulate.evolve` and :func:`~.simulate.expectations` compute them, differentiable by the
    adjoint method: the state is prepared by applying the preparation's gates to ``|0…0⟩`` (no
    product-state shortcut, whose backward pass would keep partial products) and only the final
    state is kept for the backward pass."""
    stages = ((program.prep,) if program.prep is not None else ()) + program.stages
    steps, ops = _plan(program, tables, _Matrices(program, tables, groups), groups, torch.Size(), stages)
    out = _AdjointExpval.apply(steps, read, tables, program.dim, *ops)
    return out.expand(*broadcast_shapes(batch_shape, out.shape[:-1]), out.shape[-1])

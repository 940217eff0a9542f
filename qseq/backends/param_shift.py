"""Gradients for backends that return numbers, not autograd graphs: the parameter-shift rule.

A simulator outside torch (Qiskit Aer) or a quantum computer (IBM) evaluates circuits and returns
expectation values; :class:`ParameterShiftBackend` turns that into a differentiable
:meth:`~qseq.backends.Backend.expval`. For every angle ``θ_j`` that needs a gradient, with the
gate's rule ``∂f/∂θ = Σ_k c_k f(θ + s_k e_j)`` (:attr:`GateSpec.shift_rule
<qseq.circuits.gates.GateSpec>`: two terms for rotations, four for controlled rotations),

    J[n, o, p] = Σ_{angles j fed by parameter p} Σ_k c_k f_o(θ_n + s_k e_j),

and the backward pass is the vector–Jacobian product ``grad_θ = Σ_o grad_out[n, o] J[n, o, :]``.

**One call per stage.** The unshifted vectors and all shifted ones of the whole batch go to the
backend in a *single* :meth:`ParameterShiftBackend._evaluate` call (one job on hardware) during the
forward pass, and the Jacobian is kept for the backward pass, which needs no further call. A
recurrent step whose gate circuits share one call (the QLSTM's four gates) therefore costs one job
per stage for forward and backward together. Only parameter groups that need a gradient are shifted
(inference and reservoir features shift nothing).

A parameter used by several gates gets one shifted evaluation per use (the chain rule): the
circuit is evaluated in *angle space*, where every gate angle has its own slot.
"""

from __future__ import annotations

import abc
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..circuits import Circuit
from ..circuits.circuit import Operation, ParamGroup
from ..circuits.gates import gate
from .base import Backend, BindCache, Params

__all__ = ["ParameterShiftBackend", "ShiftPlan", "shift_plan"]


@dataclass(frozen=True)
class ShiftPlan:
    """How to differentiate one circuit by shifting its gate angles.

    Attributes:
        circuit: the circuit evaluated for the shifted terms: the original when every parameter
            feeds exactly one gate angle, else a copy whose gate angles each have their own
            parameter (one group ``"angles"``).
        param_of_angle: ``(n_angles,)`` for each parameter of ``circuit``, the index of the
            original parameter that feeds it.
        rules: for each angle, its ``((coefficient, shift), ...)`` rule.
    """

    circuit: Circuit
    param_of_angle: np.ndarray
    rules: tuple[tuple[tuple[float, float], ...], ...]


@functools.lru_cache(maxsize=256)
def shift_plan(circuit: Circuit) -> ShiftPlan:
    """The :class:`ShiftPlan` of ``circuit`` (cached per circuit)."""
    angles = [(op, k, p) for op in circuit.ops for k, p in enumerate(op.params)]
    param_of_angle = np.array([p for _, _, p in angles], dtype=np.int64)
    rules = tuple(gate(op.name).shift_rule for op, _, _ in angles)
    if sorted(param_of_angle.tolist()) == list(range(circuit.n_params)):
        # every parameter feeds exactly one angle: shift the original circuit's parameters
        order = np.argsort(param_of_angle)
        return ShiftPlan(circuit, param_of_angle[order], tuple(rules[i] for i in order))
    ops, slot = [], 0
    for op in circuit.ops:
        ops.append(Operation(op.name, op.wires, tuple(range(slot, slot + len(op.params)))))
        slot += len(op.params)
    expanded = Circuit(circuit.n_qubits, tuple(ops), (ParamGroup("angles", slot),), circuit.observables)
    return ShiftPlan(expanded, param_of_angle, rules)


class _ParameterShift(torch.autograd.Function):
    """``f(θ)`` from a numeric backend, with the parameter-shift Jacobian for backward."""

    @staticmethod
    def forward(ctx, backend: ParameterShiftBackend, circuit: Circuit, *groups: torch.Tensor) -> torch.Tensor:
        # groups: the circuit's non-empty parameter groups in order, each (N, size_g). The angles
        # of the unshifted circuit come first in the one call, then every shifted vector.
        theta = torch.cat(groups, dim=-1).detach().to("cpu", torch.float64).numpy()
        n, n_obs = theta.shape[0], circuit.n_obs
        shifted = _shifted_params(groups, ctx.needs_input_grad[2:])
        plan = shift_plan(circuit)
        terms = [(j, c, s) for j in np.flatnonzero(np.isin(plan.param_of_angle, shifted)) for c, s in plan.rules[j]]
        jacobian = np.zeros((n, n_obs, theta.shape[1]))
        if not terms:  # no gradient needed, or none of those parameters reaches a gate
            f = backend._checked_evaluate(circuit, theta)
            if not shifted.size:
                return torch.from_numpy(f)
        else:
            angle, coeff, shift = (np.array(column) for column in zip(*terms, strict=True))  # one entry per term
            angles = theta[:, plan.param_of_angle]  # (N, n_angles)
            rows = np.repeat(angles[None], len(terms), axis=0)  # (R, N, n_angles)
            rows[np.arange(len(terms)), :, angle] += shift[:, None]
            values = backend._checked_evaluate(
                plan.circuit, np.concatenate([angles, rows.reshape(-1, angles.shape[1])])
            )
            backend.usage.shifted += len(values) - n
            f, shifted_values = values[:n], values[n:].reshape(len(terms), n, n_obs)
            # J[n, o, p] = Σ_terms c_r f_r[n, o] over the terms whose angle p feeds
            to_param = np.zeros((len(terms), theta.shape[1]))
            to_param[np.arange(len(terms)), plan.param_of_angle[angle]] = coeff
            jacobian = np.einsum("rno,rp->nop", shifted_values, to_param)
        ctx.save_for_backward(torch.from_numpy(jacobian))
        ctx.sizes = [g.shape[-1] for g in groups]
        ctx.dtype, ctx.device = groups[0].dtype, groups[0].device
        return torch.from_numpy(f)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        (jacobian,) = ctx.saved_tensors
        grad = torch.einsum("no,nop->np", grad_out.to(jacobian.dtype), jacobian)
        grads = grad.split(ctx.sizes, dim=-1)
        grads = [
            g.to(ctx.device, ctx.dtype) if need else None
            for g, need in zip(grads, ctx.needs_input_grad[2:], strict=True)
        ]
        return (None, None, *grads)


def _shifted_params(groups, needs_grad) -> np.ndarray:
    """Indices of the flat parameters whose group needs a gradient."""
    sizes = [g.shape[-1] for g in groups]
    starts = np.cumsum([0] + sizes[:-1])
    return np.concatenate(
        [np.arange(s, s + k) for s, k, need in zip(starts, sizes, needs_grad, strict=True) if need]
        or [np.zeros(0, np.int64)]
    ).astype(np.int64)


class ParameterShiftBackend(Backend):
    """A backend that evaluates numbers outside torch; gradients by the parameter-shift rule.

    Subclasses implement :meth:`_evaluate`. Bound circuits (:meth:`bind`) are accepted and
    evaluated like unbound ones: nothing can be precomputed outside torch.
    """

    @abc.abstractmethod
    def _evaluate(self, circuit: Circuit, values: np.ndarray) -> np.ndarray:
        """Expectation values ``(N, circuit.n_obs)`` for float64 parameters ``(N, circuit.n_params)``:
        one backend call (job)."""

    def _checked_evaluate(self, circuit: Circuit, values: np.ndarray) -> np.ndarray:
        """:meth:`_evaluate`, with the result's shape checked."""
        out = np.asarray(self._evaluate(circuit, np.ascontiguousarray(values)), dtype=np.float64)
        if out.shape != (len(values), circuit.n_obs):
            raise RuntimeError(
                f"{self.name}: expected results of shape {(len(values), circuit.n_obs)}, got {out.shape}"
            )
        return out

    def _expval(self, circuit: Circuit, params: Params, cache: BindCache | None) -> torch.Tensor:
        n = math.prod(params.batch_shape)
        groups = [g.expand(*params.batch_shape, g.shape[-1]).reshape(n, g.shape[-1]) for g in params.groups.values()]
        if n == 0:
            return torch.zeros(*params.batch_shape, circuit.n_obs, dtype=params.dtype, device=params.device)
        if not groups:  # a fixed circuit: nothing to differentiate
            values = self._checked_evaluate(circuit, np.zeros((n, 0)))
            return torch.from_numpy(values).to(params.dtype).reshape(*params.batch_shape, circuit.n_obs)
        out = _ParameterShift.apply(self, circuit, *groups)
        return out.to(params.dtype).reshape(*params.batch_shape, circuit.n_obs)

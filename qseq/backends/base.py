"""The backend contract: ``expval(circuit, params) -> expectation values``, batched and differentiable.

Every backend (the torch engine, PennyLane devices, Qiskit Aer, IBM hardware) implements
:meth:`Backend._expval`; this module owns everything they share: checking parameters early with
messages that name the problem, broadcasting parameter groups, and partial binding.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import torch

from .._checks import all_finite
from ..circuits import Circuit
from .engine.shapes import broadcast_shapes

if TYPE_CHECKING:
    from .engine.compiled_lanes import LanesForm
    from .engine.product import ProductForm

__all__ = ["Backend", "BindCache", "Usage", "BoundCircuit", "Params", "ParamsLike", "check_params", "check_group"]

ParamsLike: TypeAlias = torch.Tensor | np.ndarray | Mapping[str, torch.Tensor | np.ndarray]


@dataclass(frozen=True)
class Params:
    """Checked parameters of one call: one tensor per parameter group of the circuit.

    Attributes:
        groups: ``{group name: tensor (*lead_g, size_g)}``; the ``lead_g`` broadcast together.
        batch_shape: the broadcast leading shape of all groups (the output's leading shape).
        dtype: the common real floating dtype of all groups (the output's dtype).
        device: where the parameters live (where the output is returned).
    """

    groups: dict[str, torch.Tensor]
    batch_shape: torch.Size
    dtype: torch.dtype
    device: torch.device

    def flat(self) -> torch.Tensor:
        """All groups broadcast and concatenated in circuit order: ``(*batch_shape, n_params)``."""
        parts = [g.expand(*self.batch_shape, g.shape[-1]) for g in self.groups.values()]
        if not parts:
            return torch.zeros(*self.batch_shape, 0, dtype=self.dtype, device=self.device)
        return torch.cat([p.to(self.dtype) for p in parts], dim=-1)


def _as_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, (np.ndarray, list, tuple, float, int)):
        value = torch.as_tensor(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")
    if value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must hold real angles, got dtype {value.dtype}")
    if not value.is_floating_point():
        value = value.to(torch.get_default_dtype())
    return value


def check_params(
    circuit: Circuit, params: ParamsLike, *, check_finite: bool = True, trusted: frozenset = frozenset()
) -> Params:
    """Validate ``params`` against ``circuit`` and split them into groups.

    ``params`` is either a tensor shaped ``(..., circuit.n_params)`` or a mapping
    ``{group name: tensor (..., size)}`` naming every non-empty group; leading dims broadcast.
    Groups named in ``trusted`` (already checked, e.g. bound ones) skip the NaN/inf scan, and so do
    groups on a CUDA device: reading the scan's answer would stall the host on every call, so NaN
    angles there give NaN values instead of an error (models check their inputs once per forward).

    Raises:
        ValueError: wrong last dimension, unknown or missing group, shapes that do not broadcast,
            NaN or infinite angles.
        TypeError: non-tensor or complex input.
    """
    sizes = circuit.group_sizes
    expected = ", ".join(f"{n}={s}" for n, s in sizes.items()) or "none"
    if isinstance(params, Mapping):
        unknown = set(params) - set(sizes)
        if unknown:
            raise ValueError(f"unknown parameter group(s) {sorted(unknown)}; the circuit has: {expected}")
        missing = [n for n, s in sizes.items() if s and n not in params]
        if missing:
            raise ValueError(f"missing parameter group(s) {missing}; the circuit has: {expected}")
        groups = {n: check_group(circuit, n, params[n]) for n in sizes if n in params and sizes[n]}
    else:
        flat = _as_tensor("params", params)
        if flat.ndim == 0 or flat.shape[-1] != circuit.n_params:
            raise ValueError(
                f"the circuit takes {circuit.n_params} parameters per sample ({expected}); "
                f"got params of shape {tuple(flat.shape)}"
            )
        groups = {n: flat[..., sl] for n, sl in circuit.group_slices().items() if sizes[n]}
    try:
        batch = broadcast_shapes(*(t.shape[:-1] for t in groups.values()))
        if not isinstance(params, Mapping):
            batch = flat.shape[:-1]
    except RuntimeError:
        shapes = {n: tuple(t.shape) for n, t in groups.items()}
        raise ValueError(f"parameter groups have leading shapes that do not broadcast: {shapes}") from None
    devices = {t.device for t in groups.values()}
    if len(devices) > 1:
        raise ValueError(f"parameter groups live on different devices: {sorted(map(str, devices))}")
    device = devices.pop() if devices else torch.device("cpu")
    dtype = torch.get_default_dtype()
    if groups:
        dtype = groups[next(iter(groups))].dtype
        for t in groups.values():
            dtype = torch.promote_types(dtype, t.dtype)
    if check_finite and (isinstance(params, Mapping) or flat.is_cuda or not all_finite(flat)):
        for n, t in groups.items():  # a flat tensor found finite at once needs no per-group scan
            if n not in trusted:
                _check_finite(n, t)
    return Params(groups, torch.Size(batch), dtype, device)


def check_group(circuit: Circuit, name: str, value) -> torch.Tensor:
    """One parameter group as a real tensor ``(..., size)``; raises naming the group otherwise."""
    sizes = circuit.group_sizes
    if name not in sizes:
        expected = ", ".join(f"{n}={s}" for n, s in sizes.items()) or "none"
        raise ValueError(f"unknown parameter group {name!r}; the circuit has: {expected}")
    t = _as_tensor(f"params[{name!r}]", value)
    if t.ndim == 0 or t.shape[-1] != sizes[name]:
        raise ValueError(
            f"parameter group {name!r} needs a last dimension of {sizes[name]}, got shape {tuple(t.shape)}"
        )
    return t


def _check_finite(name: str, t: torch.Tensor) -> None:
    if t.numel() and not t.is_cuda and not all_finite(t):
        raise ValueError(f"parameter group {name!r} contains NaN or infinite angles")


class Backend(abc.ABC):
    """Where circuits run. Subclasses implement :meth:`_expval`.

    Attributes:
        name: the spec string that :func:`qseq.backends.get` resolves to this backend.
        max_qubits: the largest circuit it accepts, or ``None`` for no limit known in advance.
    """

    name: str = "backend"
    max_qubits: int | None = None
    check_finite: bool = True

    def expval(self, circuit: Circuit, params: ParamsLike) -> torch.Tensor:
        """Expectation values of ``circuit.observables`` for a batch of parameter vectors.

        Args:
            circuit: what to run.
            params: ``(..., circuit.n_params)`` angles, or ``{group: (..., size)}`` whose leading
                shapes broadcast (e.g. weights ``(K, 1, P_w)`` for K gate circuits with inputs
                ``(B, P_in)`` evaluates K × B circuits in one call).

        Returns:
            ``(..., circuit.n_obs)`` real tensor on the parameters' device and dtype;
            differentiable with respect to ``params`` on every backend.
        """
        return self._run(circuit, self._check(circuit, params), cache=None)

    def bind(self, circuit: Circuit, **groups) -> BoundCircuit:
        """Fix some parameter groups now and supply the rest per call.

        A recurrent cell binds its weights once per forward pass and then calls the bound circuit
        at every time step with that step's inputs; backends may precompute what depends only on
        the bound groups (the torch engine fuses it into one unitary). Modifying a bound tensor in
        place afterwards is an error: bind again.
        """
        if not isinstance(circuit, Circuit):
            raise TypeError(f"expected a qseq.circuits.Circuit, got {type(circuit).__name__}")
        self._check_qubits(circuit)
        fixed = {n: check_group(circuit, n, t) for n, t in groups.items() if circuit.group_sizes.get(n, 1)}
        if self.check_finite:
            for n, t in fixed.items():
                _check_finite(n, t)
        return BoundCircuit(self, circuit, fixed)

    def product_form(self, bound: BoundCircuit, n_inputs: int) -> ProductForm | None:
        """``bound`` as a product-state form (:class:`~qseq.backends.engine.product.ProductForm`) for
        calls with ``n_inputs`` input vectors, or ``None``: only the torch engine has one, and only
        for circuits whose free groups feed a product-state preparation. A model that evaluates the
        form itself reports its evaluations with :meth:`record_usage`."""
        return None

    def lanes_form(self, bound: BoundCircuit) -> LanesForm | None:
        """``bound`` in the lanes kernel's form (:class:`~qseq.backends.engine.compiled_lanes.LanesForm`)
        for evaluations without gradients that a model drives itself, or ``None``: only the torch
        engine on the CPU has one. A model that evaluates the form reports its evaluations with
        :meth:`record_usage`."""
        return None

    def record_usage(self, calls: int, circuits: int) -> None:
        """Count ``calls`` backend calls evaluating ``circuits`` circuits in :attr:`usage`."""
        self.usage.calls += calls
        self.usage.circuits += circuits

    # -- for subclasses ------------------------------------------------------------------------
    @abc.abstractmethod
    def _expval(self, circuit: Circuit, params: Params, cache: BindCache | None) -> torch.Tensor:
        """Evaluate checked parameters. ``cache`` is the calling :class:`BoundCircuit`'s storage
        (``None`` for unbound calls): whatever depends only on ``cache.fixed`` groups may be kept
        in ``cache.store`` and reused by later calls."""

    def _bound_call(self, bound: BoundCircuit, groups: dict) -> torch.Tensor | None:
        """A shortcut for a bound circuit's call with the free ``groups`` (as passed): the values,
        computed exactly as :meth:`_expval` would, or ``None`` to take the checked path. A backend
        that answers must raise the errors :func:`check_params` would for the same input."""
        return None

    def _check_qubits(self, circuit: Circuit) -> None:
        if self.max_qubits is not None and circuit.n_qubits > self.max_qubits:
            raise ValueError(
                f"circuit has {circuit.n_qubits} qubits but backend {self.name!r} supports at most {self.max_qubits}"
            )

    def _check(self, circuit: Circuit, params: ParamsLike) -> Params:
        if not isinstance(circuit, Circuit):
            raise TypeError(f"expected a qseq.circuits.Circuit, got {type(circuit).__name__}")
        self._check_qubits(circuit)
        return check_params(circuit, params, check_finite=self.check_finite)

    def _run(self, circuit: Circuit, params: Params, cache: BindCache | None) -> torch.Tensor:
        if not math.prod(params.batch_shape):  # an empty batch: nothing to run (no job, no kernel)
            anchor = sum((t.sum() * 0 for t in params.groups.values()), torch.zeros((), dtype=params.dtype))
            empty = torch.zeros(*params.batch_shape, circuit.n_obs, dtype=params.dtype, device=params.device)
            return empty + anchor.to(params.device)  # connected to every group: zero gradients
        out = self._expval(circuit, params, cache)
        self.record_usage(1, math.prod(params.batch_shape))
        return out.to(device=params.device)

    # -- pickling and copying ------------------------------------------------------------------
    #: Attributes that are caches or live objects (compiled programs, primitives, sessions): left
    #: out when a backend is pickled (``torch.save(model)``) or deep-copied, and made anew by
    #: :meth:`_restore`.
    _transient: tuple[str, ...] = ()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._transient}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._restore()

    def _restore(self) -> None:  # noqa: B027 - an optional hook with a no-op default, deliberately not abstract
        """Re-create the attributes named in :attr:`_transient` (after unpickling or copying).

        A hook, not an abstract method: the default has nothing to re-create. Subclasses that list
        attributes in :attr:`_transient` override it and call ``super()._restore()`` first.
        """

    @property
    def usage(self) -> Usage:
        """Calls and circuit evaluations made so far (what a hardware run would pay for)."""
        if "_usage" not in self.__dict__:
            self._usage = Usage()
        return self._usage

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@dataclass
class Usage:
    """What a backend has run. Reset with ``backend.usage.reset()``.

    Attributes:
        calls: backend calls (:meth:`Backend.expval` and bound-circuit calls).
        circuits: circuit evaluations asked for (one per parameter vector).
        shifted: extra evaluations for parameter-shift gradients (numeric backends only).
        jobs: jobs submitted to a primitive (Qiskit backends; a call split into several jobs
            counts each, a result reused from the job journal counts none).
        reused: job results taken from the job journal instead of being run again.
        shots: shots submitted (circuits × shots per circuit; 0 for exact backends).
    """

    calls: int = 0
    circuits: int = 0
    shifted: int = 0
    jobs: int = 0
    reused: int = 0
    shots: int = 0

    def reset(self) -> None:
        self.calls = self.circuits = self.shifted = self.jobs = self.reused = self.shots = 0


@dataclass
class BindCache:
    """Per-:class:`BoundCircuit` storage handed to :meth:`Backend._expval`.

    Attributes:
        fixed: names of the groups bound for the lifetime of the cache.
        store: backend-private values computed from the fixed groups only.
    """

    fixed: frozenset
    store: dict


class BoundCircuit:
    """A circuit with some parameter groups fixed; call it with the remaining groups.

    ``bound(inputs=x)`` (or ``bound(x)`` when one group is left) returns what
    ``backend.expval(circuit, {**fixed, "inputs": x})`` would.
    """

    def __init__(self, backend: Backend, circuit: Circuit, fixed: dict[str, torch.Tensor]):
        self.backend, self.circuit, self.fixed = backend, circuit, fixed
        self._versions = {n: t._version for n, t in fixed.items()}
        self._cache = BindCache(frozenset(fixed), {})
        self.free = [g.name for g in circuit.param_groups if g.name not in fixed and g.size]

    def __call__(self, *args, **groups) -> torch.Tensor:
        if args:
            if len(args) != 1 or len(self.free) != 1 or groups:
                raise TypeError(f"pass the free parameter groups by name: {self.free}")
            groups = {self.free[0]: args[0]}
        for n, t in self.fixed.items():
            if t._version != self._versions[n]:
                raise RuntimeError(f"bound parameter group {n!r} was modified in place after bind(); bind again")
        out = self.backend._bound_call(self, groups)
        if out is not None:
            self.backend.record_usage(1, math.prod(out.shape[:-1]))
            return out
        params = check_params(
            self.circuit, {**self.fixed, **groups}, check_finite=self.backend.check_finite, trusted=self._cache.fixed
        )
        return self.backend._run(self.circuit, params, cache=self._cache)

    def __repr__(self) -> str:
        return f"<BoundCircuit {self.circuit} on {self.backend.name!r}, bound: {list(self.fixed)}>"

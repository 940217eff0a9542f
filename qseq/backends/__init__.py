"""``qseq.backends`` — where circuits run.

Resolve a spec string with :func:`get`::

    get("torch")                      # the batched torch state-vector engine (default)
    get("torch:cuda")                 # the same engine on a CUDA device ("torch:cuda:1", ...)
    get("torch", dtype=torch.complex128)
    get("pennylane:default.qubit")    # PennyLane devices (extra: qseq[pennylane])
    get("pennylane:lightning.qubit")

Every backend implements :class:`Backend`: ``expval(circuit, params)`` and ``bind(circuit, **groups)``.
"""

from __future__ import annotations

from typing import Callable

from .base import Backend, BoundCircuit, Params, check_params

__all__ = ["Backend", "BoundCircuit", "Params", "check_params", "get", "register", "known_specs"]

# prefix -> (factory(rest_of_spec, **options) -> Backend, examples shown in errors)
_REGISTRY: dict[str, tuple[Callable[..., Backend], tuple[str, ...]]] = {}


def register(prefix: str, factory: Callable[..., Backend], examples: tuple[str, ...]) -> None:
    """Make ``get(f"{prefix}")`` and ``get(f"{prefix}:<rest>")`` build backends with ``factory``."""
    _REGISTRY[prefix] = (factory, examples)


def known_specs() -> list[str]:
    """Example spec strings of every registered backend family."""
    return [e for _, examples in _REGISTRY.values() for e in examples]


def get(spec: "str | Backend" = "torch", **options) -> Backend:
    """The backend a spec string names; a :class:`Backend` instance is returned unchanged.

    Raises:
        ValueError: unknown spec (the message lists the known ones), or a known family with a
            bad argument (unknown device name, CUDA not available, ...).
        ImportError: the optional stack for that family is not installed (names the extra).
    """
    if isinstance(spec, Backend):
        if options:
            raise ValueError("options apply to spec strings only, not to a Backend instance")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"backend spec must be a string or Backend, got {type(spec).__name__}")
    prefix, _, rest = spec.strip().partition(":")
    if prefix not in _REGISTRY:
        raise ValueError(f"unknown backend {spec!r}; known backends: {', '.join(known_specs())}")
    return _REGISTRY[prefix][0](rest, **options)


def _torch(rest: str, **options) -> Backend:
    from .torch_engine import TorchBackend

    return TorchBackend(device=rest or None, **options)


def _pennylane(rest: str, **options) -> Backend:
    from .pennylane import PennyLaneBackend

    return PennyLaneBackend(rest or "default.qubit", **options)


register("torch", _torch, ("torch", "torch:cpu", "torch:cuda"))
register(
    "pennylane",
    _pennylane,
    ("pennylane:default.qubit", "pennylane:lightning.qubit", "pennylane:lightning.gpu", "pennylane:lightning.kokkos"),
)

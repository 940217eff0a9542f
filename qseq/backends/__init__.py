"""``qseq.backends`` — where circuits run.

Resolve a spec string with :func:`get`::

    get("torch")                      # the batched torch state-vector engine (default)
    get("torch:cuda")                 # the same engine on a CUDA device ("torch:cuda:1", ...)
    get("torch", dtype=torch.complex128)
    get("pennylane:default.qubit")    # PennyLane devices (extra: qseq[pennylane])
    get("pennylane:lightning.qubit")
    get("aer")                        # Qiskit Aer, exact (extra: qseq[qiskit])
    get("aer:noise=fake_manila", shots=4096)
    get("ibm:fake_manila")            # an IBM device offline (local testing mode)
    get("ibm:ibm_fez", shots=4096)    # an IBM QPU (needs credentials; see docs/hardware.md)

Options go as keywords or after the name, comma-separated: ``"aer:density_matrix,shots=1024"``
equals ``get("aer:density_matrix", shots=1024)``.

Every backend implements :class:`Backend`: ``expval(circuit, params)`` and ``bind(circuit, **groups)``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .base import Backend, BoundCircuit, Params, check_params

__all__ = [
    "Backend",
    "BoundCircuit",
    "Params",
    "check_params",
    "get",
    "register",
    "known_specs",
    "accepts",
    "family",
]


class Keywords(NamedTuple):
    """The options a backend family takes: its own (listed in errors) and, optionally, those it
    passes on to the simulator or device underneath (``others``, described by ``others_note``)."""

    own: frozenset[str]
    others: frozenset[str] = frozenset()
    others_note: str = ""


class _Family(NamedTuple):
    factory: Callable[..., Backend]
    examples: tuple[str, ...]
    options: frozenset[str]
    keywords: Callable[[str], Keywords | None] | None


_REGISTRY: dict[str, _Family] = {}


def register(
    prefix: str,
    factory: Callable[..., Backend],
    examples: tuple[str, ...],
    options: Iterable[str] = (),
    keywords: Callable[[str], Keywords | None] | None = None,
) -> None:
    """Make ``get(f"{prefix}")`` and ``get(f"{prefix}:<rest>")`` build backends with ``factory``.

    Args:
        prefix: the family name before the colon.
        factory: ``factory(rest_of_spec, **options) -> Backend``.
        examples: spec strings shown in errors and listings.
        options: the shared options the family takes, from ``{"shots", "journal"}``, so workflows
            know what they may pass (see :func:`accepts`).
        keywords: ``keywords(rest_of_spec)``, the option names the factory takes for that spec
            (``None``: cannot tell, e.g. an optional package is missing); :func:`get` refuses any
            other name before building anything. Without it, options are not checked.
    """
    _REGISTRY[prefix] = _Family(factory, examples, frozenset(options), keywords)


def known_specs() -> list[str]:
    """Example spec strings of every registered backend family."""
    return [e for family in _REGISTRY.values() for e in family.examples]


def accepts(spec: str, option: str) -> bool:
    """Whether the family of ``spec`` takes ``option`` (``"shots"``: sampled estimates; ``"journal"``:
    a job journal, see :class:`~qseq.backends.journal.JobJournal`)."""
    return option in _family(spec).options


def family(spec: str) -> str:
    """The registered family a spec string names (``"torch:cuda,diff=adjoint"`` -> ``"torch"``)."""
    prefix = spec.strip().partition(":")[0]
    if prefix not in _REGISTRY:
        raise ValueError(f"unknown backend {spec!r}; known backends: {', '.join(known_specs())}")
    return prefix


def _family(spec: str) -> _Family:
    return _REGISTRY[family(spec)]


def get(spec: str | Backend = "torch", **options) -> Backend:
    """The backend a spec string names; a :class:`Backend` instance is returned unchanged.

    Raises:
        ValueError: unknown spec (the message lists the known ones), an option the family does not
            take (the message names it and lists the valid ones), or a known family with a bad
            argument (unknown device name, CUDA not available, ...).
        ImportError: the optional stack for that family is not installed (names the extra).
    """
    if isinstance(spec, Backend):
        if options:
            raise ValueError("options apply to spec strings only, not to a Backend instance")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"backend spec must be a string or Backend, got {type(spec).__name__}")
    family = _family(spec)
    rest, spec_options = _split_options(spec, spec.strip().partition(":")[2])
    both = set(spec_options) & set(options)
    if both:
        raise ValueError(f"option(s) {sorted(both)} given both in the spec {spec!r} and as keywords")
    _check_keywords(spec, family, rest, {**spec_options, **options})
    return family.factory(rest, **spec_options, **options)


def _check_keywords(spec: str, family: _Family, rest: str, options: dict[str, Any]) -> None:
    """Refuse options that ``family`` does not take for ``rest``, naming them and the valid ones."""
    if not options or family.keywords is None:
        return
    known = family.keywords(rest)
    if known is None:
        return
    unknown = sorted(set(options) - known.own - known.others)
    if not unknown:
        return
    hints = [
        f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
        for name in unknown
        for close in [difflib.get_close_matches(name, known.own | known.others, n=1)]
    ]
    others = f"; or {known.others_note}" if known.others else ""
    raise ValueError(
        f"backend {spec!r}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
        f"{spec.strip().partition(':')[0]} takes {', '.join(sorted(known.own))}{others}"
    )


def _init_keywords(cls: type, *positional: str) -> frozenset[str]:
    """Names ``cls(...)`` takes as keywords, less ``positional`` (given by the spec itself)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in inspect.signature(cls).parameters.values() if p.kind in kinds) - set(positional)


def _split_options(spec: str, rest: str) -> tuple[str, dict]:
    """``"density_matrix,shots=1024"`` -> ``("density_matrix", {"shots": 1024})``; values that
    read as ints, floats, booleans or ``none`` are converted."""
    name, options = "", {}
    for i, token in enumerate(t.strip() for t in rest.split(",") if t.strip()):
        key, eq, value = token.partition("=")
        if not eq:
            if i:
                raise ValueError(f"backend spec {spec!r}: expected key=value after the name, got {token!r}")
            name = token
            continue
        options[key.strip()] = _parse_value(value.strip())
    return name, options


def _parse_value(text: str):
    lowered = text.lower()
    if lowered in ("none", "true", "false"):
        return {"none": None, "true": True, "false": False}[lowered]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _torch_keywords(rest: str) -> Keywords:
    from .torch_engine import TorchBackend

    return Keywords(_init_keywords(TorchBackend, "device"))


def _pennylane_keywords(rest: str) -> Keywords | None:
    from .pennylane import PennyLaneBackend, device_keywords

    device = device_keywords(rest or "default.qubit")
    if device is None:  # not installed, or its device takes any keyword
        return None
    return Keywords(_init_keywords(PennyLaneBackend, "device") | device)


def _aer_keywords(rest: str) -> Keywords | None:
    from .aer import AerBackend, simulator_options

    others = simulator_options()
    if others is None:
        return None
    return Keywords(_init_keywords(AerBackend, "method"), others, "an AerSimulator option (AerSimulator().options)")


def _ibm_keywords(rest: str) -> Keywords:
    from .ibm import IBMBackend

    return Keywords(_init_keywords(IBMBackend, "name"))


def _torch(rest: str, **options) -> Backend:
    from .torch_engine import TorchBackend

    return TorchBackend(device=rest or None, **options)


def _pennylane(rest: str, **options) -> Backend:
    from .pennylane import PennyLaneBackend

    return PennyLaneBackend(rest or "default.qubit", **options)


def _aer(rest: str, **options) -> Backend:
    from .aer import AerBackend

    return AerBackend(rest or None, **options)


def _ibm(rest: str, **options) -> Backend:
    from .ibm import IBMBackend

    return IBMBackend(rest, **options)


register("torch", _torch, ("torch", "torch:cpu", "torch:cuda"), keywords=_torch_keywords)
register(
    "pennylane",
    _pennylane,
    ("pennylane:default.qubit", "pennylane:lightning.qubit", "pennylane:lightning.gpu", "pennylane:lightning.kokkos"),
    options={"shots"},
    keywords=_pennylane_keywords,
)
register(
    "aer",
    _aer,
    ("aer", "aer:density_matrix", "aer:matrix_product_state", "aer:noise=fake_manila"),
    options={"shots", "journal"},
    keywords=_aer_keywords,
)
register("ibm", _ibm, ("ibm:fake_manila", "ibm:<device name>"), options={"shots", "journal"}, keywords=_ibm_keywords)

"""The protocol of every model with circuits: which backends it uses, moving it, freezing it.

Workflows (the CLI, ``compare``, ``estimate``) and :class:`qseq.reservoir.ReservoirRegressor` ask
this protocol — ``isinstance(model, QuantumModel)`` and :func:`runs_circuits` — never a class name,
a model-name prefix or ``hasattr``.
"""

from __future__ import annotations

import abc
from typing import TypeVar

from ..backends import Backend
from .init import Init, freeze_random

__all__ = ["QuantumModel", "backends_of", "runs_circuits", "freeze_reservoir"]

Self = TypeVar("Self", bound="QuantumModel")


class QuantumModel(abc.ABC):
    """A model whose circuits run on a swappable backend.

    Implemented by the quantum cells and layers (``QRNN``, ``QLSTM``, ``QGRU`` and cells), ``QFWP``,
    the wrappers ``SequenceRegressor`` / ``LastStep``, ``ReservoirRegressor`` and ``ReservoirModel``.
    A wrapper around a classical network implements it too and reports no backends.
    """

    @abc.abstractmethod
    def backends(self) -> tuple[Backend, ...]:
        """The distinct backends the model's circuits run on, in order; empty for a classical model."""

    @abc.abstractmethod
    def to_backend(self: Self, spec: str | Backend) -> Self:
        """Run every circuit on ``spec`` from now on (weights unchanged); returns ``self``.
        Raises ``TypeError`` for a model that runs no circuits."""

    @abc.abstractmethod
    def freeze_reservoir(self: Self, init: Init = "paper", seed: int = 0) -> Self:
        """Reservoir-computing mode: draw the recurrent part from ``seed`` (circuit angles by
        ``init``) and freeze it; only the readout keeps training. Returns ``self``."""


def backends_of(model) -> tuple[Backend, ...]:
    """The backends of ``model``'s circuits: ``model.backends()`` for a :class:`QuantumModel`, none
    for any other module (a torch RNN, a classical reservoir)."""
    return model.backends() if isinstance(model, QuantumModel) else ()


def runs_circuits(model) -> bool:
    """Whether ``model`` evaluates circuits: a :class:`QuantumModel` with at least one backend."""
    return bool(backends_of(model))


def freeze_reservoir(model, init: Init = "paper", seed: int = 0):
    """Freeze any recurrent model as a reservoir: a :class:`QuantumModel` by its own
    ``freeze_reservoir``, any other module (a torch RNN/LSTM/GRU) by :func:`~qseq.models.init.freeze_random`.
    Returns ``model``."""
    if isinstance(model, QuantumModel):
        return model.freeze_reservoir(init, seed)
    return freeze_random(model, init, seed)


def unique_backends(backends) -> tuple[Backend, ...]:
    """``backends`` without repeats (by identity), in first-seen order."""
    seen: dict[int, Backend] = {}
    for backend in backends:
        seen.setdefault(id(backend), backend)
    return tuple(seen.values())

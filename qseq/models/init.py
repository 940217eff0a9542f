"""Initialisers and the one freeze function of every model.

Every random draw takes an optional ``torch.Generator``, so a seeded reservoir is the same network
in every process. :func:`freeze_random` is how any model — a quantum layer, a torch RNN, a QFWP's
programmer — becomes a reservoir: every parameter is drawn anew from one seeded generator, in the
module's registration order, and frozen.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "INITS",
    "Init",
    "Initialisable",
    "init_vqc_weights",
    "init_linear",
    "init_recurrent",
    "reinitialise",
    "freeze_random",
]

#: Named initialisations of circuit angles (see :func:`init_vqc_weights`); ``"scaled:<s>"`` names the
#: scaled family for any ``s > 0`` (e.g. ``"scaled:0.3"``).
INITS = ("paper", "uniform", "scaled:<s>")

#: A name from :data:`INITS` or a callable ``init(weight, generator)`` that fills ``weight`` in place.
Init = str | Callable[[torch.Tensor, torch.Generator | None], None]


def _scale_of(init: str) -> float | None:
    """``s`` of ``"scaled:<s>"`` (``None`` for other names); a clear error for a bad ``s``."""
    if not init.startswith("scaled:"):
        return None
    text = init.partition(":")[2]
    try:
        scale = float(text)
    except ValueError:
        raise ValueError(f"init {init!r}: the scale after 'scaled:' must be a number, e.g. 'scaled:0.3'") from None
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"init {init!r}: the scale must be a positive finite number")
    return scale


def check_init(init) -> None:
    """Raise a ``ValueError`` unless ``init`` is a name of :data:`INITS` or a callable."""
    if callable(init) or (isinstance(init, str) and (init in ("paper", "uniform") or _scale_of(init))):
        return
    raise ValueError(f"init must be one of {INITS} or a callable init(weight, generator), got {init!r}")


def init_vqc_weights(weight: torch.Tensor, init: Init = "paper", generator: torch.Generator | None = None) -> None:
    """Fill circuit angles in place: ``"paper"`` 0.01·N(0, 1) (the reference code), ``"uniform"``
    U[0, 2π) (a wide random reservoir), ``"scaled:<s>"`` U[−sπ, sπ) — the reservoir's angle scale,
    which plays the part of an ESN's spectral radius: near 0 every gate is close to the identity and
    the cell forgets nothing and mixes little; at ``s = 1`` the angles cover the circle, as
    ``"uniform"`` does — or any callable ``init(weight, generator)``."""
    check_init(init)
    with torch.no_grad():
        if callable(init):
            init(weight, generator)
        elif init == "paper":
            weight.copy_(0.01 * torch.randn(weight.shape, generator=generator, dtype=weight.dtype))
        elif init == "uniform":
            weight.copy_(2 * math.pi * torch.rand(weight.shape, generator=generator, dtype=weight.dtype))
        else:
            scale = _scale_of(init)
            assert scale is not None  # check_init accepted it
            u = torch.rand(weight.shape, generator=generator, dtype=weight.dtype)
            weight.copy_(scale * math.pi * (2 * u - 1))


def init_linear(linear: nn.Linear, generator: torch.Generator | None = None) -> None:
    """torch's default ``Linear`` initialisation, U(±1/√fan_in) for weight and bias, drawn from ``generator``."""
    bound = 1 / math.sqrt(linear.in_features)
    with torch.no_grad():
        for p in linear.parameters():
            p.copy_(torch.empty_like(p).uniform_(-bound, bound, generator=generator))


def init_recurrent(
    rnn: nn.RNNBase | nn.RNNCellBase, generator: torch.Generator | None = None, scale: float | None = None
) -> None:
    """A torch RNN/LSTM/GRU layer or cell: every weight and bias U(−s, s), ``s = scale`` or torch's
    default ``1/√hidden_size``, drawn from ``generator`` in parameter order."""
    s = 1 / math.sqrt(rnn.hidden_size) if scale is None else scale
    with torch.no_grad():
        for p in rnn.parameters():
            p.copy_(torch.empty_like(p).uniform_(-s, s, generator=generator))


class Initialisable(abc.ABC):
    """A module that draws its own parameters: qseq's quantum cells, layers and VQC banks."""

    @abc.abstractmethod
    def reset_parameters(self, init: Init = "paper", generator: torch.Generator | None = None) -> None:
        """Draw every parameter anew: circuit angles by ``init``, classical layers as torch does."""


def reinitialise(
    module: nn.Module, init: Init = "paper", generator: torch.Generator | None = None, *, scale: float | None = None
) -> None:
    """Draw every parameter of ``module`` anew from ``generator``, submodule by submodule in
    registration order.

    An :class:`Initialisable` draws itself (circuit angles by ``init``), ``nn.Linear`` gets
    :func:`init_linear`, torch recurrent layers and cells :func:`init_recurrent` (with ``scale``);
    other containers recurse. A module holding parameters of any other kind is a ``TypeError``.
    """
    if isinstance(module, Initialisable):
        module.reset_parameters(init, generator)
    elif isinstance(module, nn.Linear):
        init_linear(module, generator)
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        init_recurrent(module, generator, scale)
    else:
        own = [name for name, _ in module.named_parameters(recurse=False)]
        if own:
            raise TypeError(
                f"cannot draw the parameters {own} of {type(module).__name__}: qseq re-draws "
                "Linear, torch RNN/LSTM/GRU and qseq's quantum modules only"
            )
        for child in module.children():
            reinitialise(child, init, generator, scale=scale)


def freeze_random(module: nn.Module, init: Init = "paper", seed: int = 0, *, scale: float | None = None) -> nn.Module:
    """Draw every parameter of ``module`` from a generator seeded with ``seed`` and freeze it
    (:func:`reinitialise`, then ``requires_grad_(False)``). Returns ``module``.

    Args:
        module: any module of Linear layers, torch recurrent layers/cells and qseq quantum modules.
        init: circuit-angle initialisation (:data:`INITS` or a callable); classical parts use
            torch's default distributions.
        seed: the seed; the same seed gives the same weights in every process.
        scale: U(±scale) for torch recurrent layers instead of ``1/√hidden_size``.
    """
    check_init(init)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    reinitialise(module, init, torch.Generator().manual_seed(seed), scale=scale)
    return module.requires_grad_(False)

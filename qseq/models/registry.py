"""Ready-made sequence models: a recurrent layer plus a linear head, the papers' configurations, and
classical baselines of similar size.

``SequenceRegressor`` maps windows ``X`` ``(N, L, features)`` to predictions ``(N, out_features)``
from the last time step, which is how the papers train (MSE on the last-step output vs the next
value). :func:`build_model` gives every model the CLI and the benchmarks compare.
"""

from __future__ import annotations

import torch
from torch import nn

from ..backends import Backend
from .cells import QGRU, QLSTM, QRNN
from .fwp import QFWP
from .init import Init
from .protocol import QuantumModel, backends_of, freeze_reservoir

__all__ = ["SequenceRegressor", "LastStep", "build_model", "MODELS", "count_parameters"]


class _RecurrentWrapper(QuantumModel, nn.Module):
    """A recurrent part (``self.rnn``) plus a readout: the protocol of :class:`QuantumModel` on the
    recurrent part, which may be quantum or classical (then it reports no backends)."""

    rnn: nn.Module

    def backends(self) -> tuple[Backend, ...]:
        return backends_of(self.rnn)

    def to_backend(self, spec: str | Backend):
        """Move the circuits to another backend (quantum layers only); returns ``self``."""
        if not isinstance(self.rnn, QuantumModel):
            raise TypeError(f"{type(self.rnn).__name__} is classical: it has no circuits to move")
        self.rnn.to_backend(spec)
        return self

    def freeze_reservoir(self, init: Init = "paper", seed: int = 0):
        """Reservoir-computing mode: freeze the recurrent part with seeded random weights (circuit
        angles by ``init``); only the readout stays trainable. Returns ``self``."""
        freeze_reservoir(self.rnn, init, seed)
        return self


class SequenceRegressor(_RecurrentWrapper):
    """``head(rnn(X)[:, -1])``: a batch-first recurrent layer and ``Linear(output_size → out_features)``.

    Args:
        rnn: any layer with the ``torch.nn.RNN`` call signature built with ``batch_first=True``
            (qseq's QRNN/QLSTM/QGRU or torch's RNN/LSTM/GRU).
        out_features: features predicted per window.

    Shapes: ``X`` ``(N, L, input_size)`` -> ``(N, out_features)``.
    """

    def __init__(self, rnn: nn.Module, out_features: int = 1):
        super().__init__()
        if not getattr(rnn, "batch_first", False):
            raise ValueError("SequenceRegressor needs a recurrent layer built with batch_first=True")
        self.rnn = rnn
        width = getattr(rnn, "output_size", None) or rnn.hidden_size
        self.head = nn.Linear(width, out_features, dtype=next(rnn.parameters()).dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class LastStep(_RecurrentWrapper):
    """``model(X)[0][:, -1]``: the last time step of a batch-first sequence model that returns
    ``(outputs, state)`` and has its own output layer (:class:`qseq.models.fwp.QFWP`)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not getattr(model, "batch_first", False):
            raise ValueError("LastStep needs a model built with batch_first=True")
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0][:, -1]

    @property
    def rnn(self) -> nn.Module:
        """The wrapped model (the recurrent part, as for :class:`SequenceRegressor`)."""
        return self.model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _quantum(layer: type):
    def build(input_size: int = 1, hidden_size: int = 3, out_features: int = 1, **kwargs) -> SequenceRegressor:
        kwargs.setdefault("n_layers", 2)
        return SequenceRegressor(
            layer(input_size, hidden_size, batch_first=True, readout_vqc=True, **kwargs), out_features
        )

    return build


def _classical(layer: type, default_hidden: int):
    def build(
        input_size: int = 1,
        hidden_size: int = default_hidden,
        out_features: int = 1,
        dtype=None,
        reservoir: bool = False,
        seed: int = 0,
    ) -> SequenceRegressor:
        model = SequenceRegressor(layer(input_size, hidden_size, batch_first=True, dtype=dtype), out_features)
        return model.freeze_reservoir(seed=seed) if reservoir else model

    return build


#: name -> builder(input_size, hidden_size, out_features, **options); ``reservoir=True, seed=s``
#: freezes the recurrent part with seeded random weights (only the head trains). The quantum defaults are the
#: papers' configuration (input 1, hidden 3, 4 qubits, 2 VQC layers, readout VQC + Linear(4→1));
#: the paper QLSTM has exactly 149 trainable parameters; ``qfwp`` is the paper QFWP (8 qubits, depth 2,
#: 4 measured, slow programmer Linear(1→8)), 111 parameters. Classical defaults are sized near it
#: (LSTM hidden 5: 166 parameters; GRU hidden 6: 169; RNN hidden 10: 141).
def _qfwp(
    input_size: int = 1, out_features: int = 1, dtype=None, reservoir: bool = False, seed: int = 0, **kwargs
) -> LastStep:
    return LastStep(
        QFWP(
            input_size,
            out_features=out_features,
            batch_first=True,
            dtype=dtype,
            reservoir=reservoir,
            seed=seed,
            **kwargs,
        )
    )


MODELS = {
    "qlstm": _quantum(QLSTM),
    "qgru": _quantum(QGRU),
    "qrnn": _quantum(QRNN),
    "qfwp": _qfwp,
    "lstm": _classical(nn.LSTM, 5),
    "gru": _classical(nn.GRU, 6),
    "rnn": _classical(nn.RNN, 10),
}


def build_model(name: str, **kwargs) -> SequenceRegressor:
    """A model from :data:`MODELS` by name (``"qlstm"``, ``"qgru"``, ``"qrnn"``, ``"lstm"``, ``"gru"``,
    ``"rnn"``); unknown names raise ``ValueError`` listing the known ones."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
    return builder(**kwargs)

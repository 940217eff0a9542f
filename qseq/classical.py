"""Classical baselines of the papers' comparisons: frozen random recurrent reservoirs and echo state
networks.

* :func:`ClassicalReservoir` — a torch RNN / LSTM / GRU with seeded random weights, frozen: the
  classical counterpart of a quantum reservoir (QRNN-RC paper, papers.md §2, T6).
* :class:`ESN` — an echo state network through reservoirpy (extra ``qseq[baselines]``).

Fully trained classical baselines are ``qseq.models.build_model("lstm" | "gru" | "rnn")``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ClassicalReservoir", "freeze_random", "KINDS"]

KINDS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def freeze_random(rnn: nn.RNNBase, seed: int = 0, scale: float | None = None) -> nn.RNNBase:
    """Re-draw every weight of a torch recurrent layer from ``seed`` and freeze it.

    Weights are U(−s, s) with ``s = scale`` or torch's default ``1/√hidden_size``. Returns ``rnn``.
    """
    s = 1 / math.sqrt(rnn.hidden_size) if scale is None else scale
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in rnn.parameters():
            p.copy_(torch.empty_like(p).uniform_(-s, s, generator=generator))
    return rnn.requires_grad_(False)


def ClassicalReservoir(kind: str = "lstm", hidden_size: int = 4, seed: int = 0, input_size: int = 1,
                       scale: float | None = None, dtype=None) -> nn.RNNBase:
    """A frozen, seeded random torch ``RNN``/``LSTM``/``GRU`` (batch-first) to use as a reservoir.

    Use it like a quantum reservoir: ``ReservoirRegressor(ClassicalReservoir("gru", 4, seed=1))``,
    or inside ``SequenceRegressor`` where only the head trains.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reservoir kind {kind!r}; choose from {', '.join(KINDS)}")
    return freeze_random(KINDS[kind](input_size, hidden_size, batch_first=True, dtype=dtype), seed, scale)

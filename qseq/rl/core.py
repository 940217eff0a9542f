"""The recurrent core of an agent: any qseq or torch sequence model stepped over a batch of
environments, with its state reset exactly where an episode starts.

A core carries one recurrent state for all environments of a vector env. ``None`` is the state
before any step (every model treats it as zeros: zero hidden states, the QFWP's zero fast weights);
after a step it is whatever the model returns — a tensor, a pair, an :class:`~qseq.models.FWPState`
— with the environment index on :attr:`RecurrentCore.batch_dim`. Before each step the state of every
environment whose observation is the first of an episode is set to zero, so a model never carries
memory across episodes, also inside a sequence replayed for training.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..backends import Backend, family
from ..models import QFWP, QGRU, QLSTM, QRNN, QuantumModel, backends_of, freeze_reservoir
from ..models.episodes import map_state, zero_where

__all__ = ["CORES", "RecurrentCore", "build_core"]

#: Recurrent cores an agent can be built on.
CORES = ("qlstm", "qgru", "qrnn", "qfwp", "lstm", "gru")

State = Any  # None, a tensor, or a (named) tuple of states


class RecurrentCore(nn.Module):
    """A sequence model stepped one time step at a time over ``N`` environments.

    Args:
        model: a layer with the ``torch.nn.RNN`` call convention (``out, state = model(x, state)`` with
            ``x`` ``(L, N, F)``): qseq's QLSTM/QGRU/QRNN and QFWP, torch's RNN/LSTM/GRU.
        encoder: an optional module applied to each observation first (``(N, obs_dim) -> (N, F)``).

    Call: ``out, state = core(x, state, starts)`` with ``x`` ``(T, N, obs_dim)``, ``starts`` ``(T, N)``
    (true where ``x[t, n]`` is the first observation of an episode) -> ``out`` ``(T, N, output_size)``.
    All ``N`` environments of a time step are one call of the model (one backend call per circuit bank);
    qseq's models take the whole sequence in one call (``episode_starts``), their circuits bound once.
    """

    def __init__(self, model: nn.Module, encoder: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.encoder = encoder
        self.batch_dim = 0 if isinstance(model, QFWP) else 1  # where the environments are in the state
        size = getattr(model, "output_size", None) or getattr(model, "hidden_size", None)
        if not isinstance(size, int):
            raise TypeError(f"{type(model).__name__} tells no output size (output_size or hidden_size)")
        self.output_size = size

    def backends(self) -> tuple[Backend, ...]:
        return backends_of(self.model)

    def reset(self, state: State, starts: torch.Tensor) -> State:
        """Zero the state of the environments where ``starts`` ``(N,)`` is true."""
        return zero_where(state, starts, self.batch_dim)

    def select(self, state: State, envs: torch.Tensor) -> State:
        """The state of the environments ``envs`` (an index tensor)."""
        return map_state(state, lambda t: t.index_select(self.batch_dim, envs))

    def forward(self, x: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        if self.encoder is not None:
            x = self.encoder(x)
        if isinstance(self.model, QuantumModel):  # qseq layers reset inside one call (circuits bound once)
            return self.model(x, state, episode_starts=starts)
        outputs = []
        for x_t, start_t in zip(x.unbind(0), starts.unbind(0), strict=True):
            out, state = self.model(x_t.unsqueeze(0), self.reset(state, start_t))
            outputs.append(out.squeeze(0))
        return torch.stack(outputs, 0), state


def build_core(
    kind: str,
    obs_dim: int,
    *,
    hidden_size: int = 4,
    n_qubits: int | None = None,
    n_layers: int = 2,
    backend: str | Backend = "torch",
    reservoir: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> RecurrentCore:
    """A recurrent core of one of :data:`CORES`.

    Args:
        kind: ``"qlstm"``, ``"qgru"``, ``"qrnn"`` (qseq quantum layers: every gate a VQC), ``"qfwp"``
            (quantum fast weight programmer: a linear slow programmer writes per-step deltas of the
            fast VQC's angles, reset to zero at every episode start), ``"lstm"``, ``"gru"`` (torch).
        obs_dim: features of one observation.
        hidden_size: hidden features (quantum cells and torch layers). The QFWP reads ``n_qubits``
            ⟨Z⟩ values instead.
        n_qubits: wires per VQC; default 4 for the cells, 8 for the QFWP (the paper's). Where
            ``obs_dim + hidden_size`` differs from it the cells adapt sizes with classical projections
            (pass ``n_qubits = obs_dim + hidden_size`` for the papers' projection-free cells: 8 qubits
            for CartPole, about 4× slower per step); observations wider than the QFWP's register go
            through a ``Linear(obs_dim → n_qubits)`` + tanh encoder.
        n_layers: variational layers per VQC (cells) or fast-programmer depth (QFWP).
        backend: where the circuits run.
        reservoir: freeze the core at seeded random weights (only the agent's heads train).
        seed: the reservoir's seed.
        dtype: parameter dtype.
    """
    if kind not in CORES:
        raise ValueError(f"unknown recurrent core {kind!r}; choose one of {', '.join(CORES)}")
    encoder = None
    if kind in ("lstm", "gru") and not (isinstance(backend, str) and family(backend) == "torch"):
        raise ValueError(f"a {kind} core is classical: it runs no circuits, so it takes no backend {backend!r}")
    if kind in ("lstm", "gru"):
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        model: nn.Module = cls(obs_dim, hidden_size, dtype=dtype)
    elif kind == "qfwp":
        n_qubits = 8 if n_qubits is None else n_qubits
        n_inputs = obs_dim
        if obs_dim > n_qubits:
            encoder = nn.Sequential(nn.Linear(obs_dim, n_qubits, dtype=dtype), nn.Tanh())
            n_inputs = n_qubits
        model = QFWP(
            n_inputs, n_qubits, depth=n_layers, n_measured=n_qubits, out_features=n_qubits, backend=backend, dtype=dtype
        )
    else:
        cls = {"qlstm": QLSTM, "qgru": QGRU, "qrnn": QRNN}[kind]
        n_qubits = 4 if n_qubits is None else n_qubits
        model = cls(obs_dim, hidden_size, n_qubits=n_qubits, n_layers=n_layers, backend=backend, dtype=dtype)
    if reservoir:
        freeze_reservoir(model, seed=seed)
        if encoder is not None:
            encoder.requires_grad_(False)
    return RecurrentCore(model, encoder)

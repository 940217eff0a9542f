r"""Quantum fast weight programmers (QFWP; Chen, arXiv 2402.17760, see docs/references.md; verified against the
reference code ``vqFWP_time_series.py``).

A classical *slow programmer* reads the input at every time step and emits a **change** of the
circuit parameters of a *fast programmer* VQC, instead of the parameters themselves:

.. math::

    e_t &= S(x_t) \in \mathbb R^{\text{latent}} \qquad a_t = A\,e_t \in \mathbb R^{\text{depth}},
    \quad b_t = B\,e_t \in \mathbb R^{n} \\
    \Delta_t &= a_t \otimes b_t \in \mathbb R^{\text{depth} \times n} \\
    \theta_t &= \theta_{t-1} + \Delta_t \quad (\text{additive, the paper}),\qquad \theta_0 = 0 \\
    y_t &= W\, \langle Z_{0..m-1} \rangle_{\mathrm{VQC}(x_t;\ \theta_t)} + c

The fast programmer is :func:`qseq.circuits.fwp_vqc`: H on every wire, RY(x_t) on the first
``input_size`` wires (raw values), ``depth`` × (brick CNOTs, RY(θ_t[k, q]) on every wire), ⟨Z⟩ on
the first ``n_measured`` wires. The fast weights differ per sample, so a whole batch is one backend
call per time step. Variants: ``update="decay"`` (``θ_t = λ θ_{t-1} + Δ_t``, fixed ``decay=λ``) and
``update="gated"`` (``θ_t = g_t θ_{t-1} + (1 - g_t) Δ_t``, ``g_t = σ(G e_t)`` learned; the 2026
follow-up's form). Neither is in the original paper.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
from torch import nn

from .._checks import all_finite, check_input_dtype
from ..backends import Backend, get
from ..circuits import fwp_vqc
from .episodes import check_episode_starts, map_state, zero_where
from .init import Init, freeze_random
from .protocol import QuantumModel

__all__ = ["QFWP", "FWPState", "UPDATES"]

UPDATES = ("additive", "decay", "gated")


class FWPState(NamedTuple):
    """What a QFWP carries between calls: the fast weights ``(N, depth, n_qubits)`` and, for a
    recurrent slow programmer (a ``torch.nn`` RNN/LSTM/GRU cell), its hidden state."""

    fast: torch.Tensor
    slow: torch.Tensor | tuple | None = None


class QFWP(QuantumModel, nn.Module):
    """Quantum fast weight programmer.

    Args:
        input_size: features per time step (encoded on the first ``input_size`` wires).
        n_qubits: wires of the fast programmer (paper: 8).
        depth: entangling layers of the fast programmer (paper: 2).
        n_measured: wires read out (paper: 4).
        out_features: outputs per time step (paper: 1).
        slow: the slow programmer, any module mapping ``(N, input_size)`` to ``(N, latent)``
            features; a ``torch.nn`` RNN/LSTM/GRU *cell* is run recurrently (its state is part of
            the :class:`FWPState`). Default: ``Linear(input_size → latent)`` (the paper's, no
            nonlinearity).
        latent: output width of the default slow programmer (paper: 8); with a custom ``slow`` it
            is read from a dry run.
        update: ``"additive"`` (paper), ``"decay"`` or ``"gated"``.
        decay: λ of ``update="decay"``, in ``[0, 1)``: the fast weights then stay bounded,
            ``|θ_t| <= max |Δ| / (1 - λ)``, and forget a change by a factor λ per step. λ = 1 is the
            unbounded ``"additive"`` update; λ > 1 grows them geometrically (λ^t), and λ < 0 flips
            their sign every step, so both are refused.
        batch_first: input layout ``(N, L, F)`` instead of ``(L, N, F)``.
        backend, dtype: where the fast programmer runs; parameter dtype.
        reservoir: freeze the slow programmer and its heads at seeded random values (``seed``):
            only the output layer ``Linear(n_measured → out_features)`` trains.

    Call: ``outputs, state = qfwp(x, state=None)`` with ``x`` ``(L, N, input_size)`` (or batch-first, or
    unbatched ``(L, input_size)``); ``outputs`` ``(L, N, out_features)``; pass ``state`` back to
    continue a stream or an RL episode. The paper configuration has 111 trainable parameters.
    """

    def __init__(
        self,
        input_size: int,
        n_qubits: int = 8,
        depth: int = 2,
        n_measured: int = 4,
        out_features: int = 1,
        slow: nn.Module | None = None,
        update: str = "additive",
        decay: float = 0.9,
        latent: int = 8,
        batch_first: bool = False,
        backend: str | Backend = "torch",
        dtype=None,
        reservoir: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        for name, value in (
            ("input_size", input_size),
            ("n_qubits", n_qubits),
            ("depth", depth),
            ("n_measured", n_measured),
            ("out_features", out_features),
            ("latent", latent),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 <= decay < 1:
            raise ValueError(
                f"decay must be a number in [0, 1), got {decay!r}: θ_t = decay·θ_(t-1) + Δ_t keeps the fast weights "
                "bounded only for decay < 1 (decay = 1 is update='additive')"
            )
        self.input_size, self.n_qubits, self.depth, self.n_measured = input_size, n_qubits, depth, n_measured
        self.update, self.decay, self.batch_first = update, decay, batch_first
        self.circuit = fwp_vqc(n_qubits, depth, n_measured, n_inputs=input_size)
        self.backend = get(backend)
        self.slow = nn.Linear(input_size, latent, dtype=dtype) if slow is None else slow
        if slow is not None and dtype is not None:
            self.slow.to(dtype)
        latent = self._latent_width(latent, dtype)
        self.layer_head = nn.Linear(latent, depth, dtype=dtype)
        self.qubit_head = nn.Linear(latent, n_qubits, dtype=dtype)
        self.gate = nn.Linear(latent, 1, dtype=dtype) if update == "gated" else None
        self.head = nn.Linear(n_measured, out_features, dtype=dtype)
        self.reservoir = False
        if reservoir:
            self.freeze_reservoir(seed=seed)

    def _latent_width(self, latent: int, dtype) -> int:
        if isinstance(self.slow, nn.Linear):
            return self.slow.out_features
        with torch.no_grad():
            probe = self._slow_step(torch.zeros(1, self.input_size, dtype=dtype or torch.get_default_dtype()), None)[0]
        return probe.shape[-1]

    @property
    def output_size(self) -> int:
        return self.head.out_features

    def backends(self) -> tuple[Backend, ...]:
        return (self.backend,)

    def to_backend(self, spec: str | Backend) -> QFWP:
        """Run the fast programmer on another backend (weights unchanged); returns ``self``."""
        self.backend = get(spec)
        return self

    def freeze_reservoir(self, init: Init = "paper", seed: int = 0) -> QFWP:
        """Reservoir mode: re-draw the slow programmer and the two heads (and the gate) from ``seed``
        with torch's default distributions and freeze them; only the output layer keeps training.
        Returns ``self``.

        The fast programmer has no circuit weights of its own (its angles are programmed), so the
        only ``init`` is ``"paper"``.
        """
        if init != "paper":
            raise ValueError(f"QFWP has no circuit weights to initialise: init must be 'paper', got {init!r}")
        parts = [m for m in (self.slow, self.layer_head, self.qubit_head, self.gate) if m is not None]
        freeze_random(nn.ModuleList(parts), init, seed)
        self.reservoir = True
        return self

    def initial_state(self, batch: int, like: torch.Tensor) -> FWPState:
        """Zero fast weights (the paper's ``θ_0 = 0``) and no slow-programmer state."""
        return FWPState(like.new_zeros(batch, self.depth, self.n_qubits), None)

    # -- one step --------------------------------------------------------------------------------
    def _slow_step(self, x: torch.Tensor, slow_state):
        if isinstance(self.slow, nn.LSTMCell):
            h, c = self.slow(x, slow_state)
            return h, (h, c)
        if isinstance(self.slow, nn.RNNCellBase):
            h = self.slow(x, slow_state)
            return h, h
        return self.slow(x), None

    def step(self, x: torch.Tensor, state: FWPState) -> tuple[torch.Tensor, FWPState]:
        """One time step: ``x`` ``(N, input_size)`` -> output ``(N, out_features)`` and the new state."""
        e, slow_state = self._slow_step(x, state.slow)
        delta = self.layer_head(e)[:, :, None] * self.qubit_head(e)[:, None, :]  # a_t ⊗ b_t
        if self.update == "additive":
            fast = state.fast + delta
        elif self.update == "decay":
            fast = self.decay * state.fast + delta
        else:
            g = torch.sigmoid(self.gate(e))[:, :, None]
            fast = g * state.fast + (1 - g) * delta
        z = self.backend.expval(self.circuit, {"inputs": x, "weights": fast.reshape(len(x), -1)})
        return self.head(z), FWPState(fast, slow_state)

    def forward(
        self, x: torch.Tensor, state: FWPState | None = None, episode_starts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, FWPState]:
        """Run a sequence; see the class docstring for shapes. ``episode_starts`` (bools ``(L, N)``,
        ``(N, L)`` batch-first, ``(L,)`` unbatched) resets a sequence's fast weights (and slow state)
        to zero before the steps where it is true: a new episode starts."""
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"QFWP: input must be (L, N, {self.input_size}), batch-first, or unbatched "
                f"(L, {self.input_size}); got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)}"
            )
        check_input_dtype("QFWP", x, self.head.weight.dtype)
        if not all_finite(x):
            raise ValueError("QFWP: input contains NaN or infinite values")
        unbatched = x.ndim == 2
        x = x.unsqueeze(1) if unbatched else (x.transpose(0, 1) if self.batch_first else x)
        batch = x.shape[1]
        starts = check_episode_starts("QFWP", episode_starts, x.shape[0], batch, self.batch_first, unbatched)
        state = self.initial_state(batch, x) if state is None else self._check_state(state, batch, unbatched)
        outputs = []
        for t, x_t in enumerate(x.unbind(0)):
            if starts is not None:
                state = zero_where(state, starts[t])
            y, state = self.step(x_t, state)
            outputs.append(y)
        out = torch.stack(outputs, 0)
        if unbatched:
            return out.squeeze(1), FWPState(state.fast.squeeze(0), map_state(state.slow, lambda t: t.squeeze(0)))
        return (out.transpose(0, 1) if self.batch_first else out), state

    def _check_state(self, state, batch: int, unbatched: bool) -> FWPState:
        if isinstance(state, torch.Tensor):  # the fast weights alone
            state = FWPState(state)
        elif not isinstance(state, FWPState):
            state = FWPState(*state)
        fast = state.fast.unsqueeze(0) if unbatched else state.fast
        slow = map_state(state.slow, lambda t: t.unsqueeze(0)) if unbatched else state.slow
        if tuple(fast.shape) != (batch, self.depth, self.n_qubits):
            shape = (self.depth, self.n_qubits) if unbatched else (batch, self.depth, self.n_qubits)
            raise ValueError(f"QFWP: the fast weights must have shape {shape}, got {tuple(state.fast.shape)}")
        return FWPState(fast, slow)

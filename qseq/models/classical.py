"""Classical baselines of the papers' comparisons: frozen random recurrent reservoirs and echo state
networks.

* :func:`ClassicalReservoir` — a torch RNN / LSTM / GRU with seeded random weights, frozen: the
  classical counterpart of a quantum reservoir (QRNN-RC paper, target T6; see docs/references.md).
* :class:`ESN` — an echo state network through reservoirpy (extra ``qseq[baselines]``).

Fully trained classical baselines are ``qseq.models.build_model("lstm" | "gru" | "rnn")``.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from .._checks import as_checked_array, check_targets, check_windows
from .._optional import require
from .init import freeze_random

__all__ = ["ClassicalReservoir", "ESN", "KINDS"]

KINDS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def ClassicalReservoir(
    kind: str = "lstm", hidden_size: int = 4, seed: int = 0, input_size: int = 1, scale: float | None = None, dtype=None
) -> nn.RNNBase:
    """A frozen, seeded random torch ``RNN``/``LSTM``/``GRU`` (batch-first) to use as a reservoir.

    Use it like a quantum reservoir: ``ReservoirRegressor(ClassicalReservoir("gru", 4, seed=1),
    features=...)`` in any feature mode (``"steps+state"`` adds an LSTM's final cell state; an RNN's or
    GRU's final state is its last step's output, already in ``"steps"``), or inside
    ``SequenceRegressor`` where only the head trains.

    Shapes: input ``(N, L, input_size)``; output ``(N, L, hidden_size)`` and the final state
    ``(1, N, hidden_size)`` (an LSTM's: ``(h_n, c_n)``), as torch's layers.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reservoir kind {kind!r}; choose from {', '.join(KINDS)}")
    layer = KINDS[kind](input_size, hidden_size, batch_first=True, dtype=dtype)
    freeze_random(layer, seed=seed, scale=scale)
    return layer


def _reservoirpy():
    """reservoirpy's ``Reservoir`` and ``Ridge`` nodes, imported lazily (the ``baselines`` extra)."""
    nodes = require("reservoirpy.nodes", "baselines")
    return nodes.Reservoir, nodes.Ridge


class ESN:
    r"""An echo state network (reservoirpy ``Reservoir`` + ``Ridge``) with the API of
    :class:`qseq.reservoir.ReservoirRegressor`.

    The reservoir is reservoirpy's leaky-integrator ``Reservoir`` (reservoirpy ≥ 0.4). Its state
    :math:`x \in \mathbb R^{\text{units}}` follows

    .. math:: x_{t+1} = (1 - \mathrm{lr})\, x_t + \mathrm{lr}\, \tanh\!\big(W_{in} u_{t+1} + W x_t + b\big),
              \qquad x_0 = 0,

    i.e. the input of the *same* step enters the new state, and ``b = 0`` (reservoirpy's default
    ``bias=0.0``). ``W`` is a sparse normal random matrix (density ``rc_connectivity``) rescaled
    to spectral radius ``sr``; ``W_in`` has ±``input_scaling`` Bernoulli entries (density
    ``input_connectivity``). Both are drawn from ``seed`` at every ``fit`` / ``fit_series``, so the
    same seed gives the same network. The readout is ``y_t = x_t W_out + c``, fitted by ridge
    regression with an unpenalised intercept (reservoirpy ``Ridge(ridge, fit_bias=True)``).

    Two settings:

    * **Windows** — :meth:`fit` / :meth:`predict` / :meth:`score` / :meth:`mse` on ``X``
      ``(N, L, F)``, ``y`` ``(N, G)``: every window runs from the zero state and its last state
      ``x_L`` is the feature vector. This is the setting of the quantum reservoirs
      (:class:`~qseq.reservoir.ReservoirRegressor`), so the numbers are directly comparable.
    * **Streaming** — :meth:`fit_series` / :meth:`predict_series` on one long series ``u`` ``(T, F)``
      with targets ``y`` ``(T, G)`` aligned step by step (``y_t`` is predicted from ``x_t``, which has
      seen ``u_0 … u_t``): the standard ESN benchmark setting (e.g. NARMA-10). The first ``warmup``
      states are left out of the readout fit; :meth:`predict_series` continues from the state where
      the previous call ended (a test segment directly following the training one needs no new
      warmup) unless ``reset=True``.

    Args:
        units: reservoir size.
        sr: spectral radius of ``W``.
        lr: leak rate in ``(0, 1]`` (1 = no leak).
        ridge: ridge penalty ``≥ 0`` of the readout.
        input_scaling: scale of ``W_in``.
        seed: seed of ``W`` and ``W_in``.
        warmup: leading training windows (:meth:`fit`) or time steps (:meth:`fit_series`, unless
            its own ``warmup`` is given) left out of the readout fit.
        input_connectivity: density of ``W_in``, the fraction of nonzero entries (reservoirpy's default).
        rc_connectivity: density of ``W`` (reservoirpy's default).

    Attributes (after fitting): ``coef_`` ``(units, G)``, ``intercept_`` ``(G,)``, ``reservoir_``
    and ``readout_`` (the reservoirpy nodes), ``n_features_in_``.

    Raises:
        ImportError: reservoirpy is not installed (``pip install 'qseq[baselines]'``).

    Example::

        from qseq.data import narma_random
        u, y = narma_random(order=10, n_points=2000, seed=0)
        esn = ESN(units=200, lr=1.0, input_scaling=0.5).fit_series(u[:1499], y[1:1500], warmup=200)
        pred = esn.predict_series(u[1499:-1])          # continues from the training state
    """

    def __init__(
        self,
        units: int = 100,
        sr: float = 0.9,
        lr: float = 0.3,
        ridge: float = 1e-6,
        input_scaling: float = 1.0,
        seed: int = 0,
        warmup: int = 0,
        *,
        input_connectivity: float = 0.1,
        rc_connectivity: float = 0.1,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        for name, value in (("sr", sr), ("input_scaling", input_scaling)):
            if not _is_real(value) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not _is_real(lr) or not 0 < lr <= 1:
            raise ValueError(f"lr (leak rate) must be in (0, 1], got {lr!r}")
        if not _is_real(ridge) or not ridge >= 0:
            raise ValueError(f"ridge must be a non-negative number, got {ridge!r}")
        for name, value in (("input_connectivity", input_connectivity), ("rc_connectivity", rc_connectivity)):
            if not _is_real(value) or not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        _check_warmup(warmup)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.units, self.sr, self.lr, self.ridge, self.input_scaling = units, sr, lr, ridge, input_scaling
        self.seed, self.warmup = seed, warmup
        self.input_connectivity, self.rc_connectivity = input_connectivity, rc_connectivity

    def __repr__(self) -> str:
        return (
            f"ESN(units={self.units}, sr={self.sr}, lr={self.lr}, ridge={self.ridge}, "
            f"input_scaling={self.input_scaling}, seed={self.seed}, warmup={self.warmup})"
        )

    # -- internals ---------------------------------------------------------------------------------
    def _new_reservoir(self, n_features: int):
        Reservoir, _ = _reservoirpy()
        self.n_features_in_ = n_features
        self.reservoir_ = Reservoir(
            self.units,
            lr=self.lr,
            sr=self.sr,
            input_scaling=self.input_scaling,
            input_connectivity=self.input_connectivity,
            rc_connectivity=self.rc_connectivity,
            input_dim=n_features,
            seed=self.seed,
        )
        return self.reservoir_

    def _fit_readout(self, states, y) -> None:
        _, Ridge = _reservoirpy()
        self.readout_ = Ridge(ridge=float(self.ridge), fit_bias=True).fit(states, y)
        self.coef_ = np.asarray(self.readout_.Wout, dtype=np.float64)
        self.intercept_ = np.asarray(self.readout_.bias, dtype=np.float64).reshape(-1)

    @property
    def n_trainable_(self) -> int:
        """Trained parameters: the readout's weights and intercepts."""
        self._check_fitted("windows")
        return self.coef_.size + self.intercept_.size

    def _check_fitted(self, mode: str) -> None:
        if not hasattr(self, "coef_"):
            fit = "fit(X, y)" if mode == "windows" else "fit_series(u, y)"
            raise RuntimeError(f"ESN is not fitted yet: call {fit} first")

    def _check_features(self, n_features: int) -> None:
        if n_features != self.n_features_in_:
            raise ValueError(f"ESN was fitted on {self.n_features_in_} input features, got {n_features}")

    def _window_states(self, X: np.ndarray) -> np.ndarray:
        """Last reservoir state of every window, each run from the zero state: ``(N, units)``."""
        reservoir = self.reservoir_
        if reservoir.initialized:
            reservoir.reset()
        states = reservoir.run(X)  # (N, L, units); every series starts from the same (zero) state
        reservoir.reset()
        return np.asarray(states)[:, -1, :]

    # -- windows (sklearn-like, as ReservoirRegressor) -----------------------------------------
    def features(self, X) -> np.ndarray:
        """Reservoir features ``(N, units)`` of windows ``X`` ``(N, L, F)`` (needs a fitted network)."""
        self._check_fitted("windows")
        X = check_windows(X)
        self._check_features(X.shape[2])
        return self._window_states(X)

    def fit(self, X, y) -> ESN:
        """Fit on windows ``X`` ``(N, L, F)`` and targets ``y`` ``(N, G)`` (or ``(N,)``); the first
        ``warmup`` windows are left out. Returns ``self``."""
        X = check_windows(X)
        y = check_targets(y, len(X))
        if self.warmup >= len(X):
            raise ValueError(f"warmup={self.warmup} leaves no training windows (N={len(X)})")
        self._new_reservoir(X.shape[2])
        states = self._window_states(X)
        self._fit_readout(states[self.warmup :], y[self.warmup :])
        self.mode_ = "windows"
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions ``(N, G)`` for windows ``X`` ``(N, L, F)``."""
        return self.features(X) @ self.coef_ + self.intercept_

    def score(self, X, y) -> float:
        """Coefficient of determination R² on windows (sklearn's convention)."""
        y = check_targets(y, len(check_windows(X)))
        residual = np.sum((y - self.predict(X)) ** 2)
        return float(1 - residual / np.sum((y - y.mean(axis=0)) ** 2))

    def mse(self, X, y) -> float:
        """Mean squared error on windows."""
        return float(np.mean((self.predict(X) - check_targets(y, len(check_windows(X)))) ** 2))

    # -- streaming (the standard ESN benchmark setting) ---------------------------------------------
    def fit_series(self, u, y, warmup: int | None = None) -> ESN:
        """Run a fresh reservoir over the series ``u`` ``(T, F)`` (or ``(T,)``) from the zero state and
        fit the readout on ``states[warmup:]`` → ``y[warmup:]`` (``y`` ``(T, G)`` or ``(T,)``, aligned
        with ``u``: ``y[t]`` is predicted from the state after ``u[t]``). ``warmup`` defaults to the
        constructor's. The final state is kept for :meth:`predict_series`. Returns ``self``."""
        warmup = self.warmup if warmup is None else warmup
        _check_warmup(warmup)
        u = _check_series(u)
        if len(np.atleast_1d(y)) != len(u):
            raise ValueError(f"u has {len(u)} time steps but y has {len(np.atleast_1d(y))}")
        y = check_targets(y, len(u))
        if warmup >= len(u):
            raise ValueError(f"warmup={warmup} leaves no training steps (T={len(u)})")
        states = np.asarray(self._new_reservoir(u.shape[1]).run(u))
        self._fit_readout(states[warmup:], y[warmup:])
        self.mode_ = "series"
        return self

    def predict_series(self, u, reset: bool = False) -> np.ndarray:
        """Predictions ``(T, G)`` for the series ``u`` ``(T, F)`` (or ``(T,)``). The reservoir continues
        from the state the previous :meth:`fit_series` / :meth:`predict_series` call ended in (the
        natural continuation of the training series), or from zeros with ``reset=True`` (then
        discard a warmup of the predictions yourself)."""
        self._check_fitted("series")
        u = _check_series(u)
        self._check_features(u.shape[1])
        if reset:
            self.reservoir_.reset()
        return np.asarray(self.reservoir_.run(u)) @ self.coef_ + self.intercept_


def _is_real(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _check_warmup(warmup) -> None:
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")


def _check_series(u) -> np.ndarray:
    """A series ``(T,)`` or ``(T, F)`` as float64 ``(T, F)``: non-empty and finite."""
    return as_checked_array(u, "u", 2, "a series shaped (T, features) or (T,)", column=True)

"""Reservoir computing: train only a linear readout on a frozen (quantum or classical) recurrent layer.

With its circuit weights frozen at random values, a quantum recurrent network is a fixed dynamical
system; the QRNN-RC paper (see docs/references.md) trains only the final linear layer. Because nothing before
the readout changes, the reservoir runs **once** over the data — the features are cached — and the
readout is fitted in closed form (ridge) or by the paper's gradient recipe without a single further
circuit evaluation. On hardware that is the whole point: one pass of jobs instead of thousands.

::

    from qseq import QLSTM
    from qseq.reservoir import ReservoirRegressor

    reservoir = QLSTM(1, 3, batch_first=True, readout_vqc=True, reservoir=True, seed=0)
    model = ReservoirRegressor(reservoir, readout="ridge", alpha="cv").fit(X_train, y_train)
    model.predict(X_test); model.score(X_test, y_test)

:class:`ReservoirModel` is the same reservoir and readout as one torch module (what ``qseq train
--reservoir`` saves): it predicts, moves to another backend and saves like any model of
:mod:`qseq.models`.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._checks import check_targets, check_windows
from ._distributed import gather_objects, is_main_process, join
from ._io import read_cached_array, write_cached_array
from ._threads import small_work_threads
from .backends import Backend
from .models import QuantumModel, backends_of, freeze_reservoir
from .models.init import Init, init_linear
from .models.registry import _RecurrentWrapper

__all__ = ["ReservoirRegressor", "ReservoirModel", "ridge_fit", "reservoir_features", "default_features", "FEATURES"]

DEFAULT_ALPHAS = tuple(10.0**k for k in range(-10, 3))
#: What a readout reads from the reservoir (see :func:`reservoir_features`).
FEATURES = ("last", "steps", "steps+state", "observables")


def default_features(reservoir: nn.Module) -> str:
    """The feature mode ``qseq train --reservoir`` and ``qseq compare`` read from ``reservoir`` unless
    told otherwise: ``"observables"`` where it has circuits to measure more of (QRNN, QLSTM and QGRU
    layers), else ``"steps+state"`` — the best modes on the five tasks of ``benchmarks/RESULTS.md``
    ("Reservoir feature modes")."""
    return "observables" if callable(getattr(reservoir, "observe", None)) else "steps+state"


# -- features --------------------------------------------------------------------------------------
@small_work_threads()
def reservoir_features(
    reservoir: nn.Module,
    X: np.ndarray,
    batch_size: int = 1024,
    distributed: bool | None = None,
    features: str = "last",
) -> np.ndarray:
    """Run ``reservoir`` over windows ``X`` ``(N, L, F)`` without gradients, in chunks of
    ``batch_size``, and return features read from it (:data:`FEATURES`):

    * ``"last"`` — the output at the window's last step, ``(N, D)``;
    * ``"steps"`` — the output at every step, ``(N, L·D)`` (step-major);
    * ``"steps+state"`` — those plus the final internal state that the output does not show: an LSTM's
      (qseq or torch) last-layer cell state ``c``, a QFWP's fast weights; for layers whose final
      hidden state is their last step's output (RNN, GRU: already in ``"steps"``) the same as ``"steps"``;
    * ``"observables"`` — ``"steps+state"`` plus, at every step, every ``⟨Z_i Z_j⟩`` of every VQC of the
      last layer, measured in the same backend calls (quantum cell layers: QRNN, QLSTM, QGRU; see
      :meth:`qseq.models.QLSTM.observe`), ``(N, L·(D + n_vqc·n(n-1)/2) + state)``.

    ``reservoir`` is a recurrent layer with the ``torch.nn.RNN`` call signature (its
    ``batch_first`` is respected; the output of ``(output, state)`` is used) or any module mapping
    ``(N, L, F)`` to ``(N, D)`` or ``(N, L, D)``.

    In a ``torch.distributed`` process group (``distributed=None``: when ``torchrun`` launched the
    process or a group is initialised; ``True`` requires one; ``False`` never) rank ``r`` of ``W``
    runs the ``r``-th of ``W`` contiguous slices of the windows and every rank receives all ``N``
    rows, in order: the features equal one process's.
    """
    _check_features(features, reservoir)
    param = next(reservoir.parameters(), None)
    dtype = param.dtype if param is not None else torch.float64
    device = param.device if param is not None else torch.device("cpu")
    team, _ = join(distributed, device)
    if team is not None:
        X = X[team.part(len(X))]
    training = reservoir.training
    reservoir.eval()  # a reservoir is deterministic: no dropout while collecting features
    try:
        chunks = _run_chunks(reservoir, X, batch_size, dtype, device, features)
    finally:
        reservoir.train(training)
    if team is not None:
        chunks = [c for part in gather_objects(chunks) for c in part]
    return np.concatenate(chunks, axis=0)


def _run_chunks(reservoir, X, batch_size, dtype, device, features) -> list[np.ndarray]:
    chunks = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            x = torch.as_tensor(X[start : start + batch_size], dtype=dtype, device=device)
            chunks.append(_read(reservoir, x, features).detach().to("cpu", torch.float64).numpy())
    return chunks


def _read(reservoir: nn.Module, x: torch.Tensor, features: str) -> torch.Tensor:
    """Run ``reservoir`` on batch-first windows ``x`` ``(N, L, F)`` and read ``features`` from it:
    ``(N, D)`` in the reservoir's dtype (see :func:`reservoir_features`); differentiable."""
    batch_first = getattr(reservoir, "batch_first", True)
    x = x if batch_first else x.transpose(0, 1)
    correlations = None
    if features == "observables":
        out, state, correlations = reservoir.observe(x)
    else:
        result = reservoir(x)
        out, state = result if isinstance(result, tuple) else (result, None)
    if out.ndim == 3 and not batch_first:
        out = out.transpose(0, 1)
        correlations = None if correlations is None else correlations.transpose(0, 1)
    if out.ndim == 2 or features == "last":
        parts = [out[:, -1] if out.ndim == 3 else out]
    else:
        parts = [out.reshape(out.shape[0], -1)]
    if features in ("steps+state", "observables"):
        parts += _hidden_state(state, out.shape[0])
    if correlations is not None:
        parts.append(correlations.reshape(out.shape[0], -1))
    return torch.cat(parts, dim=1)


def _check_features(features, reservoir: nn.Module) -> None:
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    if features == "observables" and not callable(getattr(reservoir, "observe", None)):
        raise ValueError(
            f"features='observables' measures more observables of a quantum cell layer's circuits (QRNN, QLSTM, "
            f"QGRU); {type(reservoir).__name__} has none: use 'steps+state'"
        )


def _hidden_state(state, n: int) -> list[torch.Tensor]:
    """The part of a final recurrent state that is not the output: ``[(N, ·)]`` or ``[]``."""
    fast = getattr(state, "fast", None)
    if isinstance(fast, torch.Tensor):  # a QFWP: its fast weights
        return [fast.reshape(n, -1)]
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], torch.Tensor):
        c = state[1]  # an LSTM's (h_n, c_n): the last layer's cell state
        return [c[-1] if c.ndim == 3 else c.reshape(n, -1)]
    return []


def _fingerprint(reservoir: nn.Module, X: np.ndarray, features: str) -> str:
    """Hash of the reservoir (type, weights, backend), the feature mode and the data: the feature-cache key."""
    h = hashlib.sha256()
    h.update(type(reservoir).__qualname__.encode())
    if features != "last":  # "last" keeps the keys of caches written before there were modes
        h.update(features.encode())
    for backend in backends_of(reservoir):  # name and every public option (shots, noise, device, dtype, ...)
        h.update(repr(sorted((k, repr(v)) for k, v in vars(backend).items() if not k.startswith("_"))).encode())
    for name, tensor in sorted(reservoir.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(str((X.shape, X.dtype)).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()[:32]


# -- readouts --------------------------------------------------------------------------------------
def ridge_fit(features: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept, in closed form.

    .. math:: W = (\\tilde F^\\top \\tilde F + \\alpha I)^{-1} \\tilde F^\\top \\tilde y,
              \\qquad b = \\bar y - \\bar F W

    with ``F̃``, ``ỹ`` the centred features and targets. Returns ``(coef (D, G), intercept (G,))``.
    ``alpha = 0`` is ordinary least squares (solved with ``lstsq``, so rank deficiency is fine).
    """
    f_mean, y_mean = features.mean(axis=0), y.mean(axis=0)
    F, Y = features - f_mean, y - y_mean
    if alpha == 0:
        coef = np.linalg.lstsq(F, Y, rcond=None)[0]
    else:
        coef = np.linalg.solve(F.T @ F + alpha * np.eye(F.shape[1]), F.T @ Y)
    return coef, y_mean - f_mean @ coef


def _cv_alpha(features: np.ndarray, y: np.ndarray, alphas, folds: int) -> float:
    """The alpha with the lowest mean validation MSE over ``folds`` contiguous (time-ordered) folds."""
    bounds = np.linspace(0, len(y), folds + 1).astype(int)
    scores = []
    for alpha in alphas:
        errors = []
        for k in range(folds):
            val = np.zeros(len(y), dtype=bool)
            val[bounds[k] : bounds[k + 1]] = True
            coef, intercept = ridge_fit(features[~val], y[~val], alpha)
            errors.append(np.mean((features[val] @ coef + intercept - y[val]) ** 2))
        scores.append(np.mean(errors))
    return float(alphas[int(np.argmin(scores))])


class ReservoirRegressor(QuantumModel):
    """A linear readout trained on the cached features of a frozen reservoir (sklearn-like).

    Args:
        reservoir: a recurrent layer run frozen (``QLSTM(..., reservoir=True)``,
            ``qseq.models.classical.ClassicalReservoir(...)``, any ``torch.nn.RNN``-like module), read as
            ``features`` says.
        readout: ``"ridge"`` (closed form) or ``"sgd"`` (the paper's recipe: RMSprop on a linear
            readout, MSE loss).
        alpha: ridge penalty, or ``"cv"`` to pick it from ``alphas`` by time-ordered K-fold
            cross-validation on the training windows.
        washout: number of leading training windows left out of the fit.
        batch_size: windows per reservoir call (bounds memory; each call is one backend call per
            gate stage and time step).
        cache_dir: also keep features on disk, keyed by a hash of reservoir (weights, backend) and
            data, so a later process reuses them (hardware results are never paid for twice).
        epochs: passes over the training windows of the ``"sgd"`` readout.
        lr: the ``"sgd"`` readout's RMSprop learning rate.
        sgd_batch_size: windows per RMSprop step of the ``"sgd"`` readout.
        seed: seed of the ``"sgd"`` readout's initial weights and window order.
        alphas: the penalties ``alpha="cv"`` chooses from.
        cv_folds: the number of contiguous, time-ordered folds of ``alpha="cv"``.
        features: what the readout reads (:data:`FEATURES`): the last step's output (``"last"``, the
            papers'), every step's output (``"steps"``), those plus the final cell state / fast
            weights (``"steps+state"``), or plus every ``⟨Z_i Z_j⟩`` of the circuits at every step
            (``"observables"``, quantum cell layers). Part of the feature-cache key.
        distributed: compute features sharded over a ``torch.distributed`` process group (see
            :func:`reservoir_features`; ``None``: when ``torchrun`` launched the process). Every rank
            then holds all features and fits the same readout; rank 0 alone writes the disk cache.

    Attributes (after :meth:`fit`): ``coef_`` ``(D, G)``, ``intercept_`` ``(G,)``, ``alpha_``,
    ``history_`` (per-epoch MSEs of the ``"sgd"`` readout), ``n_circuit_evaluations_`` (circuits the
    backend ran for the features of the last :meth:`fit` — 0 when they came from the cache).
    """

    def __init__(
        self,
        reservoir: nn.Module,
        readout: str = "ridge",
        alpha: float | str = "cv",
        washout: int = 0,
        batch_size: int = 1024,
        cache_dir: str | os.PathLike | None = None,
        epochs: int = 100,
        lr: float = 0.01,
        sgd_batch_size: int = 4,
        seed: int = 0,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        cv_folds: int = 5,
        distributed: bool | None = None,
        features: str = "last",
    ):
        if readout not in ("ridge", "sgd"):
            raise ValueError(f"readout must be 'ridge' or 'sgd', got {readout!r}")
        if not (alpha == "cv" or _is_penalty(alpha)):
            raise ValueError(f"alpha must be a finite non-negative number or 'cv', got {alpha!r}")
        if not alphas or not all(_is_penalty(a) for a in alphas):
            raise ValueError(f"alphas must be a non-empty sequence of finite non-negative numbers, got {alphas!r}")
        if not isinstance(cv_folds, int) or cv_folds < 2:
            raise ValueError(f"cv_folds must be an integer >= 2, got {cv_folds!r}")
        if not isinstance(washout, int) or washout < 0:
            raise ValueError(f"washout must be a non-negative integer, got {washout!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(reservoir, nn.Module):
            raise TypeError(f"reservoir must be a torch.nn.Module, got {type(reservoir).__name__}")
        self.reservoir, self.readout, self.alpha, self.washout = reservoir, readout, alpha, washout
        self.batch_size, self.epochs, self.lr, self.sgd_batch_size, self.seed = (
            batch_size,
            epochs,
            lr,
            sgd_batch_size,
            seed,
        )
        self.alphas, self.cv_folds = tuple(alphas), cv_folds
        _check_features(features, reservoir)
        self.features_mode = features
        if distributed not in (None, True, False):
            raise ValueError(f"distributed must be None, True or False, got {distributed!r}")
        self.distributed = distributed
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._cache: dict[str, np.ndarray] = {}

    # -- features ----------------------------------------------------------------------------------
    def features(self, X) -> np.ndarray:
        """Reservoir features ``(N, D)`` of windows ``X`` ``(N, L, F)``, from the cache when possible."""
        X = check_windows(X)
        key = _fingerprint(self.reservoir, X, self.features_mode)
        if key in self._cache:
            return self._cache[key]
        path = None if self.cache_dir is None else self.cache_dir / f"features-{key}.npy"
        features = None
        if path is not None and path.exists():  # a damaged or altered file is set aside (never deleted) and recomputed
            features = read_cached_array(path, set_aside=is_main_process())
        if features is None:
            features = reservoir_features(self.reservoir, X, self.batch_size, self.distributed, self.features_mode)
            if path is not None and is_main_process():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_cached_array(path, features)
        features.flags.writeable = False  # cached: callers get a read-only array, never a live copy
        self._cache[key] = features
        return features

    def _counted_features(self, X) -> np.ndarray:
        before = sum(b.usage.circuits for b in self.backends())
        features = self.features(X)
        self.n_circuit_evaluations_ = sum(b.usage.circuits for b in self.backends()) - before
        return features

    # -- sklearn-like API --------------------------------------------------------------------------
    def fit(self, X, y, eval_set: tuple | None = None) -> ReservoirRegressor:
        """Fit the readout on windows ``X`` ``(N, L, F)`` and targets ``y`` ``(N, G)`` (or ``(N,)``).

        ``eval_set=(X_val, y_val)`` records the validation MSE per epoch in ``history_`` (``"sgd"``).
        """
        X, y = check_windows(X), check_targets(y, len(X))
        if self.washout >= len(X):
            raise ValueError(f"washout={self.washout} leaves no training windows (N={len(X)})")
        features = self._counted_features(X)[self.washout :]
        y = y[self.washout :]
        if self.readout == "ridge" and self.alpha == "cv" and len(y) < self.cv_folds:
            raise ValueError(f"alpha='cv' with cv_folds={self.cv_folds} needs at least that many windows, got {len(y)}")
        if self.readout == "ridge":
            self.alpha_ = (
                _cv_alpha(features, y, self.alphas, self.cv_folds) if self.alpha == "cv" else float(self.alpha)
            )
            self.coef_, self.intercept_ = ridge_fit(features, y, self.alpha_)
            self.history_ = []
        else:
            val = (
                None if eval_set is None else (self.features(eval_set[0]), check_targets(eval_set[1], len(eval_set[0])))
            )
            self.coef_, self.intercept_, self.history_ = self._fit_sgd(features, y, val)
        return self

    def _fit_sgd(self, features, y, val):
        generator = torch.Generator().manual_seed(self.seed)
        head = nn.Linear(features.shape[1], y.shape[1], dtype=torch.float64)
        init_linear(head, generator)
        optimiser = torch.optim.RMSprop(head.parameters(), lr=self.lr, alpha=0.99, eps=1e-8)
        F, Y = torch.tensor(features), torch.tensor(y)  # copies: the cached features are read-only
        history = []
        for epoch in range(1, self.epochs + 1):
            order = torch.randperm(len(F), generator=generator)
            for start in range(0, len(F), self.sgd_batch_size):
                idx = order[start : start + self.sgd_batch_size]
                optimiser.zero_grad()
                torch.mean((head(F[idx]) - Y[idx]) ** 2).backward()
                optimiser.step()
            with torch.no_grad():
                row = {"epoch": epoch, "train_mse": torch.mean((head(F) - Y) ** 2).item()}
                if val is not None:
                    row["val_mse"] = torch.mean((head(torch.tensor(val[0])) - torch.tensor(val[1])) ** 2).item()
            history.append(row)
        return head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy(), history

    def backends(self) -> tuple[Backend, ...]:
        """The backends of the reservoir's circuits (empty for a classical reservoir)."""
        return backends_of(self.reservoir)

    def to_backend(self, spec) -> ReservoirRegressor:
        """Run the reservoir's circuits on another backend (readout unchanged); returns ``self``.

        Features are cached per backend, so predictions on the new backend run its circuits once.
        A readout fitted on exact features may amplify shot noise (a small ``alpha`` gives large
        coefficients): refit on the new backend's features with :meth:`fit` (docs/hardware.md).
        """
        if not isinstance(self.reservoir, QuantumModel):
            raise TypeError(f"the reservoir ({type(self.reservoir).__name__}) runs no circuits: it has no backend")
        self.reservoir.to_backend(spec)
        return self

    def freeze_reservoir(self, init: Init = "paper", seed: int = 0) -> ReservoirRegressor:
        """Draw the reservoir anew from ``seed`` (circuit angles by ``init``) and freeze it; the
        fitted readout no longer applies and is dropped (call :meth:`fit` again). Returns ``self``."""
        freeze_reservoir(self.reservoir, init, seed)
        for name in ("coef_", "intercept_", "alpha_", "history_"):
            self.__dict__.pop(name, None)
        return self

    @property
    def n_trainable_(self) -> int:
        """Trained parameters: the readout's weights and intercepts."""
        return self.coef_.size + self.intercept_.size

    def predict(self, X) -> np.ndarray:
        """Predictions ``(N, G)`` for windows ``X``."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("ReservoirRegressor is not fitted yet: call fit(X, y) first")
        return self.features(X) @ self.coef_ + self.intercept_

    def score(self, X, y) -> float:
        """Coefficient of determination R² of the predictions (sklearn's convention)."""
        y = check_targets(y, len(check_windows(X)))
        residual = np.sum((y - self.predict(X)) ** 2)
        total = np.sum((y - y.mean(axis=0)) ** 2)
        return float(1 - residual / total)

    def mse(self, X, y) -> float:
        """Mean squared error of the predictions."""
        return float(np.mean((self.predict(X) - check_targets(y, len(check_windows(X)))) ** 2))


class ReservoirModel(_RecurrentWrapper):
    """A reservoir and a linear readout of its features as one torch module: ``head(φ(X))``, with
    ``φ`` a feature mode of :data:`FEATURES` (see :func:`reservoir_features`).

    The module form of a fitted :class:`ReservoirRegressor`: it predicts, evaluates, moves its
    circuits to another backend (``to_backend``) and saves (``state_dict``: the reservoir under
    ``rnn.``, the readout under ``head.``) like the models of :mod:`qseq.models`; ``qseq train
    --reservoir`` writes one and ``qseq predict`` loads it. With ``features="last"`` it computes what
    :class:`~qseq.models.SequenceRegressor` computes, with the same parameter names.

    Args:
        reservoir: a recurrent layer with an ``input_size`` (usually frozen: ``QLSTM(...,
            reservoir=True)``, ``ClassicalReservoir(...)``, ``build_model(name, reservoir=True).rnn``).
        seq_len: the window length ``L`` the readout is built for (``"steps"`` features grow with it).
        out_features: predictions per window ``G``.
        features: what the readout reads (:data:`FEATURES`).

    The readout width ``D`` is found by running the reservoir once on one window of zeros: build the
    model with its circuits on the torch engine and move them afterwards with ``to_backend``.

    Shapes: ``X`` ``(N, L, input_size)`` -> ``(N, G)``; ``head`` is ``Linear(D, G)``.
    """

    def __init__(self, reservoir: nn.Module, seq_len: int, out_features: int = 1, features: str = "steps+state"):
        super().__init__()
        if not isinstance(reservoir, nn.Module):
            raise TypeError(f"reservoir must be a torch.nn.Module, got {type(reservoir).__name__}")
        for name, value in (("seq_len", seq_len), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        _check_features(features, reservoir)
        input_size = getattr(reservoir, "input_size", None)
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise ValueError(
                f"reservoir must have a positive integer input_size (features per time step), got {input_size!r}"
            )
        self.rnn, self.seq_len, self.features = reservoir, seq_len, features
        probe = np.zeros((1, seq_len, input_size))
        width = reservoir_features(reservoir, probe, distributed=False, features=features).shape[1]
        param = next(reservoir.parameters(), None)
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        self.head = nn.Linear(width, out_features, dtype=dtype, device=None if param is None else param.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``(N, G)`` for batch-first windows ``x`` ``(N, L, input_size)``."""
        if x.ndim != 3:
            raise ValueError(f"ReservoirModel: input must be windows (N, L, input_size), got shape {tuple(x.shape)}")
        self._check_length(x.shape[1])
        return self.head(_read(self.rnn, x, self.features))

    def _check_length(self, length: int) -> None:
        if self.features != "last" and length != self.seq_len:
            raise ValueError(
                f"ReservoirModel reads {self.features!r} features of windows of length {self.seq_len}; "
                f"got windows of length {length}"
            )

    def fit_readout(self, X, y, **options) -> ReservoirRegressor:
        """Fit ``head`` in closed form (or by the ``"sgd"`` recipe) on windows ``X`` ``(N, L, F)`` and
        targets ``y`` ``(N, G)``: a :class:`ReservoirRegressor` on this reservoir and feature mode,
        with ``options`` its other arguments (``alpha="cv"``, ``cache_dir=...``), whose ``coef_`` and
        ``intercept_`` become the head's weight and bias.

        Returns the fitted regressor: its ``alpha_``, ``n_circuit_evaluations_``, and its cached
        features (its ``predict`` on ``X`` runs no circuit again).
        """
        if "features" in options:
            raise TypeError("fit_readout() reads the model's own feature mode: leave out features=")
        X = check_windows(X)
        y = check_targets(y, len(X))
        self._check_length(X.shape[1])
        if y.shape[1] != self.head.out_features:
            raise ValueError(f"y has {y.shape[1]} target columns, the model predicts {self.head.out_features}")
        regressor = ReservoirRegressor(self.rnn, features=self.features, **options).fit(X, y)
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(regressor.coef_.T))
            self.head.bias.copy_(torch.as_tensor(regressor.intercept_))
        return regressor


def _is_penalty(value) -> bool:
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and float(value) >= 0
    )

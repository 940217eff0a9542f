"""Training loop for sequence models: ``fit``, ``evaluate``, ``predict`` and resumable run directories.

A model is any :class:`torch.nn.Module` that maps a batch of windows ``X (N, seq_len, features)`` to
predictions ``(N, out_features)``. :func:`fit` trains it with the papers' recipe by default (MSE on
the last-step output, RMSprop lr 0.01 / alpha 0.99 / eps 1e-8, batch 4, 100 epochs, float64) and,
given a ``run_dir``, keeps a run directory that survives interruption::

    run_dir/
        config.json       the TrainConfig of the latest call
        metrics.csv       one row per epoch (rewritten atomically every epoch)
        metrics.json      the same history plus the monitor and best epoch
        checkpoint.pt     everything needed to resume bit-for-bit (atomic, every ``checkpoint_every``)
        best.pt           the best weights by ``monitor``
        loss.png          train / validation MSE per epoch (needs matplotlib)
        prediction.png    prediction vs truth over the time index (needs matplotlib)

Every file is written to a temporary file in the same directory, flushed, fsync'ed and moved into
place with :func:`os.replace`, so a crash leaves either the old or the new version, never half a file.
Checkpoints hold only tensors, dicts, lists, numbers and strings and load with
``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import csv
import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import random
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

__all__ = [
    "TrainConfig",
    "TrainResult",
    "fit",
    "evaluate",
    "predict",
    "seed_everything",
    "load_checkpoint",
    "load_model_weights",
    "plot_loss",
    "plot_prediction",
    "METRIC_COLUMNS",
]

logger = logging.getLogger(__name__)

ArrayLike = Union[torch.Tensor, np.ndarray]
PathLike = Union[str, os.PathLike]

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
CONFIG_FILE = "config.json"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
LOSS_PLOT = "loss.png"
PREDICTION_PLOT = "prediction.png"

#: Columns of ``metrics.csv`` and keys of every ``TrainResult.history`` row.
METRIC_COLUMNS = ("epoch", "train_loss", "train_mse", "val_mse", "lr", "epoch_time", "wall_time")

_CHECKPOINT_FORMAT = 1
_EVAL_BATCH_SIZE = 256
_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_OPTIMIZERS = ("rmsprop", "adam", "sgd")
#: monitor name -> (history column with validation data, fallback column without it)
_MONITORS = {
    "val_loss": ("val_mse", "train_loss"),
    "val_mse": ("val_mse", "train_mse"),
    "train_loss": ("train_loss", "train_loss"),
    "train_mse": ("train_mse", "train_mse"),
}
#: Config fields that may differ between a checkpoint and the resuming call: they do not change
#: the training trajectory (``restore_best`` only decides which weights are handed back at the end).
_RESUME_FREE_FIELDS = frozenset({"epochs", "progress", "plot", "checkpoint_every", "restore_best"})


# --------------------------------------------------------------------------------------------------
# Configuration and result
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything that decides how :func:`fit` trains. Defaults follow the papers' recipe."""

    epochs: int = 100
    """Total number of epochs of the run (on resume: the epoch to train up to, may be raised)."""

    batch_size: int = 4
    """Windows per optimiser step (the papers use 4, or 10 for QFWP). The last batch may be smaller."""

    lr: float = 0.01
    """Learning rate of the optimiser (0 is allowed: the weights then never change)."""

    optimizer: Literal["rmsprop", "adam", "sgd"] = "rmsprop"
    """``"rmsprop"`` (alpha 0.99, eps 1e-8, no momentum, as in the papers), ``"adam"`` or ``"sgd"``
    (torch defaults apart from ``lr``)."""

    shuffle: bool = True
    """Shuffle the batch order every epoch, drawn from a dedicated ``torch.Generator`` seeded with
    ``seed`` (the QFWP script does not shuffle: pass ``False`` to match it)."""

    seed: int = 0
    """Seed of the batch-order generator, and of torch / numpy / ``random`` at the start of a fresh
    run (see :func:`seed_everything`). Seed before building the model to fix its initialisation too."""

    dtype: Literal["float64", "float32"] = "float64"
    """Floating dtype of the data and of the model (``model.to(dtype)``)."""

    early_stopping_patience: Optional[int] = None
    """Stop once this many consecutive epochs brought no improvement of ``monitor``; ``None`` trains
    all ``epochs``."""

    monitor: Literal["val_loss", "val_mse", "train_loss", "train_mse"] = "val_loss"
    """Metric that picks the best epoch and drives early stopping (lower is better). ``val_loss`` is
    the validation MSE; without validation data it falls back to ``train_loss`` (the mean training
    loss of the epoch), and ``val_mse`` to ``train_mse`` (MSE on the whole train set in eval mode)."""

    min_delta: float = 0.0
    """Smallest decrease of ``monitor`` that counts as an improvement."""

    restore_best: bool = True
    """Load the best weights by ``monitor`` into the model at the end. Set ``False`` to keep the
    last epoch's weights, e.g. when the validation data is the test set and picking the best epoch
    on it would leak."""

    plot: bool = True
    """Write ``loss.png`` and ``prediction.png`` into ``run_dir`` at the end (needs matplotlib)."""

    progress: bool = True
    """Show a tqdm progress bar over epochs with the loss, validation loss and ETA."""

    checkpoint_every: int = 1
    """Write ``checkpoint.pt`` every this many epochs; the last epoch is always checkpointed."""

    device: str = "cpu"
    """Torch device of the model and the data, e.g. ``"cpu"`` or ``"cuda:0"``."""

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_real("lr", self.lr)
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        _check_bool("shuffle", self.shuffle)
        _check_int("seed", self.seed, minimum=0)
        if self.seed >= 2**32:
            raise ValueError(f"TrainConfig.seed must be < 2**32 (numpy's limit), got {self.seed}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"TrainConfig.dtype must be one of {tuple(_DTYPES)}, got {self.dtype!r}")
        if self.early_stopping_patience is not None:
            _check_int("early_stopping_patience", self.early_stopping_patience, minimum=1)
        if self.monitor not in _MONITORS:
            raise ValueError(f"TrainConfig.monitor must be one of {tuple(_MONITORS)}, got {self.monitor!r}")
        _check_real("min_delta", self.min_delta)
        for name in ("restore_best", "plot", "progress"):
            _check_bool(name, getattr(self, name))
        _check_int("checkpoint_every", self.checkpoint_every, minimum=1)
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"TrainConfig.device {self.device!r} is not a torch device: {err}") from None
        # numpy scalars pass the checks; store plain Python numbers so config.json / checkpoints stay basic
        for name in ("epochs", "batch_size", "seed", "checkpoint_every"):
            setattr(self, name, int(getattr(self, name)))
        if self.early_stopping_patience is not None:
            self.early_stopping_patience = int(self.early_stopping_patience)
        self.lr, self.min_delta = float(self.lr), float(self.min_delta)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what ``config.json`` and checkpoints store)."""
        return asdict(self)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"TrainConfig.{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"TrainConfig.{name} must be >= {minimum}, got {value}")


def _check_real(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"TrainConfig.{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"TrainConfig.{name} must be finite and >= 0, got {value}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"TrainConfig.{name} must be True or False, got {value!r}")


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes:
        history: one dict per completed epoch with the keys of :data:`METRIC_COLUMNS`
            (``val_mse`` is ``None`` without validation data; ``wall_time`` is cumulative over resumes).
        best_epoch: the epoch (1-based) with the lowest ``monitor`` value, ``None`` if none ran.
        best_value: that value.
        monitor: the history column actually monitored (after the fallback without validation data).
        stopped_early: whether early stopping ended the run.
        final_metrics: :func:`evaluate` of the returned model, keys prefixed ``train_`` / ``val_``.
        run_dir: the run directory, or ``None``.
        wall_time: seconds spent in this call.
        start_epoch: epochs already done when this call started (``> 0`` after a resume).
    """

    history: list[dict[str, Any]]
    best_epoch: Optional[int]
    best_value: Optional[float]
    monitor: str
    stopped_early: bool
    final_metrics: dict[str, float]
    run_dir: Optional[Path]
    wall_time: float
    start_epoch: int = 0

    @property
    def epochs_run(self) -> int:
        """Number of completed epochs of the whole run."""
        return len(self.history)


@dataclass
class _State:
    """Mutable progress of one run: everything a checkpoint restores besides model and optimiser."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_value: float = math.inf
    best_weights: Optional[dict[str, torch.Tensor]] = None
    bad_epochs: int = 0
    stopped_early: bool = False
    wall_time: float = 0.0

    def observe(self, value: float, model: nn.Module, min_delta: float) -> bool:
        """Record this epoch's monitored value; keep a copy of the weights if it improved."""
        if value < self.best_value - min_delta:
            self.best_epoch, self.best_value, self.bad_epochs = self.epoch, float(value), 0
            self.best_weights = _clone_state(model.state_dict())
            return True
        self.bad_epochs += 1
        return False


# --------------------------------------------------------------------------------------------------
# Seeds and RNG state
# --------------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global RNG and Python's ``random``.

    Args:
        seed: an int in ``[0, 2**32)``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state(shuffle_gen: torch.Generator) -> dict[str, Any]:
    """All RNG states as tensors and basic types (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle_gen.get_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], shuffle_gen: torch.Generator) -> None:
    """Inverse of :func:`_rng_state`."""
    torch.set_rng_state(state["torch"])
    shuffle_gen.set_state(state["shuffle"])
    npst = state["numpy"]
    np.random.set_state(
        (npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------------
# Data checking
# --------------------------------------------------------------------------------------------------


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    """A detached real tensor from a tensor / array / nested list, or a ValueError naming ``name``."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a numeric array or tensor: {err}") from None
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    return tensor


def _check_x(X: torch.Tensor, name: str) -> None:
    if X.ndim != 3:
        hint = " For a univariate series add a feature axis: X[..., None]." if X.ndim == 2 else ""
        raise ValueError(f"{name} must be 3-D (N, seq_len, features), got shape {tuple(X.shape)}.{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has N=0 windows")
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} has a zero-sized axis: shape {tuple(X.shape)} (N, seq_len, features)")


def _check_y(y: torch.Tensor, name: str) -> None:
    if y.ndim != 2:
        hint = " For one output use y[:, None]." if y.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (N, out_features), got shape {tuple(y.shape)}.{hint}")
    if y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(y.shape)} (N, out_features)")


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(tensor)
    if bad.any():
        n_nan = int(torch.isnan(tensor).sum())
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite values ({n_nan} NaN, {int(bad.sum()) - n_nan} inf); "
            f"first at index {tuple(int(i) for i in bad.nonzero()[0])}"
        )


def _as_x(X: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Checked windows ``(N, seq_len, features)`` in ``dtype`` on ``device``."""
    tensor = _as_tensor(X, name)
    _check_x(tensor, name)
    tensor = tensor.to(device=device, dtype=dtype)
    _check_finite(tensor, name)
    return tensor


def _as_xy(data: Any, name: str, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked ``(X (N, seq_len, features), y (N, out_features))`` from a pair called ``name``."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a pair (X, y), got {type(data).__name__}")
    x_name, y_name = f"{name} X".strip(), f"{name} y".strip()
    X = _as_x(data[0], x_name, dtype, device)
    y = _as_tensor(data[1], y_name)
    _check_y(y, y_name)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} differ in N: {X.shape[0]} windows but {y.shape[0]} targets")
    y = y.to(device=device, dtype=dtype)
    _check_finite(y, y_name)
    return X, y


def _check_same_features(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]) -> None:
    if train[0].shape[2] != val[0].shape[2]:
        raise ValueError(f"val X has {val[0].shape[2]} features but train X has {train[0].shape[2]}")
    if train[1].shape[1] != val[1].shape[1]:
        raise ValueError(f"val y has {val[1].shape[1]} outputs but train y has {train[1].shape[1]}")


def _data_signature(train: tuple[torch.Tensor, ...], val: Optional[tuple[torch.Tensor, ...]]) -> dict[str, Any]:
    """Shapes and a SHA-1 of the (cast) data, so a resume can refuse different data."""
    digest = hashlib.sha1()
    shapes = []
    for tensor in (*train, *(val or ())):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        shapes.append(list(tensor.shape))
    return {"shapes": shapes, "sha1": digest.hexdigest()}


# --------------------------------------------------------------------------------------------------
# Prediction and evaluation
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside; the previous training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """The dtype / device of the model's first floating parameter or buffer (float64 / CPU if none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype, tensor.device
    return torch.float64, torch.device("cpu")


def _check_output(pred: Any, target_shape: Sequence[int]) -> None:
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f"the model must return a tensor (N, out_features), got {type(pred).__name__}")
    if tuple(pred.shape) != tuple(target_shape):
        raise ValueError(
            f"model output shape {tuple(pred.shape)} does not match the targets' shape {tuple(target_shape)}; "
            "the model must map (N, seq_len, features) to (N, out_features)"
        )


def _predict_tensor(model: nn.Module, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Model outputs ``(N, out_features)`` for checked windows ``X``, in eval mode, batched."""
    with _eval_mode(model):
        return torch.cat([model(X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)])


def _mse(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error over every element of ``y``, in eval mode."""
    pred = _predict_tensor(model, X, _EVAL_BATCH_SIZE)
    _check_output(pred, y.shape)
    return float(F.mse_loss(pred, y))


def predict(model: nn.Module, X: ArrayLike, batch_size: int = 256) -> np.ndarray:
    """Predictions of ``model`` for windows ``X``, in eval mode without autograd, in batches.

    Args:
        model: maps ``(B, seq_len, features)`` to ``(B, out_features)``.
        X: windows ``(N, seq_len, features)`` (numpy array or tensor); cast to the model's dtype and device.
        batch_size: windows per forward call.

    Returns:
        ``(N, out_features)`` numpy array in the model's dtype. The model's training flag is restored.
    """
    dtype, device = _model_dtype_device(model)
    X = _as_x(X, "X", dtype, device)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    pred = _predict_tensor(model, X, batch_size)
    if not isinstance(pred, torch.Tensor) or pred.ndim != 2 or pred.shape[0] != X.shape[0]:
        shape = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
        raise ValueError(
            f"the model must map (N, seq_len, features) to (N, out_features); got {shape} for N={X.shape[0]}"
        )
    return pred.detach().cpu().numpy()


def evaluate(model: nn.Module, X: ArrayLike, y: ArrayLike, batch_size: int = 256) -> dict[str, float]:
    """Error metrics of ``model`` on ``(X, y)``, computed in float64 over every element of ``y``.

    Args:
        model: maps ``(B, seq_len, features)`` to ``(B, out_features)``.
        X: windows ``(N, seq_len, features)``.
        y: targets ``(N, out_features)``.
        batch_size: windows per forward call.

    Returns:
        ``{"mse", "rmse", "mae", "nrmse"}`` with ``nrmse = rmse / std(y)`` (population std over all
        elements of ``y``; ``nan`` when ``y`` is constant).
    """
    dtype, device = _model_dtype_device(model)
    X, y = _as_xy((X, y), "", dtype, device)
    pred = predict(model, X, batch_size=batch_size).astype(np.float64)
    truth = y.detach().cpu().numpy().astype(np.float64)
    _check_output(torch.from_numpy(pred), truth.shape)
    err = pred - truth
    mse = float(np.mean(err**2))
    rmse = math.sqrt(mse)
    std = float(np.std(truth))
    return {"mse": mse, "rmse": rmse, "mae": float(np.mean(np.abs(err))), "nrmse": rmse / std if std > 0 else math.nan}


# --------------------------------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------------------------------


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True)")
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=config.lr, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr)


def _epoch_order(n: int, shuffle: bool, generator: torch.Generator) -> torch.Tensor:
    """Window indices in this epoch's order (draws from ``generator`` only when shuffling)."""
    return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    order: torch.Tensor,
) -> float:
    """One pass over the windows in ``order``; returns the training loss averaged over windows."""
    model.train()
    order = order.to(X.device)
    total = 0.0
    for start in range(0, X.shape[0], batch_size):
        idx = order[start : start + batch_size]
        xb, yb = X[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        pred = model(xb)
        _check_output(pred, yb.shape)
        loss = F.mse_loss(pred, yb)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
    return total / X.shape[0]


def _clone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


# --------------------------------------------------------------------------------------------------
# Atomic file I/O: metrics, config, checkpoints
# --------------------------------------------------------------------------------------------------


def _umask() -> int:
    """The process umask (read once at import: ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of the files we write: what ``open()`` would give (temporary files are created 0o600).
_FILE_MODE = 0o666 & ~_umask()


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` via a temporary file in the same directory, fsync, then ``os.replace``.

    A failure anywhere leaves the previous ``path`` untouched and removes the temporary file
    (named ``.<name>.<random>.tmp``, so it is never mistaken for the real file).
    """
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
        try:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, _FILE_MODE)
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(obj, indent=2) + "\n")


def _write_metrics(run_dir: Path, state: _State, monitor: str) -> None:
    """Rewrite ``metrics.csv`` and ``metrics.json`` from the whole history."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(state.history)
    _write_text(run_dir / METRICS_CSV, buffer.getvalue())
    summary = {
        "monitor": monitor,
        "best_epoch": state.best_epoch,
        "best_value": state.best_value if state.best_epoch is not None else None,
        "stopped_early": state.stopped_early,
        "history": state.history,
    }
    _write_json(run_dir / METRICS_JSON, summary)


def _save_torch(path: Path, obj: Any) -> None:
    _atomic_write(path, lambda f: torch.save(obj, f))


def _save_best(run_dir: Path, state: _State, monitor: str) -> None:
    _save_torch(
        run_dir / BEST_FILE,
        {"model_state": state.best_weights, "epoch": state.best_epoch, "monitor": monitor, "value": state.best_value},
    )


def _save_checkpoint(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: _State,
    config: TrainConfig,
    shuffle_gen: torch.Generator,
    data_signature: dict[str, Any],
) -> None:
    """Write ``checkpoint.pt``: weights, optimiser, progress, best weights, config, data signature, RNGs."""
    checkpoint = {
        "format_version": _CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "history": state.history,
        "best": {
            "epoch": state.best_epoch,
            "value": state.best_value,
            "model_state": state.best_weights,
            "bad_epochs": state.bad_epochs,
        },
        "stopped_early": state.stopped_early,
        "wall_time": state.wall_time,
        "config": config.to_dict(),
        "data": data_signature,
        "rng": _rng_state(shuffle_gen),
    }
    _save_torch(run_dir / CHECKPOINT_FILE, checkpoint)


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`fit` with ``torch.load(weights_only=True)``.

    Args:
        path: ``checkpoint.pt`` / ``best.pt``, or a run directory (then its ``checkpoint.pt``).
        map_location: where to put the tensors.

    Returns:
        The checkpoint dict (keys ``epoch``, ``model_state``, ``optimizer_state``, ``history``, ``best``,
        ``config``, ``rng``, ...; for ``best.pt``: ``model_state``, ``epoch``, ``monitor``, ``value``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def load_model_weights(model: nn.Module, run_dir: PathLike) -> nn.Module:
    """Load the best weights of a run (``run_dir/best.pt``, or a given ``.pt`` file) into ``model``.

    Args:
        model: a model of the same architecture as the trained one.
        run_dir: the run directory, or the path of a ``best.pt`` / ``checkpoint.pt`` file.

    Returns:
        ``model``, with the weights loaded (strictly: every key must match).
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / BEST_FILE
    saved = load_checkpoint(path, map_location=_model_dtype_device(model)[1])
    if saved.get("model_state") is None:
        raise ValueError(f"{path} holds no model weights (no epoch has finished yet)")
    model.load_state_dict(saved["model_state"])
    return model


# --------------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------------


def _config_mismatches(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Result-changing fields that differ between a checkpoint's config and ``config``."""
    current = config.to_dict()
    missing = object()
    out = []
    for key in sorted((saved.keys() | current.keys()) - _RESUME_FREE_FIELDS):
        old, new = saved.get(key, missing), current.get(key, missing)
        if old != new:
            show = lambda v: "<missing>" if v is missing else repr(v)  # noqa: E731
            out.append(f"{key} (checkpoint {show(old)}, requested {show(new)})")
    return out


def _open_run_dir(run_dir: Path, resume: bool) -> Optional[dict[str, Any]]:
    """Create ``run_dir``; return its checkpoint when resuming, refuse to overwrite one otherwise."""
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run_dir {run_dir} exists and is not a directory")
    ckpt_path = run_dir / CHECKPOINT_FILE
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"run_dir {run_dir} already holds a checkpoint; pass resume=True to continue that run, "
            "or choose another run_dir (or delete it) to start over"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        return None
    if not ckpt_path.exists():
        logger.warning("resume=True but %s has no %s: starting a fresh run", run_dir, CHECKPOINT_FILE)
        return None
    return load_checkpoint(ckpt_path)


def _restore(
    checkpoint: dict[str, Any],
    config: TrainConfig,
    data_signature: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle_gen: torch.Generator,
) -> _State:
    """Check that ``checkpoint`` belongs to this run, load it into the objects, return the progress."""
    if checkpoint.get("format_version") != _CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {checkpoint.get('format_version')!r}")
    mismatches = _config_mismatches(checkpoint["config"], config)
    if mismatches:
        raise ValueError(
            "cannot resume: the config differs from the checkpoint's in fields that change results: "
            + "; ".join(mismatches)
            + ". Pass the original values, or start a new run_dir."
        )
    if checkpoint["data"] != data_signature:
        raise ValueError(
            f"cannot resume: the training/validation data differ from the checkpoint's "
            f"(shapes {checkpoint['data']['shapes']} vs {data_signature['shapes']}, or their values)"
        )
    device = _model_dtype_device(model)[1]
    model.load_state_dict(checkpoint["model_state"])
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    best = checkpoint["best"]
    best_weights = None if best["model_state"] is None else {k: v.to(device) for k, v in best["model_state"].items()}
    _set_rng_state(checkpoint["rng"], shuffle_gen)
    return _State(
        epoch=checkpoint["epoch"],
        history=list(checkpoint["history"]),
        best_epoch=best["epoch"],
        best_value=best["value"],
        best_weights=best_weights,
        bad_epochs=best["bad_epochs"],
        stopped_early=checkpoint["stopped_early"],
        wall_time=checkpoint["wall_time"],
    )


# --------------------------------------------------------------------------------------------------
# Plots (matplotlib is optional and imported lazily)
# --------------------------------------------------------------------------------------------------

_warned_no_matplotlib = False


def _matplotlib() -> Optional[tuple[Any, Any]]:
    """``(Figure, FigureCanvasAgg)``, or ``None`` (warning once per process) without matplotlib.

    Figures are drawn on an explicit Agg canvas, so the user's pyplot backend is never touched.
    """
    global _warned_no_matplotlib
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        if not _warned_no_matplotlib:
            _warned_no_matplotlib = True
            warnings.warn(
                "matplotlib is not installed: skipping plots (pip install 'qseq[plot]')", RuntimeWarning, stacklevel=3
            )
        return None
    return Figure, FigureCanvasAgg


def _save_figure(fig: Any, path: Path) -> None:
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))


def plot_loss(history: Sequence[dict[str, Any]], path: PathLike) -> Optional[Path]:
    """Plot train and validation MSE per epoch on a log scale into a PNG.

    Args:
        history: rows as in :attr:`TrainResult.history`.
        path: the PNG to write.

    Returns:
        ``path``, or ``None`` when matplotlib is missing or the history is empty.
    """
    mpl = _matplotlib()
    if mpl is None or not history:
        return None
    Figure, Canvas = mpl
    fig = Figure(figsize=(6.0, 4.0))
    Canvas(fig)
    ax = fig.add_subplot()
    epochs = [row["epoch"] for row in history]
    ax.plot(epochs, [row["train_mse"] for row in history], marker=".", label="train MSE")
    if any(row["val_mse"] is not None for row in history):
        val_mse = [math.nan if row["val_mse"] is None else row["val_mse"] for row in history]
        ax.plot(epochs, val_mse, marker=".", label="validation MSE")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, Path(path))
    return Path(path)


def plot_prediction(
    model: nn.Module,
    train: tuple[ArrayLike, ArrayLike],
    val: Optional[tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    max_outputs: int = 3,
) -> Optional[Path]:
    """Plot prediction vs truth over the window index, train then validation, split marked.

    As in the papers' figures, the validation windows are assumed to follow the train windows in
    time (a chronological split); a dashed vertical line marks the split.

    Args:
        model: the trained model.
        train: ``(X (N_train, seq_len, features), y (N_train, out_features))``.
        val: the same for validation, or ``None``.
        path: the PNG to write.
        max_outputs: plot at most this many output features, one panel each.

    Returns:
        ``path``, or ``None`` when matplotlib is missing.
    """
    mpl = _matplotlib()
    if mpl is None:
        return None
    parts = [train] + ([val] if val is not None else [])
    preds = [predict(model, X) for X, _ in parts]
    truths = [_as_tensor(y, "y").cpu().numpy() for _, y in parts]
    n_out = min(truths[0].shape[1], max_outputs)
    Figure, Canvas = mpl
    fig = Figure(figsize=(8.0, 2.8 * n_out))
    Canvas(fig)
    offsets = np.cumsum([0] + [len(t) for t in truths])
    for k in range(n_out):
        ax = fig.add_subplot(n_out, 1, k + 1)
        ax.plot(np.arange(offsets[-1]), np.concatenate([t[:, k] for t in truths]), color="black", lw=1.2, label="truth")
        for label, pred, start in zip(("train", "validation"), preds, offsets):
            ax.plot(np.arange(start, start + len(pred)), pred[:, k], lw=1.2, ls="--", label=f"prediction ({label})")
        if val is not None:
            ax.axvline(offsets[1], color="red", ls=":", lw=1.2, label="train / validation split")
        ax.set_ylabel("y" if n_out == 1 else f"y[{k}]")
        ax.legend(fontsize="small")
    ax.set_xlabel("window (time index)")
    fig.tight_layout()
    _save_figure(fig, Path(path))
    return Path(path)


def _write_plots(
    run_dir: Path, history: list[dict[str, Any]], model: nn.Module, train: tuple, val: Optional[tuple]
) -> None:
    if plot_loss(history, run_dir / LOSS_PLOT) is not None:
        plot_prediction(model, train, val, run_dir / PREDICTION_PLOT)


# --------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------


def _resolve_config(config: Optional[TrainConfig], overrides: dict[str, Any]) -> TrainConfig:
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        known = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
        raise TypeError(f"unknown TrainConfig field(s) {sorted(unknown)}; known: {known}")
    return dataclasses.replace(config, **overrides) if overrides else config


def _resolve_monitor(monitor: str, has_val: bool) -> str:
    column, fallback = _MONITORS[monitor]
    if column.startswith("val_") and not has_val:
        logger.info("no validation data: monitoring %s instead of %s", fallback, monitor)
        return fallback
    return column


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    out = {"loss": f"{row['train_loss']:.3e}"}
    if row["val_mse"] is not None:
        out["val_loss"] = f"{row['val_mse']:.3e}"
    return out


def _final_metrics(model: nn.Module, train: tuple, val: Optional[tuple]) -> dict[str, float]:
    metrics = {f"train_{k}": v for k, v in evaluate(model, *train).items()}
    if val is not None:
        metrics.update({f"val_{k}": v for k, v in evaluate(model, *val).items()})
    return metrics


def fit(
    model: nn.Module,
    train: tuple[ArrayLike, ArrayLike],
    val: Optional[tuple[ArrayLike, ArrayLike]] = None,
    config: Optional[TrainConfig] = None,
    run_dir: Optional[PathLike] = None,
    resume: bool = False,
    **overrides: Any,
) -> TrainResult:
    """Train ``model`` with MSE on ``train``, monitoring ``val``, optionally in a resumable run directory.

    Args:
        model: maps ``(B, seq_len, features)`` to ``(B, out_features)``; moved to the configured dtype
            and device in place.
        train: ``(X (N, seq_len, features), y (N, out_features))``, numpy arrays or tensors.
        val: the same for validation (e.g. the chronologically later 33 %), or ``None``.
        config: a :class:`TrainConfig`; ``None`` for the defaults.
        run_dir: directory for metrics, checkpoints and plots (see the module docstring); ``None``
            keeps everything in memory.
        resume: continue the run in ``run_dir`` from its ``checkpoint.pt`` (fresh start if there is
            none). Needs the same data and the same result-changing config; ``epochs`` may be raised.
        **overrides: TrainConfig fields that replace those of ``config``, e.g. ``epochs=10``.

    Returns:
        A :class:`TrainResult`. The model holds the best weights by ``config.monitor`` (or the last
        ones with ``restore_best=False``).

    Raises:
        ValueError: malformed data (the message names the argument), a config mismatch on resume,
            or a model whose output shape differs from ``y``'s.
        FileExistsError: ``run_dir`` already holds a checkpoint and ``resume`` is False.
    """
    started = time.perf_counter()
    cfg = _resolve_config(config, overrides)
    dtype, device = _DTYPES[cfg.dtype], torch.device(cfg.device)
    train_xy = _as_xy(train, "train", dtype, device)
    val_xy = None if val is None else _as_xy(val, "val", dtype, device)
    if val_xy is not None:
        _check_same_features(train_xy, val_xy)
    if resume and run_dir is None:
        raise ValueError("resume=True needs a run_dir")
    run = None if run_dir is None else Path(run_dir)
    checkpoint = None if run is None else _open_run_dir(run, resume)  # refuses before touching the model

    model.to(device=device, dtype=dtype)
    optimizer = _make_optimizer(model, cfg)
    monitor = _resolve_monitor(cfg.monitor, val_xy is not None)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    signature = _data_signature(train_xy, val_xy)
    if checkpoint is not None:
        state = _restore(checkpoint, cfg, signature, model, optimizer, shuffle_gen)
        logger.info("resuming %s after epoch %d", run, state.epoch)
    else:
        state = _State()
        seed_everything(cfg.seed)
    start_epoch = state.epoch
    if run is not None:
        _write_json(run / CONFIG_FILE, cfg.to_dict())

    _train_loop(model, optimizer, train_xy, val_xy, cfg, monitor, state, shuffle_gen, run, signature)

    if cfg.restore_best and state.best_weights is not None:
        model.load_state_dict(state.best_weights)
    if run is not None and state.best_weights is not None:
        _save_best(run, state, monitor)
    if run is not None and cfg.plot:
        _write_plots(run, state.history, model, train_xy, val_xy)
    return TrainResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_value=state.best_value if state.best_epoch is not None else None,
        monitor=monitor,
        stopped_early=state.stopped_early,
        final_metrics=_final_metrics(model, train_xy, val_xy),
        run_dir=run,
        wall_time=time.perf_counter() - started,
        start_epoch=start_epoch,
    )


def _train_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor],
    val: Optional[tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    monitor: str,
    state: _State,
    shuffle_gen: torch.Generator,
    run: Optional[Path],
    signature: dict[str, Any],
) -> None:
    """Epochs ``state.epoch + 1 .. cfg.epochs``: train, measure, early-stop, write metrics and checkpoints."""
    X, y = train
    wall_before, loop_start = state.wall_time, time.perf_counter()
    best_saved = None  # epoch whose weights best.pt holds, if written in this call
    done = min(state.epoch, cfg.epochs)
    bar = tqdm(total=cfg.epochs, initial=done, disable=not cfg.progress, desc="fit", unit="epoch")
    with bar:
        for epoch in range(state.epoch + 1, cfg.epochs + 1):
            if state.stopped_early:
                break
            epoch_start = time.perf_counter()
            order = _epoch_order(X.shape[0], cfg.shuffle, shuffle_gen)
            train_loss = _train_epoch(model, optimizer, X, y, cfg.batch_size, order)
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_mse": _mse(model, X, y),
                "val_mse": None if val is None else _mse(model, *val),
                "lr": float(optimizer.param_groups[0]["lr"]),
                "epoch_time": time.perf_counter() - epoch_start,
                "wall_time": wall_before + time.perf_counter() - loop_start,
            }
            state.epoch, state.wall_time = epoch, row["wall_time"]
            state.history.append(row)
            state.observe(row[monitor], model, cfg.min_delta)
            patience = cfg.early_stopping_patience
            state.stopped_early = patience is not None and state.bad_epochs >= patience
            if run is not None:
                _write_metrics(run, state, monitor)
                if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or state.stopped_early:
                    if state.best_epoch != best_saved:
                        _save_best(run, state, monitor)
                        best_saved = state.best_epoch
                    _save_checkpoint(run, model, optimizer, state, cfg, shuffle_gen, signature)
            bar.set_postfix(_postfix(row), refresh=False)
            bar.update(1)
        if state.stopped_early:
            logger.info("early stopping after epoch %d (best epoch %s)", state.epoch, state.best_epoch)

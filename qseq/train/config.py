"""Configuration of a run: file names of the run directory, :class:`TrainConfig`, :class:`TrainResult`
and the mutable progress ``_State`` that checkpoints restore."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

ArrayLike = torch.Tensor | np.ndarray
PathLike = str | os.PathLike

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
CONFIG_FILE = "config.json"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
LOSS_PLOT = "loss.png"
PREDICTION_PLOT = "prediction.png"

#: Columns of ``metrics.csv`` and keys of every ``TrainResult.history`` row.
METRIC_COLUMNS = ("epoch", "train_loss", "train_mse", "val_mse", "lr", "epoch_time", "wall_time")

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
_RESUME_FREE_FIELDS = frozenset(
    {"epochs", "progress", "plot", "checkpoint_every", "restore_best", "cuda_graphs", "distributed"}
)


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

    early_stopping_patience: int | None = None
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
    last epoch's weights (the papers report those). Pick on a validation split, never on the test
    windows: those go to ``fit(..., test=...)``, which evaluates them once, after the choice."""

    plot: bool = True
    """Write ``loss.png`` and ``prediction.png`` into ``run_dir`` at the end (needs matplotlib)."""

    progress: bool = True
    """Show a tqdm progress bar over epochs with the loss, validation loss and ETA."""

    checkpoint_every: int = 1
    """Write ``checkpoint.pt`` every this many epochs; the last epoch is always checkpointed."""

    device: str = "cpu"
    """Torch device of the model and the data, e.g. ``"cpu"`` or ``"cuda:0"``."""

    cuda_graphs: bool | None = None
    """Capture each training step (forward, loss, backward, optimiser step) as one CUDA graph and
    replay it (:mod:`qseq.train.graphs`): ``None`` wherever it applies (a CUDA device, every circuit
    on the torch engine), ``True`` to require it, ``False`` never. The trajectory is the same."""

    distributed: bool | None = None
    """Data-parallel training over a ``torch.distributed`` process group (:mod:`qseq.train.distributed`):
    ``None`` joins when ``torchrun`` launched the process (or a group is initialised), ``True`` requires
    it, ``False`` trains alone. The global batch is ``batch_size`` windows split over the processes, so
    the trajectory is the one-process one up to floating-point summation order."""

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
        if self.cuda_graphs is not None:
            _check_bool("cuda_graphs", self.cuda_graphs)
        if self.distributed is not None:
            _check_bool("distributed", self.distributed)
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
        final_metrics: :func:`evaluate` of the returned model, keys prefixed ``train_`` / ``val_`` /
            ``test_`` (the test windows' only evaluation).
        run_dir: the run directory, or ``None``.
        wall_time: seconds spent in this call.
        start_epoch: epochs already done when this call started (``> 0`` after a resume).
        weights: which weights the model holds: ``"last"``, or ``"best on validation"`` (``"best on
            training loss"`` / ``"best on training MSE"`` without validation data).
        weights_epoch: the epoch those weights are from (``None`` if no epoch ran).
    """

    history: list[dict[str, Any]]
    best_epoch: int | None
    best_value: float | None
    monitor: str
    stopped_early: bool
    final_metrics: dict[str, float]
    run_dir: Path | None
    wall_time: float
    start_epoch: int = 0
    weights: str = "last"
    weights_epoch: int | None = None

    @property
    def epochs_run(self) -> int:
        """Number of completed epochs of the whole run."""
        return len(self.history)


@dataclass
class _State:
    """Mutable progress of one run: everything a checkpoint restores besides model and optimiser."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float = math.inf
    best_weights: dict[str, torch.Tensor] | None = None
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


def _clone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}

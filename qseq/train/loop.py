"""The training loop: one epoch, the epochs of a run, and :func:`fit`."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.torch_version import TorchVersion
from tqdm import tqdm

from .._distributed import barrier, join, total
from .._rng import seed_everything
from .._threads import small_work_threads
from .checkpoint import _open_run_dir, _restore, _save_best, _save_checkpoint, _write_json, _write_metrics
from .config import (
    _DTYPES,
    _MONITORS,
    CHECKPOINT_FILE,
    CONFIG_FILE,
    ArrayLike,
    PathLike,
    TrainConfig,
    TrainResult,
    _State,
)
from .distributed import sharded_step, wrap
from .evaluation import (
    _EVAL_BATCH_SIZE,
    _as_xy,
    _check_same_features,
    _data_signature,
    _squared_error,
    evaluate,
)
from .graphs import StepRunner, graphs_apply
from .plots import _write_plots

__all__ = ["fit"]

logger = logging.getLogger(__package__)  # "qseq.train", the logger name from before the split


# --------------------------------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------------------------------


#: Devices of PyTorch's fused Adam (the CPU since torch 2.4).
_FUSED_ADAM_DEVICES = ("cuda", "cpu") if TorchVersion(torch.__version__) >= "2.4" else ("cuda",)


def _make_optimizer(model: nn.Module, config: TrainConfig, capturable: bool = False) -> torch.optim.Optimizer:
    """The configured optimiser; ``capturable`` keeps its step counters on the device (CUDA graphs).
    Adam is PyTorch's fused implementation on CPU and CUDA (one kernel for all parameters instead of
    about a dozen per step: 40 against 116 µs a step for the paper QLSTM on one CPU thread)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True)")
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=config.lr,
            alpha=0.99,
            eps=1e-8,
            weight_decay=0,
            momentum=0,
            centered=False,
            capturable=capturable,
        )
    if config.optimizer == "adam":
        fused = all(p.device.type in _FUSED_ADAM_DEVICES for p in params) or None
        return torch.optim.Adam(params, lr=config.lr, capturable=capturable, fused=fused)
    return torch.optim.SGD(params, lr=config.lr)


def _epoch_order(n: int, shuffle: bool, generator: torch.Generator) -> torch.Tensor:
    """Window indices in this epoch's order (draws from ``generator`` only when shuffling)."""
    return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


def _train_epoch(
    model: nn.Module, step, X: torch.Tensor, y: torch.Tensor, batch_size: int, order: torch.Tensor, team=None
) -> float:
    """One pass over the windows in ``order``; returns the training loss averaged over windows.
    The sum stays on the device (float64) until the end: one host synchronisation per epoch (and, in
    a process group, one all-reduce of the ranks' shares)."""
    model.train()
    order = order.to(X.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    for start in range(0, X.shape[0], batch_size):
        idx = order[start : start + batch_size]
        loss_sum += step(X[idx], y[idx]).double() * len(idx)
    if team is not None:
        loss_sum = total(loss_sum)
    return float(loss_sum) / X.shape[0]


def _shared_mse(model: nn.Module, X: torch.Tensor, y: torch.Tensor, team, batch_size: int) -> float:
    """The MSE over all windows, predicted ``batch_size`` at a time; in a process group each rank
    predicts a contiguous slice and the squared errors are summed over the ranks (every rank gets the
    same number)."""
    part = slice(None) if team is None else team.part(X.shape[0])
    error = _squared_error(model, X[part], y[part], batch_size)
    return float(error if team is None else total(error)) / y.numel()


# --------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------


def _resolve_config(config: TrainConfig | None, overrides: dict[str, Any]) -> TrainConfig:
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        known = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
        raise TypeError(f"unknown TrainConfig field(s) {sorted(unknown)}; known: {known}")
    return dataclasses.replace(config, **overrides) if overrides else config


def _resolve_graphs(cfg: TrainConfig, model: nn.Module, device: torch.device) -> bool:
    """Whether training steps are captured as CUDA graphs (``TrainConfig.cuda_graphs``)."""
    possible = graphs_apply(model, device)
    if cfg.cuda_graphs and not possible:
        raise ValueError(
            "TrainConfig.cuda_graphs=True needs a CUDA device and circuits on the torch engine "
            f"(device {device}); use cuda_graphs=None to capture only where it applies"
        )
    return possible if cfg.cuda_graphs is None else cfg.cuda_graphs


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


def _final_metrics(model: nn.Module, train: tuple, val: tuple | None, test: tuple | None) -> dict[str, float]:
    metrics = {f"train_{k}": v for k, v in evaluate(model, *train).items()}
    for name, data in (("val", val), ("test", test)):
        if data is not None:
            metrics.update({f"{name}_{k}": v for k, v in evaluate(model, *data).items()})
    return metrics


#: What the weights that :func:`fit` hands back were selected on, by monitored history column.
_SELECTED_ON = {"val_mse": "validation", "train_loss": "training loss", "train_mse": "training MSE"}


def _weights_label(cfg: TrainConfig, state: _State, monitor: str) -> tuple[str, int | None]:
    """``("last" | "best on <split>", epoch)`` of the weights the model holds after :func:`fit`."""
    if cfg.restore_best and state.best_weights is not None:
        return f"best on {_SELECTED_ON[monitor]}", state.best_epoch
    return "last", state.epoch or None


@small_work_threads()
def fit(
    model: nn.Module,
    train: tuple[ArrayLike, ArrayLike],
    val: tuple[ArrayLike, ArrayLike] | None = None,
    config: TrainConfig | None = None,
    run_dir: PathLike | None = None,
    resume: bool = False,
    *,
    test: tuple[ArrayLike, ArrayLike] | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train ``model`` with MSE on ``train``, monitoring ``val``, optionally in a resumable run directory.

    Args:
        model: maps ``(B, seq_len, features)`` to ``(B, out_features)``; moved to the configured dtype
            and device in place.
        train: ``(X (N, seq_len, features), y (N, out_features))``, numpy arrays or tensors.
        val: the same for validation: what ``monitor`` reads, so what picks the best epoch
            (``restore_best``) and stops early; e.g. the validation part of
            :func:`qseq.data.chronological_split` with ``val=``. Never the test windows. ``None``:
            the monitor falls back to the training loss.
        test: the same for the held-out test windows, or ``None``. They are evaluated exactly once,
            after training and after the weights are chosen (``final_metrics["test_mse"]``, and
            ``metrics.json``'s ``"final"``); nothing during training reads them.
        config: a :class:`TrainConfig`; ``None`` for the defaults.
        run_dir: directory for metrics, checkpoints and plots (see the module docstring); ``None``
            keeps everything in memory.
        resume: continue the run in ``run_dir`` from its ``checkpoint.pt`` (fresh start if there is
            none). Needs the same data and the same result-changing config; ``epochs`` may be raised.
        **overrides: TrainConfig fields that replace those of ``config``, e.g. ``epochs=10``.

    Returns:
        A :class:`TrainResult`. The model holds the best weights by ``config.monitor`` (or the last
        ones with ``restore_best=False``); ``TrainResult.weights`` says which.

    Raises:
        ValueError: malformed data (the message names the argument), a config mismatch on resume,
            or a model whose output shape differs from ``y``'s.
        FileExistsError: ``run_dir`` already holds a checkpoint and ``resume`` is False.
    """
    started = time.perf_counter()
    cfg = _resolve_config(config, overrides)
    team, device = join(cfg.distributed, torch.device(cfg.device))
    dtype = _DTYPES[cfg.dtype]
    train_xy = _as_xy(train, "train", dtype, device)
    val_xy = None if val is None else _as_xy(val, "val", dtype, device)
    if val_xy is not None:
        _check_same_features(train_xy, val_xy)
    test_xy = None if test is None else _as_xy(test, "test", dtype, device)
    if test_xy is not None:
        _check_same_features(train_xy, test_xy, "test")
    if resume and run_dir is None:
        raise ValueError("resume=True needs a run_dir")
    run = None if run_dir is None else Path(run_dir)
    checkpoint = None if run is None else _open_run_dir(run, resume)  # refuses before touching the model
    if team is not None:
        barrier()  # every rank has checked the run directory before rank 0 writes into it
        if not team.main:  # one writer, one progress bar
            run, cfg = None, dataclasses.replace(cfg, progress=False, plot=False)

    model.to(device=device, dtype=dtype)
    graphs = team is None and _resolve_graphs(cfg, model, device)
    optimizer = _make_optimizer(model, cfg, capturable=graphs)
    monitor = _resolve_monitor(cfg.monitor, val_xy is not None)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    signature = _data_signature(train_xy, val_xy)
    if checkpoint is not None:
        source = str(Path(str(run_dir)) / CHECKPOINT_FILE)
        state = _restore(checkpoint, cfg, signature, model, optimizer, shuffle_gen, source)
        logger.info("resuming %s after epoch %d", run, state.epoch)
    else:
        state = _State()
        seed_everything(cfg.seed)
    start_epoch = state.epoch
    if run is not None:
        _write_json(run / CONFIG_FILE, cfg.to_dict())

    if team is None:
        step = StepRunner(model, optimizer, graphs)
    else:
        replicated = wrap(model, device)
        step = lambda x, y: sharded_step(replicated, optimizer, x, y, team)  # noqa: E731
    _train_loop(model, optimizer, step, train_xy, val_xy, cfg, monitor, state, shuffle_gen, run, signature, team)

    if cfg.restore_best and state.best_weights is not None:
        model.load_state_dict(state.best_weights)
    weights, weights_epoch = _weights_label(cfg, state, monitor)
    final_metrics = _final_metrics(model, train_xy, val_xy, test_xy)  # the only read of the test windows
    if run is not None and state.best_weights is not None:
        _save_best(run, state, monitor)
    if run is not None:
        final = {"weights": weights, "epoch": weights_epoch, **final_metrics}
        _write_metrics(run, state, monitor, final)
    if run is not None and cfg.plot:
        _write_plots(run, state.history, model, train_xy, val_xy)
    if team is not None:
        barrier()  # rank 0's files are complete before any rank goes on (e.g. to resume from them)
    return TrainResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_value=state.best_value if state.best_epoch is not None else None,
        monitor=monitor,
        stopped_early=state.stopped_early,
        final_metrics=final_metrics,
        run_dir=run,
        wall_time=time.perf_counter() - started,
        start_epoch=start_epoch,
        weights=weights,
        weights_epoch=weights_epoch,
    )


def _train_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    cfg: TrainConfig,
    monitor: str,
    state: _State,
    shuffle_gen: torch.Generator,
    run: Path | None,
    signature: dict[str, Any],
    team=None,
) -> None:
    """Epochs ``state.epoch + 1 .. cfg.epochs``: train, measure, early-stop, write metrics and checkpoints."""
    X, y = train
    eval_batch = max(_EVAL_BATCH_SIZE, cfg.batch_size)  # what a training step holds, without gradients
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
            train_loss = _train_epoch(model, step, X, y, cfg.batch_size, order, team)
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_mse": _shared_mse(model, X, y, team, eval_batch),
                "val_mse": None if val is None else _shared_mse(model, *val, team, eval_batch),
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

"""Plots of a run: :func:`plot_loss` and :func:`plot_prediction`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._plotting import matplotlib_figure, save_figure
from .config import LOSS_PLOT, PREDICTION_PLOT, ArrayLike, PathLike
from .evaluation import _as_tensor, predict

__all__ = ["plot_loss", "plot_prediction"]


# --------------------------------------------------------------------------------------------------
# Plots (matplotlib is optional and imported lazily)
# --------------------------------------------------------------------------------------------------


def plot_loss(history: Sequence[dict[str, Any]], path: PathLike) -> Path | None:
    """Plot train and validation MSE per epoch on a log scale into a PNG.

    Args:
        history: rows as in :attr:`TrainResult.history`.
        path: the PNG to write.

    Returns:
        ``path``, or ``None`` when matplotlib is missing or the history is empty.
    """
    mpl = matplotlib_figure()
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
    save_figure(fig, Path(path))
    return Path(path)


def plot_prediction(
    model: nn.Module | Callable[[ArrayLike], np.ndarray],
    train: tuple[ArrayLike, ArrayLike],
    val: tuple[ArrayLike, ArrayLike] | None,
    path: PathLike,
    max_outputs: int = 3,
) -> Path | None:
    """Plot prediction vs truth over the window index, train then validation, split marked.

    As in the papers' figures, the validation windows are assumed to follow the train windows in
    time (a chronological split); a dashed vertical line marks the split.

    Args:
        model: the trained model, or a function mapping windows to predictions ``(N, out_features)``
            (e.g. a fitted ``ReservoirRegressor``'s ``predict``, which reads cached features).
        train: ``(X (N_train, seq_len, features), y (N_train, out_features))``.
        val: the same for validation, or ``None``.
        path: the PNG to write.
        max_outputs: plot at most this many output features, one panel each.

    Returns:
        ``path``, or ``None`` when matplotlib is missing.
    """
    mpl = matplotlib_figure()
    if mpl is None:
        return None
    parts = [train] + ([val] if val is not None else [])
    preds = [predict(model, X) if isinstance(model, nn.Module) else np.asarray(model(X)) for X, _ in parts]
    truths = [_as_tensor(y, "y").cpu().numpy() for _, y in parts]
    n_out = min(truths[0].shape[1], max_outputs)
    Figure, Canvas = mpl
    fig = Figure(figsize=(8.0, 2.8 * n_out))
    Canvas(fig)
    offsets = np.cumsum([0] + [len(t) for t in truths])
    for k in range(n_out):
        ax = fig.add_subplot(n_out, 1, k + 1)
        ax.plot(np.arange(offsets[-1]), np.concatenate([t[:, k] for t in truths]), color="black", lw=1.2, label="truth")
        # offsets has one entry more than preds, and "validation" has no prediction without a val split
        for label, pred, start in zip(("train", "validation"), preds, offsets, strict=False):
            ax.plot(np.arange(start, start + len(pred)), pred[:, k], lw=1.2, ls="--", label=f"prediction ({label})")
        if val is not None:
            ax.axvline(offsets[1], color="red", ls=":", lw=1.2, label="train / validation split")
        ax.set_ylabel("y" if n_out == 1 else f"y[{k}]")
        ax.legend(fontsize="small")
    ax.set_xlabel("window (time index)")
    fig.tight_layout()
    save_figure(fig, Path(path))
    return Path(path)


def _write_plots(
    run_dir: Path, history: list[dict[str, Any]], model: nn.Module, train: tuple, val: tuple | None
) -> None:
    if plot_loss(history, run_dir / LOSS_PLOT) is not None:
        plot_prediction(model, train, val, run_dir / PREDICTION_PLOT)

"""Data checking, :func:`predict` and :func:`evaluate`."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._threads import small_work_threads
from .config import ArrayLike

__all__ = ["predict", "evaluate"]

_EVAL_BATCH_SIZE = 256


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


def _check_same_features(
    train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], name: str = "val"
) -> None:
    if train[0].shape[2] != val[0].shape[2]:
        raise ValueError(f"{name} X has {val[0].shape[2]} features but train X has {train[0].shape[2]}")
    if train[1].shape[1] != val[1].shape[1]:
        raise ValueError(f"{name} y has {val[1].shape[1]} outputs but train y has {train[1].shape[1]}")


def _data_signature(train: tuple[torch.Tensor, ...], val: tuple[torch.Tensor, ...] | None) -> dict[str, Any]:
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


def _squared_error(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Sum of squared errors over every element of ``y`` (float64, on the device), in eval mode."""
    if X.shape[0] == 0:
        return torch.zeros((), dtype=torch.float64, device=X.device)
    pred = _predict_tensor(model, X, batch_size)
    _check_output(pred, y.shape)
    return (pred - y).double().pow(2).sum()


@small_work_threads()
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


@small_work_threads()
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

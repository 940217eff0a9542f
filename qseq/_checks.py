"""Argument validation shared by every layer: counts and float arrays, with errors that name the argument;
and whether autograd records operations on given tensors (which fast paths without gradients ask)."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "check_count",
    "first_nonfinite",
    "all_finite",
    "as_checked_array",
    "check_windows",
    "check_targets",
    "check_input_dtype",
    "records_grad",
]


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an ``int`` ``>= minimum``; a bool, float or other type is a ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def first_nonfinite(a: np.ndarray) -> int | None:
    """Index along the first axis of the first row holding a NaN or inf, or ``None``."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0, 0])


def records_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd records operations on any of ``tensors`` now: grad mode on and one of them
    requires a gradient (``None`` entries skipped)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def all_finite(t: torch.Tensor) -> bool:
    """Whether ``t`` holds no NaN or inf. Reading the answer makes the host wait for the device, which
    a CUDA graph capture forbids: while one is being captured this returns ``True`` unchecked (the
    data of a graphed training step is checked once, before capture, by :func:`qseq.train.fit`)."""
    if t.is_cuda and torch.cuda.is_current_stream_capturing():
        return True
    if not t.is_floating_point() or not t.numel():
        return bool(torch.isfinite(t.detach()).all())
    # the extremes are NaN if any value is, and infinite if any is: one reduction, no mask
    # (a third of the time of isfinite().all() for the small tensors of a recurrent step)
    return all(map(math.isfinite, torch.stack(torch.aminmax(t.detach())).tolist()))


def as_checked_array(value, name: str, ndim: int, layout: str, *, column: bool = False) -> np.ndarray:
    """``value`` (tensor or array-like) as a float64 numpy array of ``ndim`` dims — a 1-D input
    becomes a column when ``column`` — that is non-empty and finite; errors name ``name`` and the
    expected ``layout``."""
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=np.float64)
    if column and a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {layout}, got shape {a.shape}")
    if len(a) == 0:
        raise ValueError(f"{name} is empty (length 0)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a.astype(np.float64, copy=False)


def check_windows(X) -> np.ndarray:
    """Windows ``X`` ``(N, seq_len, features)`` as a finite float64 array."""
    return as_checked_array(X, "X", 3, "windows shaped (N, seq_len, features)")


def check_targets(y, n: int) -> np.ndarray:
    """Targets ``y`` ``(N, targets)`` or ``(N,)`` as a finite float64 ``(N, targets)`` array, ``N == n``."""
    y = as_checked_array(y, "y", 2, "shaped (N, targets) or (N,)", column=True)
    if len(y) != n:
        raise ValueError(f"X has {n} windows but y has {len(y)} targets")
    return y


def check_input_dtype(owner: str, x: torch.Tensor, dtype: torch.dtype) -> None:
    """Refuse an input tensor whose dtype is not the module's parameter ``dtype``, as ``torch.nn.LSTM``
    does: a float64 input is not silently rounded into a float32 model (nor the reverse), and
    integer, boolean, complex or half-precision inputs get a message that says what to pass."""
    if x.dtype == dtype:
        return
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"{owner}: input must be a real tensor of the module's dtype {dtype} "
            f"(circuits run in float32 or float64), got {x.dtype}: pass input.to({dtype})"
        )
    raise ValueError(
        f"{owner}: input dtype ({x.dtype}) does not match the parameters' dtype ({dtype}): "
        f"convert the input with input.to({dtype}) or the model with model.to({x.dtype})"
    )

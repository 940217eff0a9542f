"""The fused QLSTM layer's compiled CPU kernels (``fused_kernel.c``; without gradients
``fused_lanes_kernel.c``) and the calls into them.

On the CPU a fused layer's time loop in torch operations is bound by their count (about 40 a step
forward and 60 backward, a few microseconds each), not by arithmetic. The C kernel runs the same
equations (:mod:`qseq.models.fused`, the reference it is tested against) for the whole sequence in
one call each way, with the per-step values the backward pass needs kept in tensors allocated here.
The unitaries' and the input projection's gradients are summed over all steps afterwards by one
torch product each, as in the torch path. It is compiled at first use by :mod:`qseq._native`;
:func:`kernel` is ``None`` where that is not possible, and the torch path runs instead.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import torch

from .. import _native
from ..backends.engine.compiled_lanes import LanesForm

__all__ = [
    "NativeLayer",
    "NativeSteps",
    "kernel",
    "native_forward",
    "native_backward",
    "lanes_kernel",
    "native_lanes_forward",
]

_SOURCE = _native.register(Path(__file__).with_name("fused_kernel.c"), priority=0)  # a training step's
_LANES_SOURCE = _native.register(Path(__file__).with_name("fused_lanes_kernel.c"), priority=2)  # no gradients
_SIZES = ("T", "B", "I", "H", "n", "K2", "readout", "keep_steps", "ldw")
_POINTERS = (
    *("x", "h0", "c0", "keep", "proj_w", "proj_b", "wg", "wh", "wgT", "whT", "alpha", "off", "hz", "obs"),
    *("ys", "h", "c", "v", "p", "psi_g", "y_g", "forget", "d_gates", "d_c", "u", "psi_h", "y_h"),
    *("grad_ys", "grad_h", "grad_c", "gx", "gh0", "gc0", "gy_g", "gy_h", "gp"),
)


class _Args(ctypes.Structure):
    """The kernel's ``qlstm_args``: sizes, then pointers (``None`` for an absent tensor)."""

    _fields_ = [(name, ctypes.c_int) for name in _SIZES] + [(name, ctypes.c_void_p) for name in _POINTERS]


def kernel(dtype: torch.dtype) -> tuple | None:
    """``(forward, backward)`` C functions for ``dtype`` (float32 or float64), or ``None`` (see
    :mod:`qseq._native`)."""
    if not dtype.is_floating_point:
        return None
    return _native.kernel_functions(_SOURCE, dtype, ("qlstm_forward", "qlstm_backward"), _Args)


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class NativeSteps(NamedTuple):
    """Per-step values of a forward pass (``(T, B, ...)`` each) that the backward pass reads."""

    v: torch.Tensor  # (T, B, I + H) the cell's inputs [x_t, h_{t-1}]
    p: torch.Tensor  # (T, B, n) the encoded values
    psi_g: torch.Tensor  # (T, B, 2D) the gate bank's product states
    y_g: torch.Tensor  # (T, B, 4·2D) its evolved states
    forget: torch.Tensor  # (T, B, n)
    d_gates: torch.Tensor  # (T, B, 4, n)
    d_c: torch.Tensor  # (T, B, n)
    u: torch.Tensor  # (T, B, n)
    psi_h: torch.Tensor  # (T, B, 2D) the hidden bank's product states
    y_h: torch.Tensor  # (T, B, K2·2D)


class NativeLayer(NamedTuple):
    """A layer's constant inputs in the kernel's layout (contiguous, on the CPU)."""

    wg: torch.Tensor  # (2D, 4·2D), rows of stride ldw
    wh: torch.Tensor  # (2D, K2·2D), rows of stride ldw (both column blocks of one matrix: no copy)
    alpha: torch.Tensor  # (n,) RY scale per wire (1/2 or 0)
    off: torch.Tensor  # (n, 4) sines and cosines of the magnitude offsets c_{q,s}: sin c_0, sin c_1, cos c_0, cos c_1
    hz: torch.Tensor  # (n,) 1 where the wire has RZ
    obs: torch.Tensor  # (D, n) the Z words' ±1 table
    hidden_size: int
    readout: bool

    @classmethod
    def make(cls, w_gates, w_hidden, tables, hidden_size: int, readout: bool) -> NativeLayer:
        w_gates, w_hidden = w_gates.detach(), w_hidden.detach()
        if w_gates.stride(1) != 1 or w_hidden.stride(1) != 1 or w_gates.stride(0) != w_hidden.stride(0):
            w_gates, w_hidden = w_gates.contiguous(), w_hidden.contiguous()
            if w_gates.shape[1] != w_hidden.shape[1]:  # one row stride for both
                both = torch.cat([w_gates, w_hidden], dim=1)
                w_gates, w_hidden = both[:, : w_gates.shape[1]], both[:, w_gates.shape[1] :]
        alpha = tables.scale.view(-1)
        return cls(w_gates, w_hidden, alpha, tables.trig_sin, tables.has_rz, tables.diagonal, hidden_size, readout)


def _layer_args(layer: NativeLayer, steps: int, batch: int, inputs: int, keep_steps: bool) -> _Args:
    """The kernel's arguments with the sizes and the layer's constant inputs filled in."""
    args = _Args(
        T=steps, B=batch, I=inputs, H=layer.hidden_size, n=layer.alpha.shape[0],
        K2=layer.wh.shape[1] // layer.wh.shape[0], readout=int(layer.readout), keep_steps=int(keep_steps),
        ldw=layer.wg.stride(0),
    )  # fmt: skip
    for name in ("wg", "wh", "alpha", "off", "hz", "obs"):
        setattr(args, name, _ptr(getattr(layer, name)))
    return args


def native_forward(fns, layer: NativeLayer, x, h0, c0, keep, proj_w, proj_b, keep_steps: bool):
    """``(ys (T, B, H or n), h_T, c_T, NativeSteps or None)``: the layer's forward pass in one call.
    Shapes as in :func:`qseq.models.fused.qlstm_layer`; ``keep`` ``(T, B)`` or ``None``."""
    length, batch, width = x.shape
    n, d2 = layer.alpha.shape[0], layer.wg.shape[0]
    args = _layer_args(layer, length, batch, width, keep_steps)
    slots = length if keep_steps else 1
    new = x.new_empty
    steps = NativeSteps(
        new(slots, batch, width + layer.hidden_size), new(slots, batch, n), new(slots, batch, d2),
        new(slots, batch, 4 * d2), new(slots, batch, n), new(slots, batch, 4, n), new(slots, batch, n),
        new(slots, batch, n), new(slots, batch, d2), new(slots, batch, args.K2 * d2),
    )  # fmt: skip
    ys = new(length, batch, n if layer.readout else layer.hidden_size)
    h, c = new(batch, layer.hidden_size), new(batch, n)
    inputs = [t if t is None else t.detach().contiguous() for t in (x, h0, c0, keep, proj_w, proj_b)]
    for name, t in zip(("x", "h0", "c0", "keep", "proj_w", "proj_b"), inputs, strict=True):
        setattr(args, name, _ptr(t))
    args.ys, args.h, args.c = _ptr(ys), _ptr(h), _ptr(c)
    for name, t in zip(NativeSteps._fields, steps, strict=True):
        setattr(args, name, _ptr(t))
    _native.call(fns[0], args, "the fused QLSTM kernel's forward pass")
    return ys, h, c, (steps if keep_steps else None)


def native_backward(fns, layer: NativeLayer, steps: NativeSteps, keep, proj_w, grad_ys, grad_h, grad_c):
    """``(gx (T, B, I), gh0 (B, H), gc0 (B, n), gy_g (T, B, 4·2D), gy_h (T, B, K2·2D), gp (T, B, n))``:
    the gradients of the inputs, the evolved states' gradients (for the unitaries') and the encoded
    values' (for the projection's), from one call."""
    length, batch = steps.v.shape[:2]
    args = _layer_args(layer, length, batch, steps.v.shape[2] - layer.hidden_size, True)
    new = steps.v.new_empty
    gx, gh0, gc0 = new(length, batch, args.I), new(batch, layer.hidden_size), new(batch, args.n)
    gy_g, gy_h, gp = new(steps.y_g.shape), new(steps.y_h.shape), new(steps.p.shape)
    wgT, whT = layer.wg.T.contiguous(), layer.wh.T.contiguous()
    grads = [t if t is None else t.detach().contiguous() for t in (grad_ys, grad_h, grad_c)]
    keep, proj_w = (t if t is None else t.detach().contiguous() for t in (keep, proj_w))
    args.wgT, args.whT, args.keep, args.proj_w = _ptr(wgT), _ptr(whT), _ptr(keep), _ptr(proj_w)
    for name, t in zip(NativeSteps._fields, steps, strict=True):
        setattr(args, name, _ptr(t))
    args.grad_ys, args.grad_h, args.grad_c = (_ptr(t) for t in grads)
    for name, t in zip(("gx", "gh0", "gc0", "gy_g", "gy_h", "gp"), (gx, gh0, gc0, gy_g, gy_h, gp), strict=True):
        setattr(args, name, _ptr(t))
    _native.call(fns[1], args, "the fused QLSTM kernel's backward pass")
    return gx, gh0, gc0, gy_g, gy_h, gp


class _LanesArgs(ctypes.Structure):
    """The kernel's ``qlstm_lanes_args``."""

    _fields_ = (
        [(name, ctypes.c_int) for name in ("T", "B", "I", "H", "n", "K2", "readout")]
        + [(name, ctypes.c_void_p) for name in ("x", "h0", "c0", "keep", "proj_w", "proj_b", "alpha", "off", "hz")]
        + [(name, ctypes.c_void_p) for name in ("mg", "mh")]
        + [("S", ctypes.c_int)]
        + [(name, ctypes.c_void_p) for name in ("kind", "phased", "source", "phase", "ys", "h", "c")]
    )


def lanes_kernel(dtype: torch.dtype):
    """The forward pass without gradients by the lanes kernel (``qlstm_lanes_forward``) for ``dtype``,
    or ``None``."""
    if not dtype.is_floating_point:
        return None
    fns = _native.kernel_functions(_LANES_SOURCE, dtype, ("qlstm_lanes_forward",), _LanesArgs)
    return None if fns is None else fns[0]


def native_lanes_forward(fn, form: LanesForm, hidden_size: int, readout: bool, x, h0, c0, keep, proj_w, proj_b):
    """``(ys (T, B, H or n), h_T, c_T)``: the layer's forward pass without gradients in one call, its
    VQC1–4 and VQC5(–6) the circuits of ``form`` (:class:`~qseq.backends.engine.compiled_lanes.LanesForm`,
    those circuits in that order). Shapes as in :func:`qseq.models.fused.qlstm_layer`."""
    length, batch, width = x.shape
    n, run = form.mats.shape[2], form.kernel.run
    mats = torch.view_as_real(form.mats)
    args = _LanesArgs(T=length, B=batch, I=width, H=hidden_size, n=n, K2=form.mats.shape[0] - 4, readout=int(readout))
    ys = x.new_empty(length, batch, n if readout else hidden_size)
    h, c = x.new_empty(batch, hidden_size), x.new_empty(batch, n)
    inputs = [t if t is None else t.detach().contiguous() for t in (x, h0, c0, keep, proj_w, proj_b)]
    tables = form.tables
    for name, t in zip(("x", "h0", "c0", "keep", "proj_w", "proj_b"), inputs, strict=True):
        setattr(args, name, _ptr(t))
    args.alpha, args.off, args.hz = _ptr(tables.scale), _ptr(tables.trig_sin), _ptr(tables.has_rz)
    args.mg, args.mh = _ptr(mats[:4]), _ptr(mats[4:])
    args.S, args.kind, args.phased = run.kind.shape[0], _ptr(run.kind), _ptr(form.kernel.phased)
    args.source, args.phase = _ptr(run.source), _ptr(run.phase)
    args.ys, args.h, args.c = _ptr(ys), _ptr(h), _ptr(c)
    _native.call(fn, args, "the fused QLSTM kernel's forward pass")
    return ys, h, c

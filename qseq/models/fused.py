"""A whole QLSTM layer as one autograd function over the torch engine's product-state fast path.

Stepping :class:`~qseq.models.cells.QLSTMCell` through a sequence records a few hundred small
tensor operations per time step in autograd's graph. Where both VQC banks have a product-state form
(:meth:`qseq.backends.Backend.product_form`: the torch engine, registers up to 10 qubits, batches
where fusing pays), :func:`qlstm_layer` runs the layer as one :class:`torch.autograd.Function`
instead — the role cuDNN's fused kernel plays for ``torch.nn.LSTM``: the forward pass loops over
time with about 40 operations a step and keeps what the backward pass needs; the backward pass runs
the cell's equations backwards by hand (about 60 operations a step) and sums the unitaries' and the
projection's gradients over all steps in one product each. The equations are those of
:class:`~qseq.models.cells.QLSTMCell`, with Chen's encoding ``a = arctan v``, ``b = arctan v²``;
the cell's step-by-step path is the reference it is tested against.

On the CPU the same loop runs as one compiled C call each way (:mod:`qseq.models.fused_native`)
where the kernel is available; the torch operations here are its fallback and its reference.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import records_grad
from ..backends.engine.compiled_lanes import LanesForm
from ..backends.engine.product import (
    ProductForm,
    ProductState,
    ProductTables,
    backward_rows,
    product_backward,
    product_forward,
)
from .fused_native import NativeLayer, kernel, lanes_kernel, native_backward, native_forward, native_lanes_forward

__all__ = ["chen_layout", "qlstm_layer", "qlstm_lanes_layer"]


class _Layer(NamedTuple):
    """What does not change over a sequence: the two banks' real unitaries (column blocks of one
    product form's ``w``: VQC1–4, then VQC5, and VQC6 with a readout VQC), tables and sizes."""

    w_gates: torch.Tensor  # (2D, 4·2D)
    w_hidden: torch.Tensor  # (2D, K·2D)
    tables: ProductTables
    hidden_size: int
    readout: bool

    @classmethod
    def split(cls, w: torch.Tensor, tables: ProductTables, hidden_size: int, readout: bool) -> _Layer:
        cut = 4 * w.shape[0]
        return cls(w[:, :cut], w[:, cut:], tables, hidden_size, readout)


class _Step(NamedTuple):
    """One time step's values kept for the backward pass."""

    v: torch.Tensor  # (B, I + H) the cell's input [x_t, h_{t-1}]
    p: torch.Tensor  # (B, n) encoded values (v, or its projection)
    gates: ProductState
    forget: torch.Tensor  # (B, n) σ(f) = ∂c_t/∂c_{t-1}
    d_gates: torch.Tensor  # (B, 4, n) ∂(c_t, c_t, c_t, u_t)/∂(VQC outputs f, i, g, o): [c_{t-1}, g, i, tanh c] ⊙ act'
    d_c: torch.Tensor  # (B, n) ∂u_t/∂c_t = o ⊙ (1 - tanh² c)
    u: torch.Tensor  # (B, n) o ⊙ tanh c, the hidden bank's encoded values
    hidden: ProductState


# act = shift + mult · σ(scale · z) gives σ for f, i, o and tanh(z) = 2σ(2z) - 1 for g, in three ops.
# The slope ∂act/∂z is mult · scale · σ'(scale · z), with mult · scale = [1, 1, 4, 1].
_GATE_CONSTANTS: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _gate_constants(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(scale = mult, shift, mult · scale)``, each ``(4, 1)``, on ``like``'s device: made once per device
    and dtype (never inside a CUDA graph capture, which a host-to-device copy would break)."""
    key = (like.dtype, like.device)
    if key not in _GATE_CONSTANTS:
        scale = torch.tensor([[1.0], [1.0], [2.0], [1.0]], dtype=like.dtype, device=like.device)
        shift = torch.tensor([[0.0], [0.0], [-1.0], [0.0]], dtype=like.dtype, device=like.device)
        _GATE_CONSTANTS[key] = (scale, shift, scale * scale)
    return _GATE_CONSTANTS[key]


def chen_layout(form: ProductForm | LanesForm, n_qubits: int) -> bool:
    """Whether ``form`` reads wire ``q``'s RY angle at input ``q`` and its RZ angle at ``n + q`` (the
    layout of :func:`~qseq.circuits.chen_vqc`, which :func:`_angles` produces), and, for a lanes form,
    reads ``⟨Z_q⟩`` as its ``q``-th value."""
    tables = form.tables
    if isinstance(form, LanesForm) and form.kernel.z_order != tuple(range(n_qubits)):
        return False
    return tables.ry == slice(0, n_qubits) and tables.rz == slice(n_qubits, 2 * n_qubits)


def _angles(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Chen's encoding of ``v`` ``(B, n)``: the RY angles ``arctan v`` and RZ angles ``arctan v²``."""
    return torch.atan(v), torch.atan(v * v)


def _angles_backward(v: torch.Tensor, grad_a: torch.Tensor, grad_b: torch.Tensor) -> torch.Tensor:
    """``∂/∂v`` of Chen's encoding: ``grad_a / (1 + v²) + 2 · grad_b · v / (1 + v⁴)``."""
    v2 = v * v
    return torch.add(grad_a / (v2 + 1), grad_b * v / (v2 * v2 + 1), alpha=2)


def _forward(layer: _Layer, x, h, c, keep, proj_w, proj_b, keep_steps: bool):
    tables = layer.tables
    scale, shift, slope_scale = _gate_constants(x)
    outputs, steps = [], []
    for t in range(x.shape[0]):
        if keep is not None:
            h, c = h * keep[t], c * keep[t]
        v = torch.cat([x[t], h], dim=-1)
        p = v if proj_w is None else torch.nn.functional.linear(v, proj_w, proj_b)
        z, s_gates = product_forward(*_angles(p), layer.w_gates, tables, arctan=True)  # (B, 4, n)
        sig = torch.sigmoid(z * scale)
        act = torch.addcmul(shift, sig, scale)
        c_prev = c
        c = torch.addcmul(act[:, 0] * c_prev, act[:, 1], act[:, 2])
        tanh_c = torch.tanh(c)
        u = act[:, 3] * tanh_c
        out, s_hidden = product_forward(*_angles(u), layer.w_hidden, tables, arctan=True)  # (B, K, n)
        h = out[:, 0, : layer.hidden_size]
        outputs.append(out[:, 1] if layer.readout else h)
        if keep_steps:
            slope = torch.addcmul(sig, sig, sig, value=-1) * slope_scale  # σ(1 - σ) · mult · scale
            d_gates = torch.stack([c_prev, act[:, 2], act[:, 1], tanh_c], dim=1) * slope
            d_c = torch.addcmul(act[:, 3], u, tanh_c, value=-1)
            steps.append(_Step(v, p, s_gates, act[:, 0], d_gates, d_c, u, s_hidden))
    return torch.stack(outputs), h, c, steps


def _native_kernel(layer: _Layer, x: torch.Tensor):
    """The compiled kernel's functions for this layer and input, or ``None`` (torch path): on the
    CPU, in float32 or float64, for circuits measuring one Z word per wire."""
    if x.device.type != "cpu" or layer.tables.readout.shape[1] != layer.tables.scale.shape[0]:
        return None
    return kernel(x.dtype)


def _layer_forward(layer: _Layer, x, h, c, keep, proj_w, proj_b, keep_steps: bool):
    """``(ys, h_T, c_T, what the backward pass needs)`` by the compiled kernel where it applies,
    else by :func:`_forward`; what is kept is ``(fns, NativeLayer, NativeSteps)`` or a list of
    :class:`_Step`."""
    fns = _native_kernel(layer, x)
    if fns is None:
        return _forward(layer, x, h, c, keep, proj_w, proj_b, keep_steps)
    native = NativeLayer.make(layer.w_gates, layer.w_hidden, layer.tables, layer.hidden_size, layer.readout)
    ys, h, c, steps = native_forward(fns, native, x, h, c, keep, proj_w, proj_b, keep_steps)
    return ys, h, c, (fns, native, steps)


def _native_backward(ctx, kept, keep, proj_w, grad_ys, grad_h, grad_c):
    """The compiled kernel's backward pass, with the unitaries' and projection's gradients summed
    over all steps by one product each."""
    fns, native, steps = kept
    need_x, need_h0, need_c0, _, need_w, need_pw, need_pb = ctx.needs_input_grad[3:]
    gx, gh0, gc0, gy_g, gy_h, gp = native_backward(fns, native, steps, keep, proj_w, grad_ys, grad_h, grad_c)
    g_w = g_pw = g_pb = None
    if need_w:
        d2 = native.wg.shape[0]
        g_w = torch.cat(
            [
                steps.psi_g.view(-1, d2).T @ gy_g.view(-1, gy_g.shape[-1]),
                steps.psi_h.view(-1, d2).T @ gy_h.view(-1, gy_h.shape[-1]),
            ],
            dim=1,
        )
    if proj_w is not None and need_pw:
        g_pw = gp.view(-1, gp.shape[-1]).T @ steps.v.view(-1, steps.v.shape[-1])
    if proj_w is not None and need_pb:
        g_pb = gp.sum((0, 1))
    return (
        None,
        None,
        None,
        gx if need_x else None,
        gh0 if need_h0 else None,
        gc0 if need_c0 else None,
        None,
        g_w,
        g_pw,
        g_pb,
    )


class _QLSTMLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tables, hidden_size, readout, x, h0, c0, keep, w, proj_w, proj_b):
        layer = _Layer.split(w, tables, hidden_size, readout)
        ys, h, c, steps = _layer_forward(layer, x, h0, c0, keep, proj_w, proj_b, True)
        ctx.layer, ctx.steps = layer, steps
        ctx.save_for_backward(keep, proj_w)
        return ys, h, c

    @staticmethod
    def backward(ctx, grad_ys, grad_h, grad_c):
        layer: _Layer = ctx.layer
        keep, proj_w = ctx.saved_tensors
        if isinstance(ctx.steps, tuple):
            return _native_backward(ctx, ctx.steps, keep, proj_w, grad_ys, grad_h, grad_c)
        steps: list[_Step] = ctx.steps
        need_x, need_h0, need_c0, _, need_w, need_pw, need_pb = ctx.needs_input_grad[3:]
        batch, n = steps[0].u.shape
        hs = layer.hidden_size
        x_size = steps[0].v.shape[-1] - hs
        gh = grad_h if grad_h is not None else steps[0].u.new_zeros(batch, hs)
        gc = grad_c if grad_c is not None else steps[0].u.new_zeros(batch, n)
        pad = [gh.new_zeros(batch, n - hs)] if hs < n else []
        no_output = gh.new_zeros(batch, n) if layer.readout and grad_ys is None else None
        grad_x, gy_gates, gy_hidden, g_proj = [], [], [], []
        back_gates, back_hidden = backward_rows(layer.w_gates), backward_rows(layer.w_hidden)
        for t in range(len(steps) - 1, -1, -1):
            s = steps[t]
            gy = grad_ys[t] if grad_ys is not None else None
            parts = [gh if (layer.readout or gy is None) else gh + gy, *pad]  # h reads VQC5's first H outputs
            if layer.readout:
                parts.append(no_output if gy is None else gy)
            g_out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
            gy2, ga, gb = product_backward(
                g_out.view(batch, -1, n), s.hidden, layer.w_hidden, layer.tables, w_back=back_hidden
            )
            gy_hidden.append(gy2)
            gu = _angles_backward(s.u, ga, gb)
            gc = torch.addcmul(gc, gu, s.d_c)
            g_gates = torch.stack([gc, gc, gc, gu], dim=1) * s.d_gates
            gc = gc * s.forget
            gy1, ga, gb = product_backward(g_gates, s.gates, layer.w_gates, layer.tables, w_back=back_gates)
            gy_gates.append(gy1)
            gp = _angles_backward(s.p, ga, gb)
            g_proj.append(gp)
            gv = gp if proj_w is None else gp @ proj_w
            grad_x.append(gv[:, :x_size])
            gh = gv[:, x_size:]
            if keep is not None:
                gh, gc = gh * keep[t], gc * keep[t]
        g_w = None
        if need_w:  # every step's contribution in one product per bank
            g_w = torch.cat(
                [
                    torch.cat([s.gates.psi for s in steps]).T @ torch.cat(gy_gates[::-1]),
                    torch.cat([s.hidden.psi for s in steps]).T @ torch.cat(gy_hidden[::-1]),
                ],
                dim=1,
            )
        g_pw = g_pb = None
        if proj_w is not None and (need_pw or need_pb):
            gp_all = torch.cat(g_proj[::-1])
            g_pw = gp_all.T @ torch.cat([s.v for s in steps]) if need_pw else None
            g_pb = gp_all.sum(0) if need_pb else None
        gx = torch.stack(grad_x[::-1]) if need_x else None
        return None, None, None, gx, (gh if need_h0 else None), (gc if need_c0 else None), None, g_w, g_pw, g_pb


def qlstm_layer(form: ProductForm, hidden_size: int, readout: bool, x, h0, c0, keep, proj_w, proj_b):
    """Run a QLSTM layer whose VQC1–4 and VQC5(–6) are the circuits of ``form`` (in that order).

    Shapes: ``x`` ``(T, B, I)``, ``h0`` ``(B, H)``, ``c0`` ``(B, n)``, ``keep`` ``(T, B, 1)`` (0 where
    an episode starts, else 1) or ``None``, ``proj_w`` ``(n, I + H)`` and ``proj_b`` ``(n,)`` or
    ``None`` (no input projection). Returns ``(outputs (T, B, H or n), h_T, c_T)``.
    """
    args = (x, h0, c0, keep, form.w, proj_w, proj_b)
    if records_grad(*args):
        return _QLSTMLayer.apply(form.tables, hidden_size, readout, *args)
    layer = _Layer.split(form.w, form.tables, hidden_size, readout)
    ys, h, c, _ = _layer_forward(layer, x, h0, c0, keep, proj_w, proj_b, False)
    return ys, h, c


def qlstm_lanes_layer(form: LanesForm, hidden_size: int, readout: bool, x, h0, c0, keep, proj_w, proj_b):
    """The layer of :func:`qlstm_layer` without gradients, its banks evaluated gate by gate with the
    batch across SIMD lanes (:mod:`qseq.backends.engine.compiled_lanes`): ``(outputs, h_T, c_T)``, or
    ``None`` where the compiled kernel is not available or ``x`` is not on the CPU in the form's real
    dtype (the caller steps the cell instead). Cheaper than the dense unitaries' product from about
    8 qubits, or a few inputs."""
    fn = lanes_kernel(x.dtype)
    if (
        fn is None
        or x.device.type != "cpu"
        or form.mats.dtype.to_real() != x.dtype
        or form.mats.shape[0] - 4 not in (1, 2)  # VQC5, or VQC5 and VQC6
    ):
        return None
    return native_lanes_forward(fn, form, hidden_size, readout, x, h0, c0, keep, proj_w, proj_b)

"""Whole small circuits in one Triton kernel on CUDA, forward only.

A per-sample call of a small circuit on the GPU through torch's operations is about a hundred
kernels of a few µs each (half angles, gate matrices, one pass per wire block and gather, the
readout), even when replayed as a CUDA graph: 0.18 ms of GPU time for 4,096 four-qubit circuits
on an H200, for well under a µs of arithmetic per circuit. Here one kernel does the whole call: each
program holds ``BLOCK`` states in registers (real and imaginary parts, ``(BLOCK, 2^n)``), starts
them at ``|0…0⟩``, and walks the run's stages — a Local stage builds every wire's 2×2 matrix from
the angles (the gate plan of :mod:`.compiled_gates`: products of Pauli rotations and constants)
and applies it,

    ψ'[i] = m[b][b] ψ[i] + m[b][1-b] ψ[i ⊕ 2^(n-1-w)],   b = bit (n-1-w) of i,

with the partner amplitudes brought by ``tl.gather`` along the state; a Permute stage gathers
``ψ'[i] = phase[i] ψ[source[i]]`` — and reads ``⟨Z_w⟩ = Σ_i |ψ_i|² (−1)^(bit of w in i)``. The
plans are :class:`~.compiled_gates.GatePlan` and :class:`~.compiled_run.RunPlan`, the CPU kernels'
own, copied to the device once.

It serves forward calls without gradients (``TorchBackend`` on CUDA, inside its CUDA graphs too);
calls with gradients take torch's operations, which autograd differentiates. Without Triton
:func:`available` is false and the torch path runs.
"""

from __future__ import annotations

import functools

import torch

from .compiled_gates import GatePlan
from .compiled_run import RunPlan

__all__ = ["GpuCircuit", "GPU_CIRCUIT_MAX_QUBITS", "available"]

#: Largest register run by the kernel (a program's states live in registers).
GPU_CIRCUIT_MAX_QUBITS = 10
# states per program × 2^n, and warps per program: measured on an H200 at batch 4096, 512 with one
# warp was the fastest at 8 qubits and within 10 % of the fastest at 4
_AMPLITUDES_PER_PROGRAM = 512
_WARPS = 1


@functools.cache
def _kernel():
    """The compiled Triton kernel, or ``None`` without Triton."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def circuit_kernel(
        angles, out, kind, index, start, axis, arg, consts, source, phase, z_wires,
        n_rows, P, S, n_obs, N: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        keep = rows < n_rows
        row_angles = angles + rows.to(tl.int64) * P
        i = tl.arange(0, D)
        zero = tl.zeros([BLOCK, D], dtype=angles.dtype.element_ty)
        re = zero + tl.where(i == 0, 1.0, 0.0).to(zero.dtype)[None, :]  # |0…0⟩
        im = zero
        one_v = tl.full([BLOCK], 1.0, zero.dtype)
        zero_v = tl.zeros([BLOCK], zero.dtype)
        for s in range(S):
            j = tl.load(index + s)  # the stage's number among the stages of its kind
            if tl.load(kind + s) == 0:  # Local: every wire's 2×2 matrix, from the gate plan
                for w in range(N):
                    slot = j * N + w
                    m00r, m00i, m01r, m01i = one_v, zero_v, zero_v, zero_v
                    m10r, m10i, m11r, m11i = zero_v, zero_v, one_v, zero_v
                    for t in range(tl.load(start + slot), tl.load(start + slot + 1)):
                        ax = tl.load(axis + t)
                        a = tl.load(arg + t)
                        rotation = ax < 3
                        theta = tl.load(row_angles + a, mask=keep & rotation, other=0.0)
                        c, sn = tl.cos(theta * 0.5), tl.sin(theta * 0.5)
                        fx = tl.where(ax == 0, 1.0, 0.0).to(zero.dtype) * sn
                        fy = tl.where(ax == 1, 1.0, 0.0).to(zero.dtype) * sn
                        fz = tl.where(ax == 2, 1.0, 0.0).to(zero.dtype) * sn
                        k = consts + tl.where(rotation, 0, a) * 8  # (re, im) of a constant's 4 entries
                        # R = cos(t/2) I - i sin(t/2) σ_axis, or the constant
                        r00r = tl.where(rotation, c, tl.load(k))
                        r00i = tl.where(rotation, -fz, tl.load(k + 1))
                        r01r = tl.where(rotation, -fy, tl.load(k + 2))
                        r01i = tl.where(rotation, -fx, tl.load(k + 3))
                        r10r = tl.where(rotation, fy, tl.load(k + 4))
                        r10i = tl.where(rotation, -fx, tl.load(k + 5))
                        r11r = tl.where(rotation, c, tl.load(k + 6))
                        r11i = tl.where(rotation, fz, tl.load(k + 7))
                        # m ← R m
                        n00r = r00r * m00r - r00i * m00i + r01r * m10r - r01i * m10i
                        n00i = r00r * m00i + r00i * m00r + r01r * m10i + r01i * m10r
                        n01r = r00r * m01r - r00i * m01i + r01r * m11r - r01i * m11i
                        n01i = r00r * m01i + r00i * m01r + r01r * m11i + r01i * m11r
                        n10r = r10r * m00r - r10i * m00i + r11r * m10r - r11i * m10i
                        n10i = r10r * m00i + r10i * m00r + r11r * m10i + r11i * m10r
                        n11r = r10r * m01r - r10i * m01i + r11r * m11r - r11i * m11i
                        n11i = r10r * m01i + r10i * m01r + r11r * m11i + r11i * m11r
                        m00r, m00i, m01r, m01i = n00r, n00i, n01r, n01i
                        m10r, m10i, m11r, m11i = n10r, n10i, n11r, n11i
                    # ψ'[i] = m[b][b] ψ[i] + m[b][1-b] ψ[i ⊕ bit], b = i's bit of wire w
                    bit = 1 << (N - 1 - w)
                    upper = ((i & bit) != 0)[None, :]
                    partner = tl.broadcast_to((i ^ bit)[None, :], [BLOCK, D])
                    pre, pim = tl.gather(re, partner, 1), tl.gather(im, partner, 1)
                    dr = tl.where(upper, m11r[:, None], m00r[:, None])
                    di = tl.where(upper, m11i[:, None], m00i[:, None])
                    orr = tl.where(upper, m10r[:, None], m01r[:, None])
                    oi = tl.where(upper, m10i[:, None], m01i[:, None])
                    re, im = dr * re - di * im + orr * pre - oi * pim, dr * im + di * re + orr * pim + oi * pre
            else:  # Permute: ψ'[i] = phase[i] ψ[source[i]]
                src = tl.broadcast_to(tl.load(source + j * D + i)[None, :], [BLOCK, D])
                pr = tl.load(phase + (j * D + i) * 2)[None, :]
                pi = tl.load(phase + (j * D + i) * 2 + 1)[None, :]
                gre, gim = tl.gather(re, src, 1), tl.gather(im, src, 1)
                re, im = pr * gre - pi * gim, pr * gim + pi * gre
        prob = re * re + im * im
        for o in range(n_obs):
            w = tl.load(z_wires + o)
            sign = tl.where(((i >> (N - 1 - w)) & 1) == 1, -1.0, 1.0).to(zero.dtype)
            tl.store(out + rows.to(tl.int64) * n_obs + o, tl.sum(prob * sign[None, :], axis=1), mask=keep)

    return circuit_kernel


def available() -> bool:
    """Whether Triton is here to compile the kernel."""
    return _kernel() is not None


class GpuCircuit:
    """The one-kernel forward pass of one program on one CUDA device, in the precision of the plans'
    complex dtype ``cdtype`` (``gates.consts.dtype``).

    Args:
        gates: the matrices' plan of every Local stage, preparation first.
        run: the run's plan (its stages in order, preparation first).
        z_wires: the wire of each observable's Z ``(n_obs,)``.
        n_qubits: the register (at most :data:`GPU_CIRCUIT_MAX_QUBITS`).
        device: the CUDA device the plans are copied to.

    Calling it with angle vectors ``(N, P)`` (the concatenation of ``gates.groups``, the real dtype
    of ``cdtype``) on that device gives ``(N, n_obs)`` expectation values, not differentiable.
    """

    def __init__(self, gates: GatePlan, run: RunPlan, z_wires: torch.Tensor, n_qubits: int, device):
        as_int = lambda t: t.to(device=device, dtype=torch.int32).contiguous()  # noqa: E731
        self.gates, self.n_qubits, kinds = gates, n_qubits, run.kind.tolist()
        self.kind = as_int(run.kind)
        self.index = as_int(torch.tensor([kinds[:s].count(k) for s, k in enumerate(kinds)]))  # nth of its kind
        self.start, self.axis, self.arg = as_int(gates.start), as_int(gates.axis), as_int(gates.arg)
        consts = gates.consts if gates.consts.shape[0] else torch.zeros(1, 2, 2, dtype=gates.consts.dtype)
        self.consts = torch.view_as_real(consts.to(device)).contiguous()
        self.source = as_int(run.source)
        self.phase = torch.view_as_real(run.phase.to(device)).contiguous()
        self.z_wires = as_int(z_wires)
        self.block = max(_AMPLITUDES_PER_PROGRAM >> n_qubits, 1)

    def __call__(self, angles: torch.Tensor) -> torch.Tensor:
        angles = angles.detach().contiguous()
        n_rows = angles.shape[0]
        if not angles.shape[1]:  # no angle columns: the kernel still takes a valid pointer
            angles = angles.new_zeros(n_rows, 1)
        out = angles.new_empty(n_rows, self.z_wires.shape[0])
        if n_rows:
            with torch.cuda.device(angles.device):  # Triton launches on the current device
                _kernel()[(-(-n_rows // self.block),)](
                    angles, out, self.kind, self.index, self.start, self.axis, self.arg, self.consts, self.source,
                    self.phase, self.z_wires, n_rows, angles.shape[1], self.kind.shape[0], self.z_wires.shape[0],
                    N=self.n_qubits, D=1 << self.n_qubits, BLOCK=self.block, num_warps=_WARPS,
                )  # fmt: skip
        return out

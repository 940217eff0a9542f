"""Passes over a large state on CUDA, each one read and one write: Triton kernels.

Above about 18 qubits a gate pass is bound by memory: the floor is one read and one write of the
state. Two kinds of pass have kernels here: 4-wire blocks (:func:`apply_block_gpu`) and runs of
CNOT and SWAP gates (:func:`apply_gather_gpu`).

**Blocks.** :func:`~.simulate.apply_block` in torch operations arranges each 16 × 16 block as a batched
matmul, which for blocks in the middle of the register needs the block's axis moved to the front
and back (two more passes), and otherwise runs cuBLAS on many thin products — measured at 3–4× the
floor per block on an H200. This kernel reads each group of 16 amplitudes that the block mixes
(the block's wires varying, the others fixed) once, as 64-bit words, multiplies it by the block in
registers (four real 16 × 16 products on the tensor cores in three TF32 passes, float32 accuracy)
and writes it once, wherever the block sits: 1.3× the floor at 24–28 qubits (H200).

**Gathers.** A run of CNOT and SWAP gates permutes basis states by a map that is linear over
GF(2): ``out[y] = ψ[S y]``. Instead of torch's gather through a table of ``2^n`` int64 indices (8
more bytes read per amplitude), each program moves a coset of 1,024 destinations, ``y = H[t] ⊕ L[e]``,
and reads their sources ``S y = SH[t] ⊕ SL[e]`` from four small tables (1,024 entries, and
``2^(n-10)``: 1 MB each at 28 qubits). A warp's 32 destinations are chosen so that they *and* their
sources are runs of consecutive amplitudes (a space ``W ⊇ L_k + S⁻¹ L_k`` for the largest ``k``
that fits, ``L_k`` the low ``k`` bits): 32 consecutive destinations of a CNOT ring have 32 sources
far apart, which cost 4.3× the floor; with the cosets a warp reads and writes runs of 16 amplitudes
for one ring and of 4 (a 32-byte sector) for ``chen_vqc``'s two rings fused into one dense map:
1.0–1.3× the floor at 20–28 qubits. (Triton loads the low tables four entries per thread and gives
the gathered load that layout, so a load instruction's warp spans bits 2–6 of ``e``; the figures
are with that layout.) The inverse map swaps the tables' roles.

Both apply to complex64 states on CUDA without autograd (forward passes without gradients and the
adjoint method's sweeps); everything else takes the torch path. Triton ships with PyTorch's CUDA
builds; without it both functions answer ``None``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

from ..._checks import records_grad

__all__ = ["apply_block_gpu", "apply_gather_gpu", "gather_tables", "GatherTables", "GPU_BLOCK_MIN_QUBITS"]

#: Smallest register whose blocks go through the kernel: below it a state fits the GPU's caches and
#: torch's batched products are not bound by memory.
GPU_BLOCK_MIN_QUBITS = 18
_K = 16  # the block's size: 4 wires
_TILE = 64  # groups of 16 amplitudes per program (measured: 64 and 128 alike from 22 qubits, 64 faster at 20)
_LOW = 10  # bits of the gather's low tables: 1,024 amplitudes per program
_LANES = 5  # bits of a warp: 32 threads, one amplitude each


@functools.cache
def _kernel():
    """The compiled Triton kernel, or ``None`` without Triton."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def block_kernel(psi, out, m, groups, after, m_stride, TILE: tl.constexpr, K: tl.constexpr):
        g = tl.program_id(0) * TILE + tl.arange(0, TILE)  # group: the amplitudes with the other wires fixed
        sample = tl.program_id(1)
        keep = g < groups
        base = (g // after) * (K * after) + g % after  # the group's amplitude with the block's wires at 0
        j = tl.arange(0, K)
        idx = sample.to(tl.int64) * groups * K + base.to(tl.int64)[:, None] + (j * after)[None, :]
        z = tl.load(psi + idx, mask=keep[:, None], other=0)  # one 64-bit word per amplitude: (re, im)
        re = (z & 0xFFFFFFFF).to(tl.uint32).to(tl.float32, bitcast=True)
        im = (z >> 32).to(tl.uint32).to(tl.float32, bitcast=True)
        i = tl.arange(0, K)
        mt = m + sample * m_stride + 2 * (i[None, :] * K + j[:, None])  # mt[j, i] = m[i, j]
        mre, mim = tl.load(mt), tl.load(mt + 1)
        out_re = tl.dot(re, mre, input_precision="tf32x3") - tl.dot(im, mim, input_precision="tf32x3")
        out_im = tl.dot(re, mim, input_precision="tf32x3") + tl.dot(im, mre, input_precision="tf32x3")
        word = out_re.to(tl.uint32, bitcast=True).to(tl.int64) | (out_im.to(tl.uint32, bitcast=True).to(tl.int64) << 32)
        tl.store(out + idx, word, mask=keep[:, None])

    @triton.jit
    def gather_kernel(psi, out, source_low, source_high, dest_low, dest_high, dim, TILE: tl.constexpr):
        tile = tl.program_id(0)
        offset = tl.program_id(1).to(tl.int64) * dim
        e = tl.arange(0, TILE)
        source = tl.load(source_high + tile) ^ tl.load(source_low + e)
        dest = tl.load(dest_high + tile) ^ tl.load(dest_low + e)
        z = tl.load(psi + offset + source.to(tl.int64))
        tl.store(out + offset + dest.to(tl.int64), z)

    return block_kernel, gather_kernel


def _usable(psi: torch.Tensor, n_qubits: int, *tensors: torch.Tensor) -> bool:
    return (
        psi.is_cuda
        and psi.dtype == torch.complex64
        and n_qubits >= GPU_BLOCK_MIN_QUBITS
        and not records_grad(psi, *tensors)
        and _kernel() is not None
    )


def apply_block_gpu(psi: torch.Tensor, m: torch.Tensor, first: int, k: int, n_qubits: int) -> torch.Tensor | None:
    """``m`` ``(*lead_m, 16, 16)`` applied to wires ``first..first+3`` of ``psi`` ``(*lead, 2^n)`` by
    the Triton kernel, or ``None`` where it does not apply (see the module docstring)."""
    if k != 4 or m.dtype != torch.complex64 or not _usable(psi, n_qubits, m):
        return None
    lead = torch.broadcast_shapes(psi.shape[:-1], m.shape[:-2])  # the output's, as torch's path gives it
    samples, m_samples = psi.numel() >> n_qubits, m.numel() // (_K * _K)
    if samples != math.prod(lead) or m_samples not in (1, samples):  # the state would broadcast: torch's path
        return None
    psi = psi.resolve_conj().contiguous()
    m = m.resolve_conj().contiguous()
    out = torch.empty(*lead, psi.shape[-1], dtype=psi.dtype, device=psi.device)
    after = 2 ** (n_qubits - first - k)
    groups = 2 ** (n_qubits - k)
    grid = (-(-groups // _TILE), samples)
    with torch.cuda.device(psi.device):  # Triton launches on the current device
        _kernel()[0][grid](
            psi.view(torch.int64), out.view(torch.int64), torch.view_as_real(m), groups, after,
            0 if m_samples == 1 else 2 * _K * _K, TILE=_TILE, K=_K,
        )  # fmt: skip
    return out


def _gate_source(x: int, gate, n: int, inverse: bool) -> int:
    """The index whose amplitude one phased-permutation gate (``inverse``: its inverse) moves to ``x``."""
    wires, sigma, _ = gate
    k = len(wires)
    local = sum(((x >> (n - 1 - w)) & 1) << (k - 1 - pos) for pos, w in enumerate(wires))
    j = int(sigma[local] if inverse else np.argsort(sigma)[local])
    for pos, w in enumerate(wires):
        x = (x & ~(1 << (n - 1 - w))) | (((j >> (k - 1 - pos)) & 1) << (n - 1 - w))
    return x


class GatherTables(NamedTuple):
    """A GF(2)-linear permutation ``out[y] = ψ[S y]`` as cosets: program ``t`` moves the amplitudes
    ``y = dest_high[t] ⊕ dest_low[e]`` from ``S y = source_high[t] ⊕ source_low[e]``, ``e < 2^10``
    (int32 tables on the state's device)."""

    source_low: torch.Tensor
    source_high: torch.Tensor
    dest_low: torch.Tensor
    dest_high: torch.Tensor


def _reduce(basis: dict[int, int], v: int) -> int:
    """``v`` reduced by a GF(2) basis kept by leading bit: 0 when ``v`` lies in its span."""
    while v and (v.bit_length() - 1) in basis:
        v ^= basis[v.bit_length() - 1]
    return v


def _coset_directions(inverse_columns: list[int], n: int) -> list[int]:
    """``n`` independent destination directions: the first 5 span a warp, the first 10 a program,
    the rest the programs. Each span holds the low ``k`` bits and their images ``S⁻¹ e_b`` for the
    largest ``k`` that fits, so destinations and sources both form runs of ``2^k`` amplitudes; the
    rest of the span and the programs' directions are the lowest unit vectors left."""
    basis: dict[int, int] = {}
    chosen: list[int] = []

    def fits(vectors: list[int], size: int) -> bool:
        trial = dict(basis)
        for v in vectors:
            r = _reduce(trial, v)
            if r:
                trial[r.bit_length() - 1] = r
        return len(trial) <= size

    def add(v: int) -> None:
        r = _reduce(basis, v)
        if r:
            basis[r.bit_length() - 1] = r
            chosen.append(v)

    for size in (_LANES, _LOW, n):
        b = 0
        while size < n and b < n and fits([1 << b, inverse_columns[b]], size):
            add(1 << b)
            add(inverse_columns[b])
            b += 1
        for b in range(n):
            if len(chosen) < size:
                add(1 << b)
    return chosen


def _span_table(directions: list[int], device) -> torch.Tensor:
    """``table[i]`` = XOR of the ``directions`` at ``i``'s set bits (the first direction: bit 0)."""
    values = np.zeros(1, dtype=np.int64)
    for d in directions:
        values = np.concatenate([values, values ^ d])
    return torch.as_tensor(values.astype(np.int32), device=device)


def gather_tables(gates, n: int, device) -> GatherTables | None:
    """The :class:`GatherTables` of a run of phased-permutation ``gates`` (:class:`~.program.Permute`),
    or ``None`` unless every gate is phase-free and linear over GF(2) (CNOT, SWAP) and ``n`` is at
    least :data:`GPU_BLOCK_MIN_QUBITS`."""
    if n < GPU_BLOCK_MIN_QUBITS or n > 30:
        return None
    for _, sigma, g in gates:
        size = len(sigma)
        if not np.allclose(g, 1) or any(sigma[a ^ b] != sigma[a] ^ sigma[b] for a in range(size) for b in range(size)):
            return None

    def source(x: int, inverse: bool) -> int:  # through the last gate first (the inverse: the first gate first)
        for gate in gates if inverse else reversed(gates):
            x = _gate_source(x, gate, n, inverse)
        return x

    def image(v: int) -> int:  # S v, S linear
        return functools.reduce(lambda acc, b: acc ^ columns[b] if v >> b & 1 else acc, range(n), 0)

    columns = [source(1 << b, False) for b in range(n)]
    directions = _coset_directions([source(1 << b, True) for b in range(n)], n)
    low, high = directions[:_LOW], directions[_LOW:]
    return GatherTables(
        _span_table([image(d) for d in low], device),
        _span_table([image(d) for d in high], device),
        _span_table(low, device),
        _span_table(high, device),
    )


def apply_gather_gpu(psi: torch.Tensor, tables: GatherTables | None, n_qubits: int, inverse: bool = False):
    """``ψ'[y] = ψ[S y]`` (``inverse``: ``ψ'[S y] = ψ[y]``) for the run whose :func:`gather_tables` are
    ``tables``, by the Triton kernel, or ``None`` where it does not apply."""
    if tables is None or not _usable(psi, n_qubits):
        return None
    psi = psi.resolve_conj().contiguous()
    out = torch.empty_like(psi)
    dim = psi.shape[-1]
    source_low, source_high, dest_low, dest_high = tables if not inverse else tables[2:] + tables[:2]
    grid = (dim >> _LOW, psi.numel() // dim)
    with torch.cuda.device(psi.device):  # Triton launches on the current device
        _kernel()[1][grid](
            psi.view(torch.int64), out.view(torch.int64), source_low, source_high, dest_low, dest_high, dim,
            TILE=1 << _LOW,
        )  # fmt: skip
    return out

"""Engine benchmark: circuits per second of the qseq torch engine against the usual simulators.

What is measured
----------------
Throughput in **circuits per second** (batch / seconds per call) for a batch of ``--batch``
(default 256) parameter vectors, exact expectation values ⟨Z_i⟩ on every qubit, for two circuits at
``--qubits`` (default 4 8 12 16):

* ``chen_vqc``  — ``qseq.circuits.chen_vqc(n, 2)`` (groups ``inputs`` 2n, ``weights`` 6n), the QLSTM block;
* ``ry+rxyz4`` — ``angle_embedding(n, "Y")`` + 4 × (RX, RY, RZ on every wire, CNOT(i, i+1 mod n) ring)
  (groups ``inputs`` n, ``weights`` 12n).

Methods and modes (all in one run, same circuits, same random angles). Every ratio compares the
same precision: qseq in complex128 (float64 angles) with the float64 baselines, qseq in complex64
(float32 angles, the engine's default, columns marked ``c64``) with the complex64 tq-style baseline.

1. ``qseq``: ``qseq.backends.get("torch", dtype=torch.complex128)``:
   ``fwd`` per-sample parameters ``(B, P)``; ``fwd+bwd`` the same with ``out.sum().backward()``;
   ``shared fwd`` the dict form ``{"inputs": (B, P_in), "weights": (1, P_w)}`` (a recurrent cell);
   ``bound fwd`` calls of one ``backend.bind(circuit, weights=w)`` object with ``inputs=x``;
   ``fwd c64``, ``fwd+bwd c64``, ``bound fwd c64`` the same on ``get("torch", dtype=torch.complex64)``.
2. ``default.qubit``: PennyLane, parameter broadcasting, ``diff_method="backprop"``, torch interface,
   float64 angles: ``fwd``, ``fwd+bwd``.
3. ``lightning.qubit``: PennyLane Lightning through its native interface (NumPy float64 angles, no
   torch): ``fwd`` a QNode without differentiation; ``fwd+bwd`` ``qml.grad`` of the summed outputs
   (autograd) with ``diff_method="adjoint"``, only up to ``--lightning-grad-max`` qubits (default 8)
   to bound the run time.
4. ``lightning.qubit[torch]``: the same device through the torch interface, as a torch model would
   use it (``fwd``, ``fwd+bwd``): a labelled extra, not the Lightning baseline.
5. ``aer``: ``qiskit_aer.primitives.EstimatorV2`` exact (``default_precision=0``), one PUB
   ``(circuit, observables (n, 1), parameter_values (B, P))`` per call: ``fwd`` only.
6. ``tq-style``: TorchQuantum's approach, *emulated* here because torchquantum is not installed:
   a fresh ``[B, 2, …, 2]`` complex64 state per forward, every gate applied on its own by building
   its (batched) matrix and contracting it with ``torch.einsum`` over the target axes (as
   ``torchquantum/functional/gate_wrapper.py``'s ``apply_unitary_einsum`` does), ⟨Z⟩ per wire by
   summing ``|ψ|²`` over the other axes (as ``torchquantum.measurement.expval``). ``fwd``, ``fwd+bwd``.

The PennyLane QNode and the Qiskit circuit are built here from ``circuit.ops`` and the gate table's
``pennylane`` / ``qiskit`` names (not through the exporters), so the baselines do not depend on the
exporters' API. Before timing, every method is checked on 4 samples against an independent
complex128 reference (the ``max |Δ|`` column): the two circuits written out in NumPy from their
description, with the gate matrices written from their textbook definitions (nothing of qseq: no
gate table, no ``Circuit.ops``).

Timing: ``--warmup`` calls (1), then at least ``--repeats`` timed calls (3), and more until the
timed calls reach ``--min-time`` seconds (0.5) unless the cell has run ``--cap`` seconds (20).
Reported circuits/s = batch / median seconds per timed call (the median, not the mean, because
other processes on a shared machine cause bursts; the log also prints batch × calls / seconds).
With ``--skip-slow`` (on by default) a baseline cell is skipped, and listed as such, when the same
cell at the previous qubit count (≥ 10) took ≥ 1 s per call and scaling that by 2^Δn · n/n_prev
predicts the cell's calls (warm-up and timed) to take over 6 × cap (the scaling overshoots for
overhead-bound simulators, hence the margin), or when a per-gate-autograd baseline's fwd+bwd
(default.qubit backprop, tq-style) would keep more than ``--mem-limit-gib`` (8) of states alive.
qseq cells are never skipped. torch runs on ``--threads`` (2) threads; Lightning and Aer use their
default thread pools.

Run::

    .venv/bin/python benchmarks/engine.py                       # full run (≈ 15 min on 2 cores)
    .venv/bin/python benchmarks/engine.py --quick --out /tmp/r.md   # smoke test, 4 and 8 qubits
    .venv/bin/python benchmarks/engine.py --qubits 4 8 --batch 64 --out /tmp/r.md

The table is printed and written into ``--out`` (default ``benchmarks/RESULTS.md``) between the
markers ``<!-- engine:start -->`` and ``<!-- engine:end -->``; the rest of that file is kept.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib.metadata
import operator
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import loadavg, write_section  # same folder

from qseq.circuits import GATES, Circuit, Operation, angle_embedding, chen_vqc
from qseq.circuits.circuit import build


# ------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Options of one benchmark run (the CLI flags of the same names).

    Attributes:
        qubits: qubit counts to run, in increasing order.
        batch: parameter vectors per call (circuits per call).
        warmup: untimed calls per cell before the timed ones.
        repeats: minimum number of timed calls per cell.
        min_time: timed seconds per cell to reach with more calls (unless the cell has run ``cap`` s).
        cap: wall seconds (warm-up included) after which a cell adds no calls past ``repeats``.
        skip_slow: skip cells predicted to take minutes or to exhaust memory (and report them).
        mem_limit_gib: memory allowed for the states a per-gate-autograd baseline saves.
        lightning_grad_max: largest qubit count for lightning.qubit fwd+bwd.
        threads: ``torch.set_num_threads``.
        seed: seed of the random angles.
        out: Markdown file whose engine section is replaced.
        quick: the smoke-test settings (4 and 8 qubits, short cells).
    """

    qubits: tuple[int, ...] = (4, 8, 12, 16)
    batch: int = 256
    warmup: int = 1
    repeats: int = 3
    min_time: float = 0.5
    cap: float = 20.0
    skip_slow: bool = True
    mem_limit_gib: float = 8.0
    lightning_grad_max: int = 8
    threads: int = 2
    seed: int = 0
    out: Path = Path("benchmarks/RESULTS.md")
    quick: bool = False

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> Config:
        d = cls()
        p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        p.add_argument("--qubits", type=int, nargs="+", default=None, help=f"default {list(d.qubits)}")
        p.add_argument("--batch", type=int, default=d.batch)
        p.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed calls per cell ({d.warmup})")
        p.add_argument("--repeats", type=int, default=None, help=f"min timed calls per cell (default {d.repeats})")
        p.add_argument("--min-time", type=float, default=None, help=f"min timed seconds per cell ({d.min_time})")
        p.add_argument(
            "--cap", type=float, default=None, help=f"seconds after which a cell adds no calls past --repeats ({d.cap})"
        )
        p.add_argument("--skip-slow", action=argparse.BooleanOptionalAction, default=d.skip_slow)
        p.add_argument("--mem-limit-gib", type=float, default=d.mem_limit_gib)
        p.add_argument("--lightning-grad-max", type=int, default=d.lightning_grad_max)
        p.add_argument("--threads", type=int, default=d.threads)
        p.add_argument("--seed", type=int, default=d.seed)
        p.add_argument("--out", type=Path, default=d.out)
        p.add_argument("--quick", action="store_true", help="smoke test: 4 and 8 qubits, short cells")
        a = p.parse_args(argv)
        quick = dict(qubits=(4, 8), min_time=0.1, cap=5.0) if a.quick else {}
        pick = lambda name, given: given if given is not None else quick.get(name, getattr(d, name))  # noqa: E731
        return cls(
            qubits=tuple(sorted(pick("qubits", a.qubits))),
            batch=a.batch,
            warmup=a.warmup,
            repeats=pick("repeats", a.repeats),
            min_time=pick("min_time", a.min_time),
            cap=pick("cap", a.cap),
            skip_slow=a.skip_slow,
            mem_limit_gib=a.mem_limit_gib,
            lightning_grad_max=a.lightning_grad_max,
            threads=a.threads,
            seed=a.seed,
            out=a.out,
            quick=a.quick,
        )


# ------------------------------------------------------------------------------------------------
# circuits and data
# ------------------------------------------------------------------------------------------------
def rxyz_layers(n: int, n_layers: int = 4) -> Circuit:
    """Per layer: RX(w[l,0,i]), RY(w[l,1,i]), RZ(w[l,2,i]) on every wire, then CNOT(i, i+1 mod n).

    Group ``weights`` ``(n_layers, 3, n)`` row-major. (``basic_entangler`` X+Y+Z pieces would put a
    ring after every rotation, so this is written out.)
    """
    ops = []
    for layer in range(n_layers):
        for r, name in enumerate(("RX", "RY", "RZ")):
            ops += [Operation(name, (i,), ((layer * 3 + r) * n + i,)) for i in range(n)]
        ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)] if n > 2 else [Operation("CNOT", (0, 1))]
    return build(n, ops, [("weights", 3 * n_layers * n)])


CIRCUITS: dict[str, Callable[[int], Circuit]] = {
    "chen_vqc": lambda n: chen_vqc(n, 2),
    "ry+rxyz4": lambda n: angle_embedding(n, "Y") + rxyz_layers(n, 4),
}


@dataclass(frozen=True)
class Data:
    """The angles of one (circuit, n): per-sample ``flat (B, P)`` (float64) and the shared-weights
    split ``inputs (B, P_in)``, ``weights (1, P_w)`` (the first sample's weights)."""

    flat: torch.Tensor
    inputs: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def random(cls, circuit: Circuit, batch: int, seed: int) -> Data:
        g = torch.Generator().manual_seed(seed)
        flat = torch.rand(batch, circuit.n_params, generator=g, dtype=torch.float64) * (2 * torch.pi)
        sl = circuit.group_slices()
        return cls(flat, flat[:, sl["inputs"]].contiguous(), flat[:1, sl["weights"]].contiguous())


# ------------------------------------------------------------------------------------------------
# the independent complex128 reference: both circuits written out from their description, in NumPy
# ------------------------------------------------------------------------------------------------
def _h() -> np.ndarray:
    return np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)


def _rx(theta: np.ndarray) -> np.ndarray:
    """RX(θ) = exp(-iθX/2) = [[cos θ/2, -i sin θ/2], [-i sin θ/2, cos θ/2]], one per sample."""
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.stack([np.stack([c, -1j * s], -1), np.stack([-1j * s, c], -1)], -2)


def _ry(theta: np.ndarray) -> np.ndarray:
    """RY(θ) = exp(-iθY/2) = [[cos θ/2, -sin θ/2], [sin θ/2, cos θ/2]], one per sample."""
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2).astype(complex)


def _rz(theta: np.ndarray) -> np.ndarray:
    """RZ(θ) = exp(-iθZ/2) = diag(e^{-iθ/2}, e^{iθ/2}), one per sample."""
    zero = np.zeros_like(theta)
    return np.stack([np.stack([np.exp(-0.5j * theta), zero], -1), np.stack([zero, np.exp(0.5j * theta)], -1)], -2)


class Reference:
    """A batch of ``n``-qubit states ``(B, 2, …, 2)`` (wire 0 the first axis), starting in |0…0⟩."""

    def __init__(self, batch: int, n: int):
        self.n = n
        self.state = np.zeros((batch, 2**n), dtype=np.complex128)
        self.state[:, 0] = 1
        self.state = self.state.reshape(batch, *[2] * n)

    def gate(self, u: np.ndarray, wire: int) -> None:
        """Apply a one-qubit ``u`` (``(2, 2)``, or ``(B, 2, 2)`` one per sample) on ``wire``."""
        psi = np.moveaxis(self.state, wire + 1, -1)
        psi = np.einsum("...ij,b...j->b...i" if u.ndim == 2 else "bij,b...j->b...i", u, psi)
        self.state = np.moveaxis(psi, -1, wire + 1)

    def cnot(self, control: int, target: int) -> None:
        """Flip ``target`` where ``control`` is 1."""
        on = [slice(None)] * (self.n + 1)
        on[control + 1] = 1
        axis = target if target < control else target - 1  # the target's axis once control's is indexed away
        self.state[tuple(on)] = np.flip(self.state[tuple(on)], axis + 1)

    def z(self) -> np.ndarray:
        """``(B, n)``: ⟨Z_i⟩ on every wire."""
        p = np.abs(self.state) ** 2
        out = []
        for w in range(self.n):
            marginal = p.sum(axis=tuple(a for a in range(1, self.n + 1) if a != w + 1))
            out.append(marginal[:, 0] - marginal[:, 1])
        return np.stack(out, -1)


def reference_chen_vqc(n: int, params: np.ndarray, n_layers: int = 2) -> np.ndarray:
    """Chen's VQC block: H on every wire; RY(x[i]) then RZ(x[n + i]) on wire i; per layer CNOT(i, i+1
    mod n) for every i, CNOT(i, i+2 mod n) for every i (left out where i+2 ≡ i), then
    Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ) with (φ, θ, ω) = w[l, i] on wire i; ⟨Z_i⟩. ``params`` =
    ``(B, 2n + 3n·n_layers)``: x, then w ``(n_layers, n, 3)`` row-major."""
    ref = Reference(len(params), n)
    x, w = params[:, : 2 * n], params[:, 2 * n :].reshape(-1, n_layers, n, 3)
    for i in range(n):
        ref.gate(_h(), i)
    for i in range(n):
        ref.gate(_ry(x[:, i]), i)
        ref.gate(_rz(x[:, n + i]), i)
    for layer in range(n_layers):
        for distance in (1, 2):
            for i in range(n if n > 1 else 0):
                if (i + distance) % n != i:
                    ref.cnot(i, (i + distance) % n)
        for i in range(n):
            phi, theta, omega = w[:, layer, i, 0], w[:, layer, i, 1], w[:, layer, i, 2]
            ref.gate(_rz(phi), i)
            ref.gate(_ry(theta), i)
            ref.gate(_rz(omega), i)
    return ref.z()


def reference_ry_rxyz(n: int, params: np.ndarray, n_layers: int = 4) -> np.ndarray:
    """RY(x[i]) on wire i; per layer RX(w[l, 0, i]), RY(w[l, 1, i]), RZ(w[l, 2, i]) on every wire,
    then CNOT(i, i+1 mod n) for every i (CNOT(0, 1) alone on 2 wires); ⟨Z_i⟩. ``params`` =
    ``(B, n + 3n·n_layers)``: x, then w ``(n_layers, 3, n)`` row-major."""
    ref = Reference(len(params), n)
    x, w = params[:, :n], params[:, n:].reshape(-1, n_layers, 3, n)
    for i in range(n):
        ref.gate(_ry(x[:, i]), i)
    for layer in range(n_layers):
        for axis, rotation in enumerate((_rx, _ry, _rz)):
            for i in range(n):
                ref.gate(rotation(w[:, layer, axis, i]), i)
        for i in range(n if n > 2 else 1):
            ref.cnot(i, (i + 1) % n)
    return ref.z()


REFERENCES: dict[str, Callable[[int, np.ndarray], np.ndarray]] = {
    "chen_vqc": reference_chen_vqc,
    "ry+rxyz4": reference_ry_rxyz,
}


# ------------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """The timed calls of one cell and the seconds of its warm-up calls."""

    durations: tuple[float, ...]
    warmup: float

    @property
    def calls(self) -> int:
        return len(self.durations)

    @property
    def seconds(self) -> float:
        return sum(self.durations)

    @property
    def per_call(self) -> float:
        """Median seconds per call: robust to bursts of load from other processes."""
        return float(np.median(self.durations))


def time_call(fn: Callable[[], object], cfg: Config) -> Timing:
    """Call ``fn`` ``cfg.warmup`` times untimed, then time at least ``cfg.repeats`` calls, adding
    calls until they reach ``cfg.min_time`` seconds unless the cell has run ``cfg.cap`` seconds."""
    t0 = time.perf_counter()
    for _ in range(cfg.warmup):
        fn()
    warm = time.perf_counter() - t0
    durations: list[float] = []
    while len(durations) < cfg.repeats or (sum(durations) < cfg.min_time and warm + sum(durations) < cfg.cap):
        t0 = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - t0)
    return Timing(tuple(durations), warm)


# ------------------------------------------------------------------------------------------------
# methods: each returns a Runner (a checked forward for agreement + the timed cells)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Skip:
    """A cell the method declines to run, with the reason shown in the report."""

    reason: str


@dataclass
class Runner:
    """What one method offers for one circuit.

    Attributes:
        check: ``check(params (b, P) float64) -> (b, n_obs)`` numpy, for the agreement column.
        cells: ``{mode: zero-argument callable to time, or Skip}``.
    """

    check: Callable[[torch.Tensor], np.ndarray]
    cells: dict[str, Callable[[], object] | Skip]


def _no_grad(f: Callable, *args, **kwargs) -> Callable[[], object]:
    """``f(*args, **kwargs)`` under ``torch.no_grad()``, as a cell to time."""

    def call():
        with torch.no_grad():
            return f(*args, **kwargs)

    return call


def _forward_cells(f: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor) -> dict:
    """``fwd`` (no autograd) and ``fwd+bwd`` (``f(p).sum().backward()``) cells of a torch function."""
    p_grad = params.clone().requires_grad_(True)

    def fwd_bwd():
        p_grad.grad = None
        f(p_grad).sum().backward()

    return {"fwd": _no_grad(f, params), "fwd+bwd": fwd_bwd}


def _numpy_check(f: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> Callable:
    def check(p: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return f(p.to(dtype)).detach().double().numpy()

    return check


def method_qseq(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """The qseq torch engine in complex128 (float64 angles): per-sample fwd and fwd+bwd, shared
    weights (dict), bound weights; and in complex64 (float32 angles): per-sample and bound."""
    from qseq.backends import get

    cells: dict[str, Callable[[], object] | Skip] = {}
    for suffix, cdtype, rdtype in (("", torch.complex128, torch.float64), (" c64", torch.complex64, torch.float32)):
        backend = get("torch", dtype=cdtype)
        per_sample = _forward_cells(functools.partial(backend.expval, circuit), data.flat.to(rdtype))
        bound = backend.bind(circuit, weights=data.weights.to(rdtype))
        cells[f"fwd{suffix}"], cells[f"fwd+bwd{suffix}"] = per_sample["fwd"], per_sample["fwd+bwd"]
        cells[f"bound fwd{suffix}"] = _no_grad(bound, inputs=data.inputs.to(rdtype))
    backend64 = get("torch", dtype=torch.complex128)
    cells["shared fwd"] = _no_grad(backend64.expval, circuit, {"inputs": data.inputs, "weights": data.weights})
    return Runner(_numpy_check(functools.partial(backend64.expval, circuit), torch.float64), cells)


def _pennylane_qnode(circuit: Circuit, device: str, diff_method: str | None, interface: str = "torch") -> Callable:
    """A broadcasting QNode mirroring ``circuit``: ``f(params (B, P)) -> (B, n_obs)`` in ``interface``'s arrays."""
    import pennylane as qml

    dev = qml.device(device, wires=circuit.n_qubits)
    ops = [(getattr(qml, GATES[op.name].pennylane), list(op.wires), op.params) for op in circuit.ops]
    paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
    words = [[(paulis[p], w) for w, p in obs.terms] for obs in circuit.observables]

    @qml.qnode(dev, interface=interface, diff_method=diff_method)
    def qnode(params):
        for cls, wires, idx in ops:
            cls(*(params[..., i] for i in idx), wires=wires)
        return [qml.expval(functools.reduce(operator.matmul, [cls(w) for cls, w in word])) for word in words]

    stack = torch.stack if interface == "torch" else qml.math.stack
    return lambda params: stack(list(qnode(params)), -1)


def _autograd_memory_skip(circuit: Circuit, cfg: Config, itemsize: int) -> Skip | None:
    """Per-gate autograd keeps about one state per gate alive for the backward pass."""
    need = cfg.batch * 2**circuit.n_qubits * itemsize * len(circuit.ops)
    if cfg.skip_slow and need > cfg.mem_limit_gib * 2**30:
        return Skip(f"~{need / 2**30:.0f} GiB of saved states > --mem-limit-gib {cfg.mem_limit_gib:g}")
    return None


def method_default_qubit(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """PennyLane default.qubit, broadcasting, backprop, torch interface, float64 angles."""
    f = _pennylane_qnode(circuit, "default.qubit", "backprop")
    cells = _forward_cells(f, data.flat)
    cells["fwd+bwd"] = _autograd_memory_skip(circuit, cfg, 16) or cells["fwd+bwd"]
    return Runner(_numpy_check(f, torch.float64), cells)


def method_lightning(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """PennyLane lightning.qubit through its native interface, NumPy float64 angles: ``fwd`` on a
    QNode without differentiation, ``fwd+bwd`` ``qml.grad`` (autograd) of the summed outputs with
    ``diff_method="adjoint"``. Broadcasting is expanded into one tape per sample by the device."""
    import pennylane as qml
    from pennylane import numpy as pnp

    forward = _pennylane_qnode(circuit, "lightning.qubit", None, interface="numpy")
    values = data.flat.numpy()
    cells: dict[str, Callable[[], object] | Skip] = {"fwd": lambda: forward(values)}
    if circuit.n_qubits > cfg.lightning_grad_max:
        cells["fwd+bwd"] = Skip(f"n > --lightning-grad-max {cfg.lightning_grad_max}")
    else:
        adjoint = _pennylane_qnode(circuit, "lightning.qubit", "adjoint", interface="autograd")
        grad = qml.grad(lambda p: pnp.sum(adjoint(p)))
        trainable = pnp.array(values, requires_grad=True)
        cells["fwd+bwd"] = lambda: grad(trainable)
    return Runner(lambda p: forward(p.numpy()), cells)


def method_lightning_torch(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """lightning.qubit through the torch interface, float64 angles: ``fwd`` on a QNode without
    differentiation (PennyLane 0.45's torch interface would otherwise compute the adjoint Jacobian
    alongside every forward call, even under ``torch.no_grad()``), ``fwd+bwd`` with
    ``diff_method="adjoint"``."""
    forward_only = _pennylane_qnode(circuit, "lightning.qubit", None)
    cells = {"fwd": _forward_cells(forward_only, data.flat)["fwd"]}
    if circuit.n_qubits > cfg.lightning_grad_max:
        cells["fwd+bwd"] = Skip(f"n > --lightning-grad-max {cfg.lightning_grad_max}")
    else:
        cells["fwd+bwd"] = _forward_cells(_pennylane_qnode(circuit, "lightning.qubit", "adjoint"), data.flat)["fwd+bwd"]
    return Runner(_numpy_check(forward_only, torch.float64), cells)


def method_aer(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """Qiskit Aer EstimatorV2, exact (precision 0), one PUB per call."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.primitives import EstimatorV2

    n = circuit.n_qubits
    theta = ParameterVector("p", circuit.n_params)
    qc = QuantumCircuit(n)
    for op in circuit.ops:
        angles = [theta[i] for i in op.params]
        if op.name == "Rot":  # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)
            qc.rz(angles[0], op.wires[0]), qc.ry(angles[1], op.wires[0]), qc.rz(angles[2], op.wires[0])
        else:
            getattr(qc, GATES[op.name].qiskit)(*angles, *op.wires)
    observables = np.empty((circuit.n_obs, 1), dtype=object)
    for k, obs in enumerate(circuit.observables):
        observables[k, 0] = SparsePauliOp.from_sparse_list([("".join(p for _, p in obs.terms), list(obs.wires), 1)], n)
    estimator = EstimatorV2(options={"default_precision": 0.0})

    def run(values: np.ndarray) -> np.ndarray:
        return estimator.run([(qc, observables, values)]).result()[0].data.evs.T  # (B, n_obs)

    values = data.flat.numpy()
    return Runner(lambda p: run(p.numpy()), {"fwd": lambda: run(values)})


_AXES = "abcdefghijklmnopqrstuvwxy"  # state axes; "z" is the batch axis


def _tq_apply(state: torch.Tensor, mat: torch.Tensor, wires: Iterable[int]) -> torch.Tensor:
    """torchquantum's ``apply_unitary_einsum``: contract a (batched) gate over its target axes."""
    wires = list(wires)
    n, k = state.dim() - 1, len(wires)
    batched = mat.dim() > 2
    mat = mat.reshape(([mat.shape[0]] if batched else []) + [2] * (2 * k)).to(state.dtype)
    state_idx = _AXES[:n]
    affected = "".join(state_idx[w] for w in wires)
    new = _AXES[n : n + k]
    out_idx = functools.reduce(lambda s, pair: s.replace(*pair), zip(affected, new, strict=True), state_idx)
    return torch.einsum(f"{'z' if batched else ''}{new}{affected},z{state_idx}->z{out_idx}", mat, state)


def tq_forward(circuit: Circuit, params: torch.Tensor) -> torch.Tensor:
    """TorchQuantum-style forward (see the module docstring): ``(B, P) -> (B, n)`` ⟨Z_i⟩."""
    n, bsz = circuit.n_qubits, params.shape[0]
    cdtype = torch.complex128 if params.dtype == torch.float64 else torch.complex64
    state = torch.zeros(2**n, dtype=cdtype)
    state[0] = 1
    state = state.reshape([2] * n).unsqueeze(0).repeat(bsz, *[1] * n)  # fresh QuantumDevice state
    for op in circuit.ops:
        mat = GATES[op.name].matrix(params[:, list(op.params)], cdtype)  # (B, 2^k, 2^k) or (2^k, 2^k)
        state = _tq_apply(state, mat, op.wires)
    out = []
    for obs in circuit.observables:  # MeasureAll(PauliZ): one marginal per wire
        if len(obs.terms) != 1 or obs.terms[0][1] != "Z":
            raise NotImplementedError("the tq-style baseline measures single-wire Z only")
        w = obs.terms[0][0]
        marginal = (state.abs() ** 2).sum([d for d in range(1, n + 1) if d != w + 1])
        out.append(marginal[:, 0] - marginal[:, 1])
    return torch.stack(out, -1)


def method_tq(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """TorchQuantum's approach, emulated: complex64, one einsum per gate, fresh state per call."""
    f = functools.partial(tq_forward, circuit)
    cells = _forward_cells(f, data.flat.float())
    cells["fwd+bwd"] = _autograd_memory_skip(circuit, cfg, 8) or cells["fwd+bwd"]
    return Runner(_numpy_check(f, torch.float64), cells)


METHODS: dict[str, Callable[[Circuit, Data, Config], Runner]] = {
    "qseq": method_qseq,
    "default.qubit": method_default_qubit,
    "lightning.qubit": method_lightning,
    "lightning.qubit[torch]": method_lightning_torch,
    "aer": method_aer,
    "tq-style": method_tq,
}
MODES = {  # method -> modes in report order
    "qseq": ("fwd", "fwd+bwd", "shared fwd", "bound fwd", "fwd c64", "fwd+bwd c64", "bound fwd c64"),
    "default.qubit": ("fwd", "fwd+bwd"),
    "lightning.qubit": ("fwd", "fwd+bwd"),
    "lightning.qubit[torch]": ("fwd", "fwd+bwd"),
    "aer": ("fwd",),
    "tq-style": ("fwd", "fwd+bwd"),
}
COMPLEX64 = {"tq-style"}  # baselines timed in complex64; the others are complex128 (float64 angles)
COLUMNS = [(m, mode) for m, modes in MODES.items() for mode in modes]
BASELINES = [m for m in METHODS if m != "qseq"]


def matched(baseline: str, mode: str) -> str:
    """The qseq mode of ``baseline``'s precision that ``mode`` is compared with."""
    return f"{mode} c64" if baseline in COMPLEX64 else mode


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------
@dataclass
class Cell:
    circuit: str
    n: int
    method: str
    mode: str
    timing: Timing | None = None
    skipped: str = ""  # reason when not timed (skip, unavailable, error)

    def rate(self, batch: int) -> float | None:
        return batch / self.timing.per_call if self.timing else None


@dataclass
class Results:
    cfg: Config
    cells: dict[tuple[str, int, str, str], Cell] = field(default_factory=dict)
    agreement: dict[tuple[str, int, str], float | str] = field(default_factory=dict)
    wall: float = 0.0
    load_before: str = ""
    load_after: str = ""

    def rate(self, circuit: str, n: int, method: str, mode: str) -> float | None:
        cell = self.cells.get((circuit, n, method, mode))
        return cell.rate(self.cfg.batch) if cell else None


def _predicted_too_slow(res: Results, circuit: str, n: int, method: str, mode: str) -> str:
    """A baseline cell's skip reason when the previous qubit count (≥ 10) took ≥ 1 s per call and
    scaling it by 2^Δn · n/n_prev predicts the cell's warm-up and timed calls to take over 6 × cap
    (the qseq engine is never skipped)."""
    cfg = res.cfg
    previous = [
        c
        for c in res.cells.values()
        if (c.circuit, c.method, c.mode) == (circuit, method, mode) and c.n < n and c.timing
    ]
    if not cfg.skip_slow or not previous or method == "qseq":
        return ""
    prev = max(previous, key=lambda c: c.n)
    if prev.n < 10 or prev.timing.per_call < 1.0:  # still overhead-bound: extrapolating would overshoot
        return ""
    predicted = prev.timing.per_call * 2 ** (n - prev.n) * n / prev.n
    calls = cfg.warmup + cfg.repeats
    if predicted * calls > 6 * cfg.cap:
        return f"predicted ~{predicted:.0f} s per call × {calls} calls (from {prev.n} qubits) > 6 × cap"
    return ""


def run(cfg: Config) -> Results:
    torch.set_num_threads(cfg.threads)
    res = Results(cfg, load_before=loadavg())
    t_start = time.perf_counter()
    for cname, make in CIRCUITS.items():
        for n in cfg.qubits:
            circuit = make(n)
            data = Data.random(circuit, cfg.batch, cfg.seed)
            probe = data.flat[:4]
            reference = REFERENCES[cname](n, probe.numpy())
            for method, build_runner in METHODS.items():
                try:
                    runner = build_runner(circuit, data, cfg)
                    res.agreement[cname, n, method] = float(np.abs(runner.check(probe) - reference).max())
                except Exception as exc:  # missing stack / engine not there yet / a bug: report it
                    reason = f"unavailable: {type(exc).__name__}: {exc}".splitlines()[0][:160]
                    res.agreement[cname, n, method] = reason
                    for mode in MODES[method]:
                        res.cells[cname, n, method, mode] = Cell(cname, n, method, mode, skipped=reason)
                    _progress(res.cells[cname, n, method, MODES[method][0]], cfg)
                    continue
                for mode in MODES[method]:
                    cell = Cell(cname, n, method, mode)
                    fn = runner.cells.get(mode, Skip("not offered"))
                    cell.skipped = (
                        fn.reason if isinstance(fn, Skip) else _predicted_too_slow(res, cname, n, method, mode)
                    )
                    if not cell.skipped:
                        try:
                            cell.timing = time_call(fn, cfg)
                        except Exception as exc:
                            cell.skipped = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:160]
                    res.cells[cname, n, method, mode] = cell
                    _progress(cell, cfg)
                del runner
                gc.collect()
    res.wall = time.perf_counter() - t_start
    res.load_after = loadavg()
    return res


def _progress(cell: Cell, cfg: Config) -> None:
    what = f"{cell.circuit:9s} n={cell.n:2d} {cell.method:15s} {cell.mode:10s}"
    if cell.timing:
        t = cell.timing
        print(
            f"{what} {cell.rate(cfg.batch):12,.0f} circ/s  ({t.calls} calls, {t.seconds:.2f} s, mean-based "
            f"{cfg.batch * t.calls / t.seconds:,.0f}/s, warm-up {t.warmup:.2f} s)",
            flush=True,
        )
    else:
        print(f"{what} -- {cell.skipped}", flush=True)


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def _fmt_rate(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _fmt_ratio(x: float) -> str:
    return f"{x:.0f}×" if x >= 100 else f"{x:.3g}×"


def _machine(res: Results) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(row for row in Path("/proc/meminfo").read_text().splitlines() if row.startswith("MemTotal"))
        mem_gib = f", {int(mem.split()[1]) / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        mem_gib = ""
    versions = []
    for dist in ("torch", "pennylane", "pennylane_lightning", "qiskit", "qiskit-aer", "numpy"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores{mem_gib}; Python {platform.python_version()}; "
        f"load average (1/5/15 min) {res.load_before} at start, {res.load_after} at the end "
        "(a load above the core count means other processes competed for the CPU: numbers are noisy)",
        f"- Versions: {', '.join(versions)}",
    ]


def _targets(res: Results) -> list[tuple[str, str, float | None, float]]:
    """(target, circuit, measured ratio or None, required ratio) for every target and circuit."""
    r = res.rate
    rows = []
    want = [
        ("per-sample fwd, {n} q ≥ 30× default.qubit", (4, 8), "fwd", "default.qubit", "fwd", 30),
        ("per-sample fwd, {n} q ≥ 100× lightning.qubit", (4, 8), "fwd", "lightning.qubit", "fwd", 100),
        ("per-sample fwd, {n} q ≥ 10× tq-style", (4, 8), "fwd", "tq-style", "fwd", 10),
        ("per-sample fwd, {n} q ≥ 5× default.qubit", (12,), "fwd", "default.qubit", "fwd", 5),
        ("per-sample fwd, {n} q ≥ 1× lightning.qubit", (16,), "fwd", "lightning.qubit", "fwd", 1),
        ("fwd+bwd, {n} q ≥ 30× default.qubit backprop", (8,), "fwd+bwd", "default.qubit", "fwd+bwd", 30),
    ]
    for label, ns, qmode, base, bmode, need in want:
        for n in ns:
            if n not in res.cfg.qubits:
                continue
            for cname in CIRCUITS:
                q, b = r(cname, n, "qseq", matched(base, qmode)), r(cname, n, base, bmode)
                rows.append((label.format(n=n), cname, q / b if q and b else None, need))
    return rows


def report(res: Results) -> str:
    cfg = res.cfg
    lines = [
        "## Engine throughput (`benchmarks/engine.py`)",
        "",
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} in {res.wall / 60:.1f} min "
        f"(`{' '.join(['.venv/bin/python', 'benchmarks/engine.py', *sys.argv[1:]])}`).",
        "",
        *_machine(res),
        f"- Settings: batch {cfg.batch}, exact ⟨Z⟩ on every qubit, torch threads {cfg.threads}; per cell "
        f"{cfg.warmup} warm-up call(s), then ≥ {cfg.repeats} timed calls, more until ≥ {cfg.min_time:g} s unless "
        f"the cell has run {cfg.cap:g} s; circuits/s = batch / median timed call (warm, every system); "
        f"skip-slow {'on' if cfg.skip_slow else 'off'}; seed {cfg.seed}.",
        '- Circuits: `chen_vqc` = `chen_vqc(n, 2)`; `ry+rxyz4` = `angle_embedding(n, "Y")` + 4 × (RX, RY, RZ '
        "on every wire, CNOT ring).",
        "- qseq: complex128 / float64 angles, `c64` columns complex64 / float32 angles; `fwd` per-sample "
        "`(B, P)`; `shared` = `{inputs: (B, P_in), weights: (1, P_w)}`; `bound` = calls of "
        "`backend.bind(circuit, weights=w)`. default.qubit: broadcasting + backprop, torch interface "
        "(float64); lightning.qubit: native interface (NumPy; autograd + adjoint for fwd+bwd, float64); "
        "lightning.qubit[torch]: the same through the torch interface (an extra, as torch models use it); "
        "aer: EstimatorV2 exact, one PUB (float64); tq-style: TorchQuantum's per-gate einsum approach "
        "emulated in this file (torchquantum is not installed), complex64.",
        "- Reference: both circuits written out in NumPy complex128 from their description with textbook "
        "gate matrices (no qseq code); `max abs Δ` is every method's largest deviation from it on 4 samples.",
        "",
        "### Circuits per second",
        "",
        "| circuit | n | " + " | ".join(f"{m} {mode}" for m, mode in COLUMNS) + " | max abs Δ vs complex128 ref |",
        "|---|--:|" + "--:|" * len(COLUMNS) + "---|",
    ]
    notes: dict[str, int] = {}
    for cname in CIRCUITS:
        for n in cfg.qubits:
            row = [cname, str(n)]
            for m, mode in COLUMNS:
                cell = res.cells.get((cname, n, m, mode))
                if cell is None:
                    row.append("")
                elif cell.timing:
                    row.append(_fmt_rate(cell.rate(cfg.batch)))
                else:
                    k = notes.setdefault(cell.skipped, len(notes) + 1)
                    row.append(f"skip[{k}]" if not cell.skipped.startswith(("unavailable", "error")) else f"n/a[{k}]")
            agree = []
            for m in METHODS:
                a = res.agreement.get((cname, n, m))
                agree.append(f"{m} {a:.1e}" if isinstance(a, float) else f"{m} n/a")
            lines.append("| " + " | ".join(row + ["; ".join(agree)]) + " |")
    lines += [""] + [f"[{k}] {reason}" + "  " for reason, k in notes.items()]

    lines += [
        "",
        "### Ratios: qseq ÷ baseline (same mode and precision: qseq complex128 ÷ the float64 baselines, "
        "qseq complex64 ÷ tq-style complex64)",
        "",
    ]
    pairs = [(b, mode) for b in BASELINES for mode in MODES[b]]
    lines += [
        "| circuit | n | "
        + " | ".join(f"{matched(b, mode)} ÷ {b} {mode}" for b, mode in pairs)
        + " | bound fwd ÷ per-sample fwd |",
        "|---|--:|" + "--:|" * (len(pairs) + 1),
    ]
    for cname in CIRCUITS:
        for n in cfg.qubits:
            row = [cname, str(n)]
            for b, mode in pairs:
                q, base = res.rate(cname, n, "qseq", matched(b, mode)), res.rate(cname, n, b, mode)
                row.append(_fmt_ratio(q / base) if q and base else "–")
            q, bound = res.rate(cname, n, "qseq", "fwd"), res.rate(cname, n, "qseq", "bound fwd")
            row.append(_fmt_ratio(bound / q) if q and bound else "–")
            lines.append("| " + " | ".join(row) + " |")

    lines += ["", "### Targets", "", "| target | circuit | measured | result |", "|---|---|--:|---|"]
    passed = total = 0
    for label, cname, ratio, need in _targets(res):
        total += 1
        ok = ratio is not None and ratio >= need
        passed += ok
        verdict = "PASS" if ok else "MISS" if ratio is not None else "not measured"
        lines.append(f"| {label} | {cname} | {_fmt_ratio(ratio) if ratio else 'n/a'} | {verdict} |")
    lines += [
        "",
        f"{passed} of {total} target checks pass.",
        "",
        "Earlier anchors on this machine (batch 256, 4 layers; circuits/s at 4/8/12/16 qubits), for "
        "reference only: default.qubit 56,800 / 7,520 / 364 / 13; lightning.qubit 3,850 / 1,950 / "
        "1,100 / 224; Aer EstimatorV2 5,820 / 3,240 / 520 / 55; TorchQuantum 52,400 / 17,600 / 1,108 / 15.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    cfg = Config.from_argv(argv)
    res = run(cfg)
    section = report(res)
    print("\n" + section)
    write_section("engine", section, cfg.out)
    print(f"wrote the engine section of {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

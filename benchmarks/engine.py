"""Engine benchmark: circuits per second of the qseq torch engine against the usual simulators.

What is measured
----------------
Throughput in **circuits per second** (batch / seconds per call) for a batch of ``--batch``
(default 256) parameter vectors, exact expectation values ⟨Z_i⟩ on every qubit, for two circuits at
``--qubits`` (default 4 8 12 16):

* ``chen_vqc``  — ``qseq.circuits.chen_vqc(n, 2)`` (groups ``inputs`` 2n, ``weights`` 6n), the QLSTM block;
* ``ry+rxyz4`` — ``angle_embedding(n, "Y")`` + 4 × (RX, RY, RZ on every wire, CNOT(i, i+1 mod n) ring)
  (groups ``inputs`` n, ``weights`` 12n).

Methods and modes (all in one run, same circuits, same random angles):

1. ``qseq``: ``qseq.backends.get("torch")`` (complex64 / float32 angles):
   ``fwd`` per-sample parameters ``(B, P)``; ``fwd+bwd`` the same with ``out.sum().backward()``;
   ``shared fwd`` the dict form ``{"inputs": (B, P_in), "weights": (1, P_w)}`` (a recurrent cell);
   ``bound fwd`` calls of one ``backend.bind(circuit, weights=w)`` object with ``inputs=x``;
   ``fwd f64`` per-sample forward on ``get("torch", dtype=torch.complex128)`` with float64 angles.
2. ``default.qubit``: PennyLane, parameter broadcasting, ``diff_method="backprop"``, torch interface,
   float64 angles: ``fwd``, ``fwd+bwd``.
3. ``lightning.qubit``: PennyLane Lightning, float64: ``fwd`` without differentiation; ``fwd+bwd``
   with ``diff_method="adjoint"``
   only up to ``--lightning-grad-max`` qubits (default 8) to bound the run time.
4. ``aer``: ``qiskit_aer.primitives.EstimatorV2`` exact (``default_precision=0``), one PUB
   ``(circuit, observables (n, 1), parameter_values (B, P))`` per call: ``fwd`` only.
5. ``tq-style``: TorchQuantum's approach, *emulated* here because torchquantum is not installed:
   a fresh ``[B, 2, …, 2]`` complex64 state per forward, every gate applied on its own by building
   its (batched) matrix and contracting it with ``torch.einsum`` over the target axes (as
   ``torchquantum/functional/gate_wrapper.py``'s ``apply_unitary_einsum`` does), ⟨Z⟩ per wire by
   summing ``|ψ|²`` over the other axes (as ``torchquantum.measurement.expval``). ``fwd``, ``fwd+bwd``.

The PennyLane QNode and the Qiskit circuit are built here from ``circuit.ops`` and the gate table's
``pennylane`` / ``qiskit`` names (not through the exporters), so the baselines do not depend on the
exporters' API. Before timing, every method is checked against an independent complex128
evaluation (the tq-style code in double precision) on 4 samples: the ``max |Δ|`` column.

Timing: one warm-up call, then calls until at least ``--min-time`` seconds (0.5) *and* ``--repeats``
calls (3). A cell never runs longer than ``--cap`` seconds (20): it stops early and is marked ``*``;
a cell whose warm-up call alone takes over cap/4 is reported from that single call and marked ``¹``.
Reported circuits/s = batch / median seconds per timed call (the median, not the mean, because
other processes on a shared machine cause bursts; the log also prints batch × calls / seconds).
With ``--skip-slow`` (on by default) a baseline cell is skipped, and listed as such, when the same
cell at the previous qubit count (≥ 10) took ≥ 1 s per call and scaling that by 2^Δn · n/n_prev
predicts over 6 × cap per call (the scaling overshoots for overhead-bound simulators, hence the
margin), or when a per-gate-autograd baseline's fwd+bwd (default.qubit backprop, tq-style) would keep
more than ``--mem-limit-gib`` (8) of states alive. qseq cells are never skipped.
torch runs on ``--threads`` (2) threads; Lightning and Aer use their default thread pools.

Run::

    .venv/bin/python benchmarks/engine.py                       # full run (≈ 5–10 min on 2 cores)
    .venv/bin/python benchmarks/engine.py --quick               # smoke test, 4 and 8 qubits (< 1 min)
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

from qseq.circuits import GATES, Circuit, Operation, angle_embedding, chen_vqc
from qseq.circuits.circuit import build

START, END = "<!-- engine:start -->", "<!-- engine:end -->"


# ------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Options of one benchmark run (the CLI flags of the same names).

    Attributes:
        qubits: qubit counts to run, in increasing order.
        batch: parameter vectors per call (circuits per call).
        repeats: minimum number of timed calls per cell (after one warm-up call).
        min_time: minimum timed seconds per cell.
        cap: maximum wall seconds per cell, warm-up included (cells that hit it are marked).
        skip_slow: skip cells predicted to take minutes or to exhaust memory (and report them).
        mem_limit_gib: memory allowed for the states a per-gate-autograd baseline saves.
        lightning_grad_max: largest qubit count for lightning.qubit fwd+bwd.
        threads: ``torch.set_num_threads``.
        seed: seed of the random angles.
        out: Markdown file whose engine section is replaced.
        quick: the smoke-test settings (4 and 8 qubits, 1 repeat, short cells).
    """

    qubits: tuple[int, ...] = (4, 8, 12, 16)
    batch: int = 256
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
        p.add_argument("--repeats", type=int, default=None, help=f"min timed calls per cell (default {d.repeats})")
        p.add_argument("--min-time", type=float, default=None, help=f"min timed seconds per cell ({d.min_time})")
        p.add_argument("--cap", type=float, default=None, help=f"max seconds per cell ({d.cap})")
        p.add_argument("--skip-slow", action=argparse.BooleanOptionalAction, default=d.skip_slow)
        p.add_argument("--mem-limit-gib", type=float, default=d.mem_limit_gib)
        p.add_argument("--lightning-grad-max", type=int, default=d.lightning_grad_max)
        p.add_argument("--threads", type=int, default=d.threads)
        p.add_argument("--seed", type=int, default=d.seed)
        p.add_argument("--out", type=Path, default=d.out)
        p.add_argument("--quick", action="store_true", help="smoke test: 4 and 8 qubits, 1 repeat, short cells")
        a = p.parse_args(argv)
        quick = dict(qubits=(4, 8), repeats=1, min_time=0.1, cap=5.0) if a.quick else {}
        pick = lambda name, given: given if given is not None else quick.get(name, getattr(d, name))  # noqa: E731
        return cls(
            qubits=tuple(sorted(pick("qubits", a.qubits))),
            batch=a.batch,
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
# timing
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """The timed calls of one cell (the warm-up call excluded unless ``mark == "¹"``)."""

    durations: tuple[float, ...]
    mark: str = ""  # "" | "*" (capped before `repeats` calls) | "¹" (single call incl. warm-up)
    warmup: float = 0.0

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
    """Warm up once, then call ``fn`` until ≥ ``cfg.min_time`` s and ≥ ``cfg.repeats`` calls,
    never letting the cell (warm-up included) run past ``cfg.cap`` seconds."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    if warm >= cfg.cap / 4:
        return Timing((warm,), "¹", warm)
    durations: list[float] = []
    while True:
        t0 = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - t0)
        elapsed = sum(durations)
        if elapsed >= cfg.min_time and len(durations) >= cfg.repeats:
            return Timing(tuple(durations), "", warm)
        if warm + elapsed + elapsed / len(durations) > cfg.cap:
            return Timing(tuple(durations), "*" if len(durations) < cfg.repeats else "", warm)


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


def _forward_cells(f: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor) -> dict:
    """``fwd`` (no autograd) and ``fwd+bwd`` (``f(p).sum().backward()``) cells of a torch function."""
    p_grad = params.clone().requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return f(params)

    def fwd_bwd():
        p_grad.grad = None
        f(p_grad).sum().backward()

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def _numpy_check(f: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> Callable:
    def check(p: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return f(p.to(dtype)).detach().double().numpy()

    return check


def method_qseq(circuit: Circuit, data: Data, cfg: Config) -> Runner:
    """The qseq torch engine: per-sample, fwd+bwd, shared weights (dict), bound weights, float64."""
    from qseq.backends import get

    backend = get("torch")
    backend64 = get("torch", dtype=torch.complex128)
    run = functools.partial(backend.expval, circuit)
    cells = _forward_cells(run, data.flat.float())
    shared = {"inputs": data.inputs.float(), "weights": data.weights.float()}
    bound = backend.bind(circuit, weights=shared["weights"])

    def shared_fwd():
        with torch.no_grad():
            return backend.expval(circuit, shared)

    def bound_fwd():
        with torch.no_grad():
            return bound(inputs=shared["inputs"])

    def fwd64():
        with torch.no_grad():
            return backend64.expval(circuit, data.flat)

    cells.update({"shared fwd": shared_fwd, "bound fwd": bound_fwd, "fwd f64": fwd64})
    return Runner(_numpy_check(functools.partial(backend64.expval, circuit), torch.float64), cells)


def _pennylane_qnode(circuit: Circuit, device: str, diff_method: str, **qnode_options) -> Callable:
    """A broadcasting torch QNode mirroring ``circuit``: ``f(params (B, P)) -> (B, n_obs)``."""
    import pennylane as qml

    dev = qml.device(device, wires=circuit.n_qubits)
    ops = [(getattr(qml, GATES[op.name].pennylane), list(op.wires), op.params) for op in circuit.ops]
    paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
    words = [[(paulis[p], w) for w, p in obs.terms] for obs in circuit.observables]

    @qml.qnode(dev, interface="torch", diff_method=diff_method, **qnode_options)
    def qnode(params):
        for cls, wires, idx in ops:
            cls(*(params[..., i] for i in idx), wires=wires)
        return [qml.expval(functools.reduce(operator.matmul, [cls(w) for cls, w in word])) for word in words]

    return lambda params: torch.stack(list(qnode(params)), -1)


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
    """PennyLane lightning.qubit, float64 angles: ``fwd`` on a QNode without differentiation (PennyLane
    0.45's torch interface would otherwise compute the adjoint Jacobian alongside every forward
    call, even under ``torch.no_grad()``: about 2× the forward time here), ``fwd+bwd`` with
    ``diff_method="adjoint"``. Broadcasting is expanded into one tape per sample by the device.
    """
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
    "aer": method_aer,
    "tq-style": method_tq,
}
MODES = {  # method -> modes in report order
    "qseq": ("fwd", "fwd+bwd", "shared fwd", "bound fwd", "fwd f64"),
    "default.qubit": ("fwd", "fwd+bwd"),
    "lightning.qubit": ("fwd", "fwd+bwd"),
    "aer": ("fwd",),
    "tq-style": ("fwd", "fwd+bwd"),
}
COLUMNS = [(m, mode) for m, modes in MODES.items() for mode in modes]
BASELINES = [m for m in METHODS if m != "qseq"]


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
    scaling it by 2^Δn · n/n_prev predicts over 6 × cap per call (the qseq engine is never skipped)."""
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
    if predicted > 6 * cfg.cap:
        return f"predicted ~{predicted:.0f} s per call (from {prev.n} qubits) > 6 × cap"
    return ""


def run(cfg: Config) -> Results:
    torch.set_num_threads(cfg.threads)
    res = Results(cfg, load_before=_loadavg())
    t_start = time.perf_counter()
    for cname, make in CIRCUITS.items():
        for n in cfg.qubits:
            circuit = make(n)
            data = Data.random(circuit, cfg.batch, cfg.seed)
            probe = data.flat[:4]
            reference = tq_forward(circuit, probe).numpy()
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
    res.load_after = _loadavg()
    return res


def _loadavg() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _progress(cell: Cell, cfg: Config) -> None:
    what = f"{cell.circuit:9s} n={cell.n:2d} {cell.method:15s} {cell.mode:10s}"
    if cell.timing:
        t = cell.timing
        print(
            f"{what} {cell.rate(cfg.batch):12,.0f} circ/s  ({t.calls} calls, {t.seconds:.2f} s, mean-based "
            f"{cfg.batch * t.calls / t.seconds:,.0f}/s, warm-up {t.warmup:.2f} s){t.mark}",
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
                q, b = r(cname, n, "qseq", qmode), r(cname, n, base, bmode)
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
        f"- Settings: batch {cfg.batch}, exact ⟨Z⟩ on every qubit, torch threads {cfg.threads}; per cell one "
        f"warm-up call, then ≥ {cfg.min_time:g} s and ≥ {cfg.repeats} calls, cap {cfg.cap:g} s; circuits/s = "
        f"batch / median call time; "
        f"skip-slow {'on' if cfg.skip_slow else 'off'}; seed {cfg.seed}.",
        '- Circuits: `chen_vqc` = `chen_vqc(n, 2)`; `ry+rxyz4` = `angle_embedding(n, "Y")` + 4 × (RX, RY, RZ '
        "on every wire, CNOT ring).",
        "- qseq: complex64 / float32 angles unless `f64`; `fwd` per-sample `(B, P)`; `shared` = "
        "`{inputs: (B, P_in), weights: (1, P_w)}`; `bound` = calls of `backend.bind(circuit, weights=w)`. "
        "default.qubit: broadcasting + backprop (float64); lightning.qubit: adjoint (float64); aer: "
        "EstimatorV2 exact, one PUB (float64); tq-style: TorchQuantum's per-gate einsum approach emulated "
        "in this file (torchquantum is not installed), complex64.",
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
                    row.append(_fmt_rate(cell.rate(cfg.batch)) + cell.timing.mark)
                else:
                    k = notes.setdefault(cell.skipped, len(notes) + 1)
                    row.append(f"skip[{k}]" if not cell.skipped.startswith(("unavailable", "error")) else f"n/a[{k}]")
            agree = []
            for m in METHODS:
                a = res.agreement.get((cname, n, m))
                agree.append(f"{m} {a:.1e}" if isinstance(a, float) else f"{m} n/a")
            lines.append("| " + " | ".join(row + ["; ".join(agree)]) + " |")
    lines += ["", "`*` capped before the requested number of calls; `¹` one call (its warm-up took over cap/4)."]
    lines += [f"[{k}] {reason}" + "  " for reason, k in notes.items()]

    lines += ["", "### Ratios: qseq ÷ baseline (same mode: fwd ÷ fwd, fwd+bwd ÷ fwd+bwd)", ""]
    pairs = [(b, mode) for b in BASELINES for mode in MODES[b]]
    lines += [
        "| circuit | n | " + " | ".join(f"÷ {b} {mode}" for b, mode in pairs) + " | bound fwd ÷ per-sample fwd |",
        "|---|--:|" + "--:|" * (len(pairs) + 1),
    ]
    for cname in CIRCUITS:
        for n in cfg.qubits:
            row = [cname, str(n)]
            for b, mode in pairs:
                q, base = res.rate(cname, n, "qseq", mode), res.rate(cname, n, b, mode)
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


def write_section(path: Path, section: str) -> None:
    """Replace the text between the engine markers in ``path`` (append the section if absent)."""
    block = f"{START}\n{section}{END}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    cfg = Config.from_argv(argv)
    res = run(cfg)
    section = report(res)
    print("\n" + section)
    write_section(cfg.out, section)
    print(f"wrote the engine section of {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

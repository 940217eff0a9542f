"""GPU check and throughput of the torch engine on CUDA (``"torch:cuda"``).

For each qubit count and mode it first checks the CUDA result against the CPU engine in complex128
(max |Δ| column), then times calls with CUDA events after warm-up. Modes, as in ``engine.py``:
per-sample forward (replayed as a CUDA graph, the default, and without: ``graphs=False``),
per-sample forward+backward, and shared weights bound across calls (the recurrent-cell case), for
``chen_vqc(n, 2)``, at batch 256 and 4096; up to ``--pennylane-max``
qubits also the eager baseline on the same card, PennyLane's ``default.qubit`` on CUDA torch tensors
(broadcast, no gradients), and qseq's per-sample forward as a multiple of it. Then, for large
registers (``--large``) at batch 1: the first call, forward and gradient times and memory, and one
pass of each Triton kernel (a 4-wire block, the CNOT rings' gather) against the memory floor.

Run on a machine with a CUDA GPU::

    python benchmarks/engine_gpu.py [--qubits 4 8 12 16 20] [--out benchmarks/RESULTS.md]

The table is printed and written between ``<!-- engine-gpu:start -->`` and ``<!-- engine-gpu:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
from paper_qlstm import write_section  # same folder

from qseq.backends import get
from qseq.backends.engine import gpu_passes, simulate
from qseq.backends.engine.program import Permute, compile_circuit
from qseq.circuits import chen_vqc, to_pennylane


def time_cuda(fn, min_ms: float = 300.0) -> float:
    """Median milliseconds per call of ``fn`` on the current CUDA stream."""
    fn()
    torch.cuda.synchronize()
    samples, total = [], 0.0
    while total < min_ms or len(samples) < 5:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
        total += samples[-1]
    return sorted(samples)[len(samples) // 2]


def measure(n: int, batch: int, pennylane_max: int) -> dict[str, float]:
    import pennylane as qml

    circuit = chen_vqc(n, 2)
    gpu, cpu = get("torch:cuda", check_finite=False), get("torch", dtype=torch.complex128)
    gen = torch.Generator().manual_seed(n)
    params = torch.rand(batch, circuit.n_params, generator=gen) * 6.28
    x, w = params[:, : 2 * n], params[:1, 2 * n :]
    sample = min(batch, 64)
    ref = cpu.expval(circuit, params[:sample].double())
    err = (gpu.expval(circuit, params[:sample].cuda()).double().cpu() - ref).abs().max().item()
    p_gpu = params.cuda()
    p_grad = p_gpu.clone().requires_grad_()
    bound = gpu.bind(circuit, weights=w.cuda())
    x_gpu = x.cuda().contiguous()
    rate = lambda ms: batch / ms * 1e3  # noqa: E731
    eager = get("torch:cuda", check_finite=False, graphs=False)
    out = {
        "max abs diff vs CPU complex128": err,
        "fwd": rate(time_cuda(lambda: gpu.expval(circuit, p_gpu))),
        "fwd, no graph": rate(time_cuda(lambda: eager.expval(circuit, p_gpu))),
        "fwd+bwd": rate(time_cuda(lambda: gpu.expval(circuit, p_grad).sum().backward())),
        "bound fwd": rate(time_cuda(lambda: bound(inputs=x_gpu))),
    }
    if n <= pennylane_max:  # the eager baseline on the same card: default.qubit on CUDA torch tensors
        gates, zero = to_pennylane(circuit), torch.zeros(2**n, dtype=torch.complex64, device="cuda")
        zero[0] = 1

        def on_the_card(params):  # default.qubit makes its initial state on the CPU: start from a CUDA one
            qml.StatePrep(zero, wires=range(n))
            return gates(params)

        qnode = qml.QNode(on_the_card, qml.device("default.qubit", wires=n), interface="torch")
        with torch.no_grad():
            out["default.qubit fwd"] = rate(time_cuda(lambda: qnode(p_gpu), min_ms=1000.0))
        out["fwd ÷ default.qubit"] = out["fwd"] / out["default.qubit fwd"]
    return out


def _version(package: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(package)


def _cell(column: str, value: float | None) -> str:
    if value is None:
        return "–"
    if column.startswith("max abs diff"):
        return f"{value:.1e}"
    return f"{value:.1f}x" if "÷" in column else f"{value:,.0f}"


def large_register(n: int) -> dict[str, float]:
    """``chen_vqc(n, 2)`` at batch 1: the first call (compilation and device tables included), a
    forward call, forward plus gradient by autograd and by the adjoint method (time, and the peak
    memory above the tables in states), and the memory floor — one read+write pass of a complex64
    state (a copy)."""
    circuit = chen_vqc(n, 2)
    backend = get("torch:cuda", check_finite=False)
    x = torch.rand(1, circuit.n_params, device="cuda") * 6.28
    torch.cuda.synchronize()
    start = time.perf_counter()
    backend.expval(circuit, x)
    torch.cuda.synchronize()
    first = time.perf_counter() - start
    out = {"first call s": first, "forward ms": time_cuda(lambda: backend.expval(circuit, x))}
    x_grad = x.clone().requires_grad_()
    state_bytes = 2**n * 8
    for diff in ("backprop", "adjoint"):
        backend.diff = diff
        step = lambda: backend.expval(circuit, x_grad).sum().backward()  # noqa: E731
        step()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out[f"{diff} grad ms"] = time_cuda(step)
        out[f"{diff} peak states"] = (torch.cuda.max_memory_allocated() - base) / state_bytes
    state = torch.randn(2**n, dtype=torch.complex64, device="cuda")
    target = torch.empty_like(state)
    # a copy replayed from a graph may run on the copy engines, slower than an SM kernel at 26+ qubits
    out["floor ms"] = min(
        time_graphed(lambda: target.copy_(state)), time_graphed(lambda: torch.mul(state, 1, out=target))
    )
    out["passes"] = out["forward ms"] / out["floor ms"]
    return out | gate_passes(n, state, out["floor ms"])


def time_graphed(fn, repeat: int = 10) -> float:
    """Milliseconds per call of ``fn``, ``repeat`` calls captured in one CUDA graph and replayed: the
    GPU's time without the launches' (which a forward call's graph also takes out)."""
    fn()  # compile before capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(repeat):
            fn()
    return time_cuda(graph.replay) / repeat


def gate_passes(n: int, state: torch.Tensor, floor_ms: float) -> dict[str, float]:
    """One pass of each Triton kernel over a complex64 state of ``n`` qubits, ÷ the floor (both timed
    as replays of captured passes): a 4-wire block at the first, middle and last wires (the slowest),
    and the CNOT rings' gather of ``chen_vqc(n, 2)`` and its inverse (the slower)."""
    program = compile_circuit(chen_vqc(n, 2))
    tables = simulate.make_tables(program, state.device, torch.complex64)
    m = torch.randn(16, 16, dtype=torch.complex64, device="cuda")
    ring = simulate.gpu_gather(tables, next(s for s in program.stages if isinstance(s, Permute)), n)
    blocks = [lambda first=first: gpu_passes.apply_block_gpu(state, m, first, 4, n) for first in (0, n // 2, n - 4)]
    gathers = [
        lambda inverse=inverse: gpu_passes.apply_gather_gpu(state, ring, n, inverse) for inverse in (False, True)
    ]
    return {
        "block pass ÷ floor": max(map(time_graphed, blocks)) / floor_ms,
        "gather ÷ floor": max(map(time_graphed, gathers)) / floor_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12, 16, 20])
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--max-state-gib", type=float, default=8.0)
    ap.add_argument("--pennylane-max", type=int, default=12, help="largest n with the default.qubit column")
    ap.add_argument("--large", type=int, nargs="*", default=[20, 22, 24, 26, 28], help="qubits of the batch-1 runs")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    rows = []
    for batch in args.batches:
        for n in args.qubits:
            if batch * 2**n * 8 > args.max_state_gib * 2**30:  # the engine holds a few states at once
                print(f"skip batch {batch}, {n} qubits: one complex64 state batch exceeds {args.max_state_gib} GiB")
                continue
            r = measure(n, batch, args.pennylane_max)
            rows.append((batch, n, r))
            print(batch, n, {k: f"{v:.3g}" for k, v in r.items()}, flush=True)
    cols = list(dict.fromkeys(c for _, _, r in rows for c in r))
    lines = [
        "## Torch engine on CUDA (`benchmarks/engine_gpu.py`)",
        "",
        f"{datetime.date.today()}, {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        "chen_vqc(n, 2), complex64, circuits/s (median of CUDA-event-timed calls); `default.qubit fwd`: PennyLane "
        f"{_version('pennylane')} on CUDA torch tensors, float32 angles, broadcast.",
        "",
        "| batch | n | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for batch, n, r in rows:
        cells = [_cell(c, r.get(c)) for c in cols]
        lines.append(f"| {batch} | {n} | " + " | ".join(cells) + " |")
    large = []
    for n in args.large:
        r = large_register(n)
        large.append((n, r))
        print(n, {k: f"{v:.3g}" for k, v in r.items()}, flush=True)
    if large:
        lines += [
            "",
            "Large registers, `chen_vqc(n, 2)` at batch 1, complex64: the first call (compilation and device tables "
            "included), one forward call, forward plus gradient of all parameters by autograd (`backprop`) and by the "
            "adjoint method (`diff='adjoint'`), each with its peak memory above what was allocated before (the "
            "device tables), in states; the memory floor (one read+write pass of the state: the faster of a copy and "
            "a multiplication by 1, each replayed from a CUDA graph); `passes` = forward ÷ floor; one block pass "
            "(the slowest of the first, middle and last wires) and one gather of the CNOT rings (the slower of the "
            "map and its inverse) ÷ floor.",
            "",
            "| n | first call s | forward ms | backprop grad ms | its peak, states | adjoint grad ms | "
            "its peak, states | floor ms | passes | block pass ÷ floor | gather ÷ floor |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            *(
                f"| {n} | {r['first call s']:.2f} | {r['forward ms']:.3f} | {r['backprop grad ms']:.2f} | "
                f"{r['backprop peak states']:.1f} | {r['adjoint grad ms']:.2f} | {r['adjoint peak states']:.1f} | "
                f"{r['floor ms']:.4f} | {r['passes']:.0f} | {r['block pass ÷ floor']:.2f} | {r['gather ÷ floor']:.2f} |"
                for n, r in large
            ),
        ]
    write_section("engine-gpu", "\n".join(lines), args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

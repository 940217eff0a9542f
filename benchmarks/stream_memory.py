"""Memory of a long stream: 100,000 time steps through the paper QLSTM and the paper QFWP with carried state.

A user doing online inference feeds a stream one step (or one chunk) at a time and passes the
returned state back in. This measures whether that keeps memory flat, in four scenarios:

* ``qlstm infer`` / ``qfwp infer``: under ``torch.no_grad()``, chunks of ``--chunk`` steps (default
  1: one step per call), the state passed back after ``.detach()``;
* ``qlstm tbptt`` / ``qfwp tbptt``: truncated back-propagation through time, one RMSprop step every
  ``--tbptt`` steps (default 32) on the MSE of predicting the next value of the stream, then the
  state detached.

Models: ``qseq.QLSTM`` of ``build_model("qlstm")`` (input 1, hidden 3, 4 qubits, 2 layers, readout
VQC) followed by its ``Linear(4→1)`` head, and ``qseq.QFWP`` of ``build_model("qfwp")`` (8 qubits,
depth 2, 4 measured), both float32 on the torch engine, one stream (batch 1). The stream is
``sin(0.05 t)``, made chunk by chunk.

Every ``--every`` steps (and at 1,000) it records the process RSS (psutil, else ``/proc/self/status``)
and the tensors alive in Python (found by the garbage collector, storages counted once). The slope
is a least-squares line through the RSS samples from 10 % of the stream to its end, in bytes per
1,000 steps; steps/s excludes the sampling (a chunk ends at a sampling point). Nothing is
asserted: the numbers are reported.

Run (one thread, as the numbers in RESULTS.md were made)::

    OMP_NUM_THREADS=1 python benchmarks/stream_memory.py                 # 100k steps, 4 scenarios
    OMP_NUM_THREADS=1 python benchmarks/stream_memory.py --steps 2000 --section ''   # smoke test

It writes its section of ``benchmarks/RESULTS.md`` (between ``<!-- stream-memory:start/end -->``).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import loadavg, machine, write_section  # same folder

from qseq.models import build_model
from qseq.models.episodes import map_state

MIB = 2**20


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        import psutil
    except ImportError:
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) * 1024
    return psutil.Process().memory_info().rss


def live_tensors() -> tuple[int, int]:
    """``(count, bytes)`` of the tensors the garbage collector can reach, each storage counted once."""
    tensors = [o for o in gc.get_objects() if issubclass(type(o), torch.Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return len(tensors), sum(storages.values())


@dataclass
class Sample:
    step: int
    rss: int
    tensors: int
    tensor_bytes: int


@dataclass
class Run:
    name: str
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def at(self, step: int) -> Sample:
        return next(s for s in self.samples if s.step == step)

    def slope(self, steps: int) -> float:
        """Bytes of RSS per 1,000 steps, fitted from 10 % of the stream to its end."""
        tail = [s for s in self.samples if s.step >= steps // 10]
        x = np.array([s.step for s in tail], dtype=float)
        y = np.array([s.rss for s in tail], dtype=float)
        return float(np.polyfit(x, y, 1)[0] * 1000)


def signal(start: int, length: int) -> torch.Tensor:
    """``sin(0.05 t)`` for ``t`` in ``[start, start + length)``, shape ``(1, length, 1)`` (batch-first)."""
    t = torch.arange(start, start + length, dtype=torch.float32)
    return torch.sin(0.05 * t).reshape(1, length, 1)


def qlstm_model() -> tuple[torch.nn.Module, Callable]:
    """The paper QLSTM: ``step(x, state) -> (predictions (1, L, 1), state)``."""
    model = build_model("qlstm")

    def step(x, state):
        out, state = model.rnn(x, state)
        return model.head(out), state

    return model, step


def qfwp_model() -> tuple[torch.nn.Module, Callable]:
    """The paper QFWP: ``step(x, state) -> (predictions (1, L, 1), state)``."""
    model = build_model("qfwp").model
    return model, model


MODELS = {"qlstm": qlstm_model, "qfwp": qfwp_model}


def stream(name: str, mode: str, steps: int, chunk: int, every: int, seed: int) -> Run:
    """Stream ``steps`` steps through model ``name`` in ``mode`` (``infer`` or ``tbptt``), sampling memory."""
    torch.manual_seed(seed)
    model, step = MODELS[name]()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01) if mode == "tbptt" else None
    marks = sorted({s for s in (1000, *range(every, steps, every)) if s < steps} | {steps})
    run = Run(f"{name} {mode}")
    gc.collect()
    run.samples.append(Sample(0, rss_bytes(), *live_tensors()))
    state, t, sampling = None, 0, 0.0
    t0 = time.perf_counter()
    while t < steps:
        length = min(chunk, steps - t, marks[0] - t)
        x = signal(t, length)
        if optimizer is None:
            with torch.no_grad():
                _, state = step(x, state)
        else:
            prediction, state = step(x, state)
            loss = torch.mean((prediction - signal(t + 1, length)) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        state = map_state(state, torch.Tensor.detach)
        t += length
        if t == marks[0]:
            s0 = time.perf_counter()
            run.samples.append(Sample(t, rss_bytes(), *live_tensors()))
            sampling += time.perf_counter() - s0
            marks.pop(0)
            print(f"{run.name}: step {t:,} RSS {run.samples[-1].rss / MIB:.1f} MiB", flush=True)
    run.seconds = time.perf_counter() - t0 - sampling
    return run


def report(runs: list[Run], args, load: tuple[str, str]) -> str:
    steps = args.steps
    checkpoints = [s for s in (1000, 10_000, 100_000) if s <= steps and s != steps] + [steps]
    threads = f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    lines = [
        "## Memory of a 100k-step stream (`benchmarks/stream_memory.py`)",
        "",
        f"{machine()}; {threads}; load average (1/5/15 min) {load[0]} at start, {load[1]} at the end "
        "(above the core count, other processes competed for the CPU: steps/s is noisy). "
        f"{steps:,} steps of `sin(0.05 t)`, one stream, float32, the torch engine; "
        f"the state passed back detached. `infer`: `torch.no_grad()`, chunks of {args.chunk} step(s); "
        f"`tbptt`: an RMSprop step (lr 0.01, next-value MSE) every {args.tbptt} steps. QLSTM = `qseq.QLSTM` of "
        '`build_model("qlstm")` (input 1, hidden 3, 4 qubits, 2 layers) + its head; QFWP = `qseq.QFWP` of '
        '`build_model("qfwp")`. Each scenario runs in a fresh process; RSS of that process, start = '
        "after building the model, before the first step; "
        "slope: least squares through the RSS samples (every "
        f"{args.every:,} steps) from step {steps // 10:,} on; live tensors: those the garbage collector "
        "reaches (count / MiB of their storages).",
        "",
        "| scenario | start RSS (MiB) | "
        + " | ".join(f"RSS at {s:,} (MiB)" for s in checkpoints)
        + " | slope (KiB / 1k steps) | live tensors at 1,000 → end | steps/s |",
        "|---|--:|" + "--:|" * len(checkpoints) + "--:|---|--:|",
    ]
    for run in runs:
        start, first, end = run.samples[0], run.at(checkpoints[0]), run.samples[-1]
        lines.append(
            f"| {run.name} | {start.rss / MIB:.1f} | "
            + " | ".join(f"{run.at(s).rss / MIB:.1f}" for s in checkpoints)
            + f" | {run.slope(steps) / 1024:+.2f} | {first.tensors} ({first.tensor_bytes / MIB:.2f}) → "
            f"{end.tensors} ({end.tensor_bytes / MIB:.2f}) | {steps / run.seconds:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=1, help="steps per call in the infer scenarios (default 1)")
    ap.add_argument("--tbptt", type=int, default=32, help="steps per training step in the tbptt scenarios")
    ap.add_argument("--every", type=int, default=5000, help="steps between memory samples (default 5000)")
    ap.add_argument("--scenarios", nargs="+", default=["qlstm infer", "qfwp infer", "qlstm tbptt", "qfwp tbptt"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--section", default="stream-memory", help="RESULTS.md section to (re)write ('' writes none)")
    args = ap.parse_args()
    runs, load_start = [], loadavg()
    for scenario in args.scenarios:  # each in a fresh process, so that one's memory does not carry into the next
        name, mode = scenario.split()
        chunk = args.chunk if mode == "infer" else args.tbptt
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs.append(pool.submit(stream, name, mode, args.steps, chunk, args.every, args.seed).result())
    text = report(runs, args, (load_start, loadavg()))
    if args.section:
        write_section(args.section, text)
    print(text)


if __name__ == "__main__":
    main()

"""The paper-QLSTM training step and cell-step latency, on the CPU and on CUDA (eager and CUDA graph).

Measures, for the paper QLSTM (1 input, hidden 3, 4 qubits, 2 VQC layers, readout VQC + linear
head; float32 / complex64), windows of 8 steps and an Adam step:

* the training step (forward, MSE loss, backward, optimiser step) in ms: on the CPU at batch 32 and
  256; on CUDA eagerly and as one CUDA graph (:class:`qseq.train.graphs.GraphedStep`) at batch 32,
  1,024 and 16,384, with the graph's warm-up and capture time;
* the same step of the widely copied PennyLane QLSTM (:class:`ReferenceQLSTM`: four ``TorchLayer``
  VQCs on ``default.qubit``, backprop, broadcast over the batch; same sizes, data and optimiser) up
  to ``--reference-max-batch``, and qseq's step as a multiple of it;
* one ``QLSTMCell(4, 8, n_qubits=8)`` step without gradients at batch 1, 8 and 32, in ms;
* on the CPU, the batch-32 step with all cores' intra-op threads and with one (qseq's thread policy,
  :mod:`qseq._threads`), alone and beside one busy process.

Run::

    OMP_NUM_THREADS=1 python benchmarks/train_step.py [--device cpu|cuda]

The table is printed and written to ``benchmarks/RESULTS.md`` between ``<!-- train-step-DEVICE:start -->`` and
``...:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import time

import torch
from paper_qlstm import write_section  # same folder

from qseq.models import QLSTMCell, build_model
from qseq.train import TrainConfig
from qseq.train.graphs import GraphedStep, _step
from qseq.train.loop import _make_optimizer


def per_call_ms(fn, device: torch.device, min_seconds: float = 1.0) -> float:
    """Median milliseconds of ``fn()`` over repeats of at least ``min_seconds`` in all, after warm-up."""
    for _ in range(3):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(samples) < 5:
        t = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t) * 1e3)
    return sorted(samples)[len(samples) // 2]


def step_setup(batch: int, device: torch.device, graph: bool = False):
    """``(model, optimizer, x, y)`` of the paper-QLSTM training step, built as ``fit`` builds them."""
    torch.manual_seed(0)
    model = build_model("qlstm").to(device)
    x = torch.randn(batch, 8, 1, device=device)
    y = torch.randn(batch, 1, device=device)
    optimizer = _make_optimizer(model, TrainConfig(optimizer="adam", lr=0.01), capturable=graph)
    return model, optimizer, x, y


def training_step(batch: int, device: torch.device, graph: bool) -> tuple[float, float | None]:
    """``(ms per step, seconds to warm up and capture the graph or None)``."""
    model, optimizer, x, y = step_setup(batch, device, graph)
    if not graph:

        def eager():
            optimizer.zero_grad(set_to_none=True)
            _step(model, optimizer, x, y)

        return per_call_ms(eager, device), None
    start = time.perf_counter()
    step = GraphedStep(model, optimizer, x, y)
    torch.cuda.synchronize()
    capture = time.perf_counter() - start
    return per_call_ms(lambda: step(x, y), device), capture


class ReferenceQLSTM(torch.nn.Module):
    """The widely copied PennyLane QLSTM (the ``rdisipio/qlstm`` design, not the papers' circuit): per
    step ``v = clayer_in([x_t, h])`` (``n_qubits`` angles), four VQCs — ``AngleEmbedding`` (RX) and
    ``BasicEntanglerLayers`` (``n_layers`` of RX and a CNOT ring), ⟨Z⟩ on every wire — each a
    ``qml.qnn.TorchLayer`` on ``default.qubit`` with backprop, broadcast over the batch; a shared
    ``clayer_out`` (``n_qubits → hidden``) on each, the LSTM update ``c = σ(f) c + σ(i) tanh(g)``,
    ``h = σ(o) tanh(c)``; a linear head on the last ``h``. Input ``(B, T, n_inputs)`` → ``(B, 1)``."""

    def __init__(self, n_inputs: int, hidden: int, n_qubits: int, n_layers: int, device: torch.device):
        import pennylane as qml

        super().__init__()
        wires = range(n_qubits)
        zero = torch.zeros(2**n_qubits, dtype=torch.complex64, device=device)
        zero[0] = 1

        def vqc(inputs, weights):
            if device.type == "cuda":  # default.qubit makes its initial state on the CPU: start from one on the card
                qml.StatePrep(zero, wires=wires)
            qml.AngleEmbedding(inputs, wires=wires)
            qml.BasicEntanglerLayers(weights, wires=wires)
            return [qml.expval(qml.PauliZ(w)) for w in wires]

        dev = qml.device("default.qubit", wires=n_qubits)
        self.vqcs = torch.nn.ModuleList(
            qml.qnn.TorchLayer(
                qml.QNode(vqc, dev, interface="torch", diff_method="backprop"), {"weights": (n_layers, n_qubits)}
            )
            for _ in range(4)
        )
        self.clayer_in = torch.nn.Linear(n_inputs + hidden, n_qubits)
        self.clayer_out = torch.nn.Linear(n_qubits, hidden)
        self.head = torch.nn.Linear(hidden, 1)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = x.new_zeros(x.shape[0], self.hidden)
        for t in range(x.shape[1]):
            v = self.clayer_in(torch.cat([x[:, t], h], dim=1))
            f, i, g, o = (self.clayer_out(vqc(v).to(x.dtype)) for vqc in self.vqcs)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return self.head(h)


def reference_step(batch: int, device: torch.device) -> float:
    """ms per training step of :class:`ReferenceQLSTM` with the paper QLSTM's sizes (1 input,
    hidden 3, 4 qubits, 2 layers), windows of 8 steps, MSE, Adam."""
    torch.manual_seed(0)
    model = ReferenceQLSTM(1, 3, 4, 2, device).to(device)
    x, y = torch.randn(batch, 8, 1, device=device), torch.randn(batch, 1, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    return per_call_ms(step, device, min_seconds=3.0)


def cell_step(batch: int, device: torch.device) -> float:
    cell = QLSTMCell(4, 8, n_qubits=8).to(device)
    x = torch.randn(batch, 4, device=device)
    state = (torch.zeros(batch, 8, device=device), torch.zeros(batch, 8, device=device))
    with torch.no_grad():
        return per_call_ms(lambda: cell(x, state), device)


def _busy() -> None:
    while True:
        pass


def contention_rows() -> list[str]:
    """Batch-32 CPU step with ``os.cpu_count()`` threads and with 1, alone and beside a busy process."""
    cores, before = os.cpu_count() or 1, torch.get_num_threads()
    rows = []
    for label in ("alone", "one busy process beside"):
        busy = multiprocessing.Process(target=_busy, daemon=True) if label != "alone" else None
        if busy is not None:
            busy.start()
        try:
            cells = []
            for count in (cores, 1):
                torch.set_num_threads(count)
                cells.append(training_step(32, torch.device("cpu"), graph=False)[0])
        finally:
            torch.set_num_threads(before)
            if busy is not None:
                busy.terminate()
        rows.append(f"| {label} | {cells[0]:.1f} | {cells[1]:.1f} | {cells[0] / cells[1]:.1f}x |")
        print(rows[-1], flush=True)
    return [
        "",
        f"Thread policy: the batch-32 step with {cores} intra-op threads (torch's default here) and with 1 "
        "(what `fit`, `evaluate`, `predict` and reservoir features use unless the user chose):",
        "",
        f"| machine | {cores} threads ms | 1 thread ms | ratio |",
        "|---|--:|--:|--:|",
        *rows,
    ]


def setting(device: torch.device) -> str:
    """Date, machine, torch version and thread settings of a run on ``device``."""
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    threads = f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    return f"{datetime.date.today()}, {machine}, torch {torch.__version__}, {threads}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--reference-max-batch", type=int, default=1024, help="largest batch with the PennyLane column")
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batches = args.batches or ([32, 1024, 16384] if cuda else [32, 256])
    lines = [
        f"### Paper-QLSTM training step on {device.type.upper()} (`benchmarks/train_step.py`)",
        "",
        f"{setting(device)}. Batch of windows of 8 steps, float32, Adam (fused on CUDA, as `fit` makes it); "
        "ms per step (median). `PennyLane reference ms`: the widely copied PennyLane QLSTM (four `TorchLayer` "
        "VQCs on `default.qubit`, backprop, broadcast; same sizes, data and optimiser), and qseq's step as a "
        "multiple of it (the CUDA graph's on CUDA).",
        "",
    ]
    if cuda:
        lines += [
            "| batch | eager ms | CUDA graph ms | speed-up | graph warm-up + capture s | PennyLane reference ms | "
            "qseq ÷ reference |",
            "|--:|--:|--:|--:|--:|--:|--:|",
        ]
    else:
        lines += ["| batch | eager ms | PennyLane reference ms | qseq ÷ reference |", "|--:|--:|--:|--:|"]
    for batch in batches:
        eager, _ = training_step(batch, device, graph=False)
        reference = reference_step(batch, device) if batch <= args.reference_max_batch else None
        best = eager
        cells = [f"{eager:.2f}"]
        if cuda:
            best, capture = training_step(batch, device, graph=True)
            cells += [f"{best:.2f}", f"{eager / best:.1f}x", f"{capture:.1f}"]
        cells += ["–", "–"] if reference is None else [f"{reference:.1f}", f"{reference / best:.0f}x"]
        lines.append(f"| {batch:,} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    if not cuda:
        lines += contention_rows()
    lines += ["", "`QLSTMCell(4, 8, n_qubits=8)`, one step without gradients:", "", "| batch | ms |", "|--:|--:|"]
    for batch in (1, 8, 32):
        lines.append(f"| {batch} | {cell_step(batch, device):.3f} |")
        print(lines[-1], flush=True)
    write_section(f"train-step-{device.type}", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

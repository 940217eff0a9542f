"""Paper QLSTM benchmarks (targets T1–T3, docs/references.md): training speed and accuracy.

``speed``: one training epoch of the paper QLSTM (input 1, hidden 3, 4 qubits, 2 layers, VQC1–6 +
Linear(4→1), 149 parameters; RMSprop 0.01, batch 4, float64) on damped SHM (157 training windows)
in three implementations of the same model with the same weights:

1. qseq on its torch engine (two backend calls per time step for the whole batch);
2. the same qseq model moved to PennyLane ``default.qubit`` (``to_backend``): broadcasting, backprop;
3. the papers' reference style (Chen's ``VQLSTM``): a Python loop over samples and time steps, one
   ``default.qubit`` QNode call per VQC (six per step), written out in :func:`reference_forward`.
   It is timed on a few mini-batches and extrapolated to the epoch (stated in the output).

All three losses on the first batch are checked to agree (max |Δ| column).

``accuracy``: T1–T3 (damped SHM, Bessel J2, delayed quantum control; window 4, 67/33, 100
epochs) for QLSTM, QGRU, QRNN and classical LSTM/GRU of similar size, mean ± std over seeds, with
last-value persistence and linear AR(4) on the same windows, wall time per run, and a prediction
figure per task and model (seed 0) in ``benchmarks/figures/qlstm_<task>_<model>.png``.

Run::

    python benchmarks/paper_qlstm.py speed
    python benchmarks/paper_qlstm.py accuracy [--tasks damped_shm bessel_j2] [--seeds 5] [--epochs 100]

Each writes its section of ``benchmarks/RESULTS.md`` (between ``<!-- paper-qlstm-<mode>:start/end -->``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from qseq.data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model, count_parameters
from qseq.train import TrainConfig, evaluate, fit, plot_prediction

RESULTS = Path(__file__).with_name("RESULTS.md")
FIGURES = Path(__file__).with_name("figures")


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor()
    )
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {datetime.date.today()}"


# -- the papers' reference style ---------------------------------------------------------------
def reference_vqcs(n_qubits: int = 4):
    """One default.qubit QNode of Chen's VQC block, called once per VQC, sample and time step."""
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def vqc(v, weights):
        for i in range(n_qubits):
            qml.Hadamard(wires=i)
        for i in range(n_qubits):
            qml.RY(torch.atan(v[i]), wires=i)
            qml.RZ(torch.atan(v[i] ** 2), wires=i)
        for layer in weights:
            for i in range(n_qubits):
                qml.CNOT(wires=[i, (i + 1) % n_qubits])
            for i in range(n_qubits):
                qml.CNOT(wires=[i, (i + 2) % n_qubits])
            for i in range(n_qubits):
                qml.Rot(*layer[i], wires=i)
        return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

    return lambda v, w: torch.stack(list(vqc(v, w)))


def reference_forward(vqc, model, X: torch.Tensor) -> torch.Tensor:
    """Chen's ``VQLSTM`` forward, one sample and one VQC at a time, with ``model``'s weights."""
    cell = model.rnn.cells[0]
    gates, hidden = cell.vqc["gates"].weight, cell.vqc["hidden"].weight
    outs = []
    for sample in X:
        h = torch.zeros(cell.hidden_size, dtype=X.dtype)
        c = torch.zeros(cell.n_qubits, dtype=X.dtype)
        for x_t in sample:
            v = torch.cat([x_t, h])
            f, i, g, o = (vqc(v, gates[k]) for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            u = torch.sigmoid(o) * torch.tanh(c)
            h = vqc(u, hidden[0])[: cell.hidden_size]
            y = vqc(u, hidden[1])
        outs.append(model.head(y))
    return torch.stack(outs)


def train_batches(forward, params, X, y, batch_size: int, max_batches: int | None = None) -> tuple[float, int]:
    """Seconds for RMSprop steps over the batches (all, or the first ``max_batches``)."""
    opt = torch.optim.RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8)
    starts = list(range(0, len(X), batch_size))[:max_batches]
    t0 = time.perf_counter()
    for s in starts:
        opt.zero_grad()
        loss = torch.mean((forward(X[s : s + batch_size]) - y[s : s + batch_size]) ** 2)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, len(starts)


def run_speed(args) -> None:
    X, y = get_task("damped_shm").load(seq_len=4)
    X_train, y_train, _, _ = chronological_split(X, y)
    X_train, y_train = torch.as_tensor(X_train), torch.as_tensor(y_train)
    n_batches = -(-len(X_train) // args.batch_size)
    torch.manual_seed(0)
    model = build_model("qlstm", dtype=torch.float64)
    vqc = reference_vqcs()
    first = X_train[: args.batch_size]
    pl_model = build_model("qlstm", dtype=torch.float64)
    pl_model.load_state_dict(model.state_dict())
    pl_model.to_backend("pennylane:default.qubit")
    with torch.no_grad():
        outputs = [model(first), pl_model(first), reference_forward(vqc, model, first)]
    agree = max((out - outputs[0]).abs().max().item() for out in outputs)
    rows = []
    for name, forward, params, limit in [
        ("qseq torch engine", model, list(model.parameters()), None),
        (
            "same model on PennyLane default.qubit (broadcasting)",
            pl_model,
            list(pl_model.parameters()),
            args.pl_batches,
        ),
        (
            "reference style (per-sample loop, one QNode call per VQC)",
            lambda xb: reference_forward(vqc, model, xb),
            list(model.parameters()),
            args.reference_batches,
        ),
    ]:
        train_batches(forward, params, X_train, y_train, args.batch_size, 1)  # warm-up
        seconds, done = train_batches(forward, params, X_train, y_train, args.batch_size, limit)
        epoch = seconds / done * n_batches
        rows.append((name, epoch, done))
        print(f"{name}: {epoch:.3f} s per epoch ({done} of {n_batches} batches timed)", flush=True)
    base = rows[0][1]
    lines = [
        "## Paper QLSTM: one training epoch (`benchmarks/paper_qlstm.py speed`)",
        "",
        f"{machine()}. Paper QLSTM ({count_parameters(model)} parameters), damped SHM, "
        f"{len(X_train)} training windows of length 4, RMSprop 0.01, batch {args.batch_size}, float64, "
        f"torch threads {torch.get_num_threads()}. The three implementations agree on the first batch to "
        f"{agree:.1e}.",
        "",
        "| implementation | s / epoch | batches timed | qseq speed-up |",
        "|---|--:|--:|--:|",
    ]
    for name, epoch, done in rows:
        lines.append(f"| {name} | {epoch:.3f} | {done} / {n_batches} | {epoch / base:,.0f}× |")
    lines.append("")
    lines.append("Targets: ≥ 1000× the reference style; ≥ 30× the same model on default.qubit with broadcasting.")
    write_section("paper-qlstm-speed", "\n".join(lines))
    print("\n".join(lines))


# -- accuracy ------------------------------------------------------------------------------------
def baseline_rows(task: str, data) -> list[str]:
    """Table rows of last-value persistence and linear AR(4) on the same windows (train and test MSE)."""
    X_train, y_train, X_test, y_test = data
    return [
        f"| {task} | persistence | 0 | {mse(persistence_baseline(X_train), y_train):.2e} | "
        f"{mse(persistence_baseline(X_test), y_test):.2e} | – |",
        f"| {task} | linear AR(4) | 5 | {mse(linear_ar_baseline(X_train, y_train, X_train), y_train):.2e} | "
        f"{mse(linear_ar_baseline(X_train, y_train, X_test), y_test):.2e} | – |",
    ]


def train_over_seeds(name: str, data, seeds: int, label: str, on_first_seed=None, **recipe) -> dict:
    """Train ``build_model(name)`` once per seed (float64, last epoch's weights) with ``recipe``
    overriding :class:`TrainConfig` fields; ``on_first_seed(model)`` sees the seed-0 model.

    Returns ``{"train": [...], "test": [...], "seconds": [...], "parameters": int}`` (MSEs per seed).
    """
    X_train, y_train, X_test, y_test = data
    out = {"train": [], "test": [], "seconds": []}
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = build_model(name, dtype=torch.float64)
        config = TrainConfig(seed=seed, progress=False, plot=False, restore_best=False, **recipe)
        t0 = time.perf_counter()
        fit(model, (X_train, y_train), (X_test, y_test), config=config)
        out["seconds"].append(time.perf_counter() - t0)
        out["train"].append(evaluate(model, X_train, y_train)["mse"])
        out["test"].append(evaluate(model, X_test, y_test)["mse"])
        if seed == 0 and on_first_seed is not None:
            on_first_seed(model)
        print(f"{label} seed {seed}: test MSE {out['test'][-1]:.3e} ({out['seconds'][-1]:.1f} s)", flush=True)
    out["parameters"] = count_parameters(model)
    return out


def result_row(task: str, label: str, result: dict) -> str:
    return (
        f"| {task} | {label} | {result['parameters']} "
        f"| {np.mean(result['train']):.2e} ± {np.std(result['train']):.1e} | "
        f"{np.mean(result['test']):.2e} ± {np.std(result['test']):.1e} | {np.mean(result['seconds']):.1f} |"
    )


def run_accuracy(args) -> None:
    FIGURES.mkdir(exist_ok=True)
    lines = [
        "## Paper tasks T1–T3 (`benchmarks/paper_qlstm.py accuracy`)",
        "",
        f"{machine()}. Window 4, chronological 67/33, min-max to [-1, 1] on the whole series (Chen's "
        f"convention), {args.epochs} epochs, RMSprop 0.01, batch {args.batch_size}, float64; test MSE on the "
        f"scaled series, mean ± std over seeds {list(range(args.seeds))}. Baselines on the same windows: "
        "last-value persistence and linear AR(4) (least squares).",
        "",
        "| task | model | parameters | train MSE | test MSE | s / run |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for task in args.tasks:
        X, y = get_task(task).load(seq_len=4)
        data = chronological_split(X, y)
        lines += baseline_rows(task, data)
        for name in args.models:

            def figure(model, task=task, name=name, data=data):  # the papers' figure: prediction vs truth
                plot_prediction(model, data[:2], data[2:], FIGURES / f"qlstm_{task}_{name}.png")

            result = train_over_seeds(
                name,
                data,
                args.seeds,
                f"{task} {name}",
                figure,
                epochs=args.epochs,
                batch_size=args.batch_size,
                shuffle=True,
            )
            lines.append(result_row(task, name, result))
    if args.section:
        write_section(args.section, "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    speed = sub.add_parser("speed", help="one training epoch: qseq vs PennyLane")
    speed.add_argument("--batch-size", type=int, default=4)
    speed.add_argument("--pl-batches", type=int, default=5, help="batches timed on PennyLane broadcasting")
    speed.add_argument("--reference-batches", type=int, default=2, help="batches timed in the reference style")
    acc = sub.add_parser("accuracy", help="T1–T3 accuracy over seeds")
    acc.add_argument("--tasks", nargs="+", default=["damped_shm", "bessel_j2", "delayed_quantum_control"])
    acc.add_argument("--models", nargs="+", default=["qlstm", "qgru", "qrnn", "lstm", "gru"])
    acc.add_argument("--seeds", type=int, default=5)
    acc.add_argument("--epochs", type=int, default=100)
    acc.add_argument("--batch-size", type=int, default=4)
    acc.add_argument(
        "--section",
        default="paper-qlstm-accuracy",
        help="RESULTS.md section to (re)write ('' writes none: figures only)",
    )
    args = ap.parse_args()
    torch.set_num_threads(2)
    run_speed(args) if args.mode == "speed" else run_accuracy(args)


if __name__ == "__main__":
    main()

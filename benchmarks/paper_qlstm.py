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

``accuracy``: T1–T3 (damped SHM, Bessel J2, delayed quantum control; window 4, 100 epochs) for
QLSTM, QGRU, QRNN and classical LSTM/GRU of similar size, mean ± std over seeds, with last-value
persistence and linear AR(4) on the same windows, wall time per run, and a prediction figure per
task and model (seed 0) in ``benchmarks/figures/qlstm_<task>_<model>.png``. The windows are split in
time order into train / validation / test (``--val``, default 0.1; the test windows are the papers'
last 33 %): weights are fitted on train, the epoch with the lowest validation MSE is kept, and the
test windows are evaluated once, at the end. ``--val 0`` is the papers' protocol: train on the first
67 %, keep the last epoch.
``--jobs N`` runs the (task, model, seed) runs in N spawned processes of one torch thread each; each
run seeds itself, so the MSEs are the same as with ``--jobs 1``.

Run::

    python benchmarks/paper_qlstm.py speed
    python benchmarks/paper_qlstm.py accuracy [--tasks damped_shm bessel_j2] [--seeds 5] [--epochs 100] [--val 0.1]
    python benchmarks/paper_qlstm.py accuracy --jobs 16    # the (task, model, seed) runs in 16 processes

Each writes its section of ``benchmarks/RESULTS.md`` (between ``<!-- paper-qlstm-<mode>:start/end -->``).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import numpy as np
import torch

from qseq.data import Split, chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model, count_parameters
from qseq.train import TrainConfig, fit, plot_prediction

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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def loadavg() -> str:
    """The 1/5/15-minute load averages, ``"n/a"`` where the platform has none."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


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
def split_windows(task: str, val: float, seq_len: int = 4) -> Split:
    """The task's windows split in time order into train / validation / test (test: the papers' last 33 %)."""
    X, y = get_task(task).load(seq_len=seq_len)
    return chronological_split(X, y, val=val)


def protocol(data: Split) -> str:
    """One sentence on the split and on which weights are evaluated, for the RESULTS.md sections."""
    n_train, n_val, n_test = data.sizes()
    if n_val == 0:
        return (
            f"Chronological split with no validation windows ({n_train} train / {n_test} test on the first task, "
            "the papers' 67/33): the last epoch's weights; the test windows evaluated once, after training"
        )
    return (
        f"Chronological train / validation / test split ({n_train} / {n_val} / {n_test} windows on the first "
        "task; test = the papers' last 33 %): weights fitted on train, the epoch with the lowest validation MSE "
        "kept, the test windows evaluated once, after training"
    )


def before_test(data: Split) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation windows together, in time order (the prediction figures' first part)."""
    parts = [data.train] if data.val is None else [data.train, data.val]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


PARTS = ("train", "val", "test")


def _cell(values: list) -> str:
    return f"{np.mean(values):.2e} ± {np.std(values):.1e}" if values else "–"


def baseline_rows(task: str, data: Split) -> list[str]:
    """Table rows of last-value persistence and linear AR(4) (fitted on train) on the same windows."""
    X_train, y_train = data.train

    def mses(predict) -> str:
        parts = [data.train, data.val, data.test]
        return " | ".join("–" if p is None else f"{mse(predict(p[0]), p[1]):.2e}" for p in parts)

    return [
        f"| {task} | persistence | 0 | {mses(persistence_baseline)} | – |",
        f"| {task} | linear AR(4) | 5 | {mses(lambda X: linear_ar_baseline(X_train, y_train, X))} | – |",
    ]


def train_seed(name: str, data: Split, seed: int, label: str, **recipe) -> tuple[dict, torch.nn.Module]:
    """Train ``build_model(name)`` (float64) with ``seed`` on ``data.train``, ``recipe`` overriding
    :class:`TrainConfig` fields; keep the epoch best on ``data.val`` (the last epoch without
    validation windows) and evaluate ``data.test`` once.

    Returns ``({"train", "val", "test": MSE (where evaluated), "seconds", "epoch", "parameters"}, model)``.
    """
    torch.manual_seed(seed)
    model = build_model(name, dtype=torch.float64)
    config = TrainConfig(
        seed=seed, progress=False, plot=False, monitor="val_mse", restore_best=data.val is not None, **recipe
    )
    t0 = time.perf_counter()
    result = fit(model, data.train, data.val, config=config, test=data.test)
    run = {"seconds": time.perf_counter() - t0, "epoch": result.weights_epoch, "parameters": count_parameters(model)}
    run |= {part: result.final_metrics[f"{part}_mse"] for part in PARTS if f"{part}_mse" in result.final_metrics}
    print(
        f"{label} seed {seed}: {result.weights} (epoch {result.weights_epoch}), test MSE {run['test']:.3e} "
        f"({run['seconds']:.1f} s)",
        flush=True,
    )
    return run, model


def collect(runs: list[dict]) -> dict:
    """Per-seed runs of :func:`train_seed` as ``{"train": [...], "val": [...], "test": [...],
    "seconds": [...], "epochs": [...], "parameters": int}``."""
    out = {part: [run[part] for run in runs if part in run] for part in PARTS}
    return out | {
        "seconds": [run["seconds"] for run in runs],
        "epochs": [run["epoch"] for run in runs],
        "parameters": runs[-1]["parameters"],
    }


def train_over_seeds(name: str, data: Split, seeds: int, label: str, on_first_seed=None, **recipe) -> dict:
    """:func:`train_seed` for seeds ``0 .. seeds - 1``, collected by :func:`collect`;
    ``on_first_seed(model)`` sees the seed-0 model."""
    runs = []
    for seed in range(seeds):
        run, model = train_seed(name, data, seed, label, **recipe)
        runs.append(run)
        if seed == 0 and on_first_seed is not None:
            on_first_seed(model)
    return collect(runs)


def result_row(task: str, label: str, result: dict) -> str:
    return (
        f"| {task} | {label} | {result['parameters']} | {_cell(result['train'])} | {_cell(result['val'])} | "
        f"{_cell(result['test'])} | {np.mean(result['seconds']):.1f} |"
    )


def accuracy_run(task: str, name: str, seed: int, val: float, recipe: dict) -> dict:
    """One (task, model, seed) run of ``accuracy`` (:func:`train_seed`); seed 0 also draws the
    papers' figure, prediction vs truth, into ``FIGURES``."""
    data = split_windows(task, val)
    run, model = train_seed(name, data, seed, f"{task} {name}", **recipe)
    if seed == 0:
        plot_prediction(model, before_test(data), data.test, FIGURES / f"qlstm_{task}_{name}.png")
    return run


def run_accuracy(args) -> None:
    FIGURES.mkdir(exist_ok=True)
    recipe = {"epochs": args.epochs, "batch_size": args.batch_size, "shuffle": True}
    keys = [(task, name, seed) for task in args.tasks for name in args.models for seed in range(args.seeds)]
    if args.jobs == 1:
        runs = [accuracy_run(task, name, seed, args.val, recipe) for task, name, seed in keys]
        parallel = ""
    else:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=spawn, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            runs = list(pool.map(accuracy_run, *zip(*keys, strict=True), repeat(args.val), repeat(recipe)))
        parallel = f" {args.jobs} runs at a time (`--jobs`), each on 1 torch thread."
    by_key = dict(zip(keys, runs, strict=True))
    lines = [
        "## Paper tasks T1–T3 (`benchmarks/paper_qlstm.py accuracy`)",
        "",
        f"{machine()}.{parallel} Window 4, min-max to [-1, 1] on the whole series (Chen's convention), "
        f"{args.epochs} epochs, RMSprop 0.01, batch {args.batch_size}, float64. "
        f"{protocol(split_windows(args.tasks[0], args.val))}. MSE on the scaled series, mean ± std over seeds "
        f"{list(range(args.seeds))}. Baselines on the same windows: last-value persistence and linear AR(4) "
        "(least squares on train).",
        "",
        "| task | model | parameters | train MSE | val MSE | test MSE | s / run |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for task in args.tasks:
        lines += baseline_rows(task, split_windows(task, args.val))
        for name in args.models:
            result = collect([by_key[task, name, seed] for seed in range(args.seeds)])
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
        "--jobs", type=int, default=1, help="runs at a time in worker processes of 1 torch thread each (default 1)"
    )
    acc.add_argument(
        "--val", type=float, default=0.1, help="validation fraction; 0: the papers' protocol, last epoch (default: 0.1)"
    )
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

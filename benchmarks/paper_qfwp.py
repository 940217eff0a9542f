"""Paper QFWP benchmarks (targets T7–T8, docs/references.md): accuracy against the paper QLSTM, and training speed.

``accuracy``: T7–T8 (damped SHM, Bessel J2, NARMA5, NARMA10; window 4, Chen's scaling, float64) with
the QFWP reference code's recipe — RMSprop 0.01 (alpha 0.99, eps 1e-8),
batch 10, no shuffling, 100 epochs, MSE on the last-step output — for

* the paper QFWP (``build_model("qfwp")``: 8 qubits, depth 2, 4 measured, slow programmer
  Linear(1→8), heads Linear(8→2) and Linear(8→8), additive update, Linear(4→1); 111 parameters);
* the paper QLSTM (``build_model("qlstm")``, 149 parameters), trained with the same recipe;

test MSE mean ± std over seeds, wall time per run, last-value persistence and linear AR(4) on the
same windows, a verdict per task computed from the numbers, and a figure per task in
``benchmarks/figures/`` (prediction vs truth of the first seed). The windows are split in time order
into train / validation / test (``--val``, default 0.1; test: the papers' last 33 %): weights are
fitted on train, the epoch with the lowest validation MSE is kept, the test windows are evaluated
once, at the end; ``--val 0`` is the reference code's protocol (first 67 %, last epoch).

``speed``: one training epoch of the paper QFWP on damped SHM (157 windows, batch 10, float64):

1. qseq on its torch engine (one backend call per time step for the whole batch);
2. the papers' reference style (Chen's ``BatchVQC``): a Python loop over samples and time steps,
   one ``default.qubit`` QNode call per sample and step, written out in :func:`reference_forward`,
   timed on a few mini-batches and extrapolated to the epoch (stated in the output).

Both losses on the first batch are checked to agree (max |Δ| column).

Run::

    python benchmarks/paper_qfwp.py speed [--reference-batches 2]
    python benchmarks/paper_qfwp.py accuracy [--tasks damped_shm narma10] [--seeds 5] [--epochs 100] [--val 0.1]

Each writes its section of ``benchmarks/RESULTS.md`` (``paper-qfwp-accuracy``, ``paper-qfwp-speed``;
``--section`` picks another name).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from paper_qlstm import (  # same folder
    FIGURES,
    baseline_rows,
    before_test,
    machine,
    protocol,
    result_row,
    split_windows,
    train_batches,
    train_over_seeds,
    write_section,
)

from qseq.data import Split, chronological_split, get_task, linear_ar_baseline, mse
from qseq.models import build_model, count_parameters
from qseq.train import predict

TASKS = ["damped_shm", "bessel_j2", "narma5", "narma10"]
MODELS = [("QFWP", "qfwp"), ("QLSTM", "qlstm")]


# -- the papers' reference style -----------------------------------------------------------------
def reference_vqc(n_qubits: int = 8, n_measured: int = 4):
    """One default.qubit QNode of the fast programmer, called once per sample and time step."""
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def vqc(x_t, theta):
        for q in range(n_qubits):
            qml.Hadamard(wires=q)
        for i in range(len(x_t)):
            qml.RY(x_t[i], wires=i)
        for layer in theta:
            for q in range(0, n_qubits - 1, 2):
                qml.CNOT(wires=[q, q + 1])
            for q in range(1, n_qubits - 1, 2):
                qml.CNOT(wires=[q, q + 1])
            for q in range(n_qubits):
                qml.RY(layer[q], wires=q)
        return [qml.expval(qml.PauliZ(q)) for q in range(n_measured)]

    return lambda x_t, theta: torch.stack(list(vqc(x_t, theta)))


def reference_forward(vqc, model, X: torch.Tensor) -> torch.Tensor:
    """The reference code's forward, one sample and one time step at a time, with ``model``'s weights
    (``model`` is ``build_model("qfwp")``: a ``LastStep`` around the QFWP)."""
    fwp = model.model
    outs = []
    for sample in X:
        theta = torch.zeros(fwp.depth, fwp.n_qubits, dtype=X.dtype)
        for x_t in sample:
            e = fwp.slow(x_t)
            theta = theta + torch.outer(fwp.layer_head(e), fwp.qubit_head(e))
            z = vqc(x_t, theta)
        outs.append(fwp.head(z))  # the loss uses the last step only
    return torch.stack(outs)


def run_speed(args) -> None:
    X, y = get_task("damped_shm").load(seq_len=4)
    X_train, y_train, _, _ = chronological_split(X, y)
    X_train, y_train = torch.as_tensor(X_train), torch.as_tensor(y_train)
    n_batches = -(-len(X_train) // args.batch_size)
    torch.manual_seed(0)
    model = build_model("qfwp", dtype=torch.float64)
    vqc = reference_vqc()
    first = X_train[: args.batch_size]
    with torch.no_grad():
        agree = (model(first) - reference_forward(vqc, model, first)).abs().max().item()
    rows = []
    for name, forward, limit in [
        ("qseq torch engine", model, None),
        (
            "reference style (per-sample loop, one QNode call per sample and step)",
            lambda xb: reference_forward(vqc, model, xb),
            args.reference_batches,
        ),
    ]:
        train_batches(forward, list(model.parameters()), X_train, y_train, args.batch_size, 1)  # warm-up
        seconds, done = train_batches(forward, list(model.parameters()), X_train, y_train, args.batch_size, limit)
        epoch = seconds / done * n_batches
        rows.append((name, epoch, done))
        print(f"{name}: {epoch:.3f} s per epoch ({done} of {n_batches} batches timed)", flush=True)
    base, ratio = rows[0][1], rows[1][1] / rows[0][1]
    lines = [
        "## Paper QFWP: one training epoch (`benchmarks/paper_qfwp.py speed`)",
        "",
        f"{machine()}. Paper QFWP ({count_parameters(model)} parameters), damped SHM, {len(X_train)} training "
        f"windows of length 4, RMSprop 0.01, batch {args.batch_size}, float64, torch threads "
        f"{torch.get_num_threads()}. Both implementations agree on the first batch to {agree:.1e}. The reference "
        f"style is timed on {rows[1][2]} batch(es) and extrapolated to the epoch.",
        "",
        "| implementation | s / epoch | batches timed | qseq speed-up |",
        "|---|--:|--:|--:|",
    ]
    for name, epoch, done in rows:
        lines.append(f"| {name} | {epoch:.3f} | {done} / {n_batches} | {epoch / base:,.0f}× |")
    lines += ["", f"qseq trains the paper QFWP {ratio:,.0f}× faster than the reference style on this machine."]
    write_section(args.section, "\n".join(lines))
    print("\n".join(lines))


# -- accuracy ------------------------------------------------------------------------------------
RATIO = 1.5  # mean test MSEs within this factor count as comparable


def verdict(qfwp: list[float], qlstm: list[float]) -> tuple[str, bool]:
    """Compare mean test MSEs by their ratio r = QFWP / QLSTM: "better" below 1/1.5, "comparable"
    up to 1.5, "worse" above (a ratio, so one wild seed cannot hide behind a large spread).
    Returns the word and whether QFWP matches or beats QLSTM."""
    ratio = float(np.mean(qfwp)) / float(np.mean(qlstm))
    if ratio < 1 / RATIO:
        return "better", True
    return ("comparable", True) if ratio <= RATIO else ("worse", False)


def _figure(task: str, data: Split, predictions: dict, path) -> None:
    from matplotlib.figure import Figure

    y_before = before_test(data)[1]
    truth = np.concatenate([y_before[:, 0], data.y_test[:, 0]])
    fig = Figure(figsize=(8, 3.4), tight_layout=True)
    ax = fig.add_subplot()
    ax.plot(truth, color="black", linewidth=1.2, label="truth")
    for (label, pred), style in zip(predictions.items(), ("--", ":"), strict=True):
        ax.plot(pred, linestyle=style, linewidth=1.2, label=f"{label} (seed 0)")
    ax.axvline(len(y_before), color="red", linestyle=":", linewidth=1.0, label="test windows from here")
    ax.set_xlabel("window (time index)")
    ax.set_ylabel("y")
    ax.set_title(task)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def run_accuracy(args) -> None:
    FIGURES.mkdir(exist_ok=True)
    lines = [
        "## Paper tasks T7–T8: QFWP vs QLSTM (`benchmarks/paper_qfwp.py accuracy`)",
        "",
        f"{machine()}. Window 4, min-max to [-1, 1] on the whole series except NARMA (Chen's convention), "
        f"float64. Both models are trained with the QFWP reference code's recipe: "
        f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, RMSprop 0.01, batch {args.batch_size}, no shuffling, "
        f"MSE on the last-step output. {protocol(split_windows(args.tasks[0], args.val))}. MSE mean ± std over "
        f"seeds {list(range(args.seeds))}. Baselines on the same windows: last-value persistence and linear AR(4) "
        "(least squares on train). Verdict: QFWP vs QLSTM test MSE, "
        '"comparable" when the ratio of mean test MSEs (QFWP / QLSTM) is within [1/1.5, 1.5].',
        "",
        "| task | model | parameters | train MSE | val MSE | test MSE | s / run |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    verdicts = []
    for task in args.tasks:
        data = split_windows(task, args.val)
        X_train, y_train = data.train
        X_test, y_test = data.test
        lines += baseline_rows(task, data)
        ar = mse(linear_ar_baseline(X_train, y_train, X_test), y_test)
        tests, predictions = {}, {}
        for label, name in MODELS:

            def keep_prediction(model, label=label, predictions=predictions, data=data):
                X_before = before_test(data)[0]
                predictions[label] = np.concatenate([predict(model, X_before)[:, 0], predict(model, data.X_test)[:, 0]])

            result = train_over_seeds(
                name,
                data,
                args.seeds,
                f"{task} {label}",
                keep_prediction,
                epochs=args.epochs,
                batch_size=args.batch_size,
                shuffle=False,
            )
            tests[label] = result["test"]
            lines.append(result_row(task, label, result))
        word, ok = verdict(tests["QFWP"], tests["QLSTM"])
        below_ar = {label: float(np.mean(v)) <= ar for label, v in tests.items()}
        verdicts.append((task, word, ok, np.mean(tests["QFWP"]), np.mean(tests["QLSTM"]), below_ar))
        path = FIGURES / f"{args.section}_{task}.png"
        _figure(task, data, predictions, path)
    matched = [v for v in verdicts if v[2]]
    lines += ["", "**Verdict** (computed from the table):", ""]
    for task, word, ok, a, b, below_ar in verdicts:
        beats_ar = [label for label, below in below_ar.items() if below]
        ar_note = (
            "neither model beats linear AR(4)"
            if not beats_ar
            else f"{' and '.join(beats_ar)} {'beats' if len(beats_ar) == 1 else 'beat'} linear AR(4)"
        )
        lines.append(
            f"- {task}: QFWP test MSE {a:.2e} vs QLSTM {b:.2e} — QFWP is **{word}** "
            f"({'matches or beats' if ok else 'does not match'} QLSTM); {ar_note}."
        )
    if len(matched) == len(verdicts):
        summary = f"QFWP matches or beats the paper QLSTM on all {len(verdicts)} task(s)"
    elif matched:
        summary = (
            f"QFWP matches or beats the paper QLSTM on {len(matched)} of {len(verdicts)} tasks "
            f"({', '.join(v[0] for v in matched)}) and is worse on the others"
        )
    else:
        summary = f"QFWP does not match the paper QLSTM on any of the {len(verdicts)} task(s)"
    lines += [
        "",
        f"{summary}, with {count_parameters(build_model('qfwp'))} instead of "
        f"{count_parameters(build_model('qlstm'))} trainable parameters"
        f"{' (one seed: no spread to judge by)' if args.seeds == 1 else ''}.",
        "",
    ]
    lines.append(
        "Figures (prediction vs truth, first seed): "
        + ", ".join(f"[{t}](figures/{args.section}_{t}.png)" for t in args.tasks)
        + "."
    )
    write_section(args.section, "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    speed = sub.add_parser("speed", help="one training epoch: qseq vs the reference style")
    speed.add_argument("--batch-size", type=int, default=10)
    speed.add_argument("--reference-batches", type=int, default=2, help="batches timed in the reference style")
    speed.add_argument("--section", default="paper-qfwp-speed", help="RESULTS.md section to (re)write")
    acc = sub.add_parser("accuracy", help="T7–T8 accuracy over seeds")
    acc.add_argument("--tasks", nargs="+", default=TASKS)
    acc.add_argument("--seeds", type=int, default=5)
    acc.add_argument("--epochs", type=int, default=100)
    acc.add_argument("--batch-size", type=int, default=10)
    acc.add_argument(
        "--val",
        type=float,
        default=0.1,
        help="validation fraction; 0: the reference protocol, last epoch (default: 0.1)",
    )
    acc.add_argument("--section", default="paper-qfwp-accuracy", help="RESULTS.md section to (re)write")
    for p in (speed, acc):
        p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run_speed(args) if args.mode == "speed" else run_accuracy(args)


if __name__ == "__main__":
    main()

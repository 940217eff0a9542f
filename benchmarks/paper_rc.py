"""Reservoir-computing benchmark (targets T4–T6, docs/references.md): does RC match full training, and does quantum RC
need fewer epochs than classical RC?

For each task (window 4, Chen's scaling; windows split in time order into train / validation / test,
``--val`` default 0.1, test the papers' last 33 %) and seed, every model is trained on the training
windows with the papers' recipe — RMSprop 0.01, batch 4, MSE, ``--epochs`` epochs, the last epoch's
weights — and the validation MSE is recorded after every epoch; the test windows are evaluated once,
at the end:

* QRNN-RC, QLSTM-RC, QGRU-RC: frozen quantum reservoirs (``init="paper"``: 0.01·N(0,1) as in the
  reference code, seeded), readout trained on cached features (``ReservoirRegressor(readout="sgd")``);
  the closed-form ridge readout (``alpha="cv"``) is reported beside it;
* QLSTM (trained): every weight trained;
* RNN-RC, LSTM-RC, GRU-RC: frozen random torch reservoirs of similar size, same readout recipe;
* ESN (reservoirpy, 100 units, ridge) where installed.

"Epochs to threshold" is the first epoch whose validation MSE is at most ``0.1 × var(y_val)`` (NMSE
0.1), the same bar for every task; ``never`` means not within the budget, ``–`` no curve (``--val 0``).
Nothing is selected on the test windows.

Run::

    python benchmarks/paper_rc.py [--tasks damped_shm bessel_j2 narma5 narma10] [--seeds 5] [--epochs 100]
                                  [--trained-seeds 5] [--val 0.1]

Writes the ``paper-rc`` section of ``benchmarks/RESULTS.md`` and ``benchmarks/figures/rc_<task>.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import FIGURES, machine, split_windows, write_section  # noqa: E402  (same folder)

from qseq.data import Split, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model, count_parameters
from qseq.reservoir import ReservoirRegressor
from qseq.train import TrainConfig, fit

RC_MODELS = [
    ("QRNN-RC", "qrnn"),
    ("QLSTM-RC", "qlstm"),
    ("QGRU-RC", "qgru"),
    ("RNN-RC", "rnn"),
    ("LSTM-RC", "lstm"),
    ("GRU-RC", "gru"),
]


def rc_curve(name: str, seed: int, data: Split, epochs: int) -> dict:
    X_train, y_train = data.train
    reservoir = build_model(name, dtype=torch.float64, reservoir=True, seed=seed).rnn
    t0 = time.perf_counter()
    sgd = ReservoirRegressor(reservoir, readout="sgd", epochs=epochs, seed=seed).fit(X_train, y_train, data.val)
    seconds = time.perf_counter() - t0
    ridge = ReservoirRegressor(reservoir, readout="ridge", alpha="cv")
    ridge._cache = sgd._cache  # same reservoir and data: reuse the features, no second pass
    ridge.fit(X_train, y_train)
    return {
        "curve": [r["val_mse"] for r in sgd.history_ if r.get("val_mse") is not None],
        "val": None if data.val is None else sgd.mse(*data.val),
        "test": sgd.mse(*data.test),
        "ridge": ridge.mse(*data.test),
        "seconds": seconds,
        "trainable": sgd.n_trainable_,
        "circuits": sgd.n_circuit_evaluations_,
    }


def trained_curve(seed: int, data: Split, epochs: int) -> dict:
    torch.manual_seed(seed)
    model = build_model("qlstm", dtype=torch.float64)
    t0 = time.perf_counter()
    result = fit(
        model,
        data.train,
        data.val,
        config=TrainConfig(epochs=epochs, seed=seed, progress=False, plot=False, restore_best=False),
        test=data.test,
    )
    return {
        "curve": [r["val_mse"] for r in result.history if r["val_mse"] is not None],
        "val": result.final_metrics.get("val_mse"),
        "test": result.final_metrics["test_mse"],
        "ridge": None,
        "seconds": time.perf_counter() - t0,
        "trainable": count_parameters(model),
        "circuits": None,
    }


def esn_run(seed: int, data: Split) -> dict | None:
    try:
        from qseq.models.classical import ESN
    except ImportError:
        return None
    t0 = time.perf_counter()
    try:
        model = ESN(seed=seed).fit(*data.train)
    except ImportError:
        return None
    return {
        "curve": [],
        "val": None if data.val is None else model.mse(*data.val),
        "test": model.mse(*data.test),
        "ridge": None,
        "seconds": time.perf_counter() - t0,
        "trainable": int(model.n_trainable_),
        "circuits": 0,
    }


def epochs_to(curve: list, threshold: float) -> int | None:
    return next((k + 1 for k, v in enumerate(curve) if v <= threshold), None)


def _figure(task: str, results: dict, threshold: float, baselines: dict) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), tight_layout=True)
    ax = fig.add_subplot()
    for label, runs in results.items():
        curves = [r["curve"] for r in runs if r["curve"]]
        if curves:
            ax.plot(
                range(1, len(curves[0]) + 1),
                np.mean(curves, axis=0),
                label=label,
                linestyle="-" if label.startswith("Q") else "--",
            )
    ax.axhline(threshold, color="k", linewidth=0.8, label="threshold 0.1·var")
    for (name, value), style in zip(baselines.items(), (":", "-."), strict=True):
        ax.axhline(value, color="gray", linestyle=style, linewidth=0.8, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE (mean over seeds)")
    ax.set_title(task)
    ax.legend(fontsize=7, ncol=2)
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / f"rc_{task}.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tasks", nargs="+", default=["damped_shm", "bessel_j2", "delayed_quantum_control", "narma5", "narma10"]
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--trained-seeds", type=int, default=None, help="seeds for the fully trained QLSTM (default: --seeds)"
    )
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--val", type=float, default=0.1, help="validation fraction (default: 0.1)")
    ap.add_argument("--section", default="paper-rc")
    args = ap.parse_args()
    torch.set_num_threads(2)
    trained_seeds = args.seeds if args.trained_seeds is None else args.trained_seeds
    lines = [
        "## Reservoir computing, targets T4–T6 (`benchmarks/paper_rc.py`)",
        "",
        f"{machine()}. Window 4, {args.epochs} epochs of RMSprop 0.01 (batch 4) on the readout "
        f"(RC) or on every weight (trained QLSTM), float64, seeds 0–{args.seeds - 1} (trained QLSTM: "
        f"{trained_seeds}). Chronological train / validation / test split "
        f"({'/'.join(map(str, split_windows(args.tasks[0], args.val).sizes()))} windows on the first task): "
        "every model trained on train, the last epoch's weights (the recipe; nothing is selected), the test "
        "windows evaluated once, at the end. Quantum reservoirs use the reference code's init 0.01·N(0,1). "
        "Threshold: validation MSE ≤ 0.1·var(y_val). Ridge: closed-form readout with alpha by time-ordered CV "
        "on the training windows' features.",
        "",
        "| task | model | trainable | val MSE (recipe) | test MSE (recipe) | test MSE (ridge) | epochs to threshold "
        "(val) | s / run |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for task in args.tasks:
        data = split_windows(task, args.val)
        X_train, y_train = data.train
        X_test, y_test = data.test
        threshold = 0.1 * float(np.var(data.y_val)) if data.val is not None else float("nan")
        results: dict[str, list] = {}
        for label, name in RC_MODELS:
            results[label] = [rc_curve(name, seed, data, args.epochs) for seed in range(args.seeds)]
            print(task, label, np.mean([r["test"] for r in results[label]]), flush=True)
        results["QLSTM (trained)"] = [trained_curve(seed, data, args.epochs) for seed in range(trained_seeds)]
        print(task, "QLSTM (trained)", np.mean([r["test"] for r in results["QLSTM (trained)"]]), flush=True)
        esn = [esn_run(seed, data) for seed in range(args.seeds)]
        if all(r is not None for r in esn):
            results["ESN (ridge)"] = esn
        baselines = {
            "persistence": mse(persistence_baseline(X_test), y_test),
            "linear AR(4)": mse(linear_ar_baseline(X_train, y_train, X_test), y_test),
        }
        for label, runs in results.items():
            tests = [r["test"] for r in runs]
            vals = [r["val"] for r in runs if r["val"] is not None]
            val_cell = f"{np.mean(vals):.2e} ± {np.std(vals):.1e}" if vals else "–"
            ridge = [r["ridge"] for r in runs if r["ridge"] is not None]
            reached = [epochs_to(r["curve"], threshold) for r in runs if r["curve"]]
            hits = [e for e in reached if e is not None]
            epochs_cell = (
                "–" if not reached else (f"{np.mean(hits):.0f} ({len(hits)}/{len(reached)} runs)" if hits else "never")
            )
            lines.append(
                f"| {task} | {label} | {runs[0]['trainable']} | {val_cell} | "
                f"{np.mean(tests):.2e} ± {np.std(tests):.1e} | "
                f"{(f'{np.mean(ridge):.2e}' if ridge else '–')} | {epochs_cell} "
                f"| {np.mean([r['seconds'] for r in runs]):.2f} |"
            )
        for name, value in baselines.items():
            lines.append(f"| {task} | {name} | – | – | {value:.2e} | – | – | – |")
        _figure(task, results, threshold, baselines)
        write_section(args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Reservoir feature modes × angle initialisations: which readout makes reservoir computing compete?

For each task (window 4, the tasks' own scaling), seed and feature mode
(``last``, ``steps``, ``steps+state``, and for the quantum reservoir ``observables``), a frozen
QLSTM (the paper's 4-qubit cell: 1 input, hidden 3; one row per circuit-angle initialisation) and
frozen classical RNN, LSTM and GRU reservoirs of similar size (``build_model``'s: hidden 10, 5 and
6, torch's default draw) are read by a ridge readout with time-ordered cross-validated penalty
(``ReservoirRegressor``); the fit time includes computing the features. Beside them on the same
windows: the fully trained paper QLSTM (100 epochs, the papers' recipe; ``--trained-seeds``), an
ESN (reservoirpy, where installed), last-value persistence and linear AR(4).

The windows are split in time order into train / validation / test (``--val``, default 0.1; test:
the papers' last 33 %). Readouts are fitted on train; the table shows each mode's validation MSE
(median over seeds), the best mode and initialisation are chosen on validation, and only the chosen
ones' test MSE is reported (the test windows are evaluated once per fit, never compared to choose).

    python benchmarks/rc_features.py [--tasks damped_shm bessel_j2 narma5 narma10 mackey_glass] [--seeds 5]
                                     [--inits paper uniform scaled:0.3] [--trained-seeds 5] [--epochs 100] [--val 0.1]

Writes the ``rc-features`` section of ``benchmarks/RESULTS.md`` (``--out`` for another file).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import machine, split_windows, write_section  # same folder
from paper_rc import RC_MODELS, esn_run, trained_curve

from qseq.data import Split, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model
from qseq.reservoir import FEATURES, ReservoirRegressor

#: ``(label, registered model)`` of the classical reservoirs, drawn as torch draws its layers.
CLASSICAL = [(label, name) for label, name in RC_MODELS if not label.startswith("Q")]


def rc(model_name: str, init: str, features: str, seed: int, data: Split) -> tuple[float, float, float]:
    """``(validation MSE, test MSE, fit seconds incl. features)`` of a frozen ``model_name`` read by
    ridge fitted on the training windows."""
    model = build_model(model_name, dtype=torch.float64)
    model.freeze_reservoir(init, seed)
    start = time.perf_counter()
    readout = ReservoirRegressor(model.rnn, alpha="cv", features=features).fit(*data.train)
    seconds = time.perf_counter() - start
    return readout.mse(*data.val), readout.mse(*data.test), seconds


def rc_row(
    label: str, init_label: str, model_name: str, init: str, seeds: int, data: Split, quantum: bool
) -> tuple[str, dict[str, tuple[float, float]]]:
    """One table row (the validation MSE of every feature mode the reservoir has, median over
    ``seeds``; the mode best on validation, its test MSE and fit time) and ``(validation, test)``
    medians by mode."""
    medians, seconds = {}, {}
    for features in FEATURES if quantum else [f for f in FEATURES if f != "observables"]:
        runs = [rc(model_name, init, features, s, data) for s in range(seeds)]
        medians[features] = (float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs])))
        seconds[features] = float(np.median([r[2] for r in runs]))
    best = min(medians, key=lambda f: medians[f][0])
    cells = " | ".join(f"{medians[f][0]:.2e}" if f in medians else "—" for f in FEATURES)
    line = f"| {label} | {init_label} | {cells} | {best} | {medians[best][1]:.2e} | {seconds[best]:.2f} |"
    return line, medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["damped_shm", "bessel_j2", "narma5", "narma10", "mackey_glass"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--inits", nargs="+", default=["paper", "uniform", "scaled:0.3"])
    ap.add_argument("--trained-seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--val", type=float, default=0.1, help="validation fraction, > 0 (default: 0.1)")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args()
    if not 0 < args.val < 1:
        ap.error(f"--val must be in (0, 1): modes are chosen on the validation windows, got {args.val}")
    torch.set_num_threads(1)
    sizes = ", ".join(f"{label} hidden {build_model(name).rnn.hidden_size}" for label, name in CLASSICAL)
    lines = [
        "## Reservoir feature modes × initialisations (`benchmarks/rc_features.py`)",
        "",
        f"{machine()}, one thread. Chronological train / validation / test split "
        f"({'/'.join(map(str, split_windows(args.tasks[0], args.val).sizes()))} windows on the first task; test: "
        "the papers' last 33 %). Readouts fitted on train; the mode columns are validation MSEs, the best mode is "
        "chosen on validation and only its test MSE is shown; median of "
        f"{args.seeds} seeds (trained QLSTM: {args.trained_seeds} seeds, {args.epochs} epochs, last epoch, test MSE); "
        "ridge readout, penalty by time-ordered 5-fold CV on train; fit time includes the features. "
        "QLSTM-RC: the paper's 4-qubit cell frozen (6 VQCs), one row per initialisation; classical "
        f"reservoirs frozen at torch's default draw ({sizes}); `observables` (every ⟨Z_i Z_j⟩ of every VQC at "
        "every step) exists for circuits only.",
        "",
    ]
    for task in args.tasks:
        data = split_windows(task, args.val)
        X_train, y_train = data.train
        X_test, y_test = data.test
        header = (
            "| reservoir | init | "
            + " | ".join(f"{f} (val)" for f in FEATURES)
            + " | best mode (on val) | its test MSE | its fit s |"
        )
        lines += [f"### {task}", "", header, "|---|---|" + "--:|" * len(FEATURES) + "---|--:|--:|"]
        best: dict[bool, tuple[float, float, str, str, str]] = {}  # quantum? -> (val, test, label, init, mode)
        rows = [("QLSTM-RC", "qlstm", init, True) for init in args.inits]
        rows += [(label, name, "paper", False) for label, name in CLASSICAL]
        for label, model_name, init, quantum in rows:
            init_label = init if quantum else "torch default"
            line, medians = rc_row(label, init_label, model_name, init, args.seeds, data, quantum)
            lines.append(line)
            print(line, flush=True)
            for features, (val, test) in medians.items():
                if quantum not in best or val < best[quantum][0]:
                    best[quantum] = (val, test, label, init_label, features)
        full = float(np.median([trained_curve(s, data, args.epochs)["test"] for s in range(args.trained_seeds)]))
        esn = esn_run(0, data)
        esn_text = "—" if esn is None else f"{esn['test']:.2e}"
        q, c = best[True], best[False]
        lines += [
            "",
            f"Same windows: trained QLSTM {full:.2e}; ESN {esn_text}; "
            f"persistence {mse(persistence_baseline(X_test), y_test):.2e}; "
            f"linear AR(4) {mse(linear_ar_baseline(X_train, y_train, X_test), y_test):.2e}. "
            f"QLSTM-RC chosen on validation ({q[4]}, {q[3]}): test MSE {q[1]:.2e}, {q[1] / full:.2g}× the trained "
            f"QLSTM's; classical reservoir chosen on validation ({c[2]}, {c[4]}): test MSE {c[1]:.2e}, "
            f"{c[1] / q[1]:.2g}× the chosen QLSTM-RC's.",
            "",
        ]
        print(lines[-2], flush=True)
    write_section("rc-features", "\n".join(lines), args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

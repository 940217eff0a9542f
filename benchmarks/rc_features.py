"""Reservoir feature modes × angle initialisations: which readout makes reservoir computing compete?

For each task (window 4, chronological 67/33, the tasks' own scaling), seed, feature mode
(``last``, ``steps``, ``steps+state``) and initialisation, a frozen QLSTM (the paper's 4-qubit cell:
1 input, hidden 3) and a frozen classical LSTM of similar size are read by a ridge readout with
time-ordered cross-validated penalty (``ReservoirRegressor``); the fit time includes computing the
features. Beside them on the same windows: the fully trained paper QLSTM (100 epochs, the papers'
recipe; ``--trained-seeds``), an ESN (reservoirpy, where installed), last-value persistence and
linear AR(4). Test MSE, median over seeds.

    python benchmarks/rc_features.py [--tasks damped_shm bessel_j2 narma5 narma10] [--seeds 5]
                                     [--inits paper uniform scaled:0.3] [--trained-seeds 3]

Writes the ``rc-features`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import machine, write_section  # same folder

from qseq.data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model
from qseq.reservoir import FEATURES, ReservoirRegressor
from qseq.train import TrainConfig, evaluate, fit


def rc(model_name: str, init: str, features: str, seed: int, data) -> tuple[float, float]:
    """``(test MSE, fit seconds incl. features)`` of a frozen ``model_name`` read by ridge."""
    X_train, y_train, X_test, y_test = data
    model = build_model(model_name, dtype=torch.float64)
    model.freeze_reservoir(init, seed)
    start = time.perf_counter()
    readout = ReservoirRegressor(model.rnn, alpha="cv", features=features).fit(X_train, y_train)
    return readout.mse(X_test, y_test), time.perf_counter() - start


def trained(seed: int, data, epochs: int) -> float:
    X_train, y_train, X_test, y_test = data
    torch.manual_seed(seed)
    model = build_model("qlstm", dtype=torch.float64)
    config = TrainConfig(epochs=epochs, seed=seed, progress=False, plot=False, restore_best=False)
    fit(model, (X_train, y_train), config=config)
    return evaluate(model, X_test, y_test)["mse"]


def esn(seed: int, data) -> float | None:
    try:
        from qseq.models.classical import ESN

        X_train, y_train, X_test, y_test = data
        return ESN(seed=seed).fit(X_train, y_train).mse(X_test, y_test)
    except ImportError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["damped_shm", "bessel_j2", "narma5", "narma10"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--inits", nargs="+", default=["paper", "uniform", "scaled:0.3"])
    ap.add_argument("--trained-seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = [
        "## Reservoir feature modes × initialisations (`benchmarks/rc_features.py`)",
        "",
        f"{machine()}, one thread. Test MSE, median of {args.seeds} seeds (trained QLSTM: {args.trained_seeds} "
        f"seeds, {args.epochs} epochs); ridge readout, penalty by time-ordered 5-fold CV; fit time includes the "
        "features. QLSTM-RC: the paper's 4-qubit cell frozen (6 VQCs); LSTM-RC: a frozen torch LSTM of hidden 3.",
        "",
    ]
    best: dict[str, tuple] = {}
    for task in args.tasks:
        X, y = get_task(task).load(seq_len=4)
        data = chronological_split(X, y)
        X_train, y_train, X_test, y_test = data
        header = "| reservoir | init | " + " | ".join(FEATURES) + " | fit s (steps+state) |"
        lines += [f"### {task}", "", header, "|---|---|" + "--:|" * (len(FEATURES) + 1)]
        for model_name in ("qlstm", "lstm"):
            for init in args.inits if model_name == "qlstm" else ["paper"]:
                cells, seconds = [], []
                for features in FEATURES:
                    runs = [rc(model_name, init, features, s, data) for s in range(args.seeds)]
                    value = float(np.median([r[0] for r in runs]))
                    cells.append(f"{value:.2e}")
                    seconds.append(float(np.median([r[1] for r in runs])))
                    key = f"{task}/{model_name}"
                    if key not in best or value < best[key][0]:
                        best[key] = (value, init, features)
                label = "QLSTM-RC" if model_name == "qlstm" else "LSTM-RC"
                init_label = init if model_name == "qlstm" else "torch default"
                lines.append(f"| {label} | {init_label} | " + " | ".join(cells) + f" | {seconds[-1]:.2f} |")
                print(lines[-1], flush=True)
        full = float(np.median([trained(s, data, args.epochs) for s in range(args.trained_seeds)]))
        echo = esn(0, data)
        lines += [
            "",
            f"Same windows: trained QLSTM {full:.2e}; ESN {'—' if echo is None else f'{echo:.2e}'}; "
            f"persistence {mse(persistence_baseline(X_test), y_test):.2e}; "
            f"linear AR(4) {mse(linear_ar_baseline(X_train, y_train, X_test), y_test):.2e}. "
            f"Best QLSTM-RC: {best[task + '/qlstm'][0]:.2e} ({best[task + '/qlstm'][2]}, {best[task + '/qlstm'][1]}), "
            f"{best[task + '/qlstm'][0] / full:.2g}× the trained QLSTM's MSE.",
            "",
        ]
        print(lines[-2], flush=True)
    write_section("rc-features", "\n".join(lines), args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

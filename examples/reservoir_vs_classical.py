"""Reservoir computing: a frozen random QLSTM against frozen classical RNN/LSTM/GRU reservoirs.

    python examples/reservoir_vs_classical.py                       # damped SHM, 3 seeds
    python examples/reservoir_vs_classical.py --task narma5 --seeds 5
    python examples/reservoir_vs_classical.py --smoke               # 1 seed on 60 windows

Every reservoir is drawn from a seed and frozen; only a ridge readout is fitted (penalty by
time-ordered cross-validation) on its features, in the mode each reads best
(`qseq.reservoir.default_features`: every step's ⟨Z⟩ and ⟨Z_i Z_j⟩ for the QLSTM, every step plus
the final state for the classical ones). The reservoir runs once per fit; the readout is closed
form. Baselines: the last value and a linear autoregression on the same windows. Prints a table of
test MSE (median over seeds) and fit time, and writes a bar chart under --out.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from qseq import QLSTM, ClassicalReservoir, ReservoirRegressor
from qseq.data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from qseq.reservoir import default_features


def reservoirs(seed: int) -> dict:
    """The reservoirs compared, all with 4 hidden features, frozen at ``seed``."""
    return {
        "QLSTM reservoir (4 qubits)": QLSTM(1, 3, batch_first=True, reservoir=True, seed=seed),
        "RNN reservoir": ClassicalReservoir("rnn", 4, seed=seed),
        "LSTM reservoir": ClassicalReservoir("lstm", 4, seed=seed),
        "GRU reservoir": ClassicalReservoir("gru", 4, seed=seed),
    }


def bar_chart(rows: dict[str, float], title: str, path: Path) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is missing (pip install 'qseq[plot]'): no figure")
        return None
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    names = list(rows)
    ax.barh(names, [rows[n] for n in names])
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("test MSE (log scale; lower is better)")
    ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="damped_shm", help="see `qseq tasks` (default: damped_shm)")
    parser.add_argument("--seeds", type=int, default=3, help="reservoir seeds (default: 3)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/reservoir"), help="output directory")
    parser.add_argument("--smoke", action="store_true", help="1 seed on the first 60 windows")
    args = parser.parse_args(argv)

    X, y = get_task(args.task).load(seq_len=4)
    seeds = args.seeds
    if args.smoke:
        X, y, seeds = X[:60], y[:60], 1
    X_train, y_train, X_test, y_test = chronological_split(X, y)

    results: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(seeds):
        for name, reservoir in reservoirs(seed).items():
            start = time.perf_counter()
            model = ReservoirRegressor(reservoir, features=default_features(reservoir)).fit(X_train, y_train)
            seconds.setdefault(name, []).append(time.perf_counter() - start)
            results.setdefault(name, []).append(model.mse(X_test, y_test))
    table = {name: statistics.median(values) for name, values in results.items()}
    table["linear AR (baseline)"] = mse(linear_ar_baseline(X_train, y_train, X_test), y_test)
    table["last value (baseline)"] = mse(persistence_baseline(X_test, y_test), y_test)

    print(f"{args.task}: {len(X_train)} training / {len(X_test)} test windows, {seeds} seed(s)")
    print(f"{'model':<28} {'test MSE':>10} {'fit s':>7}")
    for name, value in table.items():
        fit_s = f"{statistics.median(seconds[name]):7.2f}" if name in seconds else " " * 7
        print(f"{name:<28} {value:10.3g} {fit_s}")
    figure = bar_chart(table, f"{args.task}: frozen reservoirs and a ridge readout", args.out / "reservoir.png")
    if figure:
        print(f"plot: {figure}")
    return table


if __name__ == "__main__":
    main()

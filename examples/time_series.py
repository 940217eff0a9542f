"""Time series on a simulator: the paper QLSTM learns damped SHM on the torch engine, then a plot.

    python examples/time_series.py                     # 100 epochs (the papers'), under a minute on a CPU
    python examples/time_series.py --model qgru --backend pennylane:default.qubit --epochs 20
    python examples/time_series.py --smoke             # 2 epochs on 40 windows: checks that it runs

The windows are split in time order: training, validation (10%) and test (the last 33%). Training
keeps the best-on-validation weights; the test windows are evaluated once, at the end.
Writes the run directory (checkpoints, metrics, loss.png) and test.png under --out; a second run
into the same --out is refused unless --resume continues it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qseq.data import chronological_split, get_task, linear_ar_baseline, mse
from qseq.models import build_model, count_parameters
from qseq.train import fit, predict, seed_everything


def plot(X_train, y_train, X_test, y_test, model, path: Path) -> Path | None:
    """Truth over every window, predictions on the training and the test windows."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is missing (pip install 'qseq[plot]'): no figure")
        return None
    n = len(y_train)
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    ax.plot(np.concatenate([y_train, y_test])[:, 0], color="black", lw=1, label="truth")
    ax.plot(np.arange(n), predict(model, X_train)[:, 0], "--", label="prediction (training and validation)")
    ax.plot(np.arange(n, n + len(y_test)), predict(model, X_test)[:, 0], "--", label="prediction (test)")
    ax.axvline(n, color="red", ls=":", label="train / test")
    ax.set_xlabel("window (time index)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qlstm", help="qlstm, qgru, qrnn, qfwp, lstm, gru, rnn (default: qlstm)")
    parser.add_argument("--task", default="damped_shm", help="see `qseq tasks` (default: damped_shm)")
    parser.add_argument("--backend", default="torch", help="where the circuits run (default: torch)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs (default: 100)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/time_series"), help="output directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (more --epochs)")
    parser.add_argument("--smoke", action="store_true", help="2 epochs on the first 40 windows")
    args = parser.parse_args(argv)

    seed_everything(0)
    X, y = get_task(args.task).load(seq_len=4)
    epochs = args.epochs
    if args.smoke:
        X, y, epochs = X[:40], y[:40], 2
    X_fit, y_fit, X_val, y_val, X_test, y_test = chronological_split(X, y, val=0.1, test=0.33)
    X_train, y_train = X[: len(X_fit) + len(X_val)], y[: len(X_fit) + len(X_val)]  # what precedes the test

    kwargs = {} if args.model in ("lstm", "gru", "rnn") else {"backend": args.backend}
    model = build_model(args.model, **kwargs)
    print(f"{args.model}: {count_parameters(model)} parameters, {len(X_fit)} / {len(X_val)} / {len(X_test)} windows")
    try:
        result = fit(
            model,
            (X_fit, y_fit),
            (X_val, y_val),
            test=(X_test, y_test),
            epochs=epochs,
            run_dir=args.out / "run",
            resume=args.resume,
            progress=not args.smoke,
        )
    except FileExistsError as err:  # a finished run is never overwritten
        parser.error(f"{err} (here: --resume, or another --out)")
    test = result.final_metrics["test_mse"]
    ar = mse(linear_ar_baseline(X_train, y_train, X_test), y_test)
    figure = plot(X_train, y_train, X_test, y_test, model, args.out / "test.png")
    print(f"best epoch {result.best_epoch} (by validation MSE); test MSE {test:.3g}; linear AR baseline {ar:.3g}")
    if figure:
        print(f"plot: {figure}")
    return {"test_mse": test, "linear_ar_mse": ar, "best_epoch": result.best_epoch, "figure": figure}


if __name__ == "__main__":
    main()

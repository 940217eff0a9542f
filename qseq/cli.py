"""The ``qseq`` command.

::

    qseq demo                     # train the paper QLSTM on damped SHM, print a results table, write plots
    qseq train --model qlstm --task damped_shm --backend torch --epochs 100 --out runs/shm [--resume] [--seed 0]
    qseq train --model qlstm --task narma10 --reservoir --out runs/narma10-rc   # frozen reservoir, readout only
    qseq compare --task damped_shm [--seeds 5]   # reservoir vs fully trained vs classical, one table + figure
    qseq tasks                    # the built-in time-series tasks
    qseq backends                 # which backends are installed and usable, GPUs found
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text == "-"


def _table(rows: list[tuple], header: tuple) -> str:
    """A plain-text table; numeric columns are right-aligned."""
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(header))]

    def line(row):
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def _train_and_report(model_name: str, task: str, backend: str, out: Path, epochs: int, seed: int,
                      batch_size: int, lr: float, resume: bool, progress: bool = True, reservoir: bool = False) -> None:
    import torch

    from .data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
    from .models import build_model, count_parameters
    from .train import TrainConfig, evaluate, fit

    X, y = get_task(task).load(seq_len=4)
    X_train, y_train, X_test, y_test = chronological_split(X, y)
    torch.manual_seed(seed)
    model = build_model(model_name, dtype=torch.float64, reservoir=reservoir, seed=seed)
    if hasattr(model.rnn, "to_backend"):
        model.to_backend(backend)
    elif backend != "torch":
        raise ValueError(f"model {model_name!r} is classical and runs on torch only, not on {backend!r}")
    # Papers report the weights after the last epoch; the test split is monitored, never selected on.
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress, restore_best=False)
    start = time.perf_counter()
    result = fit(model, (X_train, y_train), (X_test, y_test), config=config, run_dir=out, resume=resume)
    seconds = time.perf_counter() - start
    label = f"{model_name}{'-RC' if reservoir else ''} ({backend})"
    rows = [
        (label, count_parameters(model), f"{evaluate(model, X_train, y_train)['mse']:.3e}",
         f"{evaluate(model, X_test, y_test)['mse']:.3e}", f"{seconds:.1f}"),
        ("last-value persistence", 0, f"{mse(persistence_baseline(X_train), y_train):.3e}",
         f"{mse(persistence_baseline(X_test), y_test):.3e}", "-"),
        ("linear AR(4)", X.shape[1] * X.shape[2] + 1, f"{mse(linear_ar_baseline(X_train, y_train, X_train), y_train):.3e}",
         f"{mse(linear_ar_baseline(X_train, y_train, X_test), y_test):.3e}", "-"),
    ]
    print(f"\n{task}: {len(X_train)} training / {len(X_test)} test windows of length 4, {epochs} epochs\n")
    print(_table(rows, ("model", "parameters", "train MSE", "test MSE", "seconds")))
    print(f"\nRun directory: {result.run_dir} (metrics.csv, metrics.json, checkpoint.pt, best.pt, loss.png, "
          "prediction.png)")


def cmd_demo(args) -> None:
    print("Training the paper QLSTM (Chen et al., 149 parameters) on damped SHM with the torch engine...")
    out = Path(args.out) if args.out else Path("runs/demo") / time.strftime("%Y%m%d-%H%M%S")
    _train_and_report("qlstm", "damped_shm", "torch", out, args.epochs, args.seed, args.batch_size,
                      0.01, resume=False)
    print("\nThe baselines are part of the result: on this smooth task a 5-parameter linear model wins.\n"
          "Try a task with memory and nonlinearity: qseq train --model qlstm --task narma10 --out runs/narma10")


def cmd_train(args) -> None:
    _train_and_report(args.model, args.task, args.backend, Path(args.out), args.epochs, args.seed,
                      args.batch_size, args.lr, args.resume, reservoir=args.reservoir)


def cmd_compare(args) -> None:
    from .compare import compare

    compare(args.task, seeds=args.seeds, epochs=args.epochs, out=Path(args.out or f"runs/compare-{args.task}"),
            backend=args.backend)


def cmd_tasks(_args) -> None:
    from .data import TASKS

    print(_table([(t.name, "yes" if t.scaled else "no", t.description) for t in TASKS.values()],
                 ("task", "scaled", "description")))


def cmd_backends(_args) -> None:
    import torch

    from .backends import get

    rows = [("torch", "yes", f"torch {torch.__version__}, CPU")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        rows.append(("torch:cuda", "yes", names))
    else:
        rows.append(("torch:cuda", "no", "no CUDA device visible to torch"))
    for device in ("default.qubit", "lightning.qubit", "lightning.gpu", "lightning.kokkos"):
        spec = f"pennylane:{device}"
        try:
            get(spec)
            rows.append((spec, "yes", ""))
        except (ImportError, ValueError) as err:
            rows.append((spec, "no", str(err).split(";")[0]))
    for module, what in (("qiskit_aer", "Qiskit Aer (backends in a later release)"),
                         ("qiskit_ibm_runtime", "IBM Runtime (backends in a later release)")):
        rows.append((module, "installed" if importlib.util.find_spec(module) else "no", what))
    print(_table(rows, ("backend", "usable", "details")))


def _parser() -> argparse.ArgumentParser:
    from .models import MODELS

    ap = argparse.ArgumentParser(prog="qseq", description="Quantum-classical hybrid sequence models.")
    sub = ap.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the paper QLSTM on damped SHM and show the results")
    demo.add_argument("--out", default=None, help="run directory (default: runs/demo/<date-time>)")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--batch-size", type=int, default=4)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    train = sub.add_parser("train", help="train a model on a task")
    train.add_argument("--model", required=True, choices=sorted(MODELS))
    train.add_argument("--task", required=True, help="a task name (see `qseq tasks`)")
    train.add_argument("--backend", default="torch", help="backend spec (see `qseq backends`)")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--lr", type=float, default=0.01)
    train.add_argument("--out", required=True, help="run directory, e.g. runs/shm")
    train.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--reservoir", action="store_true",
                       help="freeze the recurrent part with seeded random weights; train only the linear head")
    train.set_defaults(func=cmd_train)
    compare = sub.add_parser("compare", help="reservoir vs fully trained vs classical models on one task")
    compare.add_argument("--task", required=True)
    compare.add_argument("--seeds", type=int, default=5)
    compare.add_argument("--epochs", type=int, default=100, help="epochs of the fully trained QLSTM")
    compare.add_argument("--backend", default="torch")
    compare.add_argument("--out", default=None, help="where the figure goes (default: runs/compare-TASK)")
    compare.set_defaults(func=cmd_compare)
    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)
    sub.add_parser("backends", help="list backends and whether they are usable").set_defaults(func=cmd_backends)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileExistsError, ImportError) as err:
        print(f"qseq: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

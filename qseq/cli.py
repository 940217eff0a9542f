"""The ``qseq`` command.

::

    qseq demo                     # train the paper QLSTM on damped SHM, print a results table, write plots
    qseq train --model qlstm --task damped_shm --backend torch --epochs 100 --out runs/shm [--resume] [--seed 0]
    qseq train --model qlstm --task narma10 --reservoir --out runs/narma10-rc   # frozen reservoir, readout only
    qseq compare --task damped_shm [--seeds 5]   # reservoir vs fully trained vs classical, one table + figure
    qseq predict --checkpoint runs/shm --backend ibm:fake_manila   # a trained model on another backend
    qseq estimate --model qlstm --task damped_shm --backend ibm:ibm_fez [--reservoir]   # jobs, shots, QPU time
    qseq tasks                    # the built-in time-series tasks
    qseq backends                 # which backends are installed and usable, GPUs found
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
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
    _write_run_info(out, {"model": model_name, "task": task, "seq_len": 4, "reservoir": reservoir, "seed": seed,
                          "backend": backend, "dtype": "float64"})
    print(f"\nRun directory: {result.run_dir} (run.json, metrics.csv, metrics.json, checkpoint.pt, best.pt, loss.png, "
          "prediction.png)")


RUN_INFO = "run.json"


def _write_run_info(run_dir: Path, info: dict) -> None:
    """``run.json``: what ``qseq predict`` needs to rebuild the model and its data."""
    from ._io import atomic_write

    atomic_write(run_dir / RUN_INFO, lambda f: f.write((json.dumps(info, indent=2) + "\n").encode()))


def _read_run_info(run_dir: Path) -> dict:
    path = run_dir / RUN_INFO
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory of `qseq train` (no {RUN_INFO})")
    return json.loads(path.read_text())


def _backend_for_run(spec: str, run_dir: Path, shots: int | None):
    """The backend a run's predictions go to; Qiskit backends journal their jobs in the run directory."""
    from .backends import get

    options = {}
    if spec.split(":")[0] in ("aer", "ibm"):
        options["journal"] = run_dir / "jobs.sqlite"
    if shots is not None:
        options["shots"] = shots
    return get(spec, **options)


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


def cmd_predict(args) -> None:
    import numpy as np
    import torch

    from ._io import atomic_write
    from .data import chronological_split, get_task, mse
    from .models import build_model
    from .train import load_model_weights, predict

    run = Path(args.checkpoint)
    info = _read_run_info(run)
    X, y = get_task(info["task"]).load(seq_len=info["seq_len"])
    _, _, X_test, y_test = chronological_split(X, y)
    model = build_model(info["model"], dtype=torch.float64, reservoir=info["reservoir"], seed=info["seed"])
    load_model_weights(model, args.weights or run)
    exact = predict(model, X_test)
    if not hasattr(model.rnn, "to_backend"):
        raise ValueError(f"model {info['model']!r} is classical and runs on torch only")
    backend = _backend_for_run(args.backend, run, args.shots)
    model.to_backend(backend)
    start = time.perf_counter()
    pred = predict(model, X_test, batch_size=len(X_test))  # the whole test set: one job per stage and step
    seconds = time.perf_counter() - start
    usage = backend.usage
    rows = [(f"{info['model']} on {info['backend']} (as trained)", f"{mse(exact, y_test):.3e}", "-", "-", "-", "-"),
            (f"{info['model']} on {backend.name}", f"{mse(pred, y_test):.3e}", f"{seconds:.1f}", usage.jobs,
             usage.reused, usage.circuits)]
    print(f"\n{info['task']}: {len(X_test)} test windows\n")
    print(_table(rows, ("model", "test MSE", "seconds", "jobs", "from journal", "circuits")))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["target", "as_trained", backend.name])
    writer.writerows(np.column_stack([np.asarray(y_test).reshape(len(y_test), -1)[:, 0], exact[:, 0], pred[:, 0]]).tolist())
    out = run / f"predictions-{backend.name.replace(':', '_').replace(',', '_').replace('=', '-')}.csv"
    atomic_write(out, lambda f: f.write(buffer.getvalue().encode()))
    journal = getattr(backend, "journal", None)
    print(f"\nPredictions: {out}" + (f"\nJob journal: {journal.path}" if journal is not None else ""))


def cmd_estimate(args) -> None:
    from .estimate import estimate

    device, costs = estimate(args.model, args.task, args.backend, reservoir=args.reservoir, shots=args.shots,
                             epochs=args.epochs, batch_size=args.batch_size)
    labels = {"inference": "inference (test set)", "reservoir fit": "reservoir fit (ridge, one pass)",
              "training": f"training ({args.epochs} epochs, batch {args.batch_size}"
                          + (", readout only)" if args.reservoir else ", parameter shift)")}
    rows = [(labels[k], c.jobs, c.pubs, c.circuits, c.shots, _duration(c.qpu_seconds)) for k, c in costs.items()]
    print(f"\n{args.model}{'-RC' if args.reservoir else ''} on {args.task}, priced with {device.name} "
          f"({device.max_qubits} qubits), {args.shots} shots per circuit\n")
    print(_table(rows, ("workload", "jobs", "PUBs", "circuits", "shots", "QPU time")))
    print("\nQPU time counts execution only (shots x (rep delay + circuit duration)); queueing, a few seconds of\n"
          "overhead per job and error-mitigation overheads come on top. See docs/hardware.md.")


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


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
    for spec, module, what in (("aer", "qiskit_aer", "exact, shots, noise=<fake device>"),
                               ("ibm:fake_manila", "qiskit_ibm_runtime", "fake IBM devices, offline"),
                               ("ibm:<device>", "qiskit_ibm_runtime", "IBM QPUs; needs an account")):
        found = importlib.util.find_spec(module) is not None
        rows.append((spec, "yes" if found else "no", what if found else "pip install 'qseq[qiskit]'"))
    if importlib.util.find_spec("qiskit_aer") is not None:
        from qiskit_aer import AerSimulator

        gpu = "GPU" in AerSimulator().available_devices()
        rows.append(("aer (device=GPU)", "yes" if gpu else "no", "" if gpu else "needs qiskit-aer-gpu (CUDA 12)"))
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
    pred = sub.add_parser("predict", help="predict the test split of a trained run on another backend")
    pred.add_argument("--checkpoint", required=True, help="the run directory of `qseq train`")
    pred.add_argument("--backend", required=True, help="backend spec, e.g. aer, ibm:fake_manila, ibm:ibm_fez")
    pred.add_argument("--shots", type=int, default=None, help="shots per circuit (default: the backend's)")
    pred.add_argument("--weights", default=None, help="a .pt file instead of the run's best.pt")
    pred.set_defaults(func=cmd_predict)
    est = sub.add_parser("estimate", help="jobs, shots and QPU time of a model on an IBM device, without running")
    est.add_argument("--model", required=True, choices=sorted(m for m in MODELS if m.startswith("q")))
    est.add_argument("--task", required=True)
    est.add_argument("--backend", required=True, help="ibm:<device>, e.g. ibm:ibm_fez or ibm:fake_manila")
    est.add_argument("--reservoir", action="store_true", help="frozen reservoir: only the readout trains")
    est.add_argument("--shots", type=int, default=4096)
    est.add_argument("--epochs", type=int, default=100)
    est.add_argument("--batch-size", type=int, default=4)
    est.set_defaults(func=cmd_estimate)
    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)
    sub.add_parser("backends", help="list backends and whether they are usable").set_defaults(func=cmd_backends)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileExistsError, ImportError, RuntimeError, ConnectionError) as err:
        print(f"qseq: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``qseq`` command: argument parsing and calls into :mod:`qseq.workflows`, nothing else.

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
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _train(
    model: str,
    task: str,
    backend: str,
    out: Path,
    *,
    epochs: int,
    seed: int,
    batch_size: int,
    lr: float,
    resume: bool = False,
    reservoir: bool = False,
) -> None:
    from .workflows import RunInfo, table, train_run

    info = RunInfo(model, task, reservoir=reservoir, seed=seed, backend=backend)
    run = train_run(info, out, epochs=epochs, batch_size=batch_size, lr=lr, resume=resume)
    print(f"\n{task}: {run.n_train} training / {run.n_test} test windows of length {info.seq_len}, {epochs} epochs\n")
    print(table(run.rows, ("model", "parameters", "train MSE", "test MSE", "seconds")))
    print(
        f"\nRun directory: {run.run_dir} (run.json, metrics.csv, metrics.json, checkpoint.pt, best.pt, loss.png, "
        "prediction.png)"
    )


def cmd_demo(args) -> None:
    print("Training the paper QLSTM (Chen et al., 149 parameters) on damped SHM with the torch engine...")
    out = Path(args.out) if args.out else Path("runs/demo") / time.strftime("%Y%m%d-%H%M%S")
    _train("qlstm", "damped_shm", "torch", out, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, lr=0.01)
    print(
        "\nThe baselines are part of the result: on this smooth task a 5-parameter linear model wins.\n"
        "Try a task with memory and nonlinearity: qseq train --model qlstm --task narma10 --out runs/narma10"
    )


def cmd_train(args) -> None:
    _train(
        args.model,
        args.task,
        args.backend,
        Path(args.out),
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        reservoir=args.reservoir,
    )


def cmd_compare(args) -> None:
    from .workflows import compare

    compare(
        args.task,
        seeds=args.seeds,
        epochs=args.epochs,
        out=Path(args.out or f"runs/compare-{args.task}"),
        backend=args.backend,
    )


def cmd_predict(args) -> None:
    from .workflows import predict_run, table

    run = predict_run(Path(args.checkpoint), args.backend, shots=args.shots, weights=args.weights)
    print(f"\n{args.checkpoint}: {run.n_test} test windows\n")
    print(table(run.rows, ("model", "test MSE", "seconds", "jobs", "from journal", "circuits")))
    print(f"\nPredictions: {run.predictions}" + (f"\nJob journal: {run.journal}" if run.journal is not None else ""))


def cmd_estimate(args) -> None:
    from .workflows import duration, estimate, table

    device, costs = estimate(
        args.model,
        args.task,
        args.backend,
        reservoir=args.reservoir,
        shots=args.shots,
        epochs=args.epochs,
        batch_size=args.batch_size,
    )
    labels = {
        "inference": "inference (test set)",
        "reservoir fit": "reservoir fit (ridge, one pass)",
        "training": f"training ({args.epochs} epochs, batch {args.batch_size}"
        + (", readout only)" if args.reservoir else ", parameter shift)"),
    }
    rows = [(labels[k], c.jobs, c.pubs, c.circuits, c.shots, duration(c.qpu_seconds)) for k, c in costs.items()]
    print(
        f"\n{args.model}{'-RC' if args.reservoir else ''} on {args.task}, priced with {device.name} "
        f"({device.max_qubits} qubits), {args.shots} shots per circuit\n"
    )
    print(table(rows, ("workload", "jobs", "PUBs", "circuits", "shots", "QPU time")))
    print(
        "\nQPU time counts execution only (shots x (rep delay + circuit duration)); queueing, a few seconds of\n"
        "overhead per job and error-mitigation overheads come on top. See docs/hardware.md."
    )


def cmd_tasks(_args) -> None:
    from .data import TASKS
    from .workflows import table

    print(
        table(
            [(t.name, "yes" if t.scaled else "no", t.description) for t in TASKS.values()],
            ("task", "scaled", "description"),
        )
    )


def cmd_backends(_args) -> None:
    from .backends.survey import survey
    from .workflows import table

    print(table([(s.spec, "yes" if s.usable else "no", s.details) for s in survey()], ("backend", "usable", "details")))


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
    train.add_argument(
        "--reservoir",
        action="store_true",
        help="freeze the recurrent part with seeded random weights; train only the linear head",
    )
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
    est.add_argument(
        "--model", required=True, choices=sorted(MODELS), help="a quantum model (classical ones run no circuits)"
    )
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
    except (ValueError, FileExistsError, ImportError, RuntimeError, ConnectionError, MemoryError) as err:
        print(f"qseq: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``qseq`` command: argument parsing and calls into :mod:`qseq.workflows`, nothing else.

::

    qseq demo                     # train the paper QLSTM on damped SHM, print a results table, write plots
    qseq train --model qlstm --task damped_shm --backend torch --epochs 100 --out runs/shm [--resume] [--seed 0]
               [--seq-len 4] [--dtype float64] [--val 0.1] [--patience N]   # best epoch on validation, test once
    qseq train --model qlstm --task narma10 --reservoir --out runs/narma10-rc   # frozen reservoir, ridge readout
    qseq train --model qlstm --task narma10 --reservoir --readout sgd --epochs 50 --out runs/rc-sgd   # RMSprop readout
    qseq compare --task damped_shm [--seeds 5]   # reservoir vs fully trained vs classical, one table + figure
    qseq predict --checkpoint runs/shm --backend ibm:fake_manila   # a trained model on another backend
    qseq estimate --model qlstm --task damped_shm --backend ibm:ibm_fez [--reservoir]   # jobs, shots, QPU time
    qseq rl --env qseq/CartPoleNoVel-v1 --model qlstm --algo ppo --steps 100000 --envs 8 --out runs/cp [--resume]
    qseq rl-eval --checkpoint runs/cp [--backend aer] [--episodes 10] [--record cp.gif]   # play a saved policy
    qseq tasks                    # the built-in time-series tasks
    qseq backends                 # which backends are installed and usable, GPUs found
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .workflows import RunInfo

__all__ = ["main"]


def _train(info: RunInfo, out: Path, **options) -> None:
    """:func:`~qseq.workflows.train_run` with ``options`` (its keywords), then its report."""
    from .workflows import table, train_run

    run = train_run(info, out, **options)
    if not run.main:
        return
    windows = (
        f"{run.n_train} training / {run.n_val} validation / {run.n_test} test windows of length {info.seq_len} "
        f"({info.dtype})"
    )
    if run.readout is None:
        trained = "the readout alone, through the frozen reservoir" if info.reservoir else "every weight"
        print(f"\n{info.task}: {windows}, {run.epochs} epochs training {trained}; weights: {run.weights}\n")
    else:
        r = run.readout
        print(
            f"\n{info.task}: {windows}; ridge readout on {r['n_features']} {r['features']!r} features "
            f"(alpha {r['alpha']:.0e} by time-ordered {r['cv_folds']}-fold CV), {r['circuits']:,} circuit "
            "evaluations; fitted on train\n"
        )
    print(table(run.rows, ("model", "parameters", "train MSE", "val MSE", "test MSE", "seconds")))
    print("\nThe test windows were evaluated once, at the end, with these weights.")
    print(f"\nRun directory: {run.run_dir} ({', '.join(run.files)})")


def cmd_demo(args) -> None:
    from .workflows import RunInfo

    print("Training the paper QLSTM (Chen et al., 149 parameters) on damped SHM with the torch engine...")
    out = Path(args.out) if args.out else Path("runs/demo") / time.strftime("%Y%m%d-%H%M%S")
    info = RunInfo("qlstm", "damped_shm", seed=args.seed)
    _train(info, out, epochs=args.epochs, batch_size=args.batch_size, lr=0.01)
    print(
        "\nThe baselines are part of the result: on this smooth task a 5-parameter linear model wins.\n"
        "Try a task with memory and nonlinearity: qseq train --model qlstm --task narma10 --out runs/narma10"
    )


def cmd_train(args) -> None:
    from .workflows import run_info

    info = run_info(
        args.model,
        args.task,
        reservoir=args.reservoir,
        seed=args.seed,
        backend=args.backend,
        features=args.features,
        init=args.init,
        seq_len=args.seq_len,
        dtype=args.dtype,
        val=args.val,
        readout=args.readout,
    )
    _train(
        info,
        Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        resume=args.resume,
    )


def cmd_compare(args) -> None:
    from .workflows import RESERVOIR_INIT, compare

    compare(
        args.task,
        seeds=args.seeds,
        epochs=args.epochs,
        out=Path(args.out or f"runs/compare-{args.task}"),
        backend=args.backend,
        features=args.features,
        init=RESERVOIR_INIT if args.init is None else args.init,
        seq_len=args.seq_len,
        val=args.val,
        dtype=args.dtype,
        patience=args.patience,
    )


def cmd_predict(args) -> None:
    from .workflows import predict_run, table

    run = predict_run(Path(args.checkpoint), args.backend, shots=args.shots, weights=args.weights)
    print(f"\n{args.checkpoint}: {run.n_test} test windows; weights {run.weights}\n")
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


def cmd_rl(args) -> None:
    from .train import is_main_process
    from .workflows import duration
    from .workflows.rl import FLAGS, rl_run

    fields = {
        "env_id": args.env,
        "env_kwargs": args.env_kwargs,
        "model": args.model,
        "total_steps": args.steps,
        "n_envs": args.envs,
        "hidden_size": args.hidden,
        "n_qubits": args.qubits,
        "n_layers": args.layers,
        "backend": args.backend,
        "reservoir": args.reservoir,
        "seed": args.seed,
        "lr": args.lr,
        "n_steps": args.n_steps,
        "progress": args.progress,
    }
    assert set(fields) == set(FLAGS)
    run = rl_run(Path(args.out), {k: v for k, v in fields.items() if v is not None}, algo=args.algo, resume=args.resume)
    if not is_main_process():  # under torchrun, rank 0 alone reports
        return
    c = run.config
    print(f"\n{c.algo.upper()} {c.model}{'-RC' if c.reservoir else ''} ({c.backend}) on {c.env_id}")
    if run.new_steps <= 0:
        print(f"nothing to train: the run has {run.step:,} steps already (raise --steps to continue it)")
    else:
        rate = f", {run.steps_per_s:,.0f} steps/s" if run.steps_per_s else ""
        done = f"{run.step:,} steps" + (f" ({run.new_steps:,} new)" if run.new_steps != run.step else "")
        print(f"{done}, wall time {duration(run.seconds)}{rate}")
    mean = "- (no episode has ended)" if math.isnan(run.mean_return_100) else f"{run.mean_return_100:.2f}"
    print(f"episodes: {run.episodes:,}, mean return of the last 100: {mean}")
    print(f"run directory: {run.run_dir} ({', '.join(run.files)})")
    print(f"play it: qseq rl-eval --checkpoint {run.run_dir}")


def cmd_rl_eval(args) -> None:
    from .workflows import duration
    from .workflows.rl import rl_eval

    if args.record is not None:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders frames off screen, without a display
    ev = rl_eval(
        Path(args.checkpoint),
        args.backend,
        episodes=args.episodes,
        seed=args.seed,
        record=args.record,
        sample=args.sample,
        shots=args.shots,
        price_on=args.price_on,
    )
    c, r = ev.config, ev.returns
    policy = "sampled actions" if args.sample else "greedy actions"
    print(
        f"\n{args.checkpoint}: {c.algo.upper()} {c.model} on {c.env_id}, {len(r)} episodes on {ev.backend} ({policy})"
    )
    print(
        f"mean return {r.mean():.3f} ± {r.std():.3f} (min {r.min():.3g}, max {r.max():.3g}) in {duration(ev.seconds)}"
    )
    u = ev.usage
    if u is not None:
        jobs = f", {u.jobs:,} jobs ({u.reused:,} from the journal)" if u.jobs or u.reused else ""
        print(f"backend {ev.backend}: {u.calls:,} calls, {u.circuits:,} circuits{jobs}")
    if ev.journal is not None:
        print(f"job journal: {ev.journal}")
    if ev.cost is not None:
        step, total = ev.cost.per_step, ev.cost.total
        print(
            f"on {ev.cost.device} at {ev.cost.shots} shots: one environment step of one environment is "
            f"{_plural(step.jobs, 'job')}, {_plural(step.circuits, 'circuit')}, {duration(step.qpu_seconds)} of QPU "
            "time;\n"
            f"these episodes: {total.jobs:,} jobs, {total.circuits:,} circuits, {total.shots:,} shots, "
            f"about {duration(total.qpu_seconds)} of QPU time\n"
            "(execution only: queueing, a few seconds of overhead per job and error mitigation come on top; "
            "see docs/hardware.md)"
        )
    if ev.cost_note:
        print(ev.cost_note)
    if ev.gif is not None:
        print(f"recording: {ev.gif} ({ev.frames} frames of the first episode)")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number ``>= low`` (and ``< high``)."""
    bounds = f">= {low}" if high is None else f"in [{low}, {high})"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


_positive_int = _whole(1)
_seed = _whole(0, 2**32)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a fraction in ``[0, 1)``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.1, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _split_options(parser: argparse.ArgumentParser, trained: str) -> None:
    """``--seq-len``, ``--dtype``, ``--val`` and ``--patience`` of ``train`` and ``compare``."""
    parser.add_argument(
        "--seq-len", type=_positive_int, default=4, metavar="L", help="window length in time steps (default: 4)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="floating dtype of the models and the data (default: float64)",
    )
    parser.add_argument(
        "--val",
        type=_fraction,
        default=0.1,
        metavar="FRACTION",
        help="validation fraction of the windows, in time order between the training and the test windows; "
        f"{trained} keep the epoch with the lowest validation MSE, and the test windows (the last 33%%) are "
        "evaluated once, at the end; 0: no validation windows, the last epoch's weights (default: 0.1)",
    )
    parser.add_argument(
        "--patience",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"stop training {trained} after N epochs without a lower validation MSE (default: none, train "
        "every epoch; needs --val > 0)",
    )


def _out_dir(text: str) -> str:
    """An argparse type of ``--out``: a directory that exists and is writable, or can be created (nothing
    is created here)."""
    from ._io import check_writable_dir

    try:
        check_writable_dir(text, "--out")
    except OSError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _existing_file(text: str) -> str:
    """An argparse type: the path of an existing file."""
    if not Path(text).is_file():
        what = "a directory, not a file" if Path(text).is_dir() else "not there"
        raise argparse.ArgumentTypeError(f"{text} is {what}; pass the path of a .pt file, e.g. RUN_DIR/best.pt")
    return text


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text!r}; e.g. '{{\"delay\": 1}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"delay\": 1}}', got {text!r}")
    return value


def _rl_parsers(sub) -> None:
    from .workflows.rl import EVAL_SEED, PRICE_DEVICE, RL_ALGORITHMS, RL_MODELS, rl_defaults

    rl = sub.add_parser(
        "rl",
        help="train a recurrent agent (A2C, recurrent PPO, DRQN) in a gymnasium environment",
        description="Train a recurrent agent into a run directory (config.json, metrics.csv/json, checkpoint.pt, "
        "learning_curve.png). Options left out keep the algorithm's defaults (shown); with --resume they keep "
        "the run's saved values, and only --steps and --no-progress may change.",
    )
    new_run = "(required for a new run; with --resume: the run's)"
    rl.add_argument("--env", help=f"gymnasium id, e.g. qseq/CartPoleNoVel-v1, qseq/CueRecall-v0, CartPole-v1 {new_run}")
    rl.add_argument(
        "--env-kwargs",
        type=_json_object,
        metavar="JSON",
        help="keywords of the environment, e.g. '{\"delay\": 1}' (default: none, the environment's defaults)",
    )
    rl.add_argument("--model", choices=RL_MODELS, help=f"the recurrent core {new_run}")
    rl.add_argument("--algo", choices=RL_ALGORITHMS, help=f"the algorithm {new_run}")
    rl.add_argument(
        "--steps",
        type=_positive_int,
        metavar="N",
        help=f"environment steps, all environments together (default: {rl_defaults('total_steps')})",
    )
    rl.add_argument(
        "--envs",
        type=_positive_int,
        metavar="K",
        help=f"environments stepped together (default: {rl_defaults('n_envs')})",
    )
    rl.add_argument("--out", required=True, type=_out_dir, help="run directory, e.g. runs/cartpole (required)")
    rl.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint (default: off)"
    )
    rl.add_argument(
        "--seed", type=_seed, help=f"seed of weights, environments and training (default: {rl_defaults('seed')})"
    )
    rl.add_argument(
        "--reservoir",
        action="store_true",
        default=None,
        help="freeze the recurrent core at seeded random weights; only the heads train (default: off)",
    )
    rl.add_argument(
        "--hidden", type=_positive_int, help=f"hidden features of the core (default: {rl_defaults('hidden_size')})"
    )
    rl.add_argument("--qubits", type=_positive_int, help="wires per VQC (default: 4 for qlstm/qgru/qrnn, 8 for qfwp)")
    rl.add_argument(
        "--layers",
        type=_positive_int,
        help=f"variational layers per VQC, or the QFWP's depth (default: {rl_defaults('n_layers')})",
    )
    rl.add_argument("--backend", help=f"where the circuits run while training (default: {rl_defaults('backend')})")
    rl.add_argument("--lr", type=_positive_float, help=f"learning rate (default: {rl_defaults('lr')})")
    rl.add_argument(
        "--n-steps", type=_positive_int, help=f"steps per environment per update (default: {rl_defaults('n_steps')})"
    )
    rl.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bar (default: a progress bar)",
    )
    rl.set_defaults(func=cmd_rl)

    ev = sub.add_parser(
        "rl-eval",
        help="play a trained agent's policy, optionally on another backend, and record it",
        description="Play whole episodes with the policy of a `qseq rl` run and print the mean return. On a backend "
        "other than the torch engine it also prints what the circuits would cost on an IBM device.",
    )
    ev.add_argument(
        "--checkpoint", required=True, help="the run directory of `qseq rl` (or its checkpoint.pt) (required)"
    )
    ev.add_argument(
        "--backend",
        default=None,
        help="run the circuits here, e.g. aer, aer:noise=fake_manila, ibm:fake_manila, ibm:ibm_fez "
        "(default: the training backend); Aer and IBM keep their job journal in the run directory",
    )
    ev.add_argument(
        "--episodes",
        type=_positive_int,
        default=None,
        help="episodes to play (default: 100 on the torch engine, 10 on any other backend, where every circuit "
        "is simulated or run)",
    )
    ev.add_argument(
        "--seed", type=_seed, default=EVAL_SEED, help=f"environment i starts with seed + i (default: {EVAL_SEED})"
    )
    ev.add_argument(
        "--record",
        default=None,
        metavar="OUT.gif",
        help="save the first episode as an animated GIF (default: no recording)",
    )
    ev.add_argument("--sample", action="store_true", help="sample actions from the policy (default: most probable)")
    ev.add_argument("--shots", type=_positive_int, default=None, help="shots per circuit (default: the backend's)")
    ev.add_argument(
        "--price-on",
        default=None,
        metavar="ibm:DEVICE",
        help=f"the IBM device that prices the circuits (default: the backend if it is one, else {PRICE_DEVICE})",
    )
    ev.set_defaults(func=cmd_rl_eval)


def _reservoir_options(parser: argparse.ArgumentParser, when: str, init_note: str) -> None:
    """``--features`` and ``--init`` of the commands that read reservoirs (``train``, ``compare``)."""
    from .reservoir import FEATURES
    from .workflows import RESERVOIR_INIT

    when = f" ({when})" if when else ""
    parser.add_argument(
        "--features",
        choices=FEATURES,
        default=None,
        help=f"what a reservoir's readout reads{when}: the last step's output (the papers'), every step's, "
        "every step's plus the final cell state / fast weights, or those plus every ⟨Z_i Z_j⟩ of the circuits at "
        "every step (default: observables for QRNN/QLSTM/QGRU reservoirs, steps+state for the others: the best "
        "modes on the five tasks of benchmarks/RESULTS.md, 'Reservoir feature modes')",
    )
    parser.add_argument(
        "--init",
        default=None,
        help=f"circuit angles of a quantum reservoir{when}: paper (0.01·N(0,1)), uniform (U[0,2π)) or scaled:S "
        f"(U[-Sπ,Sπ)) (default: {RESERVOIR_INIT}, best on 3 of 4 paper tasks with steps+state; 'paper' reproduces "
        f"the papers' reservoirs){init_note}",
    )


_DEBUG_HELP = "on an error, show the full traceback instead of one line (also: QSEQ_DEBUG=1) (default: off)"

#: Errors the library raises for bad options, files and environments (missing extras, memory,
#: unreachable services); the CLI reports them in one line. Anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, TypeError, OSError, ImportError, RuntimeError, MemoryError)


def _parser() -> argparse.ArgumentParser:
    from .models import MODELS
    from .workflows.runs import READOUTS

    ap = argparse.ArgumentParser(
        prog="qseq",
        description="Quantum-classical hybrid sequence models.",
        epilog="A bad option or file ends in one line, 'qseq: error: ...', and exit code 2; --debug (or the "
        "environment variable QSEQ_DEBUG=1) shows the full traceback instead.",
    )
    ap.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = ap.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the paper QLSTM on damped SHM and show the results")
    demo.add_argument("--out", type=_out_dir, default=None, help="run directory (default: runs/demo/<date-time>)")
    demo.add_argument("--epochs", type=_positive_int, default=30, help="epochs (default: 30)")
    demo.add_argument("--batch-size", type=_positive_int, default=4, help="windows per step (default: 4)")
    demo.add_argument("--seed", type=_seed, default=0, help="seed of weights and training (default: 0)")
    demo.set_defaults(func=cmd_demo)
    train = sub.add_parser(
        "train",
        help="train a model on a task, or fit the readout of a frozen reservoir (--reservoir)",
        description="Train every weight of a model with the papers' recipe (RMSprop, MSE) into a run directory, "
        "or, with --reservoir, freeze its recurrent part at seeded random weights and fit a linear readout of "
        "its features: in closed form (ridge, penalty by time-ordered cross-validation; the features are computed "
        "once, no epochs), or with --readout sgd by the papers' recipe through the frozen reservoir.",
    )
    train.add_argument("--model", required=True, choices=sorted(MODELS), help="the model to train (required)")
    train.add_argument("--task", required=True, help="a task name, see `qseq tasks` (required)")
    train.add_argument(
        "--backend", default="torch", help="where the circuits run, see `qseq backends` (default: torch)"
    )
    by_epochs = "with --reservoir only for --readout sgd"
    train.add_argument("--epochs", type=_positive_int, default=None, help=f"epochs (default: 100; {by_epochs})")
    train.add_argument(
        "--batch-size", type=_positive_int, default=None, help=f"windows per step (default: 4; {by_epochs})"
    )
    train.add_argument("--lr", type=_positive_float, default=None, help=f"learning rate (default: 0.01; {by_epochs})")
    train.add_argument("--out", required=True, type=_out_dir, help="run directory, e.g. runs/shm (required)")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from the run directory's checkpoint (with --reservoir and the ridge readout: fit again "
        "from its cached features) (default: off)",
    )
    train.add_argument("--seed", type=_seed, default=0, help="seed of weights and training (default: 0)")
    train.add_argument(
        "--reservoir",
        action="store_true",
        help="freeze the recurrent part with seeded random weights; fit only a linear readout, as --readout "
        "says (default: off, train every weight)",
    )
    train.add_argument(
        "--readout",
        choices=READOUTS,
        default=None,
        help="how --reservoir fits the readout: ridge, in closed form (penalty by time-ordered cross-validation; "
        "the reservoir runs once, its features are cached); sgd, the papers' recipe (RMSprop on the MSE through "
        "the frozen reservoir, with --epochs, --batch-size, --lr, --patience; the circuits run every epoch) "
        "(default: ridge; only with --reservoir)",
    )
    _split_options(train, "trained runs (and --readout sgd)")
    _reservoir_options(
        train,
        "with --reservoir",
        "; classical reservoirs and the QFWP have no circuit angles and take no --init",
    )
    train.set_defaults(func=cmd_train)
    compare = sub.add_parser(
        "compare",
        help="reservoir vs fully trained vs classical models on one task",
        description="Fit every model on the same chronological training windows, pick the trained models' "
        "epochs on the validation windows, and evaluate the test windows once; one line per model and seed "
        "while it runs, then a table and a figure.",
    )
    compare.add_argument("--task", required=True, help="a task name, see `qseq tasks` (required)")
    compare.add_argument("--seeds", type=_positive_int, default=5, help="seeds per model: 0, 1, ..., N-1 (default: 5)")
    compare.add_argument(
        "--epochs", type=_positive_int, default=100, help="epochs of the fully trained models (default: 100)"
    )
    compare.add_argument("--backend", default="torch", help="where the quantum models' circuits run (default: torch)")
    compare.add_argument(
        "--out", type=_out_dir, default=None, help="where the figure goes (default: runs/compare-TASK)"
    )
    _reservoir_options(compare, "", "; the classical reservoirs are drawn as torch draws its layers")
    _split_options(compare, "the fully trained models")
    compare.set_defaults(func=cmd_compare)
    pred = sub.add_parser(
        "predict",
        help="predict the test split of a trained run on another backend",
        description="Predict the run's test windows on another backend with the weights whose test MSE "
        "`qseq train` reported (best.pt: best on validation; checkpoint.pt for a run trained with --val 0: "
        "the last epoch), beside the same weights on the torch engine.",
    )
    pred.add_argument(
        "--checkpoint", required=True, help="the run directory of `qseq train`, trained or --reservoir (required)"
    )
    pred.add_argument(
        "--backend", required=True, help="backend spec, e.g. aer, ibm:fake_manila, ibm:ibm_fez (required)"
    )
    pred.add_argument("--shots", type=_positive_int, default=None, help="shots per circuit (default: the backend's)")
    pred.add_argument(
        "--weights",
        type=_existing_file,
        default=None,
        help="a .pt file instead of the run's weights (default: those `qseq train` reported: best.pt, or "
        "checkpoint.pt for --val 0)",
    )
    pred.set_defaults(func=cmd_predict)
    est = sub.add_parser("estimate", help="jobs, shots and QPU time of a model on an IBM device, without running")
    est.add_argument(
        "--model",
        required=True,
        choices=sorted(MODELS),
        help="a quantum model; classical ones run no circuits (required)",
    )
    est.add_argument("--task", required=True, help="a task name, see `qseq tasks` (required)")
    est.add_argument("--backend", required=True, help="ibm:<device>, e.g. ibm:ibm_fez or ibm:fake_manila (required)")
    est.add_argument(
        "--reservoir", action="store_true", help="frozen reservoir: only the readout trains (default: off)"
    )
    est.add_argument("--shots", type=_positive_int, default=4096, help="shots per circuit (default: 4096)")
    est.add_argument("--epochs", type=_positive_int, default=100, help="training epochs priced (default: 100)")
    est.add_argument("--batch-size", type=_positive_int, default=4, help="windows per step (default: 4)")
    est.set_defaults(func=cmd_estimate)
    _rl_parsers(sub)
    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)
    sub.add_parser("backends", help="list backends and whether they are usable").set_defaults(func=cmd_backends)
    for command in sub.choices.values():  # --debug also after the command: qseq train ... --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
    return ap


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse's usage errors (exit code 2) and --help (0), returned to the caller
        return stop.code if isinstance(stop.code, int) else 2
    debug = getattr(args, "debug", False) or os.environ.get("QSEQ_DEBUG", "") not in ("", "0")
    try:
        args.func(args)
    except _USER_ERRORS as err:  # OSError: files, connections
        if debug:
            raise
        print(f"qseq: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qseq: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

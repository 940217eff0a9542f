"""Run directories: train a registered model on a task into a directory, read the run back, and
predict its test split on another backend.

A run directory holds what :func:`qseq.train.fit` writes (``checkpoint.pt``, ``best.pt``, metrics,
plots) plus ``run.json`` (:class:`RunInfo`: which model, task and settings, so the run can be
rebuilt), ``predictions-<backend>.csv`` files and, for Qiskit backends, the job journal
``jobs.sqlite``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._io import atomic_write
from ..backends import Backend, accepts, get
from ..data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from ..models import build_model, count_parameters, runs_circuits
from ..train import TrainConfig, evaluate, fit, is_main_process, load_model_weights, predict

__all__ = [
    "RUN_INFO",
    "JOURNAL",
    "RunInfo",
    "TrainedRun",
    "PredictedRun",
    "read_run_info",
    "write_run_info",
    "build_run_model",
    "train_run",
    "predict_run",
    "backend_for_run",
]

RUN_INFO = "run.json"
JOURNAL = "jobs.sqlite"


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` records: enough to rebuild the model and its data.

    Attributes:
        model: a name of :data:`qseq.models.MODELS`.
        task: a name of :data:`qseq.data.TASKS`.
        seq_len: window length.
        reservoir: whether the recurrent part is a frozen reservoir.
        seed: the seed of the weights and of training.
        backend: the backend spec the model trained on.
        dtype: the parameter dtype (``"float64"``).
    """

    model: str
    task: str
    seq_len: int = 4
    reservoir: bool = False
    seed: int = 0
    backend: str = "torch"
    dtype: str = "float64"


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    """Write ``run_dir/run.json`` atomically."""
    text = json.dumps(dataclasses.asdict(info), indent=2) + "\n"
    atomic_write(Path(run_dir) / RUN_INFO, lambda f: f.write(text.encode()))


def read_run_info(run_dir: Path) -> RunInfo:
    """The :class:`RunInfo` of a run directory of :func:`train_run` (``qseq train``)."""
    path = Path(run_dir) / RUN_INFO
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory of `qseq train` (no {RUN_INFO})")
    return RunInfo(**json.loads(path.read_text()))


def build_run_model(info: RunInfo, backend: str | None = None) -> nn.Module:
    """The registered model of a run, freshly initialised from its seed, on ``backend`` (default:
    the run's)."""
    backend = info.backend if backend is None else backend
    model = build_model(info.model, dtype=getattr(torch, info.dtype), reservoir=info.reservoir, seed=info.seed)
    if runs_circuits(model):
        model.to_backend(backend)
    elif backend != "torch":
        raise ValueError(f"model {info.model!r} is classical and runs on torch only, not on {backend!r}")
    return model


def _split(info: RunInfo):
    X, y = get_task(info.task).load(seq_len=info.seq_len)
    return chronological_split(X, y)


@dataclass
class TrainedRun:
    """What :func:`train_run` returns.

    Attributes:
        rows: ``(label, trainable parameters, train MSE, test MSE, seconds)`` for the model, then
            last-value persistence and linear AR on the same windows.
        n_train, n_test: windows in each split.
        run_dir: where the run was written.
    """

    rows: list[tuple]
    n_train: int
    n_test: int
    run_dir: Path
    main: bool = True  # False on the other ranks of a data-parallel (torchrun) run: they write and print nothing


def train_run(
    info: RunInfo, out: Path, *, epochs: int, batch_size: int, lr: float, resume: bool = False, progress: bool = True
) -> TrainedRun:
    """Train ``info.model`` on ``info.task`` (chronological 67/33 split) into ``out``.

    The papers report the weights after the last epoch, so those are evaluated; the test split is
    monitored during training, never selected on (``restore_best=False``).
    """
    X_train, y_train, X_test, y_test = _split(info)
    torch.manual_seed(info.seed)
    model = build_run_model(info)
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, seed=info.seed, progress=progress, restore_best=False
    )
    start = time.perf_counter()
    result = fit(model, (X_train, y_train), (X_test, y_test), config=config, run_dir=out, resume=resume)
    seconds = time.perf_counter() - start
    label = f"{info.model}{'-RC' if info.reservoir else ''} ({info.backend})"
    ar_params = X_train.shape[1] * X_train.shape[2] + 1
    rows = [
        (
            label,
            count_parameters(model),
            f"{evaluate(model, X_train, y_train)['mse']:.3e}",
            f"{evaluate(model, X_test, y_test)['mse']:.3e}",
            f"{seconds:.1f}",
        ),
        (
            "last-value persistence",
            0,
            f"{mse(persistence_baseline(X_train), y_train):.3e}",
            f"{mse(persistence_baseline(X_test), y_test):.3e}",
            "-",
        ),
        (
            f"linear AR({info.seq_len})",
            ar_params,
            f"{mse(linear_ar_baseline(X_train, y_train, X_train), y_train):.3e}",
            f"{mse(linear_ar_baseline(X_train, y_train, X_test), y_test):.3e}",
            "-",
        ),
    ]
    main = is_main_process()
    if main:
        write_run_info(result.run_dir, info)
    return TrainedRun(rows, len(X_train), len(X_test), result.run_dir, main)


def backend_for_run(spec: str, run_dir: Path, shots: int | None = None) -> Backend:
    """The backend a run's predictions go to. Backends that take a journal record their jobs in
    ``run_dir/jobs.sqlite``, so an interrupted prediction never pays for a job twice."""
    options: dict = {}
    if accepts(spec, "journal"):
        options["journal"] = Path(run_dir) / JOURNAL
    if shots is not None:
        if not accepts(spec, "shots"):
            raise ValueError(f"backend {spec!r} computes exact values: it takes no shots (drop --shots)")
        options["shots"] = shots
    return get(spec, **options)


@dataclass
class PredictedRun:
    """What :func:`predict_run` returns.

    Attributes:
        rows: ``(label, test MSE, seconds, jobs, jobs from the journal, circuits)``: the trained
            weights evaluated exactly (torch engine), then on the new backend.
        n_test: test windows.
        predictions: the CSV written (target, as trained, on the new backend).
        journal: the job journal's path, or ``None`` for a backend without one.
    """

    rows: list[tuple]
    n_test: int
    predictions: Path
    journal: Path | None


def predict_run(run_dir: Path, spec: str, *, shots: int | None = None, weights: Path | None = None) -> PredictedRun:
    """Predict the test split of a trained run on backend ``spec`` with the run's ``best.pt`` (or
    ``weights``), beside the same weights evaluated exactly; write the predictions CSV."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    _, _, X_test, y_test = _split(info)
    model = build_run_model(info, backend="torch")
    if not runs_circuits(model):
        raise ValueError(f"model {info.model!r} is classical and runs on torch only")
    load_model_weights(model, weights or run_dir)
    exact = predict(model, X_test)
    backend = backend_for_run(spec, run_dir, shots)
    model.to_backend(backend)
    start = time.perf_counter()
    pred = predict(model, X_test, batch_size=len(X_test))  # the whole test set: one job per stage and step
    seconds = time.perf_counter() - start
    usage = backend.usage
    rows = [
        (f"{info.model} on {info.backend} (as trained)", f"{mse(exact, y_test):.3e}", "-", "-", "-", "-"),
        (
            f"{info.model} on {backend.name}",
            f"{mse(pred, y_test):.3e}",
            f"{seconds:.1f}",
            usage.jobs,
            usage.reused,
            usage.circuits,
        ),
    ]
    path = _write_predictions(run_dir, backend.name, np.asarray(y_test), exact, pred)
    return PredictedRun(rows, len(X_test), path, run_dir / JOURNAL if accepts(spec, "journal") else None)


def _write_predictions(run_dir: Path, backend_name: str, y: np.ndarray, exact: np.ndarray, pred: np.ndarray) -> Path:
    """``predictions-<backend>.csv``: the first target column, as trained and on ``backend_name``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["target", "as_trained", backend_name])
    writer.writerows(np.column_stack([y.reshape(len(y), -1)[:, 0], exact[:, 0], pred[:, 0]]).tolist())
    safe = backend_name.replace(":", "_").replace(",", "_").replace("=", "-")
    path = run_dir / f"predictions-{safe}.csv"
    atomic_write(path, lambda f: f.write(buffer.getvalue().encode()))
    return path

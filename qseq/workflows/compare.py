"""Reservoir computing vs full training vs classical reservoirs on one task: the QRNN-RC paper's
comparison (``docs/references.md``) as one table and one figure, with naive baselines beside them.

Used by ``qseq compare --task TASK``; :func:`compare` returns the rows for programmatic use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import check_writable_dir
from ..data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from ..models import ESN, build_model, count_parameters, runs_circuits
from ..reservoir import ReservoirRegressor, default_features
from ..train import TrainConfig, evaluate, fit
from .report import table

__all__ = ["Entry", "Row", "ENTRIES", "compare"]


@dataclass(frozen=True)
class Entry:
    """One compared model. ``kind``: ``"rc"`` (frozen reservoir + ridge readout), ``"trained"``
    (every weight trained with the paper recipe) or ``"esn"`` (reservoirpy echo state network)."""

    label: str
    model: str
    kind: str


ENTRIES = (
    Entry("QRNN-RC", "qrnn", "rc"),
    Entry("QLSTM-RC", "qlstm", "rc"),
    Entry("QGRU-RC", "qgru", "rc"),
    Entry("QLSTM (trained)", "qlstm", "trained"),
    Entry("QFWP (trained)", "qfwp", "trained"),
    Entry("RNN-RC", "rnn", "rc"),
    Entry("LSTM-RC", "lstm", "rc"),
    Entry("GRU-RC", "gru", "rc"),
    Entry("ESN", "esn", "esn"),
)


@dataclass
class Row:
    """Results of one entry over seeds."""

    label: str
    trainable: int = 0
    circuits: int = 0
    seconds: list = field(default_factory=list)
    test_mse: list = field(default_factory=list)
    note: str = ""


def _run(
    entry: Entry, seed: int, data, epochs: int, backend: str, features: str | None = None, init: str = "paper"
) -> tuple[float, int, int]:
    """Train one entry with one seed: ``(test MSE, trainable parameters, circuit evaluations)``.
    Reservoirs are drawn with ``init`` (circuit angles) and read with ``features`` (``None``: each
    reservoir's :func:`~qseq.reservoir.default_features`)."""
    X_train, y_train, X_test, y_test = data
    if entry.kind == "esn":
        model = ESN(seed=seed).fit(X_train, y_train)
        return model.mse(X_test, y_test), int(model.n_trainable_), 0
    model = build_model(entry.model, dtype=torch.float64)
    if entry.kind == "rc":
        model.freeze_reservoir(init, seed)
    if runs_circuits(model):
        model.to_backend(backend)
    if entry.kind == "rc":
        mode = default_features(model.rnn) if features is None else features
        readout = ReservoirRegressor(model.rnn, readout="ridge", alpha="cv", features=mode).fit(X_train, y_train)
        return readout.mse(X_test, y_test), readout.n_trainable_, readout.n_circuit_evaluations_
    before = _circuits(model)
    torch.manual_seed(seed)
    config = TrainConfig(epochs=epochs, seed=seed, progress=False, plot=False, restore_best=False)
    fit(model, (X_train, y_train), config=config)
    return evaluate(model, X_test, y_test)["mse"], count_parameters(model), _circuits(model) - before


def _circuits(model) -> int:
    """Circuits the model's backends have evaluated so far (0 for a classical model)."""
    return sum(b.usage.circuits for b in model.backends())


def compare(
    task: str,
    seeds: int = 5,
    epochs: int = 100,
    out: Path | None = None,
    backend: str = "torch",
    entries=ENTRIES,
    verbose: bool = True,
    features: str | None = "last",
    init: str = "paper",
) -> list[Row]:
    """Run every entry on ``task`` (window 4, chronological 67/33) for ``seeds`` seeds.

    Prints a table (model, trainable parameters, circuit evaluations for training, train time, test
    MSE mean ± std) with last-value persistence and linear AR(4) on the same windows, and saves a
    bar chart to ``out/compare.png`` when ``out`` is given. Entries whose optional dependency is
    missing (reservoirpy for the ESN) are reported as skipped.

    Raises:
        ValueError: ``seeds`` or ``epochs`` not a positive integer, or an unknown task.
        OSError: ``out`` is a file or not writable (checked before any model runs).
    """
    for name, value in (("seeds", seeds), ("epochs", epochs)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if out is not None:
        check_writable_dir(out, "out")
    X, y = get_task(task).load(seq_len=4)
    data = chronological_split(X, y)
    X_train, y_train, X_test, y_test = data
    rows = []
    for entry in entries:
        row = Row(entry.label)
        for seed in range(seeds):
            start = time.perf_counter()
            try:
                test, row.trainable, circuits = _run(entry, seed, data, epochs, backend, features, init)
            except ImportError as err:
                row.note = f"skipped: {err}"
                break
            row.seconds.append(time.perf_counter() - start)
            row.test_mse.append(test)
            row.circuits = circuits
        rows.append(row)
        if verbose and row.test_mse:
            print(f"  {entry.label}: test MSE {np.mean(row.test_mse):.3e}", flush=True)
    baselines = {
        "last-value persistence": mse(persistence_baseline(X_test), y_test),
        "linear AR(4)": mse(linear_ar_baseline(X_train, y_train, X_test), y_test),
    }
    if verbose:
        print(_format(task, rows, baselines, seeds, len(X_train), len(X_test)))
    if out is not None:
        path = _figure(task, rows, baselines, Path(out))
        if verbose and path:
            print(f"\nFigure: {path}")
    return rows


def _format(task, rows, baselines, seeds, n_train, n_test) -> str:
    lines = []
    for r in rows:
        if not r.test_mse:
            lines.append((r.label, "-", "-", "-", r.note))
            continue
        lines.append(
            (
                r.label,
                r.trainable,
                f"{r.circuits:,}",
                f"{np.mean(r.seconds):.2f}",
                f"{np.mean(r.test_mse):.3e} ± {np.std(r.test_mse):.1e}",
            )
        )
    for name, value in baselines.items():
        lines.append((name, "-", "-", "-", f"{value:.3e}"))
    head = f"\n{task}: {n_train} training / {n_test} test windows of length 4, {seeds} seed(s)\n"
    return head + table(lines, ("model", "trainable", "circuit evals (training)", "train s", "test MSE"))


def _figure(task, rows, baselines, out: Path) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    done = [r for r in rows if r.test_mse]
    fig = Figure(figsize=(8, 3.6), tight_layout=True)
    ax = fig.add_subplot()
    means = [np.mean(r.test_mse) for r in done]
    ax.bar(
        range(len(done)),
        means,
        yerr=[np.std(r.test_mse) for r in done],
        capsize=3,
        color=["tab:purple" if "Q" in r.label else "tab:gray" for r in done],
    )
    for (name, value), style in zip(baselines.items(), ("--", ":"), strict=True):
        ax.axhline(value, color="k", linestyle=style, linewidth=1, label=name)
    ax.set_xticks(range(len(done)), [r.label for r in done], rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("test MSE")
    ax.set_title(f"{task}: reservoir vs trained vs classical")
    ax.legend(fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare.png"
    fig.savefig(path, dpi=120)
    return path

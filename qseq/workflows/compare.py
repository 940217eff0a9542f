"""Reservoir computing vs full training vs classical reservoirs on one task: the QRNN-RC paper's
comparison (``docs/references.md``) as one table and one figure, with naive baselines beside them.

Used by ``qseq compare --task TASK``; :func:`compare` returns the rows for programmatic use.

Every entry sees the same chronological train / validation / test windows
(:func:`qseq.data.chronological_split` with ``val``): readouts and weights are fitted on train, a
trained model keeps its best epoch on validation, and the test windows are evaluated once per entry
and seed, at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import check_writable_dir
from ..data import Split, chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
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
    val_mse: list = field(default_factory=list)
    test_mse: list = field(default_factory=list)
    note: str = ""


def _run(
    entry: Entry,
    seed: int,
    data: Split,
    epochs: int,
    backend: str,
    features: str | None = None,
    init: str = "paper",
    dtype: str = "float64",
    patience: int | None = None,
) -> tuple[float | None, float, int, int]:
    """Train one entry with one seed: ``(validation MSE, test MSE, trainable parameters, circuit
    evaluations)``. Reservoirs are drawn with ``init`` (circuit angles) and read with ``features``
    (``None``: each reservoir's :func:`~qseq.reservoir.default_features`)."""
    X_train, y_train = data.train
    if entry.kind == "esn":
        esn = ESN(seed=seed).fit(X_train, y_train)
        val = None if data.val is None else esn.mse(*data.val)
        return val, esn.mse(*data.test), int(esn.n_trainable_), 0
    model = build_model(entry.model, dtype=getattr(torch, dtype))
    if entry.kind == "rc":
        model.freeze_reservoir(init, seed)
    if runs_circuits(model):
        model.to_backend(backend)
    if entry.kind == "rc":
        mode = default_features(model.rnn) if features is None else features
        readout = ReservoirRegressor(model.rnn, readout="ridge", alpha="cv", features=mode).fit(X_train, y_train)
        circuits = readout.n_circuit_evaluations_  # the fit's: one pass over the training windows
        val = None if data.val is None else readout.mse(*data.val)
        return val, readout.mse(*data.test), readout.n_trainable_, circuits
    before = _circuits(model)
    torch.manual_seed(seed)
    config = TrainConfig(
        epochs=epochs,
        seed=seed,
        dtype=dtype,  # type: ignore[arg-type]
        progress=False,
        plot=False,
        monitor="val_mse",
        restore_best=data.val is not None,
        early_stopping_patience=patience,
    )
    result = fit(model, data.train, data.val, config=config)
    circuits = _circuits(model) - before  # training and validation, not the test evaluation below
    test = evaluate(model, *data.test)["mse"]  # the test windows' only use: the chosen weights, once
    return result.final_metrics.get("val_mse"), test, count_parameters(model), circuits


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
    *,
    seq_len: int = 4,
    val: float = 0.1,
    test: float = 0.33,
    dtype: str = "float64",
    patience: int | None = None,
) -> list[Row]:
    """Run every entry on ``task`` for ``seeds`` seeds, on one chronological train / validation /
    test split of windows of length ``seq_len`` (:func:`qseq.data.chronological_split` with ``val``
    and ``test``; default 57 / 10 / 33 %).

    Reservoir readouts (ridge, penalty by time-ordered CV on train) and the ESN are fitted on the
    training windows; fully trained models train on them for ``epochs`` in ``dtype`` and keep the
    epoch with the lowest validation MSE (with ``patience``: stop after that many epochs without
    improvement; ``val=0``: no validation windows, the last epoch's weights). Every entry's test MSE
    is one evaluation of those weights, after training. Prints which entry and seed runs (with
    ``verbose``), then a table (model, trainable parameters, circuit evaluations of the fit, a
    trained model's with its per-epoch validation; train time; validation and test MSE mean ± std)
    with last-value persistence and linear AR on the same windows, and saves a bar chart to
    ``out/compare.png`` when ``out`` is given. Entries whose optional dependency is missing
    (reservoirpy for the ESN) are reported as skipped.

    Raises:
        ValueError: ``seeds``, ``epochs``, ``seq_len`` or ``patience`` not a positive integer, a
            fraction out of range, ``dtype`` not float32/float64, ``patience`` with ``val=0``, or an
            unknown task.
        OSError: ``out`` is a file or not writable (checked before any model runs).
    """
    for name, value in (("seeds", seeds), ("epochs", epochs), ("seq_len", seq_len), ("patience", patience)):
        if name == "patience" and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if patience is not None and val == 0:
        raise ValueError("patience stops training on the validation MSE: it needs val > 0")
    if out is not None:
        check_writable_dir(out, "out")
    X, y = get_task(task).load(seq_len=seq_len)
    data = chronological_split(X, y, val=val, test=test)
    X_train, y_train = data.train
    rows = []
    for number, entry in enumerate(entries, 1):
        row = Row(entry.label)
        for seed in range(seeds):
            if verbose:
                print(f"[{number}/{len(entries)}] {entry.label}, seed {seed + 1}/{seeds} ...", end=" ", flush=True)
            start = time.perf_counter()
            try:
                val_mse, test_mse, row.trainable, circuits = _run(
                    entry, seed, data, epochs, backend, features, init, dtype, patience
                )
            except ImportError as err:
                row.note = f"skipped: {err}"
                if verbose:
                    print(row.note, flush=True)
                break
            row.seconds.append(time.perf_counter() - start)
            if val_mse is not None:
                row.val_mse.append(val_mse)
            row.test_mse.append(test_mse)
            row.circuits = circuits
            if verbose:
                shown = "" if val_mse is None else f"val MSE {val_mse:.3e}, "
                print(f"{shown}test MSE {test_mse:.3e} ({row.seconds[-1]:.1f} s)", flush=True)
        rows.append(row)
    ar = f"linear AR({seq_len})"
    baselines = {
        "last-value persistence": _split_mses(data, lambda X: persistence_baseline(X)),
        ar: _split_mses(data, lambda X: linear_ar_baseline(X_train, y_train, X)),
    }
    if verbose:
        print(_format(task, rows, baselines, seeds, data, seq_len))
    if out is not None:
        path = _figure(task, rows, baselines, Path(out))
        if verbose and path:
            print(f"\nFigure: {path}")
    return rows


def _split_mses(data: Split, predict) -> tuple[float | None, float]:
    """``(validation MSE, test MSE)`` of a baseline's predictions (``None`` without validation windows)."""
    val = None if data.val is None else mse(predict(data.X_val), data.y_val)
    return val, mse(predict(data.X_test), data.y_test)


def _spread(values: list) -> str:
    return f"{np.mean(values):.3e} ± {np.std(values):.1e}" if values else "-"


def _format(task, rows, baselines, seeds, data: Split, seq_len: int = 4) -> str:
    lines = []
    for r in rows:
        if not r.test_mse:
            lines.append((r.label, "-", "-", "-", "-", r.note))
            continue
        lines.append(
            (
                r.label,
                r.trainable,
                f"{r.circuits:,}",
                f"{np.mean(r.seconds):.2f}",
                _spread(r.val_mse),
                _spread(r.test_mse),
            )
        )
    for name, (val, test) in baselines.items():
        lines.append((name, "-", "-", "-", "-" if val is None else f"{val:.3e}", f"{test:.3e}"))
    n_train, n_val, n_test = data.sizes()
    weights = (
        "trained models: the epoch best on validation" if n_val else "no validation windows: trained models' last epoch"
    )
    head = (
        f"\n{task}: {n_train} training / {n_val} validation / {n_test} test windows of length {seq_len}, "
        f"{seeds} seed(s)\nreadouts and ESN fitted on train; {weights}; test evaluated once per seed\n\n"
    )
    header = ("model", "trainable", "circuit evals (fit)", "train s", "val MSE", "test MSE")
    return head + table(lines, header)


def _figure(task, rows, baselines, out: Path) -> Path | None:
    baselines = {name: test for name, (_, test) in baselines.items()}
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
    ax.set_ylabel("test MSE (evaluated once)")
    ax.set_title(f"{task}: reservoir vs trained vs classical")
    ax.legend(fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare.png"
    fig.savefig(path, dpi=120)
    return path

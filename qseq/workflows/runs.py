"""Run directories: train a registered model on a task into a directory — every weight by the
papers' recipe, or a frozen reservoir's readout in closed form (ridge) or by the papers' recipe
(``readout="sgd"``) — read the run back, and predict its test split on another backend.

A trained run's directory, and that of a reservoir run with the ``"sgd"`` readout, holds what
:func:`qseq.train.fit` writes (``checkpoint.pt``, ``best.pt``, metrics, plots). A reservoir run
with the ridge readout holds ``best.pt`` (the weights of a :class:`~qseq.reservoir.ReservoirModel`:
the frozen reservoir and the fitted readout), ``metrics.json`` / ``metrics.csv`` (one row: the fit),
``prediction.png`` and the feature cache ``features/``. All hold ``run.json`` (:class:`RunInfo`: which
model, task, split and settings, so the run can be rebuilt), ``predictions-<backend>.csv`` files
and, for Qiskit backends, the job journal ``jobs.sqlite``.

``run.json`` is written when a run starts, with ``"status": "running"``, and again when it ends, with
``"status": "complete"`` and ``"result"``: the windows in each split, which weights were evaluated
(``"best on validation"``, or ``"last"`` without a validation split) and their train / validation /
test MSE. An interrupted run directory is therefore still a run directory (``--resume`` continues it).

The windows are split in time order into train / validation / test (:func:`qseq.data.chronological_split`
with ``val``, default 10 % / 33 %): weights are fitted on train, the best epoch (and early stopping) is
chosen on validation, and the test windows are evaluated once, at the end, with the chosen weights.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .._io import DamagedFileError, atomic_write_text, check_writable_dir, read_json, save_torch, write_json
from ..backends import Backend, accepts, get
from ..data import Split, chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from ..models import QFWP, QuantumModel, build_model, count_parameters, runs_circuits
from ..models.init import Initialisable, check_init
from ..reservoir import FEATURES, ReservoirModel, default_features
from ..train import TrainConfig, fit, is_main_process, load_model_weights, plot_prediction, predict
from ..train.config import BEST_FILE, CHECKPOINT_FILE, LOSS_PLOT, METRICS_CSV, METRICS_JSON, PREDICTION_PLOT

__all__ = [
    "RUN_INFO",
    "JOURNAL",
    "FEATURE_CACHE",
    "RESERVOIR_INIT",
    "READOUTS",
    "RunInfo",
    "TrainedRun",
    "PredictedRun",
    "run_info",
    "read_run_info",
    "write_run_info",
    "build_run_model",
    "train_run",
    "predict_run",
    "run_weights",
    "read_run_record",
    "backend_for_run",
]

RUN_INFO = "run.json"
JOURNAL = "jobs.sqlite"
FEATURE_CACHE = "features"
#: How ``qseq train --reservoir`` and ``qseq compare`` draw a quantum reservoir's circuit angles unless
#: told otherwise: U[-0.3π, 0.3π) (``benchmarks/RESULTS.md``, "Reservoir feature modes"); what they
#: read from it is :func:`qseq.reservoir.default_features`.
RESERVOIR_INIT = "scaled:0.3"
#: How a reservoir run fits its linear readout: in closed form, or by the papers' recipe (RunInfo.readout).
READOUTS = ("ridge", "sgd")
_Model = TypeVar("_Model", bound=QuantumModel)
#: Keys of ``run.json`` besides the :class:`RunInfo` fields: the run's progress and its final evaluation.
_STATUS_KEYS = ("status", "result")
#: The validation fraction of runs whose ``run.json`` predates the validation split (they trained on
#: every window before the test windows, and reported the last epoch's weights).
_LEGACY_VAL = 0.0
_TRAINED_RUN_FILES = (RUN_INFO, METRICS_CSV, METRICS_JSON, CHECKPOINT_FILE, BEST_FILE, LOSS_PLOT, PREDICTION_PLOT)


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` records: enough to rebuild the model and its data.

    Attributes:
        model: a name of :data:`qseq.models.MODELS`.
        task: a name of :data:`qseq.data.TASKS`.
        seq_len: window length (the papers': 4).
        reservoir: whether the recurrent part is a frozen reservoir.
        seed: the seed of the weights and of training.
        backend: the backend spec the model trained on.
        dtype: the parameter dtype, ``"float64"`` or ``"float32"``.
        features: what the readout reads (:data:`qseq.reservoir.FEATURES`); a trained model's head
            reads the last step, ``"last"``.
        init: how the reservoir's circuit angles were drawn (:data:`qseq.models.INITS`); ``"paper"``
            for a trained run and for a reservoir without circuit angles (classical, QFWP).
        val: the validation fraction of the windows (:func:`qseq.data.chronological_split`); ``0``:
            no validation split, the last epoch's weights are evaluated.
        test: the test fraction (the last windows in time).
        readout: how a reservoir run fits its readout (:data:`READOUTS`): ``"ridge"``, in closed form
            on features computed once; ``"sgd"``, by the papers' recipe, RMSprop through the frozen
            reservoir for a number of epochs (its circuits run every epoch). A trained run, whose
            every weight trains by that recipe, keeps the default ``"ridge"``.
    """

    model: str
    task: str
    seq_len: int = 4
    reservoir: bool = False
    seed: int = 0
    backend: str = "torch"
    dtype: str = "float64"
    features: str = "last"
    init: str = "paper"
    val: float = 0.1
    test: float = 0.33
    readout: str = "ridge"


_DTYPE_NAMES = ("float64", "float32")


def run_info(
    model: str,
    task: str,
    *,
    reservoir: bool = False,
    seed: int = 0,
    backend: str = "torch",
    features: str | None = None,
    init: str | None = None,
    seq_len: int = 4,
    dtype: str = "float64",
    val: float = 0.1,
    test: float = 0.33,
    readout: str | None = None,
) -> RunInfo:
    """The :class:`RunInfo` of ``qseq train``: a reservoir run reads
    :func:`~qseq.reservoir.default_features`, draws its circuit angles by :data:`RESERVOIR_INIT` and
    fits its readout by ridge unless ``features`` / ``init`` / ``readout`` say otherwise
    (``"paper"`` for a reservoir without circuit angles); a trained run takes none of them."""
    trained = RunInfo(model, task, seq_len, False, seed, backend, dtype, val=val, test=test)
    _check_info(trained)
    if not reservoir and readout is not None:
        raise ValueError(
            f"readout (--readout {readout}) chooses how a reservoir's readout is fitted: it needs reservoir=True "
            "(--reservoir); without it every weight trains by the papers' recipe"
        )
    if not reservoir:
        if features is not None or init is not None:
            raise ValueError(
                "features and init (--features, --init) choose how a reservoir is read and drawn: "
                "they need reservoir=True (--reservoir)"
            )
        return trained
    built = build_model(model)
    if init is None:
        init = RESERVOIR_INIT if _has_circuit_angles(built) else "paper"
    features = default_features(built.rnn) if features is None else features
    readout = "ridge" if readout is None else readout
    info = dataclasses.replace(trained, reservoir=True, features=features, init=init, readout=readout)
    _check_info(info)
    return info


def _has_circuit_angles(model: nn.Module) -> bool:
    """Whether ``model`` draws circuit angles of its own (an ``init`` applies to it)."""
    return any(isinstance(m, Initialisable) for m in model.modules())


def _check_info(info: RunInfo) -> None:
    if isinstance(info.seq_len, bool) or not isinstance(info.seq_len, int) or info.seq_len < 1:
        raise ValueError(f"seq_len (--seq-len) must be a whole number >= 1, got {info.seq_len!r}")
    if info.dtype not in _DTYPE_NAMES:
        raise ValueError(f"dtype (--dtype) must be one of {_DTYPE_NAMES}, got {info.dtype!r}")
    for name, value, low in (("val", info.val, "[0"), ("test", info.test, "(0")):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not (0 <= value < 1 if low == "[0" else 0 < value < 1):
            raise ValueError(f"{name} (--{name}) must be a fraction in {low}, 1), got {value!r}")
    if info.val + info.test >= 1:
        raise ValueError(f"val (--val) + test must be < 1 to leave training windows, got {info.val} + {info.test}")
    if info.features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {info.features!r}")
    if info.readout not in READOUTS:
        raise ValueError(f"readout (--readout) must be one of {READOUTS}, got {info.readout!r}")
    if not info.reservoir and info.readout != "ridge":
        raise ValueError(
            f"readout={info.readout!r} chooses how a reservoir's readout is fitted: a trained run trains every "
            "weight and keeps readout='ridge'; use reservoir=True (--reservoir)"
        )
    check_init(info.init)
    if not info.reservoir and (info.features, info.init) != ("last", "paper"):
        raise ValueError(
            f"features={info.features!r} and init={info.init!r} choose how a reservoir is read and drawn: "
            "a trained run reads the last step ('last') of a model drawn by 'paper'; use reservoir=True (--reservoir)"
        )


def write_run_info(run_dir: Path, info: RunInfo, status: str = "complete", result: dict | None = None) -> None:
    """Write ``run_dir/run.json`` atomically: ``info``, the run's ``status`` (``"running"`` while it
    trains, ``"complete"`` at the end) and its final evaluation ``result``."""
    record: dict = {**dataclasses.asdict(info), "status": status}
    if result is not None:
        record["result"] = result
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / RUN_INFO, record)


def read_run_record(run_dir: Path) -> tuple[RunInfo, dict]:
    """The :class:`RunInfo` of a run directory and the rest of its ``run.json``: ``status``
    (``"running"``, ``"complete"``; ``"complete"`` for runs written before it was recorded) and,
    once complete, ``result``."""
    saved = _read_run_json(run_dir)
    info = _run_info(run_dir, saved)
    record = {"status": saved.get("status", "complete")}
    if "result" in saved:
        record["result"] = saved["result"]
    return info, record


def read_run_info(run_dir: Path) -> RunInfo:
    """The :class:`RunInfo` of a run directory of :func:`train_run` (``qseq train``).

    Raises:
        ValueError: ``run_dir`` holds no ``run.json``.
        DamagedFileError: (a ``ValueError``) its ``run.json`` cannot be read, holds something else, or
            does not match the SHA-256 checksum written into it (an edited file; files of qseq
            versions before checksums have none and are read as they are).
    """
    return _run_info(run_dir, _read_run_json(run_dir))


_RUN_JSON_REMEDY = (
    "Restore it from a copy, or write it again as a JSON object of the run's `qseq train` options, e.g. "
    '{"model": "qlstm", "task": "damped_shm", "seed": 0} (the fields and defaults of qseq.workflows.RunInfo).'
)


def _read_run_json(run_dir: Path):
    """The value in ``run_dir/run.json``, its checksum checked."""
    path = Path(run_dir) / RUN_INFO
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory of `qseq train` (no {RUN_INFO})")
    return read_json(path, f"{RUN_INFO} of `qseq train`", _RUN_JSON_REMEDY)


def _run_info(run_dir: Path, saved) -> RunInfo:
    """The :class:`RunInfo` in ``saved``, the value of ``run_dir/run.json``."""
    path = Path(run_dir) / RUN_INFO
    fields = {f.name for f in dataclasses.fields(RunInfo)}
    if isinstance(saved, dict):
        saved = {k: v for k, v in saved.items() if k not in _STATUS_KEYS}
        saved.setdefault("val", _LEGACY_VAL)
    if not isinstance(saved, dict) or "model" not in saved or "task" not in saved or set(saved) - fields:
        extra = sorted(set(saved) - fields) if isinstance(saved, dict) else []
        raise DamagedFileError(
            f"{path} is not a {RUN_INFO} of `qseq train`: it needs an object with 'model' and 'task' and "
            f"only the fields {sorted(fields)}" + (f" (unknown: {extra})" if extra else "") + f". {_RUN_JSON_REMEDY}"
        )
    return RunInfo(**saved)


def build_run_model(info: RunInfo, backend: str | None = None) -> nn.Module:
    """The model of a run, freshly initialised from its seed, on ``backend`` (default: the run's).

    A trained run's model is the registered model. A reservoir run's is a
    :class:`~qseq.reservoir.ReservoirModel`: the registered model's recurrent part frozen by
    ``freeze_reservoir(info.init, info.seed)``, read with ``info.features`` by a linear readout. A
    QFWP's own output layer becomes the identity on its measured wires, so that the readout reads
    the fast programmer's ⟨Z⟩ (as the QFWP's trainable output layer does), not one random projection.
    """
    _check_info(info)
    dtype = getattr(torch, info.dtype)
    if info.reservoir:
        return _on_backend(_reservoir_model(info, dtype), info, backend)
    return _on_backend(build_model(info.model, dtype=dtype, reservoir=False, seed=info.seed), info, backend)


def _on_backend(model: _Model, info: RunInfo, backend: str | Backend | None) -> _Model:
    """``model`` with its circuits on ``backend`` (default: the run's); a classical model stays on torch."""
    backend = info.backend if backend is None else backend
    if runs_circuits(model):
        model.to_backend(backend)
    elif backend != "torch":
        raise ValueError(f"model {info.model!r} is classical and runs on torch only, not on {backend!r}")
    return model


def _reservoir_model(info: RunInfo, dtype: torch.dtype) -> ReservoirModel:
    """The reservoir run's model of :func:`build_run_model`, on the torch engine."""
    model = build_model(info.model, dtype=dtype)
    if info.init != "paper" and not _has_circuit_angles(model):
        raise ValueError(
            f"init {info.init!r} draws circuit angles, and the reservoir of {info.model!r} has none "
            "(it is drawn as torch draws its layers): leave init (--init) out"
        )
    layer = model.freeze_reservoir(info.init, info.seed).rnn
    if isinstance(layer, QFWP):
        identity = nn.Linear(layer.n_measured, layer.n_measured, dtype=dtype)
        with torch.no_grad():
            identity.weight.copy_(torch.eye(layer.n_measured, dtype=dtype))
            identity.bias.zero_()
        layer.head = identity.requires_grad_(False)
    return ReservoirModel(layer, info.seq_len, features=info.features)


def _split(info: RunInfo) -> Split:
    X, y = get_task(info.task).load(seq_len=info.seq_len)
    return chronological_split(X, y, val=info.val, test=info.test)


@dataclass
class TrainedRun:
    """What :func:`train_run` returns.

    Attributes:
        rows: ``(label, trainable parameters, train MSE, validation MSE, test MSE, seconds)`` for the
            model (with the weights :attr:`weights` names), then last-value persistence and linear AR
            (fitted on train) on the same windows; ``"-"`` for an empty validation split.
        n_train, n_val, n_test: windows in each split.
        run_dir: where the run was written.
        main: False on the other ranks of a data-parallel (``torchrun``) run: they write and print nothing.
        files: what the run directory holds.
        epochs: the epochs of a trained run; ``None`` for a reservoir run.
        readout: a reservoir run's fit (what ``metrics.json`` holds: feature mode and width, penalty,
            MSEs, circuit evaluations, seconds); ``None`` for a trained run.
        weights: which weights the MSEs are of: ``"best on validation (epoch k of n)"``, ``"last
            (epoch n)"``, or a reservoir's ``"ridge readout fitted on train"``.
        result: what ``run.json``'s ``"result"`` holds.
    """

    rows: list[tuple]
    n_train: int
    n_val: int
    n_test: int
    run_dir: Path
    main: bool = True
    files: tuple[str, ...] = _TRAINED_RUN_FILES
    epochs: int | None = None
    readout: dict | None = None
    weights: str = ""
    result: dict = dataclasses.field(default_factory=dict)


def train_run(
    info: RunInfo,
    out: Path,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    patience: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainedRun:
    """Train ``info.model`` on ``info.task`` into ``out``, on a chronological train / validation /
    test split (``info.val``, ``info.test``; default 57 / 10 / 33 %).

    A trained run (``info.reservoir`` false) trains every weight with the papers' recipe
    (:func:`qseq.train.fit`; ``epochs`` default 100, ``batch_size`` 4, ``lr`` 0.01) on the training
    windows. The validation MSE of every epoch picks the weights that are kept and evaluated (the
    best on validation; ``best.pt``) and, with ``patience``, stops training after that many epochs
    without improvement. With ``info.val == 0`` there is no validation split: the last epoch's
    weights are evaluated (the papers' protocol; ``checkpoint.pt``) and ``patience`` is refused. The
    test windows are evaluated once, at the end.

    A reservoir run fits the readout of :func:`build_run_model`'s
    :class:`~qseq.reservoir.ReservoirModel`. With ``info.readout == "ridge"`` (the default) it is
    fitted in closed form: ridge, its penalty chosen by time-ordered 5-fold cross-validation on the
    training windows. The reservoir runs once per split; its features are cached in ``out/features/``
    (and a Qiskit backend's jobs in ``out/jobs.sqlite``), so ``resume=True`` fits an existing
    reservoir run again without a circuit evaluation. ``epochs``, ``batch_size``, ``lr`` and
    ``patience`` do not apply; the validation windows are reported, not fitted on. With
    ``info.readout == "sgd"`` the readout alone trains as a trained run's weights do (the papers'
    recipe, the same defaults, validation, ``patience`` and ``resume``), through the frozen
    reservoir, whose circuits run again every epoch.

    ``out/run.json`` is written before any work (``"status": "running"``; on ``resume`` an existing
    one is kept) and again at the end with the result.

    Raises:
        ValueError: a bad :class:`RunInfo`, epochs / batch size / learning rate / patience for a
            ridge readout, a run directory holding another kind of run (trained or ``"sgd"``
            readout, which train by epochs, vs ridge readout), or a run resumed with other settings.
        FileExistsError: ``out`` already holds a run and ``resume`` is False.
    """
    out = Path(out)
    _check_info(info)
    if _closed_form(info):
        options = (
            ("epochs", "--epochs", epochs),
            ("batch_size", "--batch-size", batch_size),
            ("lr", "--lr", lr),
            ("patience", "--patience", patience),
        )
        given = [f"{name} ({flag})" for name, flag, value in options if value is not None]
        if given:
            raise ValueError(
                f"a reservoir run fits its readout in closed form, without epochs: {' and '.join(given)} "
                f"{'does' if len(given) == 1 else 'do'} not apply; leave {'it' if len(given) == 1 else 'them'} out, "
                "or train the readout by epochs with readout='sgd' (--readout sgd)"
            )
    elif patience is not None and info.val == 0:
        raise ValueError(
            "patience (--patience) stops training on the validation MSE, and val=0 (--val 0) leaves no "
            "validation windows: give a validation fraction, or leave patience out"
        )
    _check_run_dir(out, info, resume)
    data = _split(info)
    recipe = None
    if not _closed_form(info):
        recipe = TrainConfig(
            epochs=100 if epochs is None else epochs,
            batch_size=4 if batch_size is None else batch_size,
            lr=0.01 if lr is None else lr,
            seed=info.seed,
            dtype=info.dtype,  # type: ignore[arg-type]
            progress=progress,
            monitor="val_mse",
            restore_best=info.val > 0,
            early_stopping_patience=patience,
        )

    def started() -> None:
        """Write ``run.json`` once the model stands on its backend, before the first epoch or feature."""
        if is_main_process() and not (resume and (out / RUN_INFO).is_file()):
            write_run_info(out, info, status="running")

    n_train, n_val, n_test = data.sizes()
    if recipe is None:
        row, readout, files = _fit_reservoir_run(info, out, data, started)
        run = TrainedRun([row], n_train, n_val, n_test, out, is_main_process(), files, readout=readout)
        run.weights = "ridge readout fitted on train"
        mses = {f"{part}_mse": readout[f"{part}_mse"] for part in ("train", "val", "test")}
    else:
        row, mses, weights = _train_run(info, out, data, recipe, resume, started)
        run = TrainedRun([row], n_train, n_val, n_test, out, is_main_process(), epochs=recipe.epochs, weights=weights)
    run.rows += _baseline_rows(info, data)
    run.result = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "weights": run.weights, **mses}
    if run.main:
        write_run_info(run.run_dir, info, status="complete", result=run.result)
    return run


def _closed_form(info: RunInfo) -> bool:
    """Whether the run fits a readout in closed form (a reservoir with the ridge readout), not by epochs."""
    return info.reservoir and info.readout == "ridge"


def _run_kind(info: RunInfo) -> str:
    if not info.reservoir:
        return "a trained run (`qseq train` without --reservoir)"
    if info.readout == "sgd":
        return "a reservoir run trained by epochs (`qseq train --reservoir --readout sgd`)"
    return "a reservoir run (`qseq train --reservoir`)"


def _check_run_dir(out: Path, info: RunInfo, resume: bool) -> None:
    """Refuse a directory that holds another kind of run (by epochs vs in closed form), an existing run
    unless it is resumed, and a resume with other settings (the rest :func:`qseq.train.fit` checks)."""
    saved = read_run_info(out) if (out / RUN_INFO).is_file() else None
    has_checkpoint = (out / CHECKPOINT_FILE).is_file()
    if _closed_form(info):
        if has_checkpoint or (saved is not None and not _closed_form(saved)):
            kind = f"a run trained by epochs (a {CHECKPOINT_FILE})" if saved is None else _run_kind(saved)
            raise ValueError(
                f"{out} holds {kind}: a reservoir run with the ridge readout can neither resume nor replace it; "
                "choose another --out"
            )
        if saved is None:
            return
        if not resume:
            raise FileExistsError(
                f"{out} already holds a reservoir run; pass --resume to fit it again from its cached features, "
                "or choose another --out"
            )
        fields = [f.name for f in dataclasses.fields(RunInfo)]
    else:
        if saved is not None and _closed_form(saved):
            raise ValueError(
                f"{out} holds a reservoir run (`qseq train --reservoir`): its readout is fitted in closed form, "
                "there are no epochs to resume; pass --reservoir (without --readout sgd) to fit it again, or "
                "choose another --out"
            )
        if has_checkpoint and not resume:
            kind = "a run" if saved is None else _run_kind(saved)
            raise FileExistsError(
                f"{out} already holds {kind} (a {CHECKPOINT_FILE}); pass --resume (resume=True) to continue it, "
                "or choose another --out"
            )
        if saved is None or not resume:
            return
        fields = ["task", "seed", "val", "test", "init", "readout", *_MODEL_FIELDS]  # the backend may change
    differ = _differences(saved, info, fields)
    if differ:
        raise ValueError(
            f"cannot resume {out}: the run has {'; '.join(differ)}; pass its settings or choose another --out"
        )


#: What a run's weights depend on: runs that agree on these have weights of the same shapes.
_MODEL_FIELDS = ("model", "reservoir", "features", "seq_len", "dtype")


def _differences(saved: RunInfo, requested: RunInfo, fields) -> list[str]:
    """``"<field> <saved> (requested <requested>)"`` for each of ``fields`` that differs."""
    return [
        f"{name} {getattr(saved, name)!r} (requested {getattr(requested, name)!r})"
        for name in fields
        if getattr(saved, name) != getattr(requested, name)
    ]


def _train_run(
    info: RunInfo, out: Path, data: Split, config: TrainConfig, resume: bool, started
) -> tuple[tuple, dict, str]:
    """Fit on train, select on validation, evaluate the test windows once: ``(row, MSEs, weights)``."""
    torch.manual_seed(info.seed)
    model = build_run_model(info)
    started()
    start = time.perf_counter()
    result = fit(model, data.train, data.val, config=config, run_dir=out, resume=resume, test=data.test)
    seconds = time.perf_counter() - start
    final = result.final_metrics
    mses = {f"{part}_mse": final.get(f"{part}_mse") for part in ("train", "val", "test")}
    weights = f"{result.weights} (epoch {result.weights_epoch} of {result.epochs_run})"
    row = (f"{_label(info)} ({info.backend})", count_parameters(model), *_mse_cells(mses), f"{seconds:.1f}")
    return row, mses, weights


def _mse_cells(mses: dict) -> tuple[str, str, str]:
    """Train, validation and test MSE as table cells (``"-"`` where a split is empty)."""
    return tuple("-" if mses.get(f"{p}_mse") is None else f"{mses[f'{p}_mse']:.3e}" for p in ("train", "val", "test"))  # type: ignore[return-value]


def _fit_reservoir_run(info: RunInfo, out: Path, data: Split, started) -> tuple[tuple, dict, tuple[str, ...]]:
    """Fit the readout, evaluate it on the cached features, and (rank 0) write the run's files."""
    X_train, y_train, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    model = _reservoir_model(info, getattr(torch, info.dtype))
    # a Qiskit backend keeps its job journal in the run directory: an interrupted fit pays for no job twice
    _on_backend(model, info, backend_for_run(info.backend, out) if runs_circuits(model) else None)
    started()
    start = time.perf_counter()
    regressor = model.fit_readout(X_train, y_train, alpha="cv", cache_dir=out / FEATURE_CACHE)
    seconds = time.perf_counter() - start
    readout = {
        "readout": "ridge",
        "features": info.features,
        "n_features": model.head.in_features,
        "alpha": regressor.alpha_,
        "cv_folds": regressor.cv_folds,
        "train_mse": regressor.mse(X_train, y_train),
        "val_mse": None if data.val is None else regressor.mse(*data.val),
        "test_mse": regressor.mse(X_test, y_test),
        "circuits": regressor.n_circuit_evaluations_,
        "fit_seconds": seconds,
    }
    row = (f"{_label(info)} ({info.backend})", count_parameters(model), *_mse_cells(readout), f"{seconds:.1f}")
    files: tuple[str, ...] = (RUN_INFO, METRICS_JSON, METRICS_CSV, BEST_FILE)
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        weights = {"model_state": model.state_dict(), "readout": "ridge", "alpha": regressor.alpha_}
        save_torch(out / BEST_FILE, weights)
        atomic_write_text(out / METRICS_JSON, json.dumps(readout, indent=2) + "\n")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(readout), lineterminator="\n")
        writer.writeheader()
        writer.writerow(readout)
        atomic_write_text(out / METRICS_CSV, buffer.getvalue())
        if plot_prediction(regressor.predict, (X_train, y_train), (X_test, y_test), out / PREDICTION_PLOT):
            files += (PREDICTION_PLOT,)
    journaled = runs_circuits(model) and accepts(info.backend, "journal")
    return row, readout, files + (f"{FEATURE_CACHE}/",) + ((JOURNAL,) if journaled else ())


def _baseline_rows(info: RunInfo, data: Split) -> list[tuple]:
    """Last-value persistence and linear AR (fitted on train) on the run's windows, in the rows of
    :class:`TrainedRun`."""
    parts = {"train": data.train, "val": data.val, "test": data.test}
    persistence = {
        f"{p}_mse": None if xy is None else mse(persistence_baseline(xy[0]), xy[1]) for p, xy in parts.items()
    }
    ar = {
        f"{p}_mse": None if xy is None else mse(linear_ar_baseline(*data.train, xy[0]), xy[1])
        for p, xy in parts.items()
    }
    X_train = data.X_train
    return [
        ("last-value persistence", 0, *_mse_cells(persistence), "-"),
        (f"linear AR({info.seq_len})", X_train.shape[1] * X_train.shape[2] + 1, *_mse_cells(ar), "-"),
    ]


def _label(info: RunInfo) -> str:
    return f"{info.model}{'-RC' if info.reservoir else ''}"


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
        weights: which weights were loaded: the file, and what ``qseq train`` reported for it
            (``"best on validation"``, ``"last"``, a reservoir's readout), or ``"--weights FILE"``.
        predictions: the CSV written (target, as trained, on the new backend).
        journal: the job journal's path, or ``None`` for a backend without one.
    """

    rows: list[tuple]
    n_test: int
    predictions: Path
    journal: Path | None
    weights: str = ""


def run_weights(run_dir: Path, info: RunInfo) -> tuple[Path, str]:
    """The weights file whose test MSE ``qseq train`` reported, and what they are: ``best.pt``
    (best on validation, or a reservoir's ridge readout) or, for a run trained by epochs without a
    validation split, ``checkpoint.pt`` (the last epoch's)."""
    run_dir = Path(run_dir)
    if _closed_form(info):
        return run_dir / BEST_FILE, "ridge readout fitted on train"
    if info.val == 0:
        return run_dir / CHECKPOINT_FILE, "last"
    return run_dir / BEST_FILE, "best on validation"


def predict_run(run_dir: Path, spec: str, *, shots: int | None = None, weights: Path | None = None) -> PredictedRun:
    """Predict the test split of a run on backend ``spec`` with the weights whose test MSE
    ``qseq train`` reported (:func:`run_weights`; or ``weights``), beside the same weights evaluated
    exactly; write the predictions CSV."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    check_run_dir_writable(run_dir, "the predictions (and a Qiskit backend's job journal) are", "predict")
    X_test, y_test = _split(info).test
    model = build_run_model(info, backend="torch")
    if not runs_circuits(model):
        raise ValueError(f"model {info.model!r} is classical and runs on torch only")
    if weights is not None:
        _check_weights_source(Path(weights), run_dir, info)
        source, which = Path(weights), f"--weights {weights}"
    else:
        source, what = run_weights(run_dir, info)
        which = f"{source.name}: {what}"
    load_model_weights(model, source)
    exact = predict(model, X_test)
    backend = backend_for_run(spec, run_dir, shots)
    model.to_backend(backend)
    start = time.perf_counter()
    pred = predict(model, X_test, batch_size=len(X_test))  # the whole test set: one job per stage and step
    seconds = time.perf_counter() - start
    usage = backend.usage
    rows = [
        (f"{_label(info)} on {info.backend} (as trained)", f"{mse(exact, y_test):.3e}", "-", "-", "-", "-"),
        (
            f"{_label(info)} on {backend.name}",
            f"{mse(pred, y_test):.3e}",
            f"{seconds:.1f}",
            usage.jobs,
            usage.reused,
            usage.circuits,
        ),
    ]
    path = _write_predictions(run_dir, backend.name, np.asarray(y_test), exact, pred)
    journal = run_dir / JOURNAL if accepts(spec, "journal") else None
    return PredictedRun(rows, len(X_test), path, journal, which)


def check_run_dir_writable(run_dir: Path, written: str, command: str) -> None:
    """Refuse, before any work, a run directory in which no file can be created, saying that ``written``
    (e.g. ``"the predictions are"``) written into it and to ``command`` from a writable copy."""
    try:
        check_writable_dir(run_dir, "the run directory")
    except PermissionError:
        raise PermissionError(
            f"no file can be created in the run directory {run_dir}, and {written} written into it; "
            f"copy the run directory to a writable place and {command} from there"
        ) from None


def _check_weights_source(weights: Path, run_dir: Path, info: RunInfo) -> None:
    """Refuse ``weights`` that come from a run directory of another model than ``run_dir``'s, naming both."""
    source = weights if weights.is_dir() else weights.parent
    if not (source / RUN_INFO).is_file() or source.resolve() == run_dir.resolve():
        return
    other = read_run_info(source)
    differ = [
        f"{name} {getattr(other, name)!r} (this run: {getattr(info, name)!r})"
        for name in _MODEL_FIELDS
        if getattr(other, name) != getattr(info, name)
    ]
    if differ:
        raise ValueError(
            f"the weights {weights} belong to the run {source}, whose model differs from that of {run_dir}: "
            f"{'; '.join(differ)}. Pass weights of a run of the same model, or predict with --checkpoint {source}"
        )


def _write_predictions(run_dir: Path, backend_name: str, y: np.ndarray, exact: np.ndarray, pred: np.ndarray) -> Path:
    """``predictions-<backend>.csv``: the first target column, as trained and on ``backend_name``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["target", "as_trained", backend_name])
    writer.writerows(np.column_stack([y.reshape(len(y), -1)[:, 0], exact[:, 0], pred[:, 0]]).tolist())
    safe = backend_name.replace(":", "_").replace(",", "_").replace("=", "-")
    path = run_dir / f"predictions-{safe}.csv"
    atomic_write_text(path, buffer.getvalue())
    return path

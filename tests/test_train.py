"""Tests of qseq.train: learning, bit-for-bit resume, atomic checkpoints, early stopping, files, inputs."""

from __future__ import annotations

import ast
import csv
import inspect
import json
import logging
import random
import sys

import numpy as np
import pytest
import torch
from torch import nn

import qseq._plotting as plotting
from qseq.train import (
    METRIC_COLUMNS,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    load_model_weights,
    predict,
    seed_everything,
)

FAST = dict(progress=False, plot=False)
RUN_FILES = {"best.pt", "checkpoint.pt", "config.json", "metrics.csv", "metrics.json"}


class TinyLSTM(nn.Module):
    """LSTM(1 -> hidden) + optional dropout + Linear head on the last step: (N, T, 1) -> (N, 1)."""

    def __init__(self, hidden: int = 4, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1]))


def make_model(seed: int = 0, dropout: float = 0.0) -> TinyLSTM:
    torch.manual_seed(seed)
    return TinyLSTM(dropout=dropout)


@pytest.fixture(scope="module")
def data():
    """Sine windows of length 4 -> next value; chronological 67/33 split (37 / 19 windows)."""
    s = np.sin(np.linspace(0, 4 * np.pi, 60))
    X = np.stack([s[i : i + 4] for i in range(56)])[..., None]
    y = s[4:, None]
    n = int(0.67 * len(X))
    return (X[:n], y[:n]), (X[n:], y[n:])


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------- learning


def test_training_reduces_mse(data):
    train, val = data
    model = make_model()
    before = evaluate(model.double(), *val)["mse"]
    result = fit(model, train, val, epochs=25, **FAST)
    after = evaluate(model, *val)["mse"]
    assert before > 0.1
    assert after < 0.02 and after < 0.1 * before
    assert result.final_metrics["val_mse"] == pytest.approx(after)
    assert result.history[-1]["train_mse"] < result.history[0]["train_mse"]
    assert next(model.parameters()).dtype == torch.float64


def test_float32_and_no_run_dir(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = make_model()
    result = fit(model, *data, epochs=2, dtype="float32", **FAST)
    assert next(model.parameters()).dtype == torch.float32
    assert predict(model, data[1][0]).dtype == np.float32
    assert result.run_dir is None and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="run_dir"):
        fit(make_model(), *data, epochs=1, resume=True, **FAST)


def test_progress_bar_shows_losses(data, capsys):
    fit(make_model(), *data, epochs=2, progress=True, plot=False)
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err and "val_loss=" in err


# ------------------------------------------------------------------------------------------ resume


def _rng_draws():
    return torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)]


def _perturb_rngs():
    """What a fresh process would look like: every global RNG somewhere else."""
    torch.manual_seed(12345)
    np.random.seed(12345)
    random.seed(12345)


@pytest.mark.parametrize("interrupt", ["clean", "crash"])
def test_resume_is_bit_for_bit(data, tmp_path, fit_interrupted_in_epoch, assert_same_run, interrupt):
    """6 epochs straight == 3 epochs then resume to 6 (or a crash in epoch 4 with checkpoints every 2).

    Dropout makes the run consume the global torch RNG, and shuffle the batch-order generator,
    so both must be restored for the weights to match.
    """
    cfg = TrainConfig(epochs=6, batch_size=4, shuffle=True, seed=3, checkpoint_every=2, **FAST)

    straight = make_model(dropout=0.2)
    ref = fit(straight, *data, config=cfg, run_dir=tmp_path / "a")
    ref_draws = _rng_draws()

    run = tmp_path / "b"
    if interrupt == "clean":
        fit(make_model(dropout=0.2), *data, config=cfg, run_dir=run, epochs=3)
        resumed_from = 3
    else:
        fit_interrupted_in_epoch(4, make_model(dropout=0.2), *data, config=cfg, run_dir=run)
        assert len(read_csv(run / "metrics.csv")) == 3  # metrics got ahead of the last checkpoint
        resumed_from = 2

    _perturb_rngs()
    resumed_model = make_model(seed=99, dropout=0.2)  # different init: everything comes from the checkpoint
    res = fit(resumed_model, *data, config=cfg, run_dir=run, resume=True)

    assert res.start_epoch == resumed_from
    assert_same_run(ref, res, straight, resumed_model, tmp_path / "a", run)
    assert len(read_csv(run / "metrics.csv")) == 6
    for x, y in zip(
        ref_draws, _rng_draws(), strict=True
    ):  # global RNGs continue exactly where the straight run left them
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_can_extend_epochs_and_finished_run_is_noop(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=2, **FAST)
    again = fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=2, **FAST)
    assert again.start_epoch == 2 and len(again.history) == 2
    longer = fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=4, **FAST)
    assert [r["epoch"] for r in longer.history] == [1, 2, 3, 4]


def test_resume_without_checkpoint_starts_fresh_and_logs(data, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="qseq.train"):
        result = fit(make_model(), *data, run_dir=tmp_path / "new", resume=True, epochs=2, **FAST)
    assert result.start_epoch == 0 and len(result.history) == 2
    assert "starting a fresh run" in caplog.text


def test_resume_config_mismatch_names_fields(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=2, **FAST)
    with pytest.raises(ValueError, match=r"lr \(checkpoint 0.01, requested 0.02\)") as err:
        fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=3, lr=0.02, batch_size=8, **FAST)
    assert "batch_size" in str(err.value) and "epochs" not in str(err.value)


def test_resume_with_other_data_raises(data, tmp_path):
    (Xtr, ytr), val = data
    fit(make_model(), (Xtr, ytr), val, run_dir=tmp_path, epochs=1, **FAST)
    with pytest.raises(ValueError, match="data differ"):
        fit(make_model(), (Xtr, ytr + 1e-9), val, run_dir=tmp_path, resume=True, epochs=2, **FAST)


def test_existing_run_dir_without_resume_raises(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


# ------------------------------------------------------------------------------------- checkpoints


def test_checkpoint_write_is_atomic(data, tmp_path, monkeypatch):
    """torch.save dies half-way through the 2nd checkpoint: the 1st stays intact, no temp file stays."""
    real_save, calls, snapshot = torch.save, {"n": 0}, {}

    def flaky_save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer_state" in obj:
            calls["n"] += 1
            if calls["n"] == 2:
                snapshot["bytes"] = (tmp_path / "checkpoint.pt").read_bytes()
                real_save(obj, f, *args, **kwargs)
                f.seek(len(snapshot["bytes"]) // 2)
                f.truncate()  # half a file on disk, then the "disk" fails
                raise OSError("disk full")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", flaky_save)
    with pytest.raises(OSError, match="disk full"):
        fit(make_model(), *data, run_dir=tmp_path, epochs=4, **FAST)
    monkeypatch.undo()

    assert (tmp_path / "checkpoint.pt").read_bytes() == snapshot["bytes"]
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert {p.name for p in tmp_path.iterdir()} == RUN_FILES  # no stray .tmp files
    resumed = fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=2, **FAST)
    assert resumed.start_epoch == 1


def test_checkpoint_contents_load_weights_only(data, tmp_path):
    model = make_model()
    result = fit(model, *data, run_dir=tmp_path, epochs=3, **FAST)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and len(ckpt["history"]) == 3
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python", "shuffle"}
    assert ckpt["config"] == TrainConfig(epochs=3, **FAST).to_dict()
    assert set(ckpt["optimizer_state"]) == {"state", "param_groups"}
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch
    # the model holds the best weights; load_model_weights gives a fresh model the same
    fresh = load_model_weights(make_model(seed=5).double(), tmp_path)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(p, q)
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 3


def _snapshot(run_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir()}


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_checkpoint_is_named_and_left_as_it_is(data, tmp_path, name, damage):
    fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    path = tmp_path / name
    good = path.read_bytes()
    path.write_bytes({"garbage": b"not a checkpoint\n", "truncated": good[: len(good) // 2], "empty": b""}[damage])
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError) as err:
        if name == "checkpoint.pt":
            fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=2, **FAST)
        else:
            load_model_weights(make_model().double(), tmp_path)
    message = str(err.value)
    assert message.startswith(f"{path} is not a readable qseq checkpoint") and "\n" not in message
    assert "Restore it from a copy" in message
    assert _snapshot(tmp_path) == before  # nothing rewritten, nothing deleted


def test_a_file_that_is_no_checkpoint_is_named(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match=r"tensor.pt is not a qseq checkpoint \(it holds a Tensor"):
        load_model_weights(make_model(), tmp_path / "tensor.pt")


class WiderLSTM(TinyLSTM):
    """TinyLSTM with 8 hidden features and one more layer: other shapes and other tensors."""

    def __init__(self):
        super().__init__(hidden=8)
        self.extra = nn.Linear(1, 1)


def test_weights_of_another_model_name_the_file_and_the_tensors_that_differ(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    with pytest.raises(ValueError, match="belong to another model") as err:
        load_model_weights(WiderLSTM().double(), tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'best.pt'}" in message and "not to this WiderLSTM" in message
    assert "missing from the file: extra.weight, extra.bias" in message
    assert "lstm.weight_ih_l0 (16, 1) vs (32, 1)" in message


def test_resuming_with_another_model_names_the_checkpoint(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"the weights in {tmp_path / 'checkpoint.pt'} belong to another model"):
        fit(WiderLSTM(), *data, run_dir=tmp_path, resume=True, epochs=2, **FAST)
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------- early stopping


def test_early_stopping_on_plateau(data, tmp_path):
    """lr=0: epoch 1 sets the best, nothing improves afterwards -> stop after patience + 1 epochs."""
    result = fit(make_model(), *data, run_dir=tmp_path, lr=0.0, epochs=20, early_stopping_patience=2, **FAST)
    assert len(result.history) == 3 and result.stopped_early and result.best_epoch == 1
    assert load_checkpoint(tmp_path)["stopped_early"] is True
    # resuming a stopped run trains no further
    plateau = dict(lr=0.0, early_stopping_patience=2, **FAST)
    again = fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=20, **plateau)
    assert len(again.history) == 3


def test_early_stopping_counter_survives_resume(data, tmp_path):
    plateau = dict(lr=0.0, early_stopping_patience=2, **FAST)
    fit(make_model(), *data, run_dir=tmp_path, epochs=2, **plateau)  # epoch 2 was already without improvement
    result = fit(make_model(), *data, run_dir=tmp_path, resume=True, epochs=20, **plateau)
    assert len(result.history) == 3 and result.stopped_early


def test_early_stopping_min_delta_and_restores_best(data):
    model = make_model()
    result = fit(model, *data, epochs=20, early_stopping_patience=3, min_delta=10.0, **FAST)
    assert len(result.history) == 4 and result.best_epoch == 1
    assert evaluate(model, *data[1])["mse"] == pytest.approx(result.history[0]["val_mse"], rel=1e-12)


def test_monitor_falls_back_to_train_loss_without_val(data):
    result = fit(make_model(), data[0], epochs=3, **FAST)
    assert result.monitor == "train_loss"
    assert result.best_value == min(r["train_loss"] for r in result.history)
    assert all(r["val_mse"] is None for r in result.history)
    assert not any(k.startswith("val_") for k in result.final_metrics)


# ------------------------------------------------------------------------------------- metrics files


def test_metrics_csv_and_json(data, tmp_path):
    result = fit(make_model(), *data, run_dir=tmp_path, epochs=3, **FAST)
    rows = read_csv(tmp_path / "metrics.csv")
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row, hist in zip(rows, result.history, strict=True):
        assert float(row["train_loss"]) == hist["train_loss"] and float(row["val_mse"]) == hist["val_mse"]
        assert float(row["lr"]) == 0.01 and float(row["epoch_time"]) > 0
    assert [float(r["wall_time"]) for r in rows] == sorted(float(r["wall_time"]) for r in rows)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["history"] == result.history
    assert summary["monitor"] == "val_mse" and summary["best_epoch"] == result.best_epoch


def test_metrics_without_val_leave_val_empty(data, tmp_path):
    fit(make_model(), data[0], run_dir=tmp_path, epochs=2, **FAST)
    assert [r["val_mse"] for r in read_csv(tmp_path / "metrics.csv")] == ["", ""]


# ---------------------------------------------------------------------------------------------- plots


def test_plots_written(data, tmp_path):
    pytest.importorskip("matplotlib")
    fit(make_model(), *data, run_dir=tmp_path, epochs=2, progress=False, plot=True)
    for name in ("loss.png", "prediction.png"):
        content = (tmp_path / name).read_bytes()
        assert content.startswith(b"\x89PNG") and len(content) > 1000


def test_plots_skipped_when_disabled(data, tmp_path):
    fit(make_model(), *data, run_dir=tmp_path, epochs=1, **FAST)
    assert {p.name for p in tmp_path.iterdir()} == RUN_FILES


def test_plots_skipped_with_one_warning_without_matplotlib(data, tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import` raise ImportError
    monkeypatch.setattr(plotting, "_warned_no_matplotlib", False)
    with pytest.warns(RuntimeWarning, match="matplotlib is not installed") as record:
        fit(make_model(), *data, run_dir=tmp_path / "a", epochs=1, progress=False, plot=True)
        fit(make_model(), *data, run_dir=tmp_path / "b", epochs=1, progress=False, plot=True)
    assert len([w for w in record if "matplotlib" in str(w.message)]) == 1
    assert {p.name for p in (tmp_path / "a").iterdir()} == RUN_FILES


# ---------------------------------------------------------------------------------------- bad inputs


def _bad_inputs(data):
    (X, y), val = data
    X_nan = X.copy()
    X_nan[3, 1, 0] = np.nan
    y_inf = y.copy()
    y_inf[0, 0] = np.inf
    return {
        "nan": ((X_nan, y), None, r"train X contains 1 non-finite values \(1 NaN"),
        "inf_y": ((X, y_inf), None, r"train y contains 1 non-finite"),
        "mismatched_n": ((X, y[:-1]), None, r"train X and train y differ in N: 37 windows but 36"),
        "x_2d": ((X[..., 0], y), None, r"train X must be 3-D \(N, seq_len, features\), got shape \(37, 4\)"),
        "y_1d": ((X, y[:, 0]), None, r"train y must be 2-D"),
        "empty": ((X[:0], y[:0]), None, r"train X is empty"),
        "not_a_pair": ((X, y, y), None, r"train must be a pair"),
        "val_nan": ((X, y), (np.full_like(val[0], np.nan), val[1]), r"val X contains"),
        "val_features": ((X, y), (np.repeat(val[0], 2, axis=2), val[1]), r"val X has 2 features but train X has 1"),
    }


BAD_CASES = ["nan", "inf_y", "mismatched_n", "x_2d", "y_1d", "empty", "not_a_pair", "val_nan", "val_features"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_raise(data, case):
    train, val, message = _bad_inputs(data)[case]
    with pytest.raises(ValueError, match=message):
        fit(make_model(), train, val, epochs=1, **FAST)


def test_tensor_inputs_and_wrong_model_output(data):
    (X, y), _ = data
    fit(make_model(), (torch.from_numpy(X).float(), torch.from_numpy(y)), epochs=1, **FAST)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, x):
            return self.lin(x)  # (N, T, 1): not the last step

    with pytest.raises(ValueError, match=r"model output shape \(4, 4, 1\) does not match"):
        fit(Seq2Seq(), (X, y), epochs=1, **FAST)


def test_config_validation():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(TypeError, match="epochs must be an int"):
        TrainConfig(epochs=2.5)
    with pytest.raises(ValueError, match="lr must be finite"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="accuracy")
    with pytest.raises(ValueError, match="early_stopping_patience"):
        TrainConfig(early_stopping_patience=0)
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig(dtype="float16")
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="gpu-please")
    with pytest.raises(TypeError, match=r"unknown TrainConfig field\(s\) \['epoch'\]"):
        fit(make_model(), (np.zeros((2, 3, 1)), np.zeros((2, 1))), epoch=3)


def test_every_config_field_has_a_docstring():
    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign):
            nxt = body[i + 1] if i + 1 < len(body) else None
            assert isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant), node.target.id


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_other_optimizers_run(data, optimizer):
    result = fit(make_model(), *data, epochs=2, optimizer=optimizer, **FAST)
    assert len(result.history) == 2


# ------------------------------------------------------------------------------ evaluate / predict


class AffineLast(nn.Module):
    """y = 2 * x[:, -1] + 0.5 on the last step."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1).double()
        with torch.no_grad():
            self.lin.weight.fill_(2.0)
            self.lin.bias.fill_(0.5)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.lin(x[:, -1]))


def test_evaluate_matches_hand_computation():
    X = np.array([[[0.0], [1.0]], [[0.0], [-1.0]], [[0.0], [0.25]]])  # last steps 1, -1, 0.25
    y = np.array([[2.0], [-2.0], [1.0]])
    # predictions 2.5, -1.5, 1.0 -> errors 0.5, 0.5, 0.0
    model = AffineLast()
    model.train()  # evaluate must switch dropout off, then restore the flag
    metrics = evaluate(model, X, y, batch_size=2)
    mse = (0.25 + 0.25 + 0.0) / 3
    std = np.sqrt(np.mean((y - y.mean()) ** 2))
    assert metrics["mse"] == pytest.approx(mse, rel=1e-15)
    assert metrics["rmse"] == pytest.approx(np.sqrt(mse), rel=1e-15)
    assert metrics["mae"] == pytest.approx(1.0 / 3, rel=1e-15)
    assert metrics["nrmse"] == pytest.approx(np.sqrt(mse) / std, rel=1e-15)
    assert model.training
    np.testing.assert_array_equal(predict(model, X, batch_size=1), [[2.5], [-1.5], [1.0]])
    with pytest.raises(ValueError, match="X must be 3-D"):
        predict(model, X[..., 0])


def test_seed_everything_is_reproducible():
    seed_everything(7)
    first = _rng_draws()
    seed_everything(7)
    for x, y in zip(first, _rng_draws(), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

"""Honest evaluation: weights are fitted on train, the epoch is chosen (and training stopped) on
validation, and the test windows are read once, at the end, by ``fit``, ``qseq train``,
``qseq predict`` and ``qseq compare`` alike; every reported number names its split and weights."""

from __future__ import annotations

import argparse
import importlib
import json

import numpy as np
import pytest
import torch

from qseq.cli import _parser, main
from qseq.data import Split, chronological_split, get_task
from qseq.models import build_model
from qseq.train import evaluate, fit, load_model_weights
from qseq.workflows import compare, predict_run, read_run_info
from qseq.workflows import runs as runs_module
from qseq.workflows.compare import Entry
from qseq.workflows.runs import build_run_model, read_run_record, run_info, train_run

OFFSET = 10.0  # test inputs are shifted out of the data's [-1, 1] range, so a forward pass on them is seen


@pytest.fixture(scope="module")
def split() -> Split:
    X, y = get_task("damped_shm").load(seq_len=4)
    s = chronological_split(X, y, val=0.1)
    return s._replace(X_test=s.X_test + OFFSET)


def _spy(model: torch.nn.Module) -> list[tuple[bool, bool]]:
    """Every forward call of ``model``: (training mode, whether the batch holds test windows)."""
    calls: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(lambda m, args: calls.append((m.training, bool(args[0].abs().max() > 5))))
    return calls


def _fit(split: Split, **options):
    torch.manual_seed(0)
    model = build_model("rnn", dtype=torch.float64)
    calls = _spy(model)
    config = {"epochs": 6, "progress": False, "plot": False, "monitor": "val_mse", **options}
    result = fit(model, split.train, split.val, test=split.test, **config)
    return model, calls, result


def test_fit_reads_the_test_windows_once_after_training_and_choosing(split):
    model, calls, result = _fit(split, lr=0.05, early_stopping_patience=2)
    test_calls = [i for i, (_, on_test) in enumerate(calls) if on_test]
    assert len(test_calls) == 1  # one forward pass of the 78 test windows
    last_training = max(i for i, (training, _) in enumerate(calls) if training)
    assert test_calls[0] > last_training  # after every training step ...
    assert all(not on_test for _, on_test in calls[: test_calls[0]])  # ... and nothing read them before
    assert result.weights == "best on validation" and result.weights_epoch == result.best_epoch
    best_val = min(row["val_mse"] for row in result.history)
    assert result.final_metrics["val_mse"] == pytest.approx(best_val, rel=1e-12)
    assert result.final_metrics["test_mse"] == evaluate(model, *split.test)["mse"]


def test_the_test_targets_change_nothing_but_the_test_mse(split):
    other = split._replace(y_test=split.y_test * 100 + 3)
    _, _, first = _fit(split, lr=0.05, early_stopping_patience=2)
    _, _, second = _fit(other, lr=0.05, early_stopping_patience=2)
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("epoch_time", "wall_time")} for r in h]  # noqa: E731
    assert strip(first.history) == strip(second.history)
    assert (first.best_epoch, first.stopped_early) == (second.best_epoch, second.stopped_early)
    assert first.final_metrics["test_mse"] != second.final_metrics["test_mse"]


def test_fit_names_the_weights_it_hands_back(split, tmp_path):
    _, _, last = _fit(split, restore_best=False)
    assert (last.weights, last.weights_epoch) == ("last", 6)
    torch.manual_seed(0)
    no_val = fit(build_model("rnn", dtype=torch.float64), split.train, epochs=3, progress=False, plot=False)
    assert no_val.weights == "best on training loss" and "val_mse" not in no_val.final_metrics
    _, _, best = _fit(split, plot=False)
    run = fit(
        build_model("rnn", dtype=torch.float64),
        split.train,
        split.val,
        test=split.test,
        epochs=2,
        progress=False,
        plot=False,
        run_dir=tmp_path,
    )
    final = json.loads((tmp_path / "metrics.json").read_text())["final"]
    assert final["weights"] == "best on validation" and final["epoch"] == run.best_epoch
    assert final["test_mse"] == run.final_metrics["test_mse"]
    assert best.weights == "best on validation"


def test_fit_refuses_test_windows_of_another_shape(split):
    with pytest.raises(ValueError, match="test X has 2 features but train X has 1"):
        fit(build_model("rnn"), split.train, test=(np.zeros((3, 4, 2)), np.zeros((3, 1))), epochs=1, progress=False)


# ------------------------------------------------------------------------------------ qseq train / predict


def _train(tmp_path, name: str, split: Split | None = None, monkeypatch=None, **info_options):
    if split is not None:
        monkeypatch.setattr(runs_module, "_split", lambda info: split)
    info = run_info("qrnn", "damped_shm", **info_options)
    return train_run(info, tmp_path / name, epochs=5, lr=0.05, patience=2, progress=False)


def test_train_run_stops_and_selects_on_validation_only(tmp_path, monkeypatch):
    X, y = get_task("damped_shm").load(seq_len=4)
    real = chronological_split(X, y, val=0.1)
    first = _train(tmp_path, "a", real, monkeypatch)
    second = _train(tmp_path, "b", real._replace(y_test=real.y_test + 5), monkeypatch)
    history = [json.loads((tmp_path / n / "metrics.json").read_text()) for n in "ab"]
    for h in history:
        for row in h["history"]:
            row.pop("epoch_time"), row.pop("wall_time")
    assert history[0]["stopped_early"] and len(history[0]["history"]) < 5  # early stopping did act
    assert history[0]["history"] == history[1]["history"]
    assert (history[0]["best_epoch"], history[0]["stopped_early"]) == (history[1]["best_epoch"], True)
    assert first.result["val_mse"] == second.result["val_mse"]
    assert first.result["test_mse"] != second.result["test_mse"]


def test_train_and_predict_report_the_same_weights_and_test_mse(tmp_path):
    run = _train(tmp_path, "r")
    info, record = read_run_record(tmp_path / "r")
    assert record["status"] == "complete" and record["result"] == run.result
    assert run.result["weights"].startswith("best on validation (epoch ")
    assert (run.n_train, run.n_val, run.n_test) == (134, 23, 78)
    model = load_model_weights(build_run_model(info), tmp_path / "r" / "best.pt")
    X_test, y_test = chronological_split(*get_task("damped_shm").load(4), val=0.1).test
    assert evaluate(model, X_test, y_test)["mse"] == pytest.approx(run.result["test_mse"], rel=1e-12)
    predicted = predict_run(tmp_path / "r", "torch")
    assert predicted.rows[0][1] == f"{run.result['test_mse']:.3e}" == run.rows[0][4]
    assert predicted.weights == "best.pt: best on validation"


def test_without_validation_train_and_predict_report_the_last_epoch(tmp_path):
    info = run_info("qrnn", "damped_shm", val=0)
    run = train_run(info, tmp_path / "r", epochs=3, lr=0.05, progress=False)
    assert run.weights == "last (epoch 3 of 3)" and run.result["val_mse"] is None and run.n_val == 0
    assert run.rows[0][3] == "-"
    predicted = predict_run(tmp_path / "r", "torch")
    assert predicted.weights == "checkpoint.pt: last"
    assert predicted.rows[0][1] == f"{run.result['test_mse']:.3e}"


def test_a_run_json_from_before_the_validation_split_reads_as_val_0(tmp_path):
    train_run(run_info("qrnn", "damped_shm", val=0), tmp_path / "r", epochs=1, progress=False)
    path = tmp_path / "r" / "run.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in saved.items() if k not in ("val", "status", "result", "sha256")}))
    info, record = read_run_record(tmp_path / "r")
    assert info.val == 0 and record == {"status": "complete"}
    assert predict_run(tmp_path / "r", "torch").weights == "checkpoint.pt: last"


def test_run_json_is_written_at_the_start_and_an_interrupted_run_resumes(tmp_path, monkeypatch, capsys):
    real_fit = runs_module.fit
    seen = []

    def interrupted(model, train, val, config, run_dir, resume, test):
        seen.append(json.loads((run_dir / "run.json").read_text())["status"])
        real_fit(model, train, val, config=config.__class__(**{**config.to_dict(), "epochs": 1}), run_dir=run_dir)
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_module, "fit", interrupted)
    out = tmp_path / "run"
    args = ["train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "2", "--out", str(out)]
    assert main(args) == 130
    assert seen == ["running"]
    info, record = read_run_record(out)
    assert record == {"status": "running"} and info.model == "qrnn"
    monkeypatch.setattr(runs_module, "fit", real_fit)
    assert main([*args, "--resume"]) == 0
    info, record = read_run_record(out)
    assert record["status"] == "complete" and record["result"]["weights"].endswith("of 2)")
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())["history"]] == [1, 2]
    before = (out / "run.json").read_bytes()
    capsys.readouterr()
    assert main(args) == 2  # a second run into it is refused, and run.json is left as it is
    assert "already holds a trained run" in capsys.readouterr().err
    assert (out / "run.json").read_bytes() == before


def test_train_cli_takes_seq_len_dtype_and_val(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--seq-len", "6", "--dtype", "float32", "--val", "0.2"]) == 0
    stdout = capsys.readouterr().out
    assert "110 training / 46 validation / 77 test windows of length 6 (float32)" in stdout
    assert "weights: best on validation (epoch 1 of 1)" in stdout and "linear AR(6)" in stdout
    info = read_run_info(out)
    assert (info.seq_len, info.dtype, info.val, info.test) == (6, "float32", 0.2, 0.33)
    weights = torch.load(out / "best.pt", weights_only=True)["model_state"]
    assert {t.dtype for t in weights.values()} == {torch.float32}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--val", "1"), "argument --val: must be in [0, 1), got 1"),
        (("--val", "ten"), "argument --val: expected a fraction such as 0.1, got 'ten'"),
        (("--seq-len", "0"), "argument --seq-len: must be >= 1, got 0"),
        (("--dtype", "float16"), "argument --dtype: invalid choice: 'float16'"),
        (("--patience", "0"), "argument --patience: must be >= 1, got 0"),
    ],
)
def test_bad_split_options_are_usage_errors(tmp_path, capsys, args, message):
    for command in (("train", "--model", "qrnn"), ("compare",)):
        capsys.readouterr()
        assert main([*command, "--task", "damped_shm", *args, "--out", str(tmp_path / "r")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--val", "0", "--patience", "2"), "patience (--patience) stops training on the validation MSE"),
        (("--val", "0.7"), "val (--val) + test must be < 1"),
        (("--reservoir", "--patience", "2"), "patience (--patience) does not apply"),
    ],
)
def test_inconsistent_split_options_are_refused_before_any_work(tmp_path, capsys, args, message):
    capsys.readouterr()
    assert main(["train", "--model", "qrnn", "--task", "damped_shm", *args, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_every_option_has_help_that_shows_its_default():
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(action.option_strings)}"
        for name, command in sub.choices.items()
        for action in command._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
        if not action.help or not ("default" in action.help or "required" in action.help)
    ]
    assert missing == []
    for command in ("train", "compare"):
        text = " ".join(sub.choices[command].format_help().split())
        for shown in ("--seq-len L", "(default: 4)", "--dtype {float64,float32}", "(default: float64)"):
            assert shown in text
        assert "--val FRACTION" in text and "(default: 0.1)" in text and "the test windows (the last 33%)" in text


# ------------------------------------------------------------------------------------------- compare


def test_compare_reports_progress_and_reads_the_test_windows_once_per_seed(tmp_path, capsys, monkeypatch):
    compare_module = importlib.import_module("qseq.workflows.compare")
    fitted, evaluated = [], []
    real_fit, real_evaluate = compare_module.fit, compare_module.evaluate

    def spy_fit(model, train, val, config):
        fitted.append((len(train[0]), None if val is None else len(val[0]), config.restore_best))
        return real_fit(model, train, val, config=config)

    def spy_evaluate(model, X, y):
        evaluated.append(len(X))
        return real_evaluate(model, X, y)

    monkeypatch.setattr(compare_module, "fit", spy_fit)
    monkeypatch.setattr(compare_module, "evaluate", spy_evaluate)
    entries = (Entry("QRNN (trained)", "qrnn", "trained"), Entry("LSTM-RC", "lstm", "rc"))
    rows = compare("damped_shm", seeds=2, epochs=2, entries=entries, seq_len=5, dtype="float32", patience=1)
    out = capsys.readouterr().out
    for line in (
        "[1/2] QRNN (trained), seed 1/2 ... val MSE",
        "[1/2] QRNN (trained), seed 2/2 ... val MSE",
        "[2/2] LSTM-RC, seed 2/2 ... val MSE",
    ):
        assert line in out
    assert "133 training / 23 validation / 78 test windows of length 5" in out
    assert "trained models: the epoch best on validation" in out and "linear AR(5)" in out
    assert fitted == [(133, 23, True)] * 2  # trained on train, selected on validation, never given the test windows
    assert evaluated == [78, 78]  # the test windows: once per seed, after fit
    assert [len(r.val_mse) for r in rows] == [2, 2] and [len(r.test_mse) for r in rows] == [2, 2]


def test_compare_refuses_bad_split_options():
    with pytest.raises(ValueError, match="seq_len must be a positive integer, got 0"):
        compare("damped_shm", seeds=1, seq_len=0)
    with pytest.raises(ValueError, match="dtype must be 'float64' or 'float32'"):
        compare("damped_shm", seeds=1, dtype="half")
    with pytest.raises(ValueError, match="patience stops training on the validation MSE"):
        compare("damped_shm", seeds=1, val=0, patience=3)
    with pytest.raises(ValueError, match=r"val must be in \[0, 1\)"):
        compare("damped_shm", seeds=1, val=1.5, entries=())


def test_resuming_with_another_validation_fraction_names_it(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    before = (out / "run.json").read_bytes()
    capsys.readouterr()
    assert main([*args, "--epochs", "2", "--resume", "--val", "0.2"]) == 2
    assert f"cannot resume {out}: the run has val 0.1 (requested 0.2)" in capsys.readouterr().err
    assert (out / "run.json").read_bytes() == before

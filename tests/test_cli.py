"""Smoke tests of the ``qseq`` command (CleanRL style: run it as users do, with tiny budgets)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def qseq(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qseq.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_tasks_lists_every_task():
    from qseq.data import TASKS

    out = qseq("tasks")
    assert out.returncode == 0, out.stderr
    for name in TASKS:
        assert name in out.stdout


def test_backends_reports_torch_usable():
    out = qseq("backends")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("torch "))
    assert "yes" in line


def test_train_writes_run_and_resumes(tmp_path):
    run = tmp_path / "run"
    out = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "2", "--out", str(run))
    assert out.returncode == 0, out.stderr
    assert "linear AR(4)" in out.stdout and "last-value persistence" in out.stdout
    history = json.loads((run / "metrics.json").read_text())
    rows = history["history"] if isinstance(history, dict) else history
    assert [r["epoch"] for r in rows] == [1, 2]
    # a second run into the same directory must not overwrite it ...
    again = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "2", "--out", str(run))
    assert again.returncode == 2 and "resume" in again.stderr
    # ... but --resume continues it
    resumed = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "3", "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((run / "metrics.json").read_text())
    rows = history["history"] if isinstance(history, dict) else history
    assert [r["epoch"] for r in rows] == [1, 2, 3]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model", "qlstm", "--task", "no_such_task"), "unknown task"),
        (("--model", "qlstm", "--task", "damped_shm", "--backend", "nope"), "unknown backend"),
        (("--model", "lstm", "--task", "damped_shm", "--backend", "pennylane:default.qubit"), "classical"),
    ],
)
def test_train_bad_arguments_fail_clearly(tmp_path, args, message):
    out = qseq("train", *args, "--epochs", "1", "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert message in out.stderr.lower()
    assert "Traceback" not in out.stderr


def test_demo_runs_and_reports_baselines(tmp_path):
    out = qseq("demo", "--epochs", "1", "--out", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert "qlstm (torch)" in out.stdout and "149" in out.stdout
    assert (tmp_path / "demo" / "prediction.png").stat().st_size > 0


def _row(stdout: str, start: str) -> list[str]:
    return next(line for line in stdout.splitlines() if line.startswith(start)).split()


def test_train_reservoir_fits_a_ridge_readout_that_predict_loads(tmp_path):
    run = tmp_path / "rc"
    out = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--reservoir", "--out", str(run))
    assert out.returncode == 0, out.stderr
    # the default for a quantum reservoir: 4 steps x (4 outputs + 2 circuits x 6 pairs of qubits); no cell state
    assert "ridge readout on 64 'observables' features" in out.stdout
    assert "1,072 circuit evaluations" in out.stdout  # one pass: 134 training windows x 4 steps x 2 circuits
    assert "134 training / 23 validation / 78 test windows" in out.stdout
    row = _row(out.stdout, "qrnn-RC (torch)")
    assert row[2] == "65"  # Linear(64 -> 1): the only fitted part
    info = json.loads((run / "run.json").read_text())
    assert (info["reservoir"], info["features"], info["init"]) == (True, "observables", "scaled:0.3")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["readout"] == "ridge" and metrics["n_features"] == 64 and metrics["circuits"] == 1072
    assert [f"{metrics[k]:.3e}" for k in ("train_mse", "val_mse", "test_mse")] == row[3:6]
    assert (run / "metrics.csv").read_text().startswith("readout,features,n_features,alpha,")
    assert (run / "prediction.png").stat().st_size > 0 and len(list((run / "features").glob("*.npy"))) == 3
    assert not (run / "checkpoint.pt").exists()

    predicted = qseq("predict", "--checkpoint", str(run), "--backend", "aer")
    assert predicted.returncode == 0, predicted.stderr
    mses = [next(t for t in _row(predicted.stdout, f"qrnn-RC on {b}") if "e-" in t) for b in ("torch", "aer")]
    assert mses == [row[5], row[5]]  # as fitted, and on exact Aer: the same test MSE
    assert (run / "predictions-aer_statevector.csv").exists()

    again = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--reservoir", "--out", str(run), "--resume")
    assert again.returncode == 0, again.stderr
    assert "0 circuit evaluations" in again.stdout  # the features come from the run's cache
    assert _row(again.stdout, "qrnn-RC (torch)")[5] == row[5]


def test_train_reservoir_of_a_classical_model_reads_its_feature_mode(tmp_path):
    from qseq.cli import main

    assert main(["train", "--model", "lstm", "--task", "damped_shm", "--reservoir", "--features", "last",
                 "--out", str(tmp_path / "lstm")]) == 0  # fmt: skip
    info = json.loads((tmp_path / "lstm" / "run.json").read_text())
    assert (info["features"], info["init"]) == ("last", "paper")  # a torch layer has no circuit angles
    assert json.loads((tmp_path / "lstm" / "metrics.json").read_text())["n_features"] == 5  # hidden 5
    assert main(["train", "--model", "lstm", "--task", "damped_shm", "--reservoir", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["n_features"] == 4 * 5 + 5  # steps + final c


def test_train_reservoir_on_aer_keeps_its_jobs_in_the_run_directory(tmp_path):
    pytest.importorskip("qiskit_aer")
    from qseq.cli import main

    base = ["train", "--model", "qrnn", "--task", "damped_shm", "--reservoir"]
    assert main([*base, "--out", str(tmp_path / "torch")]) == 0
    assert main([*base, "--backend", "aer", "--out", str(tmp_path / "aer")]) == 0
    assert (tmp_path / "aer" / "jobs.sqlite").exists()
    torch_fit, aer_fit = (json.loads((tmp_path / b / "metrics.json").read_text()) for b in ("torch", "aer"))
    assert aer_fit["test_mse"] == pytest.approx(torch_fit["test_mse"], rel=1e-4)  # exact Aer: the same readout


def _fails(capsys, *args: str) -> str:
    from qseq.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_train_refuses_to_mix_trained_and_reservoir_runs(tmp_path, capsys):
    from qseq.cli import main

    trained, reservoir = str(tmp_path / "trained"), str(tmp_path / "reservoir")
    base = ("train", "--model", "qrnn", "--task", "damped_shm")
    assert main([*base, "--epochs", "1", "--out", trained]) == 0
    assert main([*base, "--reservoir", "--features", "last", "--out", reservoir]) == 0
    capsys.readouterr()
    for resume in ((), ("--resume",)):
        err = _fails(capsys, *base, "--reservoir", "--out", trained, *resume)
        assert f"{trained} holds a trained run" in err
        err = _fails(capsys, *base, "--epochs", "2", "--out", reservoir, *resume)
        assert f"{reservoir} holds a reservoir run" in err and "--reservoir" in err
    err = _fails(capsys, *base, "--reservoir", "--features", "last", "--out", reservoir)
    assert f"{reservoir} already holds a reservoir run" in err and "--resume" in err
    err = _fails(capsys, *base, "--reservoir", "--out", reservoir, "--resume")
    assert f"cannot resume {reservoir}" in err and "features 'last' (requested 'observables')" in err
    assert json.loads((tmp_path / "reservoir" / "run.json").read_text())["features"] == "last"  # untouched


def test_train_reservoir_sgd_readout_trains_the_readout_alone_by_epochs(tmp_path, capsys):
    import torch

    from qseq.cli import main
    from qseq.workflows import read_run_info
    from qseq.workflows.runs import build_run_model

    out = tmp_path / "sgd"
    base = ["train", "--model", "qrnn", "--task", "damped_shm", "--reservoir", "--features", "last", "--out", str(out)]
    assert main([*base, "--readout", "sgd", "--epochs", "2", "--lr", "0.05"]) == 0
    assert "2 epochs training the readout alone, through the frozen reservoir" in capsys.readouterr().out
    info = json.loads((out / "run.json").read_text())
    assert (info["reservoir"], info["readout"], info["features"]) == (True, "sgd", "last")
    assert (out / "checkpoint.pt").is_file() and not (out / "features").exists()  # by epochs: no feature cache
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (checkpoint["config"]["optimizer"], checkpoint["config"]["lr"]) == ("rmsprop", 0.05)
    assert [len(g["params"]) for g in checkpoint["optimizer_state"]["param_groups"]] == [2]  # head weight, bias
    drawn = build_run_model(read_run_info(out)).state_dict()
    trained = torch.load(out / "best.pt", weights_only=True)["model_state"]
    assert set(trained) == set(drawn) and any(name.startswith("rnn.") for name in drawn)
    for name, tensor in drawn.items():  # the reservoir as drawn, the readout trained
        assert torch.equal(trained[name], tensor) == name.startswith("rnn."), name

    assert main([*base, "--readout", "sgd", "--epochs", "3", "--lr", "0.05", "--resume"]) == 0
    assert [row["epoch"] for row in json.loads((out / "metrics.json").read_text())["history"]] == [1, 2, 3]
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(out), "--backend", "torch"]) == 0
    assert "weights best.pt: best on validation" in capsys.readouterr().out

    err = _fails(capsys, *base)  # the ridge readout neither replaces nor resumes it
    assert f"{out} holds a reservoir run trained by epochs (`qseq train --reservoir --readout sgd`)" in err
    err = _fails(capsys, *base, "--readout", "sgd", "--epochs", "3")
    assert f"{out} already holds a reservoir run trained by epochs" in err and "--resume" in err
    err = _fails(capsys, *base[:-4], "--readout", "sgd", "--resume", "--out", str(out))
    assert f"cannot resume {out}: the run has features 'last' (requested 'observables')" in err


def test_train_reservoir_ridge_readout_is_the_default(tmp_path, capsys):
    from qseq.cli import main

    base = ["train", "--model", "qrnn", "--task", "damped_shm", "--reservoir", "--features", "last"]
    assert main([*base, "--out", str(tmp_path / "default")]) == 0
    assert main([*base, "--readout", "ridge", "--out", str(tmp_path / "ridge")]) == 0
    default, ridge = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("default", "ridge"))
    assert default["readout"] == ridge["readout"] == "ridge" and default["test_mse"] == ridge["test_mse"]
    assert json.loads((tmp_path / "ridge" / "run.json").read_text())["readout"] == "ridge"
    assert not (tmp_path / "ridge" / "checkpoint.pt").exists()  # in closed form: no epochs
    err = _fails(capsys, *base, "--readout", "sgd", "--resume", "--out", str(tmp_path / "ridge"))
    assert "holds a reservoir run (`qseq train --reservoir`): its readout is fitted in closed form" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "qrnn", "--reservoir", "--epochs", "3"), "epochs (--epochs) does not apply"),
        (
            ("--model", "qrnn", "--reservoir", "--patience", "3"),
            "leave it out, or train the readout by epochs with readout='sgd' (--readout sgd)",
        ),  # fmt: skip
        (
            ("--model", "qrnn", "--readout", "sgd"),
            "readout (--readout sgd) chooses how a reservoir's readout is "
            "fitted: it needs reservoir=True (--reservoir)",
        ),  # fmt: skip
        (("--model", "qrnn", "--readout", "ridge"), "it needs reservoir=True (--reservoir)"),
        (("--model", "qrnn", "--reservoir", "--readout", "adam"), "invalid choice: 'adam'"),
        (("--model", "qrnn", "--reservoir", "--lr", "0.1", "--batch-size", "2"), "batch_size (--batch-size) and lr"),
        (("--model", "qrnn", "--features", "steps"), "they need reservoir=True (--reservoir)"),
        (("--model", "qrnn", "--init", "uniform"), "they need reservoir=True (--reservoir)"),
        (("--model", "gru", "--reservoir", "--init", "uniform"), "the reservoir of 'gru' has none"),
        (("--model", "qfwp", "--reservoir", "--init", "scaled:0.5"), "the reservoir of 'qfwp' has none"),
        (("--model", "qrnn", "--reservoir", "--init", "scaled:x"), "init 'scaled:x'"),
        (("--model", "qrnn", "--reservoir", "--init", "wide"), "init must be one of"),
        (("--model", "qrnn", "--reservoir", "--features", "all"), "invalid choice: 'all'"),
    ],
)
def test_train_reservoir_bad_options_fail_clearly_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "r"
    assert message in _fails(capsys, "train", *args, "--task", "damped_shm", "--out", str(out))
    assert not out.exists()


def test_compare_prints_every_model_and_saves_figure(tmp_path):
    out = qseq("compare", "--task", "damped_shm", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    for label in ("QRNN-RC", "QLSTM-RC", "QGRU-RC", "QLSTM (trained)", "LSTM-RC", "linear AR(4)"):
        assert label in out.stdout
    qlstm_rc = next(line for line in out.stdout.splitlines() if line.startswith("QLSTM-RC"))
    assert "3,216" in qlstm_rc  # one pass: 134 training windows x 4 steps x 6 circuits
    assert (tmp_path / "compare.png").stat().st_size > 0


def test_predict_on_a_fake_device_reuses_the_journal(tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    run = tmp_path / "run"
    trained = qseq("train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "1", "--out", str(run))
    assert trained.returncode == 0, trained.stderr
    assert json.loads((run / "run.json").read_text())["model"] == "qrnn"

    first = qseq("predict", "--checkpoint", str(run), "--backend", "ibm:fake_manila", "--shots", "256")
    assert first.returncode == 0, first.stderr
    row = next(line for line in first.stdout.splitlines() if "on ibm:fake_manila" in line).split()
    jobs, reused = int(row[-3]), int(row[-2])
    assert jobs == 4 and reused == 0  # one job per time step for the whole test set
    csv_file = run / "predictions-ibm_fake_manila.csv"
    predictions = csv_file.read_text()
    assert predictions.splitlines()[0] == "target,as_trained,ibm:fake_manila"
    assert (run / "jobs.sqlite").exists()

    second = qseq("predict", "--checkpoint", str(run), "--backend", "ibm:fake_manila", "--shots", "256")
    assert second.returncode == 0, second.stderr
    row = next(line for line in second.stdout.splitlines() if "on ibm:fake_manila" in line).split()
    assert (int(row[-3]), int(row[-2])) == (0, 4)  # everything from the journal, nothing resubmitted
    assert csv_file.read_text() == predictions

    exact = qseq("predict", "--checkpoint", str(run), "--backend", "aer")
    mses = [
        next(t for t in line.split() if "e-" in t) for line in exact.stdout.splitlines() if line.startswith("qrnn on")
    ]
    assert len(mses) == 2 and mses[0] == mses[1]  # exact Aer reproduces the torch engine's test MSE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--checkpoint", "nowhere", "--backend", "aer"), "not a run directory"),
        (("--checkpoint", ".", "--backend", "aer"), "not a run directory"),
    ],
)
def test_predict_bad_arguments_fail_clearly(tmp_path, args, message):
    out = qseq("predict", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_estimate_prices_a_cloud_device_offline(tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    out = qseq(
        "estimate",
        "--model",
        "qlstm",
        "--task",
        "damped_shm",
        "--backend",
        "ibm:ibm_fez",
        "--epochs",
        "10",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "priced with ibm:fake_fez" in out.stdout
    rows = {
        line.split("  ")[0]: line.split()
        for line in out.stdout.splitlines()
        if line.startswith(("inference", "reservoir", "training"))
    }
    inference = rows["inference (test set)"]
    assert inference[3:5] == ["8", "8"]  # 4 steps x 2 stages, one PUB each
    assert int(inference[6]) == int(inference[5]) * 4096
    training = next(v for k, v in rows.items() if k.startswith("training"))
    assert int(training[-5]) > 100 * int(inference[3])  # parameter shift: many more circuits
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing submitted
    bad = qseq("estimate", "--model", "qlstm", "--task", "damped_shm", "--backend", "aer", cwd=tmp_path)
    assert bad.returncode == 2 and "ibm:<device>" in bad.stderr

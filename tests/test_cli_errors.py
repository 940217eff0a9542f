"""Bad files and bad options end the ``qseq`` command in one line, ``qseq: error: ...`` (exit code 2),
naming the file or option and what to do; nothing a run holds is rewritten or deleted on the way.
``--debug`` / ``QSEQ_DEBUG=1`` show the traceback instead, and bugs always keep theirs."""

from __future__ import annotations

import json
import re
import shutil
import sys
import warnings

import numpy as np
import pytest
import torch

from qseq.cli import main


def _error(capsys, *args: str) -> str:
    """The one line ``qseq: error: ...`` that ``qseq args`` ends with (exit code 2)."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qseq: error: ") and err.count("\n") == 1, err
    return err


def _usage_error(capsys, *args: str) -> str:
    """argparse's refusal of ``qseq args`` (usage, then one error line; exit code 2)."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: qseq") and "Traceback" not in err
    return err.strip().splitlines()[-1]


def _snapshot(run_dir) -> dict[str, bytes]:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


TRAIN = ("train", "--task", "damped_shm", "--epochs", "1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trained runs of one epoch: ``qrnn/`` and ``qlstm/``."""
    root = tmp_path_factory.mktemp("runs")
    for model in ("qrnn", "qlstm"):
        assert main([*TRAIN, "--model", model, "--out", str(root / model)]) == 0
    return root


@pytest.fixture
def run(runs, tmp_path):
    """A copy of the trained qrnn run, to damage."""
    return shutil.copytree(runs / "qrnn", tmp_path / "run")


# ------------------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("content", [b"garbage\n", b"", b"PK\x03\x04"])
def test_a_damaged_best_pt_is_named_and_kept(capsys, run, content):
    (run / "best.pt").write_bytes(content)
    before = _snapshot(run)
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch")
    assert f"{run / 'best.pt'} is not a readable qseq checkpoint" in err and "Restore it from a copy" in err
    assert _snapshot(run) == before  # no predictions written, nothing replaced


def test_a_damaged_checkpoint_pt_is_named_when_resuming(capsys, run):
    good = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(good[: len(good) // 2])
    before = _snapshot(run)
    err = _error(capsys, *TRAIN, "--model", "qrnn", "--epochs", "2", "--out", run, "--resume")
    assert f"{run / 'checkpoint.pt'} is not a readable qseq checkpoint" in err
    assert _snapshot(run) == before


def test_a_damaged_run_json_is_named_with_line_and_column(capsys, run):
    (run / "run.json").write_text('{"model": "qrnn", ')
    before = _snapshot(run)
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch")
    assert f"{run / 'run.json'} is not a readable run.json" in err and "line 1, column 19" in err
    assert 'write it again as a JSON object of the run\'s `qseq train` options, e.g. {"model": "qlstm"' in err
    assert _snapshot(run) == before


def test_a_run_json_of_something_else_is_named(capsys, run):
    (run / "run.json").write_text('{"model": "qrnn", "task": "damped_shm", "epochs": 3}\n')
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch")
    assert f"{run / 'run.json'} is not a run.json of `qseq train`" in err and "(unknown: ['epochs'])" in err


def _change_a_weight(path) -> None:
    """Rewrite the checkpoint ``path`` with one weight of its model nudged: it still loads."""
    saved = torch.load(path, weights_only=True)
    name = next(iter(saved["model_state"]))
    saved["model_state"][name].view(-1)[0] += 1e-6
    torch.save(saved, path)


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("best.pt", ("predict", "--backend", "torch", "--checkpoint")),
        ("checkpoint.pt", (*TRAIN, "--model", "qrnn", "--epochs", "2", "--resume", "--out")),
    ],
)
def test_a_checkpoint_with_a_changed_weight_is_named_and_kept(capsys, run, name, command):
    _change_a_weight(run / name)
    before = _snapshot(run)
    err = _error(capsys, *command, run)
    assert f"{run / name} does not match the SHA-256 checksum written with it: this qseq checkpoint" in err
    assert "Restore it from a copy" in err
    assert _snapshot(run) == before


def test_an_edited_run_json_is_named_and_kept(capsys, run):
    text = (run / "run.json").read_text()
    (run / "run.json").write_text(text.replace('"seed": 0', '"seed": 1'))
    before = _snapshot(run)
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch")
    assert f"{run / 'run.json'} does not match the SHA-256 checksum written with it" in err
    assert 'If it was edited on purpose, delete its "sha256" entry to accept the edit.' in err
    assert _snapshot(run) == before


def test_a_run_written_without_checksums_still_predicts(capsys, run):
    for name in ("best.pt", "checkpoint.pt"):  # as qseq wrote runs before checksums
        saved = torch.load(run / name, weights_only=True)
        torch.save({k: v for k, v in saved.items() if k != "sha256"}, run / name)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({k: v for k, v in record.items() if k != "sha256"}))
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(run), "--backend", "torch"]) == 0
    assert "test windows; weights best.pt: best on validation" in capsys.readouterr().out
    assert main([*TRAIN, "--model", "qrnn", "--epochs", "2", "--out", str(run), "--resume"]) == 0


def test_a_damaged_job_journal_is_named_and_kept(capsys, run):
    pytest.importorskip("qiskit_aer")
    (run / "jobs.sqlite").write_bytes(b"this is not a database, but the jobs in it were paid for\n" * 20)
    before = _snapshot(run)
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "aer")
    assert f"{run / 'jobs.sqlite'} is not a readable qseq job journal (DatabaseError: file is not a database)" in err
    assert "submitted (and paid for) again" in err
    assert _snapshot(run) == before


def test_weights_of_another_run_name_both_runs_and_models(capsys, runs, run):
    other = runs / "qlstm" / "best.pt"
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch", "--weights", other)
    assert f"the weights {other} belong to the run {runs / 'qlstm'}" in err
    assert "model 'qlstm' (this run: 'qrnn')" in err and f"--checkpoint {runs / 'qlstm'}" in err


def test_a_loose_weights_file_of_another_model_names_the_tensors(capsys, runs, run, tmp_path):
    loose = shutil.copy(runs / "qlstm" / "best.pt", tmp_path / "weights.pt")
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch", "--weights", loose)
    assert f"the weights in {loose} belong to another model" in err
    assert "rnn.cells.0.vqc.gates.weight (4, 2, 4, 3) vs (2, 2, 4, 3)" in err


def test_resuming_a_run_as_another_model_is_refused(capsys, run):
    before = _snapshot(run)
    err = _error(capsys, *TRAIN, "--model", "qlstm", "--epochs", "2", "--out", run, "--resume")
    assert f"cannot resume {run}: the run has model 'qrnn' (requested 'qlstm')" in err
    assert _snapshot(run) == before


@pytest.fixture
def reservoir_run(tmp_path):
    """``(run directory, the train command, its metrics.json, its cached feature files)`` of a fitted
    QRNN reservoir run (ridge readout, features cached for the train, validation and test windows)."""
    out = tmp_path / "rc"
    base = ["train", "--model", "qrnn", "--task", "damped_shm", "--reservoir", "--features", "last", "--out", str(out)]
    assert main(base) == 0
    cached = sorted((out / "features").glob("features-*.npy"))
    assert len(cached) == 3
    return out, base, json.loads((out / "metrics.json").read_text()), cached


def test_a_damaged_feature_cache_is_computed_again_and_kept_aside(capsys, reservoir_run):
    out, base, fitted, cached = reservoir_run
    for damaged in cached:
        damaged.write_bytes(b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*base, "--resume"]) == 0
    said = [str(w.message) for w in caught if w.category is RuntimeWarning]
    for damaged in cached:  # one warning per damaged file, naming it
        assert any(re.search(rf"the cache file {damaged} cannot be read .*computed again", m) for m in said), said
    for damaged in cached:
        assert (out / "features" / f"{damaged.name}.damaged").read_bytes() == b"garbage"
    refitted = json.loads((out / "metrics.json").read_text())
    assert refitted["circuits"] > 0 and refitted["test_mse"] == fitted["test_mse"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main([*base, "--resume"]) == 0  # the recomputed cache reads back
    assert json.loads((out / "metrics.json").read_text())["circuits"] == 0


def test_a_feature_cache_with_a_changed_value_is_computed_again_and_kept_aside(capsys, reservoir_run):
    out, base, fitted, cached = reservoir_run
    changed = {}
    for path in cached:
        assert (out / "features" / f"{path.name}.sha256").is_file()
        changed[path] = np.load(path)
        changed[path][0, 0] += 1e-9  # still a valid array
        np.save(path, changed[path])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*base, "--resume"]) == 0
    said = [str(w.message) for w in caught if w.category is RuntimeWarning]
    for path in cached:
        assert f"the cache file {path} does not match its checksum ({path.name}.sha256)" in " ".join(said), said
        np.testing.assert_array_equal(np.load(out / "features" / f"{path.name}.damaged"), changed[path])
    refitted = json.loads((out / "metrics.json").read_text())
    assert refitted["circuits"] > 0 and refitted["test_mse"] == fitted["test_mse"]


# ---------------------------------------------------------------------------------------- CLI paths

OUT_COMMANDS = {
    "train": ("train", "--model", "qrnn", "--task", "damped_shm", "--out"),
    "compare": ("compare", "--task", "damped_shm", "--out"),
    "demo": ("demo", "--out"),
    "rl": ("rl", "--out"),
}


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_naming_a_file_is_refused_before_any_work(capsys, tmp_path, command):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    line = _usage_error(capsys, *OUT_COMMANDS[command], target)
    assert f"argument --out: --out {target} is a file, not a directory" in line
    line = _usage_error(capsys, *OUT_COMMANDS[command], target / "run")
    assert f"{target / 'run'} cannot be created: {target} is a file" in line
    assert target.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_in_an_unwritable_place_is_refused(capsys, command):
    line = _usage_error(capsys, *OUT_COMMANDS[command], "/proc/qseq-run")
    assert "argument --out: --out /proc/qseq-run cannot be written: no file can be created in /proc" in line


def test_predict_into_an_unwritable_run_directory_is_refused_before_predicting(capsys, run, monkeypatch):
    import qseq._io

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    before = _snapshot(run)
    monkeypatch.setattr(qseq._io.tempfile, "TemporaryFile", refuse)
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch")
    assert f"no file can be created in the run directory {run}" in err and "copy the run directory" in err
    assert _snapshot(run) == before


def test_predict_weights_that_are_not_there(capsys, run, tmp_path):
    line = _usage_error(capsys, "predict", "--checkpoint", run, "--backend", "torch", "--weights", tmp_path / "no.pt")
    assert f"argument --weights: {tmp_path / 'no.pt'} is not there" in line
    line = _usage_error(capsys, "predict", "--checkpoint", run, "--backend", "torch", "--weights", run)
    assert f"argument --weights: {run} is a directory, not a file" in line


def test_predict_shots_on_an_exact_backend(capsys, run):
    err = _error(capsys, "predict", "--checkpoint", run, "--backend", "torch", "--shots", "100")
    assert "backend 'torch' computes exact values: it takes no shots (drop --shots)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compare", "--task", "damped_shm", "--seeds", "0"), "argument --seeds: must be >= 1, got 0"),
        (("compare", "--task", "damped_shm", "--epochs", "-1"), "argument --epochs: must be >= 1, got -1"),
        (("predict", "--checkpoint", "r", "--backend", "aer", "--shots", "0"), "argument --shots: must be >= 1"),
        (("train", "--model", "qrnn", "--task", "t", "--out", "r", "--lr", "0"), "argument --lr: must be a positive"),
        (("estimate", "--model", "qrnn", "--task", "t", "--backend", "ibm:x", "--shots", "1.5"), "whole number"),
    ],
)
def test_counts_that_are_not_positive_are_refused_by_argparse(capsys, args, message):
    assert message in _usage_error(capsys, *args)


def test_compare_refuses_zero_seeds_in_the_library_too(tmp_path):
    from qseq.workflows import compare

    with pytest.raises(ValueError, match="seeds must be a positive integer, got 0"):
        compare("damped_shm", seeds=0, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_backend_option_typo_is_named_before_the_run_directory_is_made(capsys, tmp_path):
    out = tmp_path / "r"
    err = _error(capsys, *TRAIN, "--model", "qrnn", "--backend", "torch:dif=adjoint", "--out", out)
    assert "backend 'torch:dif=adjoint': unknown option 'dif' (did you mean 'diff'?)" in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------- tracebacks


def test_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    bad = ["train", "--model", "qrnn", "--task", "no_such_task", "--out", str(tmp_path / "r")]
    assert "unknown task" in _error(capsys, *bad)
    with pytest.raises(ValueError, match="unknown task"):
        main(["--debug", *bad])
    with pytest.raises(ValueError, match="unknown task"):
        main([*bad, "--debug"])
    monkeypatch.setenv("QSEQ_DEBUG", "1")
    with pytest.raises(ValueError, match="unknown task"):
        main(bad)
    monkeypatch.setenv("QSEQ_DEBUG", "0")
    assert "unknown task" in _error(capsys, *bad)


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import qseq.workflows

    def buggy(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(qseq.workflows, "train_run", buggy)
    with pytest.raises(KeyError, match="a bug"):
        main([*TRAIN, "--model", "qrnn", "--out", str(tmp_path / "r")])


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory):
    """A2C with a QRNN core on cue recall: 20 steps."""
    pytest.importorskip("gymnasium")
    run_dir = tmp_path_factory.mktemp("rl") / "cue"
    env = ["--env", "qseq/CueRecall-v0", "--env-kwargs", '{"delay": 1}', "--envs", "2", "--no-progress"]
    assert main(["rl", *env, "--model", "qrnn", "--algo", "a2c", "--steps", "20", "--out", str(run_dir)]) == 0
    return run_dir


def test_rl_eval_refuses_a_record_folder_that_is_a_file(capsys, rl_run, tmp_path):
    pytest.importorskip("PIL")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    err = _error(capsys, "rl-eval", "--checkpoint", rl_run, "--record", notes / "play.gif")
    assert f"the folder of --record {notes} is a file, not a directory" in err
    assert notes.read_text() == "mine"


def test_rl_eval_refuses_an_unwritable_run_directory_before_playing(capsys, rl_run, monkeypatch, tmp_path):
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("PIL")
    import qseq._io

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    before = _snapshot(rl_run)
    monkeypatch.setattr(qseq._io.tempfile, "TemporaryFile", refuse)
    err = _error(capsys, "rl-eval", "--checkpoint", rl_run, "--backend", "aer", "--episodes", "1")
    assert f"no file can be created in the run directory {rl_run}, and the job journal of aer (jobs.sqlite)" in err
    assert "copy the run directory to a writable place and evaluate from there" in err
    err = _error(capsys, "rl-eval", "--checkpoint", rl_run, "--record", tmp_path / "gifs" / "play.gif")
    assert f"the folder of --record {tmp_path / 'gifs'} cannot be written" in err
    assert not (tmp_path / "gifs").exists()
    assert _snapshot(rl_run) == before  # no journal started
    assert main(["rl-eval", "--checkpoint", str(rl_run), "--episodes", "1"]) == 0  # the torch engine writes nothing


def test_rl_eval_names_a_checkpoint_with_a_changed_weight(capsys, rl_run, tmp_path):
    run_dir = shutil.copytree(rl_run, tmp_path / "cue")
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    saved["agent"]["actor.bias"][0] += 1e-6
    torch.save(saved, run_dir / "checkpoint.pt")
    err = _error(capsys, "rl-eval", "--checkpoint", run_dir, "--episodes", "1")
    assert f"{run_dir / 'checkpoint.pt'} does not match the SHA-256 checksum written with it" in err
    saved.pop("sha256")  # a checkpoint of qseq before checksums
    torch.save(saved, run_dir / "checkpoint.pt")
    assert main(["rl-eval", "--checkpoint", str(run_dir), "--episodes", "1"]) == 0

"""``qseq rl`` and ``qseq rl-eval``, run in-process as users run them, with tiny budgets."""

from __future__ import annotations

import csv
import json
import re
import sys

import pytest

pytest.importorskip("gymnasium")

from qseq.backends import accepts  # noqa: E402
from qseq.cli import main  # noqa: E402

CARTPOLE = ["--env", "qseq/CartPoleNoVel-v1", "--model", "lstm", "--algo", "ppo", "--envs", "2", "--no-progress"]
CUE = ["--env", "qseq/CueRecall-v0", "--env-kwargs", '{"delay": 1}', "--envs", "2", "--no-progress"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def steps(run_dir) -> list[int]:
    with open(run_dir / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def mean_return(out: str) -> float:
    match = re.search(r"mean return (-?[\d.]+) ± ([\d.]+)", out)
    assert match, out
    return float(match.group(1))


@pytest.fixture(scope="module")
def classical_run(tmp_path_factory):
    """PPO with an LSTM core on CartPole without velocities: 256 steps, then resumed to 512."""
    run_dir = tmp_path_factory.mktemp("rl") / "cartpole"
    assert main(["rl", *CARTPOLE, "--steps", "256", "--out", str(run_dir)]) == 0
    first = steps(run_dir)
    assert main(["rl", "--out", str(run_dir), "--resume", "--steps", "512", "--no-progress"]) == 0
    return run_dir, first


@pytest.fixture(scope="module")
def quantum_run(tmp_path_factory):
    """A2C with a QRNN core on cue recall with a delay of 1 (3 steps per episode)."""
    run_dir = tmp_path_factory.mktemp("rl") / "cue"
    assert main(["rl", *CUE, "--model", "qrnn", "--algo", "a2c", "--steps", "20", "--out", str(run_dir)]) == 0
    return run_dir


def test_rl_writes_the_run_and_resume_continues_it(classical_run, capsys):
    run_dir, first = classical_run
    for name in ("config.json", "metrics.csv", "metrics.json", "checkpoint.pt"):
        assert (run_dir / name).stat().st_size > 0, name
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["algo"], config["model"], config["n_envs"], config["total_steps"]) == ("ppo", "lstm", 2, 512)
    assert config["n_steps"] == 32 and config["hidden_size"] == 4  # defaults of PPOConfig, not the CLI's
    assert first == [64, 128, 192, 256]
    assert steps(run_dir) == [64 * k for k in range(1, 9)]  # the history grows, the step counter continues
    assert json.loads((run_dir / "metrics.json").read_text())["step"] == 512
    # already at --steps: nothing to train, said so
    code, out, _ = run(capsys, "rl", "--out", run_dir, "--resume", "--steps", "512", "--no-progress")
    assert code == 0 and "nothing to train" in out
    assert steps(run_dir)[-1] == 512


def test_rl_prints_a_summary(tmp_path, capsys):
    code, out, _ = run(capsys, "rl", *CARTPOLE, "--steps", "64", "--out", tmp_path / "r")
    assert code == 0
    assert "PPO lstm (torch) on qseq/CartPoleNoVel-v1" in out
    assert re.search(r"64 steps, wall time [\d.]+ s, [\d,]+ steps/s", out), out
    assert re.search(r"episodes: \d+, mean return of the last 100: ", out), out
    assert "checkpoint.pt" in out and "metrics.csv" in out


def test_rl_eval_prints_mean_return_and_records_a_gif(classical_run, tmp_path, capsys):
    from PIL import Image

    run_dir, _ = classical_run
    gif = tmp_path / "gifs" / "cartpole.gif"
    code, out, err = run(capsys, "rl-eval", "--checkpoint", run_dir, "--episodes", "3", "--record", gif)
    assert code == 0, err
    assert "3 episodes on torch" in out and mean_return(out) > 0
    assert f"recording: {gif}" in out
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames > 1
    # same seed, same returns; a sampled policy runs too
    assert mean_return(run(capsys, "rl-eval", "--checkpoint", run_dir, "--episodes", "3")[1]) == mean_return(out)
    code, out, _ = run(capsys, "rl-eval", "--checkpoint", run_dir / "checkpoint.pt", "--episodes", "2", "--sample")
    assert code == 0 and "sampled actions" in out


def test_rl_eval_on_aer_journals_and_prices_the_circuits(quantum_run, capsys):
    pytest.importorskip("qiskit_aer")
    code, out, err = run(capsys, "rl-eval", "--checkpoint", quantum_run, "--backend", "aer", "--episodes", "2")
    assert code == 0, err
    assert "2 episodes on aer" in out and 0 <= mean_return(out) <= 1
    calls = re.search(r"backend aer\S*: (\d+) calls, (\d+) circuits, (\d+) jobs \((\d+) from the journal\)", out)
    assert calls, out
    assert int(calls.group(1)) == 3 and int(calls.group(3)) == 3  # 3 steps per episode, both episodes at once
    if accepts("aer", "journal"):
        assert (quantum_run / "jobs.sqlite").stat().st_size > 0
        assert f"job journal: {quantum_run / 'jobs.sqlite'}" in out
        again = run(capsys, "rl-eval", "--checkpoint", quantum_run, "--backend", "aer", "--episodes", "2")[1]
        assert "0 jobs (3 from the journal)" in again  # nothing runs twice
    try:
        import qiskit_ibm_runtime  # noqa: F401
    except ImportError:
        assert "no QPU estimate" in out
    else:
        assert re.search(r"one environment step of one environment is 1 job, 1 circuit", out), out
        assert re.search(r"these episodes: 3 jobs, 6 circuits, 24,576 shots, about [\d.]+ \w+ of QPU time", out), out


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a checkpoint")
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rl", "--env", "CartPol-v1", "--model", "lstm", "--algo", "ppo"], "unknown environment id 'CartPol-v1'"),
        (["rl", "--env", "CartPole-v1", "--model", "transformer", "--algo", "ppo"], "invalid choice: 'transformer'"),
        (["rl", "--env", "CartPole-v1", "--model", "lstm", "--algo", "dqn"], "invalid choice: 'dqn'"),
        (["rl", *CARTPOLE, "--steps", "0"], "argument --steps: must be >= 1, got 0"),
        (["rl", *CARTPOLE, "--steps", "ten"], "argument --steps: expected a whole number"),
        (["rl", "--model", "lstm", "--algo", "ppo"], "a new run needs --env"),
        (
            ["rl", *CUE, "--env-kwargs", "{delay: 1}", "--model", "lstm", "--algo", "ppo"],
            "--env-kwargs: not valid JSON",
        ),
        (["rl", *CUE, "--env-kwargs", '{"dely": 1}', "--model", "lstm", "--algo", "ppo"], "unexpected keyword"),
        (["rl", *CUE, "--model", "qrnn", "--algo", "ppo", "--backend", "nope"], "unknown backend 'nope'"),
        (["rl", *CUE, "--model", "gru", "--algo", "ppo", "--backend", "aer"], "gru core is classical"),
        (["rl", *CARTPOLE, "--resume"], "holds no checkpoint"),
    ],
)
def test_rl_bad_inputs_fail_clearly(tmp_path, capsys, args, message):
    out_dir = tmp_path / "run"
    code, _, err = run(capsys, *args, "--out", out_dir)
    assert code == 2
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert not out_dir.exists()  # refused before the run directory was made


def test_rl_refuses_a_file_a_taken_directory_and_a_changed_resume(classical_run, tmp_path, capsys):
    file = _touch(tmp_path / "file")
    code, _, err = run(capsys, "rl", *CARTPOLE, "--out", file)
    assert code == 2 and f"--out {file} is a file" in err
    run_dir, _ = classical_run
    code, _, err = run(capsys, "rl", *CARTPOLE, "--out", run_dir)
    assert code == 2 and "already holds a run: pass --resume" in err
    code, _, err = run(capsys, "rl", "--out", run_dir, "--resume", "--model", "gru", "--steps", "1024")
    assert code == 2 and "model: 'lstm' -> 'gru'" in err
    code, _, err = run(capsys, "rl", "--out", run_dir, "--resume", "--algo", "a2c")
    assert code == 2 and "trained with --algo ppo, not a2c" in err
    assert steps(run_dir)[-1] == 512  # untouched


def test_rl_refuses_options_of_another_algorithm(tmp_path, capsys):
    pytest.importorskip("qseq.rl.drqn")
    code, _, err = run(
        capsys, "rl", *CUE, "--model", "gru", "--algo", "drqn", "--n-steps", "4", "--out", tmp_path / "r"
    )
    assert code == 2 and "--n-steps does not apply to --algo drqn" in err
    assert not (tmp_path / "r").exists()


def test_rl_drqn_without_its_module_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "qseq.rl.drqn", None)
    code, _, err = run(capsys, "rl", *CUE, "--model", "lstm", "--algo", "drqn", "--out", tmp_path / "r")
    assert code == 2 and "--algo drqn is not available" in err and "Traceback" not in err


def test_rl_eval_bad_inputs_fail_clearly(classical_run, quantum_run, tmp_path, capsys, monkeypatch):
    run_dir, _ = classical_run
    damaged = _touch(tmp_path / "damaged" / "checkpoint.pt")
    cases = [
        (["--checkpoint", tmp_path / "nowhere"], "no RL checkpoint at"),
        (["--checkpoint", damaged.parent], "it may be damaged"),
        (["--checkpoint", run_dir, "--backend", "aer"], "(lstm) is classical"),
        (["--checkpoint", quantum_run, "--backend", "nope"], "unknown backend 'nope'"),
        (["--checkpoint", quantum_run, "--episodes", "0"], "argument --episodes: must be >= 1"),
        (["--checkpoint", quantum_run, "--record", tmp_path / "cue.gif"], "qseq/CueRecall-v0 cannot render frames"),
        (["--checkpoint", run_dir, "--record", tmp_path / "cartpole.mp4"], "give a path ending in .gif"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "rl-eval", *args)
        assert code == 2, args
        assert message in err.strip().splitlines()[-1], (args, err)
        assert "Traceback" not in err
    monkeypatch.setitem(sys.modules, "PIL", None)  # Pillow missing
    code, _, err = run(capsys, "rl-eval", "--checkpoint", run_dir, "--record", tmp_path / "x.gif")
    assert code == 2 and "pip install 'qseq[plot]'" in err
    assert not (tmp_path / "x.gif").exists()

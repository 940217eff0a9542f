"""Killed runs: a ``qseq train`` or ``qseq rl`` process killed with SIGKILL at a random point after its
first checkpoint and resumed with ``--resume`` ends with exactly the parameters of a run that was never
interrupted (checkpoints are written atomically and hold every RNG)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

TRAIN = ["train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "6", "--seed", "3"]
RL = ["rl", "--env", "qseq/CartPoleNoVel-v1", "--model", "qrnn", "--algo", "a2c", "--steps", "2400", "--envs", "4"]
RL += ["--no-progress", "--seed", "3"]


def _qseq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qseq.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


def _killed_after_first_checkpoint(args: list[str], checkpoint: Path, extra_delay: float) -> bool:
    """Start ``qseq *args``, wait for its first checkpoint, then ``extra_delay`` seconds, and SIGKILL it.
    Returns whether the process was still running when killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qseq.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 300
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(extra_delay)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    return running


def _parameters(checkpoint: Path, key: str) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)[key]


@pytest.mark.parametrize(
    "args, weights, attempts",
    [(TRAIN, "model_state", 2), (RL, "agent", 1)],  # RL checkpoints every 400 steps here
    ids=["qseq-train", "qseq-rl"],
)
def test_a_run_killed_at_random_points_and_resumed_ends_where_an_uninterrupted_run_ends(
    tmp_path, args, weights, attempts
):
    straight = tmp_path / "straight"
    done = _qseq(*args, "--out", str(straight))
    assert done.returncode == 0, done.stderr
    want = _parameters(straight / "checkpoint.pt", weights)
    rng = random.Random(hash(weights) & 0xFFFF)
    killed = 0
    for attempt in range(attempts):
        run = tmp_path / f"killed-{attempt}"
        killed += _killed_after_first_checkpoint([*args, "--out", str(run)], run / "checkpoint.pt", rng.uniform(0, 0.5))
        resumed = _qseq(*args, "--out", str(run), "--resume")
        assert resumed.returncode == 0, resumed.stderr
        got = _parameters(run / "checkpoint.pt", weights)
        assert got.keys() == want.keys()
        for name in want:
            torch.testing.assert_close(got[name], want[name], atol=0, rtol=0, msg=f"{name} after a kill")
    assert killed, "no attempt was killed while running: the runs are too short for this test"

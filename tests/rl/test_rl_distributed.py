"""A2C and PPO over two processes (gloo): each steps its own environments, the learners stay identical,
episodes of both are counted, a run resumes exactly, and a resume with another process count is refused."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

pytest.importorskip("gymnasium")

from qseq.rl import A2CConfig, PPOConfig, train  # noqa: E402

KW = dict(env_id="qseq/CartPoleNoVel-v1", model="lstm", n_envs=2, n_steps=8, checkpoint_every=2, progress=False)


def _config(algo: str, total_steps: int):
    if algo == "ppo":
        return PPOConfig(total_steps=total_steps, update_epochs=2, n_minibatches=2, plot=False, **KW)
    return A2CConfig(total_steps=total_steps, plot=False, **KW)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str, algo: str, runs: list) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    try:
        for run_dir, steps, resume, stop in runs:
            result = train(_config(algo, steps), run_dir=run_dir, resume=resume, stop_at_step=stop)
        weights = [p.tolist() for p in result.agent.state_dict().values()]
        record = {"weights": weights, "returns": result.episode_returns, "steps": [h["step"] for h in result.history]}
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
        torch.distributed.barrier()  # neither rank tears down while the other still talks to rank 0's store
    finally:
        torch.distributed.destroy_process_group()


def _spawn(out: Path, algo: str, runs: list) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(_port(), str(out), algo, runs), nprocs=2, join=True)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_two_learners_stay_identical_and_count_every_episode(tmp_path, algo):
    ranks = _spawn(tmp_path, algo, [(None, 256, False, None)])
    assert ranks[0]["weights"] == ranks[1]["weights"]  # averaged gradients: one learner in two processes
    assert ranks[0]["returns"] == ranks[1]["returns"]
    assert ranks[0]["steps"][:2] == [2 * 2 * 8, 4 * 2 * 8]  # every update counts both processes' steps
    alone = train(_config(algo, 256))  # one process, its 2 environments seeded like rank 0's
    assert ranks[0]["weights"] != [p.tolist() for p in alone.agent.state_dict().values()]  # rank 1's data counted


def test_a_two_process_run_resumes_exactly_and_refuses_another_count(tmp_path):
    straight = _spawn(tmp_path / "a", "ppo", [(str(tmp_path / "a" / "run"), 192, False, None)])
    run = str(tmp_path / "b" / "run")
    split = _spawn(tmp_path / "b", "ppo", [(run, 192, False, 96), (run, 192, True, None)])
    assert split[0] == straight[0]
    with pytest.raises(ValueError, match="trained by 2 processes; resume it with as many, not 1"):
        train(_config("ppo", 256), run_dir=run, resume=True)

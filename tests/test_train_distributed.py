"""Data-parallel ``fit``: two CPU processes (gloo, the rendezvous ``torchrun`` sets up through its
environment variables) train the paper QLSTM to the parameters one process reaches, resume a run
exactly, and write files from rank 0 only; with two GPUs, two NCCL processes reach them too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from qseq.models import build_model
from qseq.train import fit

FAST = dict(progress=False, plot=False, batch_size=4, dtype="float64", seed=3)


def _data():
    """Damped-oscillation windows of length 4 -> next value: 37 training windows, so the last batch
    of every epoch holds 1 window and rank 1's shard of it is empty."""
    t = np.linspace(0, 6 * np.pi, 60)
    s = np.exp(-0.05 * t) * np.cos(t)
    X = np.stack([s[i : i + 4] for i in range(56)])[..., None]
    return (X[:37], s[4:41, None]), (X[37:], s[41:, None])


def _model():
    torch.manual_seed(11)
    return build_model("qlstm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, runs: list, device: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    train, val = _data()
    try:
        for run_dir, epochs, resume in runs:
            model = _model()
            result = fit(model, train, val, epochs=epochs, run_dir=run_dir, resume=resume, device=device, **FAST)
        state = {k: v.tolist() for k, v in model.state_dict().items()}
        record = {"state": state, "history": result.history, "backend": torch.distributed.get_backend()}
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
        torch.distributed.barrier()  # neither rank tears down while the other still talks to rank 0's store
    finally:
        torch.distributed.destroy_process_group()


def _spawn(tmp_path: Path, runs: list, device: str = "cpu") -> list[dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), runs, device), nprocs=2, join=True)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def _flat(state: dict) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in state.values()])


def _check_two_reach_one(tmp_path: Path, device: str, backend: str) -> None:
    """Three float64 epochs on ``device``: both ranks of a two-process run end with the parameters and
    the metrics of one process, to 1e-6 relative."""
    train, val = _data()
    model = _model()
    alone = fit(model, train, val, epochs=3, device=device, **FAST)
    ranks = _spawn(tmp_path, [(None, 3, False)], device)
    reference = _flat({k: v.tolist() for k, v in model.state_dict().items()})
    moved = np.abs(reference - _flat({k: v.tolist() for k, v in _model().state_dict().items()})).max()
    assert moved > 1e-3  # training changed the weights: not a vacuous comparison
    for r in ranks:
        assert r["backend"] == backend
        np.testing.assert_allclose(_flat(r["state"]), reference, rtol=1e-6, atol=1e-9)
        for got, want in zip(r["history"], alone.history, strict=True):
            for key in ("train_loss", "train_mse", "val_mse"):
                assert got[key] == pytest.approx(want[key], rel=1e-6)


def test_two_processes_reach_the_parameters_of_one(tmp_path):
    _check_two_reach_one(tmp_path, "cpu", "gloo")


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices (one NCCL process each)")
def test_two_gpus_with_nccl_reach_the_parameters_of_one(tmp_path):
    _check_two_reach_one(tmp_path, "cuda", "nccl")


def test_a_distributed_run_resumes_exactly_and_only_rank_0_writes(tmp_path):
    straight = _spawn(tmp_path / "a", [(str(tmp_path / "a" / "run"), 3, False)])
    split = _spawn(tmp_path / "b", [(str(tmp_path / "b" / "run"), 2, False), (str(tmp_path / "b" / "run"), 3, True)])
    np.testing.assert_array_equal(_flat(split[0]["state"]), _flat(straight[0]["state"]))
    assert [h["train_loss"] for h in split[0]["history"]] == [h["train_loss"] for h in straight[0]["history"]]
    files = sorted(p.name for p in (tmp_path / "a" / "run").iterdir())
    assert files == ["best.pt", "checkpoint.pt", "config.json", "metrics.csv", "metrics.json"]


def test_distributed_true_without_a_launch_is_refused():
    train, val = _data()
    with pytest.raises(ValueError, match="distributed=True needs a torchrun launch"):
        fit(_model(), train, val, epochs=1, distributed=True, **FAST)


def test_qseq_train_runs_under_torchrun(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port",
        str(_free_port()),
        "-m",
        "qseq",
        "train",
        "--model",
        "qlstm",
        "--task",
        "damped_shm",
        "--epochs",
        "1",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("Run directory:") == 1  # rank 0 alone reports
    assert json.loads((out / "run.json").read_text())["model"] == "qlstm"
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 1

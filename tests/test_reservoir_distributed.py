"""Reservoir features sharded over two processes (gloo) equal one process's, and the readout fitted on
them is the same on every rank."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

from qseq import QLSTM
from qseq.reservoir import ReservoirRegressor, reservoir_features


def _reservoir():
    return QLSTM(1, 3, batch_first=True, readout_vqc=True, reservoir=True, seed=4, dtype=torch.float64)


def _windows():
    s = np.sin(np.linspace(0, 9, 48))
    X = np.stack([s[i : i + 4] for i in range(43)])[..., None]  # 43 windows: uneven shards
    return X, s[4:47, None]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    X, y = _windows()
    try:
        reservoir = _reservoir()
        features = reservoir_features(reservoir, X, batch_size=8)
        model = ReservoirRegressor(_reservoir(), alpha=1e-6, cache_dir=Path(out) / "cache").fit(X, y)
        circuits = model.n_circuit_evaluations_
        record = {"features": features.tolist(), "coef": model.coef_.tolist(), "circuits": circuits}
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
        torch.distributed.barrier()  # neither rank tears down while the other still talks to rank 0's store
    finally:
        torch.distributed.destroy_process_group()


def test_sharded_features_and_readout_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    X, y = _windows()
    alone = reservoir_features(_reservoir(), X, batch_size=8)
    reference = ReservoirRegressor(_reservoir(), alpha=1e-6).fit(X, y)
    for r in ranks:
        np.testing.assert_allclose(np.array(r["features"]), alone, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.array(r["coef"]), reference.coef_, rtol=1e-9, atol=1e-12)
    assert 0 < ranks[1]["circuits"] < reference.n_circuit_evaluations_  # each rank ran its shard only
    assert len(list((tmp_path / "cache").glob("features-*.npy"))) == 1  # rank 0 wrote the cache

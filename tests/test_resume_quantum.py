"""Bit-for-bit resume of every quantum model: a run that crashes and is resumed with ``resume=True``
ends with exactly the parameters, optimiser state and metrics of a run that was never interrupted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.models import build_model
from qseq.train import TrainConfig, fit

QUANTUM = ["qlstm", "qgru", "qrnn", "qfwp"]


@pytest.fixture(scope="module")
def data():
    """Sine windows of length 3 -> next value: 12 training and 4 validation windows."""
    s = np.sin(np.linspace(0, 3 * np.pi, 19))
    X = np.stack([s[i : i + 3] for i in range(16)])[..., None]
    y = s[3:, None]
    return (X[:12], y[:12]), (X[12:], y[12:])


def make(name: str, seed: int):
    torch.manual_seed(seed)
    return build_model(name, dtype=torch.float64)


@pytest.mark.parametrize("name", QUANTUM)
def test_a_crashed_quantum_run_resumes_bit_for_bit(name, data, tmp_path, fit_interrupted_in_epoch, assert_same_run):
    """4 epochs straight == a crash inside epoch 3 (checkpoints every 2 epochs), then resume."""
    cfg = TrainConfig(epochs=4, batch_size=4, shuffle=True, seed=5, checkpoint_every=2, progress=False, plot=False)
    straight = make(name, seed=1)
    ref = fit(straight, *data, config=cfg, run_dir=tmp_path / "straight")

    run = tmp_path / "crashed"
    fit_interrupted_in_epoch(3, make(name, seed=1), *data, config=cfg, run_dir=run)

    torch.manual_seed(777)  # a fresh process: other global RNG state, other initial weights
    np.random.seed(777)
    resumed = make(name, seed=2)
    assert any(not torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters(), strict=True))
    res = fit(resumed, *data, config=cfg, run_dir=run, resume=True)

    assert res.start_epoch == 2
    assert_same_run(ref, res, straight, resumed, tmp_path / "straight", run)

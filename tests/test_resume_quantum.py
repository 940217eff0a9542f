"""Bit-for-bit resume of every quantum model: a run that crashes and is resumed with ``resume=True``
ends with exactly the parameters, optimiser state and metrics of a run that was never interrupted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.models import build_model
from qseq.train import TrainConfig, fit, load_checkpoint

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
def test_a_crashed_quantum_run_resumes_bit_for_bit(name, data, tmp_path, fit_interrupted_in_epoch):
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
    for (key, p), q in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q), key
    columns = ("epoch", "train_loss", "train_mse", "val_mse", "lr")
    assert [[r[k] for k in columns] for r in res.history] == [[r[k] for k in columns] for r in ref.history]
    assert (res.best_epoch, res.best_value) == (ref.best_epoch, ref.best_value)
    assert res.final_metrics == ref.final_metrics
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(run)
    assert a["model_state"].keys() == b["model_state"].keys()
    for key in a["model_state"]:
        assert torch.equal(a["model_state"][key], b["model_state"][key]), key
    states_a, states_b = a["optimizer_state"]["state"], b["optimizer_state"]["state"]
    assert len(states_a) == len(states_b) > 0
    for sa, sb in zip(states_a.values(), states_b.values(), strict=True):
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

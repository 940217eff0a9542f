"""Swapping backends: a model trained on the torch engine runs on Qiskit Aer and IBM devices, and a
model trains on Aer through the parameter-shift bridge with the same gradients as backprop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.backends import get
from qseq.models import build_model
from qseq.reservoir import ReservoirRegressor
from qseq.train import TrainConfig, fit, predict

pytest.importorskip("qiskit_aer")

QUANTUM = ["qlstm", "qgru", "qrnn", "qfwp"]
# backend calls per time step and the circuits each evaluates per window (paper configurations)
STAGES = {"qlstm": 2, "qgru": 3, "qrnn": 1, "qfwp": 1}


def windows(n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, 1, generator=gen, dtype=torch.float64), torch.rand(n, 1, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("name", QUANTUM)
def test_trained_on_torch_predicts_the_same_on_exact_aer(name):
    X, y = windows()
    model = build_model(name, dtype=torch.float64, seed=1)
    fit(model, (X, y), config=TrainConfig(epochs=1, progress=False, plot=False))
    on_torch = predict(model, X)
    model.to_backend("aer")
    np.testing.assert_allclose(predict(model, X), on_torch, atol=1e-6)
    usage = model.rnn.backend.usage
    assert usage.jobs == usage.calls == 4 * STAGES[name]  # one job per stage and step, whole batch


@pytest.mark.parametrize("name", QUANTUM)
def test_gradients_on_aer_equal_backprop_with_one_job_per_stage(name):
    X, y = windows(3)
    model = build_model(name, dtype=torch.float64, seed=2)
    loss = torch.nn.functional.mse_loss(model(X), y)
    want = torch.autograd.grad(loss, list(model.parameters()))
    model.to_backend("aer")
    loss = torch.nn.functional.mse_loss(model(X), y)
    got = torch.autograd.grad(loss, list(model.parameters()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-6)
    usage = model.rnn.backend.usage
    assert usage.jobs == 4 * STAGES[name] and usage.shifted > 0  # forward and backward together


def test_training_steps_on_aer_follow_the_torch_trajectory():
    X, y = windows(4)
    runs = {}
    for spec in ("torch", "aer"):
        torch.manual_seed(3)  # the same initial weights
        model = build_model("qrnn", dtype=torch.float64, seed=3).to_backend(spec)
        fit(model, (X, y), config=TrainConfig(epochs=2, batch_size=2, seed=0, progress=False, plot=False))
        runs[spec] = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.testing.assert_close(runs["aer"], runs["torch"], atol=1e-6, rtol=0)


def test_reservoir_regressor_moves_to_a_fake_device():
    X, y = windows(6)
    model = build_model("qrnn", dtype=torch.float64, reservoir=True, seed=4)
    reg = ReservoirRegressor(model.rnn, alpha=1e-3).fit(X.numpy(), y.numpy())
    exact = reg.predict(X.numpy())
    reg.to_backend(get("ibm:fake_manila", shots=2000, seed=1, noise=False))
    sampled = reg.predict(X.numpy())
    assert 0 < np.abs(sampled - exact).max() < 0.5  # same readout, shot-noisy features
    assert reg.reservoir.backend.usage.jobs == 4 * STAGES["qrnn"]
    with pytest.raises(TypeError, match="runs no circuits"):
        ReservoirRegressor(torch.nn.RNN(1, 3, batch_first=True)).to_backend("aer")


def test_classical_models_refuse_a_quantum_backend():
    with pytest.raises((TypeError, ValueError), match="no circuits"):
        build_model("lstm").to_backend("aer")

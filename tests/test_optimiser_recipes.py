"""The optimiser recipes the docs promise, pinned: the papers' RMSprop for time series (lr 0.01,
alpha 0.99, eps 1e-8, no momentum, batch 4, 100 epochs, float64), the reservoir's ``"sgd"`` readout
(the same RMSprop), and the RL agents' optimisers (RMSprop alpha 0.99 / eps 1e-5, Adam eps 1e-5).

Each recipe is checked twice: the settings the optimiser holds, and a trajectory computed by hand
in numpy with the recipe's update rule, so a changed constant fails whichever way it is changed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qseq.reservoir import ReservoirRegressor
from qseq.train import TrainConfig, fit, load_checkpoint

PAPER_RMSPROP = {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0, "centered": False, "weight_decay": 0}


class Flat(nn.Module):
    """``(N, L, 1) -> (N, 1)``: a linear map of the window, with weights set by the test."""

    def __init__(self, w: np.ndarray, b: float):
        super().__init__()
        self.lin = nn.Linear(len(w), 1, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(w)[None])
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x.flatten(1))


def rmsprop_by_hand(params, grads_of, steps, lr, alpha, eps):
    """Plain RMSprop: v ← αv + (1-α)g², p ← p - lr·g / (√v + eps)."""
    params = [p.copy() for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(steps):
        grads = grads_of(params, step)
        for i, g in enumerate(grads):
            v[i] = alpha * v[i] + (1 - alpha) * g * g
            params[i] = params[i] - lr * g / (np.sqrt(v[i]) + eps)
    return params


def linear_mse_grads(X, y):
    """Gradients of mean((X w + b - y)²) for the batch given."""

    def grads(params, rows):
        w, b = params
        r = X[rows] @ w + b - y[rows]
        return [2 * X[rows].T @ r / len(rows), np.array([2 * r.mean()])]

    return grads


@pytest.fixture(scope="module")
def windows():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(8, 3, 1))
    y = rng.uniform(-1, 1, size=(8, 1))
    return X, y


def test_train_config_defaults_are_the_papers_recipe():
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.epochs, cfg.dtype) == ("rmsprop", 0.01, 4, 100, "float64")


def test_fit_trains_with_the_papers_rmsprop(windows, tmp_path):
    X, y = windows
    w0, b0 = np.array([0.3, -0.2, 0.5]), 0.1
    model = Flat(w0, b0)
    fit(model, (X, y), None, run_dir=tmp_path, epochs=1, shuffle=False, progress=False, plot=False)

    group = load_checkpoint(tmp_path)["optimizer_state"]["param_groups"][0]
    assert {k: group[k] for k in PAPER_RMSPROP} == PAPER_RMSPROP

    # two steps of batch 4, in order: the second step sees the first's squared-gradient average
    step = linear_mse_grads(X[..., 0], y[:, 0])
    w, b = rmsprop_by_hand([w0, np.array([b0])], lambda p, k: step(p, np.arange(4 * k, 4 * k + 4)), 2, 0.01, 0.99, 1e-8)
    np.testing.assert_allclose(model.lin.weight.detach().numpy()[0], w, rtol=1e-12, atol=0)
    np.testing.assert_allclose(model.lin.bias.detach().numpy(), b, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("optimizer", "settings"),
    [
        ("adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False}),
        ("sgd", {"momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False}),
    ],
)
def test_other_optimisers_are_torch_defaults_apart_from_lr(optimizer, settings, windows, tmp_path):
    fit(
        Flat(np.zeros(3), 0.0),
        windows,
        None,
        run_dir=tmp_path,
        epochs=1,
        optimizer=optimizer,
        lr=0.05,
        progress=False,
        plot=False,
    )
    group = load_checkpoint(tmp_path)["optimizer_state"]["param_groups"][0]
    assert group["lr"] == 0.05
    assert {k: (tuple(group[k]) if k == "betas" else group[k]) for k in settings} == settings


class Recorder(torch.optim.RMSprop):
    """RMSprop that remembers every instance made while it stands in for ``torch.optim.RMSprop``."""

    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0
        Recorder.made.append(self)

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def test_the_sgd_readout_is_the_papers_rmsprop(monkeypatch):
    reservoir = nn.RNN(1, 3, batch_first=True, dtype=torch.float64).requires_grad_(False)
    rng = np.random.default_rng(1)
    X, y = rng.uniform(-1, 1, size=(10, 4, 1)), rng.uniform(-1, 1, size=(10, 1))
    defaults = ReservoirRegressor(reservoir, readout="sgd")
    assert (defaults.lr, defaults.sgd_batch_size, defaults.epochs) == (0.01, 4, 100)

    Recorder.made = []
    monkeypatch.setattr(torch.optim, "RMSprop", Recorder)
    reg = ReservoirRegressor(reservoir, readout="sgd", epochs=3).fit(X, y)
    (optimiser,) = Recorder.made
    group = optimiser.param_groups[0]
    assert {k: group[k] for k in PAPER_RMSPROP} == PAPER_RMSPROP
    assert optimiser.steps == 3 * math.ceil(10 / 4)  # batches of 4 windows, every epoch
    assert len(reg.history_) == 3


def test_rl_optimisers():
    rl_optim = pytest.importorskip("qseq.rl.optim")
    from qseq.rl.config import A2CConfig

    module = nn.Linear(2, 2)
    cfg = A2CConfig()
    assert (cfg.optimizer, cfg.lr) == ("rmsprop", 3e-3)
    rms = rl_optim.make_optimizer(module, cfg)
    assert type(rms) is torch.optim.RMSprop
    assert {k: rms.defaults[k] for k in ("lr", "alpha", "eps", "momentum", "centered", "weight_decay")} == {
        "lr": 3e-3,
        "alpha": 0.99,
        "eps": 1e-5,
        "momentum": 0,
        "centered": False,
        "weight_decay": 0,
    }
    adam = rl_optim.make_optimizer(module, A2CConfig(optimizer="adam", lr=1e-3))
    assert type(adam) is torch.optim.Adam
    assert (adam.defaults["lr"], adam.defaults["eps"], tuple(adam.defaults["betas"])) == (1e-3, 1e-5, (0.9, 0.999))


def test_rl_rmsprop_step_by_hand():
    """One RL RMSprop step moves a parameter by lr·g / (√((1-α)g²) + 1e-5)."""
    rl_optim = pytest.importorskip("qseq.rl.optim")
    from qseq.rl.config import A2CConfig

    p = nn.Parameter(torch.tensor([0.5, -0.25, 1e-4], dtype=torch.float64))
    module = nn.Module()
    module.p = p
    opt = rl_optim.make_optimizer(module, A2CConfig())
    g = np.array([0.2, -1e-4, 3.0])
    p.grad = torch.tensor(g)
    opt.step()
    (want,) = rmsprop_by_hand([np.array([0.5, -0.25, 1e-4])], lambda params, k: [g], 1, 3e-3, 0.99, 1e-5)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-13, atol=0)

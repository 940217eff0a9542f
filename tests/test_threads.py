"""The thread policy: qseq's small tensor work runs on one intra-op thread unless the user chose."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import qseq._threads as threads
from qseq.train import fit


@pytest.fixture
def two_threads_by_default(monkeypatch):
    """torch at 2 threads, which qseq saw at import; no thread variable in the environment."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "_AT_IMPORT", 2)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "QSEQ_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


class Recorder(nn.Module):
    """A tiny model that records torch's thread count at every forward."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 1)
        self.seen: list[int] = []

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        return self.head(x[:, -1])


def test_fit_runs_on_one_thread_and_restores_the_count(two_threads_by_default):
    model = Recorder()
    fit(model, (np.zeros((8, 2, 3)), np.zeros((8, 1))), epochs=1, progress=False, plot=False)
    assert set(model.seen) == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("chosen", ["env", "torch"])
def test_a_users_choice_wins(two_threads_by_default, monkeypatch, chosen):
    if chosen == "env":
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
    else:
        torch.set_num_threads(3)  # after qseq's import: the user's choice
    expected = torch.get_num_threads()
    with threads.small_work_threads():
        assert torch.get_num_threads() == expected


def test_qseq_num_threads_sets_qseqs_count(two_threads_by_default, monkeypatch):
    monkeypatch.setenv("QSEQ_NUM_THREADS", "3")
    with threads.small_work_threads():
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("QSEQ_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="QSEQ_NUM_THREADS must be a positive integer"), threads.small_work_threads():
        pass


@pytest.mark.parametrize("algo", ["a2c", "drqn"])
def test_reinforcement_learning_runs_on_one_thread(two_threads_by_default, monkeypatch, algo):
    pytest.importorskip("gymnasium")
    from qseq import rl
    from qseq.rl import core

    seen: list[int] = []
    forward = core.RecurrentCore.forward
    monkeypatch.setattr(core.RecurrentCore, "forward", lambda *a: seen.append(torch.get_num_threads()) or forward(*a))
    if algo == "a2c":
        rl.train(rl.A2CConfig(model="lstm", n_envs=2, total_steps=20, progress=False, plot=False))
    else:
        rl.train_drqn(rl.DRQNConfig(model="lstm", n_envs=2, total_steps=20, progress=False, plot=False))
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2

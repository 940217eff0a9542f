"""Training steps captured as CUDA graphs (qseq.train.graphs): the same trajectory as eager steps,
the graph actually replayed, and a clear error where a graph cannot apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qseq.train.graphs as graphs
import qseq.train.loop as train_loop
from qseq.data import chronological_split, get_task
from qseq.models import build_model
from qseq.train import TrainConfig, fit

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_graphs_true_on_cpu_is_refused():
    X, y = np.zeros((8, 4, 1)), np.zeros((8, 1))
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        fit(build_model("qrnn"), (X, y), epochs=1, cuda_graphs=True, progress=False, plot=False)
    with pytest.raises((TypeError, ValueError), match="cuda_graphs"):
        TrainConfig(cuda_graphs="yes")


def test_graphs_apply_only_to_torch_engine_models_on_cuda():
    assert not graphs.graphs_apply(build_model("qlstm"), torch.device("cpu"))
    assert graphs.graphs_apply(build_model("lstm"), torch.device("cuda"))
    assert graphs.graphs_apply(build_model("qlstm"), torch.device("cuda"))
    pytest.importorskip("pennylane")
    assert not graphs.graphs_apply(build_model("qlstm").to_backend("pennylane:default.qubit"), torch.device("cuda"))


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("name, optimizer", [("qlstm", "rmsprop"), ("qfwp", "adam"), ("qgru", "sgd")])
def test_graphed_training_follows_the_eager_trajectory(name, optimizer, monkeypatch):
    # both runs use the capturable optimiser (its device-side step counter rounds differently from
    # the default one, which Adam's normalisation amplifies): only the graph differs
    make_optimizer = train_loop._make_optimizer
    monkeypatch.setattr(
        train_loop, "_make_optimizer", lambda model, cfg, capturable=False: make_optimizer(model, cfg, capturable=True)
    )
    X, y = get_task("damped_shm").load(seq_len=4)
    X_train, y_train, X_val, y_val = chronological_split(X[:90], y[:90])  # 60 windows: a short last batch of 4
    replays = []
    replay = graphs.GraphedStep.__call__
    monkeypatch.setattr(graphs.GraphedStep, "__call__", lambda self, *a: replays.append(1) or replay(self, *a))
    results = {}
    for use in (False, True):
        torch.manual_seed(0)
        model = build_model(name)
        config = TrainConfig(
            epochs=3,
            batch_size=8,
            optimizer=optimizer,
            device="cuda",
            cuda_graphs=use,
            progress=False,
            plot=False,
            restore_best=False,
        )
        result = fit(model, (X_train, y_train), (X_val, y_val), config=config)
        results[use] = (result.history, [p.detach().cpu() for p in model.parameters()])
    assert len(replays) == 3 * (60 // 8)  # every full batch of every epoch replayed the graph
    (eager_history, eager_params), (graph_history, graph_params) = results[False], results[True]
    for a, b in zip(eager_params, graph_params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for a, b in zip(eager_history, graph_history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-12)
        assert a["val_mse"] == pytest.approx(b["val_mse"], rel=1e-12)


@needs_cuda
def test_training_steps_prefer_cublaslt_and_restore_the_users_choice():
    seen = []
    model = build_model("qrnn").cuda()
    forward = model.forward
    model.forward = lambda x: seen.append(torch.backends.cuda.preferred_blas_library()) or forward(x)
    before = torch.backends.cuda.preferred_blas_library()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(4, 3, 1, device="cuda"), torch.rand(4, 1, device="cuda")
    graphs.StepRunner(model, optimizer, graphs=False)(x, y)
    assert seen == [torch._C._BlasBackend.Cublaslt]
    assert torch.backends.cuda.preferred_blas_library() == before
    with pytest.raises(RuntimeError, match="inside"), graphs.cublaslt(torch.device("cuda")):
        raise RuntimeError("inside")
    assert torch.backends.cuda.preferred_blas_library() == before


def test_cublaslt_leaves_cpu_steps_alone():
    before = torch.backends.cuda.preferred_blas_library()
    with graphs.cublaslt(torch.device("cpu")):
        assert torch.backends.cuda.preferred_blas_library() == before

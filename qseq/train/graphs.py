"""A whole training step — forward, MSE loss, backward, optimiser step — as one CUDA graph.

A recurrent quantum model issues hundreds of small kernels per step (every gate bank at every time
step, forward and backward), so on a GPU a step is bound by kernel launches and Python, not by
arithmetic. Captured once in a CUDA graph, the step replays as one launch. qseq's engine makes no
host synchronisation inside a step while a graph is captured (its NaN checks are skipped then; the
data are checked once by :func:`~qseq.train.fit`), so the recurrent models capture as they are.

Capture needs fixed shapes: a :class:`GraphedStep` serves one batch shape, and a batch of another
shape (the last, smaller batch of an epoch) runs eagerly on the same parameters and optimiser.

On CUDA every training step, captured, eager or data-parallel, runs its matrix products through
cuBLASLt (:func:`cublaslt`). The models' products are small (a batch of 32 against a ``(2D, K·2D)`` bank),
and cuBLAS splits many of them over the reduction dimension, adding a reduction kernel to each: a
paper-QLSTM step at batch 32 issued 996 kernels, 80 of them split-K reductions, and took 2.3 ms as a
graph on an H100; through cuBLASLt it issued 950 with none and took 1.8 ms (2.15 against 2.45 ms at
batch 1,024).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..backends.torch_engine import TorchBackend
from ..models import QuantumModel
from .evaluation import _check_output

__all__ = ["GraphedStep", "StepRunner", "cublaslt", "graphs_apply"]

logger = logging.getLogger("qseq.train")

#: Eager steps run before capture (PyTorch's guidance: at least a few, so lazily created state —
#: optimiser moments, compiled circuits, device tables, library workspaces — exists).
WARMUP_STEPS = 3


def graphs_apply(model: nn.Module, device: torch.device) -> bool:
    """Whether a training step of ``model`` can be captured: CUDA, and every circuit of the model
    runs on the torch engine (other backends leave torch, which a graph cannot hold)."""
    if device.type != "cuda":
        return False
    return not isinstance(model, QuantumModel) or all(isinstance(b, TorchBackend) for b in model.backends())


@contextlib.contextmanager
def cublaslt(device: torch.device) -> Iterator[None]:
    """Prefer cuBLASLt for matrix products inside the block when ``device`` is a CUDA device (module
    docstring), and restore the preference found on the way out; nothing elsewhere."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.preferred_blas_library()
    torch.backends.cuda.preferred_blas_library("cublaslt")
    try:
        yield
    finally:
        torch.backends.cuda.preferred_blas_library(before)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with cublaslt(x.device):
        pred = model(x)
        _check_output(pred, y.shape)
        loss = F.mse_loss(pred, y)
        loss.backward()
        optimizer.step()
    return loss


class GraphedStep:
    """One training step of ``model`` for batches shaped like ``x``, ``y``, captured as a CUDA graph.

    The warm-up steps before capture change nothing: parameters and optimiser state are put back as
    they were, so training with and without the graph follows the same trajectory (up to the order
    of floating-point reductions inside kernels, which a graph does not change).

    Args:
        model, optimizer: on a CUDA device; the optimiser built with ``capturable=True`` where it
            has the option (Adam, RMSprop).
        x, y: a batch of the shape to capture (their values are not used for the graph).

    Call: ``loss = step(x, y)`` copies the batch into the graph's inputs, replays, and returns the
    loss as a device tensor (reading it is the only synchronisation).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
        self.model, self.optimizer = model, optimizer
        self.x, self.y = x.clone(), y.clone()
        params = [p for group in optimizer.param_groups for p in group["params"]]
        saved_params = [p.detach().clone() for p in params]
        saved_state = {
            p: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()} for p, s in optimizer.state.items()
        }
        saved_rng = torch.cuda.get_rng_state(x.device)
        stream = torch.cuda.Stream(x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        try:
            with torch.cuda.stream(stream):
                for _ in range(WARMUP_STEPS):
                    optimizer.zero_grad(set_to_none=True)
                    _step(model, optimizer, self.x, self.y)
            torch.cuda.current_stream(x.device).wait_stream(stream)
        finally:  # the warm-up leaves no trace, also when it fails
            torch.cuda.set_rng_state(saved_rng, x.device)
            with torch.no_grad():
                for p, value in zip(params, saved_params, strict=True):
                    p.copy_(value)
                for p, state in optimizer.state.items():  # moments created by the warm-up start at zero
                    before = saved_state.get(p, {})
                    for k, v in state.items():
                        if torch.is_tensor(v) and k in before:
                            v.copy_(before[k])
                        elif torch.is_tensor(v):
                            v.zero_()
        optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            # detached: the captured loss must not keep this step's autograd graph alive
            self.loss = _step(model, optimizer, self.x, self.y).detach()

    @property
    def shapes(self) -> tuple[torch.Size, torch.Size]:
        """The batch shapes the graph was captured for."""
        return self.x.shape, self.y.shape

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


class StepRunner:
    """Runs training steps, through a :class:`GraphedStep` where one is captured (``graphs=True``:
    for the shape of the first batch — a full one unless the data are fewer windows than a batch)
    and eagerly for batches of another shape. A capture that fails is reported once and training
    goes on eagerly.

    Call: ``loss = runner(x, y)``, the batch's mean loss as a detached device tensor.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, graphs: bool):
        self.model, self.optimizer, self.graphs = model, optimizer, graphs
        self.graphed: GraphedStep | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.graphs and self.graphed is None:
            try:
                self.graphed = GraphedStep(self.model, self.optimizer, x, y)
            except RuntimeError as err:  # e.g. an operation that cannot be captured
                logger.warning("CUDA graph capture failed, training eagerly: %s", err)
                self.graphs = False
        if self.graphed is not None and self.graphed.shapes == (x.shape, y.shape):
            return self.graphed(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        return _step(self.model, self.optimizer, x, y).detach()

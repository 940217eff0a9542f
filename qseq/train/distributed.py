"""Data-parallel training on ``torch.distributed`` (the process group: :mod:`qseq._distributed`): the
model wrapped in ``DistributedDataParallel`` and the sharded training step.

Every process (rank) holds the whole model and the whole data and draws the same batch order (the
batch-order generator is seeded alike everywhere). Each global batch of ``B`` windows is dealt out
round-robin, rank ``r`` taking windows ``r, r + W, r + 2W, …`` of it; a rank computes

    L_r = (W / (B · F)) · Σ_{i ∈ shard r} ‖ŷ_i − y_i‖²

and :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients over the ``W`` ranks, so
the step is exactly the one-process step on the whole batch (the mean squared error over ``B``
windows and ``F`` outputs), up to the order of floating-point sums. A rank whose shard is empty (a
last batch smaller than ``W``) runs one window with weight 0, so it still joins the gradient
all-reduce. Rank 0 alone writes files and shows progress; every rank computes the same metrics on
the whole data, so early stopping and best-epoch choices agree without communication.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._distributed import Team
from .evaluation import _check_output
from .graphs import cublaslt

__all__ = ["wrap", "sharded_step"]


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (rank 0's weights broadcast)."""
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def sharded_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, team: Team
) -> torch.Tensor:
    """One optimiser step on this rank's shard of the global batch ``x``, ``y``; returns the shard's
    share of the batch's mean loss (detached): summed over the ranks it is that mean."""
    optimizer.zero_grad(set_to_none=True)
    shard = torch.arange(team.rank, x.shape[0], team.world, device=x.device)
    weight = team.world / (x.shape[0] * y.shape[-1])
    if len(shard) == 0:  # join the all-reduce with a zero-weight window
        shard, weight = torch.zeros(1, dtype=torch.long, device=x.device), 0.0
    with cublaslt(x.device):
        pred = model(x[shard])
        _check_output(pred, y[shard].shape)
        loss = F.mse_loss(pred, y[shard], reduction="sum")
        (loss * weight).backward()
        optimizer.step()
    return loss.detach() * (weight / team.world)

"""Data-parallel training on ``torch.distributed``: :func:`join` the process group a ``torchrun``
launch describes, and the sharded training step.

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

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .evaluation import _check_output

__all__ = ["Team", "join", "launched_by_torchrun", "is_main_process", "wrap", "sharded_step", "total", "barrier"]


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or any launcher that sets ``WORLD_SIZE``,
    ``RANK`` and ``MASTER_ADDR``) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "MASTER_ADDR" in os.environ


@dataclass(frozen=True)
class Team:
    """This process's place in the process group."""

    rank: int
    world: int

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0


def join(distributed: bool | None, device: torch.device) -> tuple[Team | None, torch.device]:
    """The process group to train in (``None``: train alone) and the device this rank uses.

    ``distributed=None`` joins when a group is already initialised or ``torchrun`` launched the
    process; ``True`` requires one; ``False`` never joins. A launch without an initialised group is
    initialised here (NCCL for CUDA devices, gloo otherwise). On CUDA a device without an index
    becomes ``cuda:LOCAL_RANK``, one GPU per process.
    """
    if distributed is False:
        return None, device
    if not dist.is_available():
        if distributed:
            raise ValueError("distributed=True, but this torch build has no torch.distributed")
        return None, device
    if not dist.is_initialized():
        if not launched_by_torchrun():
            if distributed:
                raise ValueError(
                    "distributed=True needs a torchrun launch (e.g. torchrun --nproc_per_node=2 -m qseq train ...) "
                    "or a process group initialised with torch.distributed.init_process_group"
                )
            return None, device
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    team = Team(dist.get_rank(), dist.get_world_size())
    return (team if team.world > 1 else None), device


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
    pred = model(x[shard])
    _check_output(pred, y[shard].shape)
    loss = F.mse_loss(pred, y[shard], reduction="sum")
    (loss * weight).backward()
    optimizer.step()
    return loss.detach() * (weight / team.world)


def is_main_process() -> bool:
    """Whether this process writes shared outputs: it trains alone, or it is rank 0 of its group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    dist.barrier()


def total(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over all ranks."""
    value = value.clone()
    dist.all_reduce(value)
    return value

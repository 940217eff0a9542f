"""Process groups for data-parallel work (training, reinforcement learning, reservoir features):
:func:`join` the group a ``torchrun`` launch describes, and the few collectives qseq uses."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "Team",
    "join",
    "launched_by_torchrun",
    "is_main_process",
    "barrier",
    "total",
    "gather_objects",
    "gather_tensors",
    "average_gradients",
]


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or any launcher that sets ``WORLD_SIZE``,
    ``RANK`` and ``MASTER_ADDR``) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "MASTER_ADDR" in os.environ


@dataclass(frozen=True)
class Team:
    """This process's place in the process group."""

    rank: int
    world: int

    def part(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (shares differ in size by at most one)."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)

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


def gather_objects(value) -> list:
    """Every rank's ``value`` (picklable), in rank order."""
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def gather_tensors(value: torch.Tensor) -> torch.Tensor:
    """Every rank's ``value`` (same shape everywhere) concatenated along the first dimension, in rank order."""
    parts = [torch.empty_like(value) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, value.contiguous())
    return torch.cat(parts)


def average_gradients(module: torch.nn.Module) -> None:
    """Replace every gradient of ``module`` by its mean over the ranks (one all-reduce of all of them,
    what ``DistributedDataParallel`` does after a backward pass)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()

"""The optimiser of an agent and one gradient step on a loss (shared by A2C, PPO and DRQN)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["make_optimizer", "gradient_step"]


def make_optimizer(module: torch.nn.Module, config) -> torch.optim.Optimizer:
    """``config.optimizer`` over ``module``'s trainable parameters: Adam (eps 1e-5) or RMSprop (alpha
    0.99, eps 1e-5, as A2C implementations use)."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the agent has no trainable parameters")
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, alpha=0.99, eps=1e-5)
    return torch.optim.Adam(params, lr=config.lr, eps=1e-5)


def gradient_step(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float,
    sync: Callable[[nn.Module], None] | None = None,
) -> None:
    """Back-propagate ``loss``; with ``sync`` (data-parallel training) replace the gradients by their
    mean over the processes; clip their global norm to ``max_grad_norm``; step the optimiser."""
    optimizer.zero_grad()
    loss.backward()
    if sync is not None:
        sync(agent)
    nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
    optimizer.step()

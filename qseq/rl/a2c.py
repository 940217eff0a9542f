"""Synchronous advantage actor-critic (A2C) for recurrent agents.

One update per rollout: the rollout is replayed from its initial recurrent state with gradients,
and one optimiser step is taken on

    L = -mean(A_t · log π(a_t | h_t)) + vf_coef · ½ mean((R_t - V(h_t))²) - ent_coef · mean(H[π(· | h_t)])

with ``A_t``, ``R_t`` from :func:`~qseq.rl.rollout.advantages` (``gae_lambda = 1``: ``n``-step returns,
as in A3C), gradients clipped to ``max_grad_norm``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .agents import RecurrentActorCritic
from .config import A2CConfig
from .optim import gradient_step
from .rollout import Rollout, advantages

__all__ = ["a2c_update"]


def a2c_update(
    agent: RecurrentActorCritic,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: A2CConfig,
    sync: Callable[[nn.Module], None] | None = None,
) -> dict[str, float]:
    """One A2C step on ``rollout``; returns the losses. ``sync`` (data-parallel training) replaces the
    gradients by their mean over the processes before clipping."""
    adv, returns = advantages(rollout, config.gamma, config.gae_lambda)
    _, logprob, entropy, value, _ = agent.get_action_and_value(
        rollout.obs, rollout.initial_state, rollout.starts, rollout.actions
    )
    policy_loss = -(adv * logprob).mean()
    value_loss = 0.5 * (returns - value).pow(2).mean()
    entropy_mean = entropy.mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy_mean
    gradient_step(agent, optimizer, loss, config.max_grad_norm, sync)
    return {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_mean.item()}

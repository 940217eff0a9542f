"""Recurrent proximal policy optimisation (PPO, clipped objective), after CleanRL's ``ppo_atari_lstm``.

Each rollout is used for ``update_epochs`` passes. A pass splits the environments into
``n_minibatches`` groups; each group's ``(T, N/M)`` slice is replayed from its initial recurrent state
(so the state is exactly the one the actions were taken with, up to the parameter change) and gives
one optimiser step on

    L = mean(max(-A·ρ, -A·clip(ρ, 1-ε, 1+ε))) + vf_coef · ½ mean(max((V - R)², (V_clip - R)²)) - ent_coef · mean(H)

with ``ρ = π(a|h) / π_old(a|h)``, advantages normalised per minibatch, gradients clipped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .agents import RecurrentActorCritic
from .config import PPOConfig
from .optim import gradient_step
from .rollout import Rollout, advantages

__all__ = ["ppo_update"]


def ppo_update(
    agent: RecurrentActorCritic,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: PPOConfig,
    generator: torch.Generator,
    sync: Callable[[nn.Module], None] | None = None,
) -> dict[str, float]:
    """``update_epochs`` passes over ``rollout`` (minibatch order drawn from ``generator``); returns
    the last minibatch's losses, the mean approximate KL and the clip fraction. ``sync`` (data-parallel
    training) replaces the gradients by their mean over the processes before clipping."""
    adv_all, returns_all = advantages(rollout, config.gamma, config.gae_lambda)
    n_envs = rollout.obs.shape[1]
    per_batch = n_envs // config.n_minibatches
    kls, clipped = [], []
    stats: dict[str, float] = {}
    for _ in range(config.update_epochs):
        order = torch.randperm(n_envs, generator=generator).to(rollout.obs.device)
        for start in range(0, n_envs, per_batch):
            envs = order[start : start + per_batch]
            _, logprob, entropy, value, _ = agent.get_action_and_value(
                rollout.obs[:, envs],
                agent.core.select(rollout.initial_state, envs),
                rollout.starts[:, envs],
                rollout.actions[:, envs],
            )
            log_ratio = logprob - rollout.logprobs[:, envs]
            ratio = log_ratio.exp()
            with torch.no_grad():
                kls.append(((ratio - 1) - log_ratio).mean().item())
                clipped.append(((ratio - 1.0).abs() > config.clip_coef).float().mean().item())
            adv = adv_all[:, envs]
            if config.norm_adv and adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)).mean()
            returns = returns_all[:, envs]
            if config.clip_vloss:
                old = rollout.values[:, envs]
                clipped_value = old + (value - old).clamp(-config.clip_coef, config.clip_coef)
                value_loss = 0.5 * torch.max((value - returns).pow(2), (clipped_value - returns).pow(2)).mean()
            else:
                value_loss = 0.5 * (value - returns).pow(2).mean()
            entropy_mean = entropy.mean()
            loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy_mean
            gradient_step(agent, optimizer, loss, config.max_grad_norm, sync)
            stats = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_mean.item()}
        if config.target_kl is not None and sum(kls) / len(kls) > config.target_kl:
            break
    return {**stats, "approx_kl": sum(kls) / len(kls), "clip_fraction": sum(clipped) / len(clipped)}

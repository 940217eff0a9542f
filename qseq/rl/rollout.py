"""Collecting on-policy rollouts from a vector env with a recurrent actor-critic, and their
advantages.

A rollout holds ``T = n_steps`` steps of ``N`` environments, ``(T, N, ...)`` each, and the recurrent
state it started from, so training can replay it exactly (truncated backpropagation through time).
Episode ends inside a rollout reset the state through ``starts``. An episode cut by a time limit
(truncated, not terminated) is bootstrapped: ``γ·V(final observation)`` — valued with the
environment's recurrent state before the reset — is added to its last reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..models.episodes import map_state
from .agents import RecurrentActorCritic, RunningNorm
from .core import State

__all__ = ["Rollout", "Collector", "advantages"]


@dataclass
class Rollout:
    """``(T, N)`` tensors of one rollout, ``obs`` ``(T, N, F)``, and the state before its first step."""

    obs: torch.Tensor
    starts: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    ends: torch.Tensor  # the episode ended at this step (terminated or truncated)
    initial_state: State
    last_value: torch.Tensor  # V of the observation after the last step, (N,)


@dataclass
class Collector:
    """Steps a vector env with an agent and keeps everything between rollouts: the next observation,
    whether it starts an episode, the recurrent state, and the returns of finished episodes."""

    envs: Any
    agent: RecurrentActorCritic
    gamma: float
    normalize_reward: bool = False
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    obs: torch.Tensor | None = None
    starts: torch.Tensor | None = None
    state: State = None
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    return_norm: RunningNorm = field(default_factory=lambda: RunningNorm(1, dtype=torch.float64))
    discounted: torch.Tensor | None = None  # each environment's running discounted return

    def __post_init__(self) -> None:
        self.return_norm.to(self.device)

    def reset(self, seed: int) -> None:
        """Start every environment afresh (env ``i`` seeded with ``seed + i``), state zero."""
        obs, _ = self.envs.reset(seed=seed)
        self.obs = self._tensor(obs)
        self.starts = torch.ones(self.envs.num_envs, dtype=torch.bool, device=self.device)
        self.state = None

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def collect(self, n_steps: int) -> Rollout:
        """Act ``n_steps`` steps in every environment."""
        assert self.obs is not None and self.starts is not None, "call reset() first"
        initial_state = map_state(self.state, torch.Tensor.detach)
        obs, starts, actions, logprobs, values, rewards, ends = [], [], [], [], [], [], []
        for _ in range(n_steps):
            action, logprob, _, value, state = self.agent.get_action_and_value(
                self.obs[None], self.state, self.starts[None]
            )
            next_obs, reward, terminated, truncated, info = self.envs.step(action[0].cpu().numpy())
            reward = self._scaled(self._tensor(reward), terminated, truncated)
            cut = np.asarray(truncated) & ~np.asarray(terminated)
            if cut.any():
                reward += self.gamma * self._final_values(info, cut, next_obs, state)
            obs.append(self.obs)
            starts.append(self.starts)
            actions.append(action[0])
            logprobs.append(logprob[0])
            values.append(value[0])
            rewards.append(reward)
            end = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated), device=self.device)
            ends.append(end)
            self._record(info)
            self.obs, self.starts, self.state = self._tensor(next_obs), end, state
        last_value = self.agent.get_value(self.obs[None], self.state, self.starts[None])[0]
        stack = torch.stack
        return Rollout(
            stack(obs),
            stack(starts),
            stack(actions),
            stack(logprobs),
            stack(values),
            stack(rewards),
            stack(ends),
            initial_state,
            last_value,
        )

    def _scaled(self, reward: torch.Tensor, terminated, truncated) -> torch.Tensor:
        """``reward / σ(discounted return)`` with normalisation on, else ``reward``."""
        if not self.normalize_reward:
            return reward
        if self.discounted is None:
            self.discounted = torch.zeros_like(reward, dtype=torch.float64)
        self.discounted = self.discounted * self.gamma + reward.double()
        self.return_norm.update(self.discounted[:, None])
        ended = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated), device=self.device)
        self.discounted = self.discounted.masked_fill(ended, 0.0)
        scale = torch.sqrt(self.return_norm.var + 1e-8).to(reward.dtype)
        return (reward / scale).clamp(-10.0, 10.0)

    def _final_values(self, info: dict, cut: np.ndarray, next_obs, state: State) -> torch.Tensor:
        """``V(final observation)`` where ``cut``, 0 elsewhere (one batched call for all envs)."""
        final = np.array(next_obs, copy=True)
        for i in np.flatnonzero(cut):
            final[i] = info["final_obs"][i]
        no_start = torch.zeros_like(self.starts)
        value = self.agent.get_value(self._tensor(final)[None], state, no_start[None])[0]
        return value * torch.as_tensor(cut, dtype=value.dtype, device=self.device)

    def _record(self, info: dict) -> None:
        if "episode" not in info:
            return
        done = info["_episode"]
        self.episode_returns += [float(r) for r in info["episode"]["r"][done]]
        self.episode_lengths += [int(n) for n in info["episode"]["l"][done]]


def advantages(rollout: Rollout, gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns ``(T, N)``: ``δ_t = r_t + γ V_{t+1} (1 - end_t) - V_t``,
    ``A_t = δ_t + γλ (1 - end_t) A_{t+1}``, ``R_t = A_t + V_t`` (λ = 1: ``n``-step returns)."""
    T = rollout.rewards.shape[0]
    adv = torch.zeros_like(rollout.rewards)
    last = torch.zeros_like(rollout.last_value)
    for t in reversed(range(T)):
        next_value = rollout.last_value if t == T - 1 else rollout.values[t + 1]
        alive = 1.0 - rollout.ends[t].to(rollout.rewards.dtype)
        delta = rollout.rewards[t] + gamma * next_value * alive - rollout.values[t]
        last = delta + gamma * gae_lambda * alive * last
        adv[t] = last
    return adv, adv + rollout.values

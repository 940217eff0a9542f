"""Recurrent agents for discrete actions: an actor-critic (A2C, PPO) and a Q-network (DRQN), each a
:class:`~qseq.rl.core.RecurrentCore` with linear heads, in the explicit style of CleanRL.

Every method takes whole sequences ``(T, N, ...)`` — ``T = 1`` while acting — together with the
recurrent state before the first step and ``starts`` ``(T, N)``, true where an observation is the
first of an episode (the state is reset there).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical

from ..backends import Backend
from .core import RecurrentCore, State, build_core

__all__ = ["RecurrentActorCritic", "RecurrentQNetwork", "RunningNorm", "build_agent"]


def _layer_init(layer: nn.Linear, std: float) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and zero bias (the PPO implementation details' heads)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


class RunningNorm(nn.Module):
    """``clamp((x - μ) / √(σ² + 1e-8), ±clip)`` with running moments ``μ``, ``σ²`` of the observations
    seen so far (buffers: saved with the agent, used unchanged when it is evaluated).

    The moments change only through :meth:`update` — the training loop calls it once per rollout,
    after the update — so a rollout is replayed with exactly the normalisation it was collected with.
    """

    def __init__(self, features: int, clip: float = 10.0, dtype=torch.float32):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(features, dtype=dtype))
        self.register_buffer("var", torch.ones(features, dtype=dtype))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge the moments of ``x`` ``(..., features)`` (Chan et al.'s parallel update)."""
        x = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        n, total = x.shape[0], self.count + x.shape[0]
        delta = x.mean(0) - self.mean
        m2 = self.var * self.count + x.var(0, unbiased=False) * n + delta.pow(2) * self.count * n / total
        self.mean += delta * (n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)


class _RecurrentAgent(nn.Module):
    core: RecurrentCore
    obs_norm: RunningNorm | None

    def backends(self) -> tuple[Backend, ...]:
        return self.core.backends()

    def _normalized(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_norm is None else self.obs_norm(obs)

    def to_backend(self, spec: str | Backend):
        """Run the core's circuits on another backend (weights unchanged); returns ``self``."""
        if not self.core.backends():
            raise TypeError("this agent's core is classical: it has no circuits to move")
        self.core.model.to_backend(spec)
        return self


class RecurrentActorCritic(_RecurrentAgent):
    """``π(a | h_t)`` and ``V(h_t)`` from one recurrent core: ``h_t = core(o_1..o_t)``, then
    ``logits = actor(h_t)`` (``Linear(H → n_actions)``, orthogonal gain 0.01) and ``V = critic(h_t)``
    (``Linear(H → 1)``, gain 1).

    Args:
        core: the recurrent core (:func:`~qseq.rl.core.build_core`).
        n_actions: size of the discrete action space.
        obs_dim: observation features; with ``normalize_obs`` the observations are standardised by a
            :class:`RunningNorm` first (``obs_dim`` is needed then).
        normalize_obs: standardise observations with running moments.

    Observations are raw environment observations; the agent normalises them itself.
    """

    def __init__(self, core: RecurrentCore, n_actions: int, obs_dim: int | None = None, normalize_obs: bool = False):
        super().__init__()
        self.core = core
        self.obs_norm = _norm(obs_dim, normalize_obs, core)
        dtype = next(core.parameters()).dtype
        self.actor = _layer_init(nn.Linear(core.output_size, n_actions, dtype=dtype), 0.01)
        self.critic = _layer_init(nn.Linear(core.output_size, 1, dtype=dtype), 1.0)

    def get_value(self, obs: torch.Tensor, state: State, starts: torch.Tensor) -> torch.Tensor:
        """``V`` ``(T, N)`` of each observation."""
        hidden, _ = self.core(self._normalized(obs), state, starts)
        return self.critic(hidden).squeeze(-1)

    def get_action_and_value(
        self,
        obs: torch.Tensor,
        state: State,
        starts: torch.Tensor,
        action: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, State]:
        """Sample (or, with ``deterministic``, take the most probable) actions, or score given ones.

        Returns:
            ``(action, log π(action), entropy, V, state)``: ``(T, N)`` each, and the state after the
            last step.
        """
        hidden, state = self.core(self._normalized(obs), state, starts)
        dist = Categorical(logits=self.actor(hidden))
        if action is None:
            action = dist.probs.argmax(-1) if deterministic else dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(hidden).squeeze(-1), state

    def act(
        self, obs: torch.Tensor, state: State, starts: torch.Tensor, deterministic: bool = True
    ) -> tuple[torch.Tensor, State]:
        """Actions ``(T, N)`` (the most probable, or sampled with ``deterministic=False``) and the state
        after the last step."""
        hidden, state = self.core(self._normalized(obs), state, starts)
        logits = self.actor(hidden)
        action = logits.argmax(-1) if deterministic else Categorical(logits=logits).sample()
        return action, state


class RecurrentQNetwork(_RecurrentAgent):
    """``Q(h_t, ·) = head(h_t)`` (``Linear(H → n_actions)``) on a recurrent core (QLSTM-DRQN)."""

    def __init__(self, core: RecurrentCore, n_actions: int, obs_dim: int | None = None, normalize_obs: bool = False):
        super().__init__()
        self.core = core
        self.obs_norm = _norm(obs_dim, normalize_obs, core)
        dtype = next(core.parameters()).dtype
        self.head = nn.Linear(core.output_size, n_actions, dtype=dtype)

    def forward(self, obs: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """``Q`` ``(T, N, n_actions)`` and the state after the last step."""
        hidden, state = self.core(self._normalized(obs), state, starts)
        return self.head(hidden), state

    def act(
        self, obs: torch.Tensor, state: State, starts: torch.Tensor, deterministic: bool = True
    ) -> tuple[torch.Tensor, State]:
        """Greedy actions ``argmax_a Q`` ``(T, N)`` and the state after the last step. A Q-network has
        no stochastic policy of its own: ``deterministic=False`` is refused (ε-greedy exploration
        belongs to training, :mod:`qseq.rl.drqn`)."""
        if not deterministic:
            raise ValueError("a Q-network acts greedily: deterministic=False has no policy to sample from")
        q, state = self(obs, state, starts)
        return q.argmax(-1), state


def _norm(obs_dim: int | None, normalize_obs: bool, core: RecurrentCore) -> RunningNorm | None:
    if not normalize_obs:
        return None
    if obs_dim is None:
        raise ValueError("normalize_obs=True needs obs_dim")
    return RunningNorm(obs_dim, dtype=next(core.parameters()).dtype)


def build_agent(config, obs_dim: int, n_actions: int) -> RecurrentActorCritic | RecurrentQNetwork:
    """The agent an :class:`~qseq.rl.config.RLConfig` describes, initialised from torch's RNG: a
    :class:`RecurrentQNetwork` for DRQN, a :class:`RecurrentActorCritic` otherwise."""
    core = build_core(
        config.model,
        obs_dim,
        hidden_size=config.hidden_size,
        n_qubits=config.n_qubits,
        n_layers=config.n_layers,
        backend=config.backend,
        reservoir=config.reservoir,
        seed=config.seed,
    )
    cls = RecurrentQNetwork if config.algo == "drqn" else RecurrentActorCritic
    return cls(core, n_actions, obs_dim, config.normalize_obs)

"""Deep recurrent Q-learning (DRQN) with an episode replay buffer, after the QLSTM-DRQN paper
(Chen, arXiv 2210.14876: a QLSTM value-function approximator, ε-greedy exploration, a target network
and replayed episodes, on CartPole with partial observation) — on any recurrent core.

Acting: one Q-network call per vector step for all environments (``T = 1``), the recurrent state reset
at every episode start; an action is greedy with probability ``1 − ε`` and uniform otherwise. Finished
episodes go whole into an :class:`EpisodeReplay` (observations including the last one, actions,
rewards, and whether the episode terminated or was truncated by a time limit).

Learning (every ``train_frequency`` vector steps once ``learning_starts`` steps are done): a batch of
sub-sequences of stored episodes, R2D2-style. Each holds ``seq_len`` transitions preceded by
``burn_in`` observations that only warm the recurrent state (run without gradient); the state is
zero where a window reaches back to its episode's first observation, and sequences never cross
an episode boundary. The loss is Huber on

    y_t = r_t + γ · (1 − terminated_t) · Q_target(h'_{t+1}, argmax_a Q(h_{t+1}, a))   (double Q)
    y_t = r_t + γ · (1 − terminated_t) · max_a Q_target(h'_{t+1}, a)                  (plain)

where ``h_{t+1}`` is the recurrent state after observation ``o_{t+1}`` of the same sequence. At a
truncated end (time limit) ``o_{t+1}`` is the episode's last observation and the target bootstraps
from it; only a terminated end has ``y_t = r_t``. The target network follows the online one every
``target_update_every`` gradient steps: ``θ' ← τ θ + (1 − τ) θ'`` (``τ = 1``: hard copy).

Why sub-sequences with burn-in rather than whole episodes: CartPole episodes run to 500 steps, so a
whole-episode batch costs up to 500 recurrent steps per sequence per update — for a quantum core, each
a batch of circuit evaluations — and its length (so its cost) varies with how good the policy already is.
Fixed windows bound every update's cost, and the burn-in gives the windows that start inside an
episode a recurrent state close to the one the actions were taken with (Kapturowski et al., R2D2). Set
``burn_in = seq_len`` ≥ the episode length (e.g. for ``qseq/CueRecall-v0``) to always train on whole
episodes from their first observation.

:func:`train_drqn` writes the run directory like :func:`~qseq.rl.train` (``config.json``, metrics,
``checkpoint.pt``, ``learning_curve.png``); the checkpoint also holds the target network, the
replay buffer and the episodes in progress, so ``resume=True`` continues exactly.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._rng import rng_state, seed_everything, set_rng_state
from .._threads import small_work_threads
from ..models.episodes import map_state
from .agents import RecurrentQNetwork, build_agent
from .checkpoint import open_run, pickle_envs, plain_state, progress_row, show_progress, unpickle_envs
from .config import ALGORITHMS, RLConfig
from .core import State
from .optim import gradient_step, make_optimizer
from .runner import RLResult
from .vector import make_vector_env, space_sizes

__all__ = [
    "DRQNConfig",
    "EpisodeReplay",
    "SequenceBatch",
    "drqn_loss",
    "drqn_update",
    "epsilon",
    "td_targets",
    "train_drqn",
]


@dataclass
class DRQNConfig(RLConfig):
    """Deep recurrent Q-learning with an episode replay buffer (see :mod:`qseq.rl.drqn`).

    One *update* of the loop is ``train_frequency`` steps of the vector env (``n_envs`` environment
    steps each) followed by one gradient step on a batch of replayed sequences (none before
    ``learning_starts``); ``checkpoint_every`` and ``log_every`` count these updates.
    """

    algo: ClassVar[str] = "drqn"
    _zero_ok: ClassVar[frozenset[str]] = frozenset({"burn_in"})

    n_envs: int = 4

    buffer_episodes: int = 1000
    """Capacity of the replay buffer in whole episodes (the oldest go first)."""

    batch_size: int = 32
    """Sequences per gradient step."""

    seq_len: int = 16
    """Transitions per training sequence (a window of one episode; shorter at the episode's ends,
    padded and masked)."""

    burn_in: int = 8
    """Observations before each window that only warm the recurrent state (no gradient, no loss);
    cut at the episode's first observation, where the state is zero."""

    learning_starts: int = 1000
    """Environment steps (summed over the environments) before the first gradient step."""

    train_frequency: int = 1
    """Steps of the vector env between two gradient steps."""

    target_update_every: int = 100
    """Gradient steps between two target-network updates."""

    tau: float = 1.0
    """Target update ``θ' ← τ θ + (1 − τ) θ'``: 1 is a hard copy every ``target_update_every`` steps,
    a small ``τ`` with ``target_update_every = 1`` is Polyak averaging. In ``(0, 1]``."""

    eps_start: float = 1.0
    """ε of the ε-greedy policy at step 0."""

    eps_end: float = 0.05
    """ε after the decay (kept to the end)."""

    exploration_fraction: float = 0.5
    """Fraction of ``total_steps`` over which ε decays linearly from ``eps_start`` to ``eps_end``
    (raising ``total_steps`` on resume stretches the schedule)."""

    double_q: bool = True
    """Double Q-learning: the online network picks the next action, the target network values it."""

    lr: float = 1e-3
    optimizer: Literal["adam", "rmsprop"] = "adam"
    gamma: float = 0.99
    max_grad_norm: float = 10.0

    normalize_reward: bool = False
    """Must stay ``False``: replayed rewards must keep one scale (scale them in the environment)."""

    checkpoint_every: int = 1000

    log_every: int = 50
    """Add a row to the history (and ``metrics.csv``) every this many updates (and at the end)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.normalize_reward:
            raise ValueError(
                f"{name}.normalize_reward must be False: DRQN replays stored rewards, whose running scale would "
                "drift between when they were stored and when they are learnt from"
            )
        if self.device != "cpu":
            raise ValueError(f"{name}.device must be 'cpu': DRQN acts and learns on the CPU, got {self.device!r}")
        for key in ("eps_start", "eps_end", "exploration_fraction"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"{name}.{key} must be in [0, 1], got {getattr(self, key)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"{name}.tau must be in (0, 1], got {self.tau}")
        if self.eps_end > self.eps_start:
            raise ValueError(f"{name}.eps_end ({self.eps_end}) must not exceed eps_start ({self.eps_start})")

    @property
    def steps_per_update(self) -> int:
        return self.n_envs * self.train_frequency


ALGORITHMS["drqn"] = DRQNConfig


def epsilon(config: DRQNConfig, step: int) -> float:
    """ε at environment step ``step``: linear from ``eps_start`` to ``eps_end`` over
    ``exploration_fraction · total_steps`` steps, then ``eps_end``."""
    span = config.exploration_fraction * config.total_steps
    frac = 1.0 if span <= 0 else min(1.0, step / span)
    return config.eps_start + frac * (config.eps_end - config.eps_start)


# -- replay ------------------------------------------------------------------------------------------


@dataclass
class SequenceBatch:
    """``B`` training sequences, time first. ``T = burn_in + seq_len + 1`` observations; position
    ``burn_in + j`` is the observation of transition ``j`` (``j < seq_len``), position
    ``burn_in + j + 1`` the next one."""

    obs: torch.Tensor  # (T, B, F); zeros where padded
    starts: torch.Tensor  # (T, B) bool: the episode's first observation
    actions: torch.Tensor  # (S, B) int64
    rewards: torch.Tensor  # (S, B)
    terminated: torch.Tensor  # (S, B) bool: the episode terminated with this transition (no bootstrap)
    mask: torch.Tensor  # (S, B) bool: a real transition (not padding)
    burn_in: int


@dataclass
class Episode:
    obs: np.ndarray  # (L + 1, F): every observation, the last one (terminal or truncated) included
    actions: np.ndarray  # (L,) int64
    rewards: np.ndarray  # (L,) float32
    terminated: bool  # False: truncated (time limit), bootstrapped from obs[L]

    def __len__(self) -> int:
        return len(self.actions)


class EpisodeReplay:
    """A FIFO buffer of whole episodes, sampled as fixed-length windows (:class:`SequenceBatch`).

    Sampling draws an episode with probability proportional to ``L + seq_len − 1`` and a window start
    ``s`` uniformly in ``[−(seq_len − 1), L − 1]``; the window's transitions are ``[s, s + seq_len) ∩ [0, L)``.
    Every stored transition is then equally likely to be trained on, at every position of a window.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.episodes: deque[Episode] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def transitions(self) -> int:
        return sum(len(e) for e in self.episodes)

    def add(self, obs, actions, rewards, terminated: bool) -> None:
        """Store one finished episode: ``obs`` ``(L + 1, F)``, ``actions`` and ``rewards`` ``(L,)``."""
        obs = np.asarray(obs, dtype=np.float32)
        actions = np.asarray(actions, dtype=np.int64)
        rewards = np.asarray(rewards, dtype=np.float32)
        if len(actions) < 1 or obs.shape[0] != len(actions) + 1 or len(rewards) != len(actions):
            raise ValueError(
                f"an episode needs L >= 1 actions and rewards and L + 1 observations, got {obs.shape[0]} "
                f"observations, {len(actions)} actions, {len(rewards)} rewards"
            )
        self.episodes.append(Episode(obs, actions, rewards, bool(terminated)))

    def sample(self, batch_size: int, seq_len: int, burn_in: int, generator: torch.Generator) -> SequenceBatch:
        """``batch_size`` windows (drawn from ``generator``)."""
        if not self.episodes:
            raise RuntimeError("the replay buffer is empty")
        lengths = torch.tensor([len(e) for e in self.episodes], dtype=torch.float64)
        weights = lengths + (seq_len - 1)
        which = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
        offsets = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        T, F_ = burn_in + seq_len + 1, self.episodes[0].obs.shape[1]
        obs = np.zeros((T, batch_size, F_), dtype=np.float32)
        starts = np.zeros((T, batch_size), dtype=bool)
        actions = np.zeros((seq_len, batch_size), dtype=np.int64)
        rewards = np.zeros((seq_len, batch_size), dtype=np.float32)
        terminated = np.zeros((seq_len, batch_size), dtype=bool)
        mask = np.zeros((seq_len, batch_size), dtype=bool)
        for b, (i, u) in enumerate(zip(which.tolist(), offsets.tolist(), strict=True)):
            ep = self.episodes[i]
            L = len(ep)
            s = min(int(u * weights[i].item()), L + seq_len - 2) - (seq_len - 1)  # window start in [-(S-1), L-1]
            first = s - burn_in  # episode step at position 0
            lo, hi = max(first, 0), min(s + seq_len, L) + 1  # observations present, the next one of the last included
            obs[lo - first : hi - first, b] = ep.obs[lo:hi]
            if first <= 0:
                starts[-first, b] = True
            t_lo, t_hi = max(s, 0), min(s + seq_len, L)
            j = slice(t_lo - s, t_hi - s)
            actions[j, b] = ep.actions[t_lo:t_hi]
            rewards[j, b] = ep.rewards[t_lo:t_hi]
            mask[j, b] = True
            if ep.terminated and t_hi == L:
                terminated[L - 1 - s, b] = True
        t = torch.from_numpy
        return SequenceBatch(t(obs), t(starts), t(actions), t(rewards), t(terminated), t(mask), burn_in)

    def state_dict(self) -> dict[str, Any]:
        """The episodes as concatenated tensors (loadable with ``weights_only=True``)."""
        eps = list(self.episodes)
        if not eps:
            return {"capacity": self.capacity, "lengths": torch.zeros(0, dtype=torch.int64)}
        return {
            "capacity": self.capacity,
            "lengths": torch.tensor([len(e) for e in eps], dtype=torch.int64),
            "terminated": torch.tensor([e.terminated for e in eps], dtype=torch.bool),
            "obs": torch.from_numpy(np.concatenate([e.obs for e in eps])),
            "actions": torch.from_numpy(np.concatenate([e.actions for e in eps])),
            "rewards": torch.from_numpy(np.concatenate([e.rewards for e in eps])),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes.clear()
        lengths = state["lengths"].tolist()
        if not lengths:
            return
        obs = np.split(state["obs"].numpy(), np.cumsum([n + 1 for n in lengths])[:-1])
        actions = np.split(state["actions"].numpy(), np.cumsum(lengths)[:-1])
        rewards = np.split(state["rewards"].numpy(), np.cumsum(lengths)[:-1])
        for o, a, r, term in zip(obs, actions, rewards, state["terminated"].tolist(), strict=True):
            self.episodes.append(Episode(o.copy(), a.copy(), r.copy(), bool(term)))


# -- learning ----------------------------------------------------------------------------------------


def td_targets(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    q_next_target: torch.Tensor,
    q_next_online: torch.Tensor | None,
    gamma: float,
) -> torch.Tensor:
    """``y = r + γ (1 − terminated) Q_target(o', a*)`` with ``a* = argmax Q_online(o')`` (double Q, when
    ``q_next_online`` is given) or ``argmax Q_target(o')``. ``rewards``, ``terminated`` ``(S, B)``,
    ``q_next_*`` ``(S, B, A)``."""
    if q_next_online is None:
        next_value = q_next_target.max(-1).values
    else:
        next_value = q_next_target.gather(-1, q_next_online.argmax(-1, keepdim=True)).squeeze(-1)
    return rewards + gamma * (~terminated).to(rewards.dtype) * next_value


def drqn_loss(
    q_net: RecurrentQNetwork, target_net: RecurrentQNetwork, batch: SequenceBatch, config: DRQNConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The masked Huber loss of ``batch`` and its ``Q(h_t, a_t)`` and TD targets ``(S, B)`` (targets
    without gradient; the burn-in runs without gradient too)."""
    dtype = next(q_net.parameters()).dtype
    obs, starts, k = batch.obs.to(dtype), batch.starts, batch.burn_in
    state: State = None
    if k:
        with torch.no_grad():
            _, state = q_net(obs[:k], None, starts[:k])
        state = map_state(state, torch.Tensor.detach)
    q, _ = q_net(obs[k:], state, starts[k:])  # (S + 1, B, A)
    q_taken = q[:-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        q_target, _ = target_net(obs, None, starts)
        targets = td_targets(
            batch.rewards.to(dtype),
            batch.terminated,
            q_target[k + 1 :],
            q[1:].detach() if config.double_q else None,
            config.gamma,
        )
    mask = batch.mask.to(dtype)
    loss = (F.smooth_l1_loss(q_taken, targets, reduction="none") * mask).sum() / mask.sum().clamp(min=1)
    return loss, q_taken, targets


def drqn_update(
    q_net: RecurrentQNetwork,
    target_net: RecurrentQNetwork,
    optimizer: torch.optim.Optimizer,
    batch: SequenceBatch,
    config: DRQNConfig,
) -> dict[str, float]:
    """One gradient step on ``batch`` (:func:`drqn_loss`, gradients clipped to ``max_grad_norm``);
    returns the loss, the mean ``Q`` of the actions taken and the mean target."""
    loss, q_taken, targets = drqn_loss(q_net, target_net, batch, config)
    gradient_step(q_net, optimizer, loss, config.max_grad_norm)
    mask = batch.mask.to(q_taken.dtype)
    n = mask.sum().clamp(min=1)
    return {
        "loss": loss.item(),
        "q_mean": ((q_taken.detach() * mask).sum() / n).item(),
        "target_mean": ((targets * mask).sum() / n).item(),
    }


@torch.no_grad()
def update_target(target_net: torch.nn.Module, q_net: torch.nn.Module, tau: float) -> None:
    """``θ' ← τ θ + (1 − τ) θ'`` for the parameters (a copy at ``τ = 1``); buffers (observation
    moments) are copied."""
    for pt, p in zip(target_net.parameters(), q_net.parameters(), strict=True):
        if tau == 1.0:
            pt.copy_(p)
        else:
            pt.lerp_(p, tau)
    for bt, b in zip(target_net.buffers(), q_net.buffers(), strict=True):
        bt.copy_(b)


# -- the training loop -------------------------------------------------------------------------------

#: Fields a resumed run may change: they do not alter the trajectory up to the checkpoint.
_RESUME_FREE = frozenset({"total_steps", "checkpoint_every", "progress", "plot", "log_every"})


class _Actor:
    """Steps the vector env ε-greedily and keeps each environment's episode in progress."""

    def __init__(self, envs, q_net: RecurrentQNetwork, replay: EpisodeReplay, n_actions: int):
        self.envs, self.q_net, self.replay, self.n_actions = envs, q_net, replay, n_actions
        self.obs: torch.Tensor | None = None
        self.starts: torch.Tensor | None = None
        self.state: State = None
        self.partial: list[dict[str, list]] = []
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.dtype = next(q_net.parameters()).dtype

    def reset(self, seed: int) -> None:
        obs, _ = self.envs.reset(seed=seed)
        n = self.envs.num_envs
        self.obs = torch.as_tensor(np.asarray(obs), dtype=self.dtype)
        self.starts = torch.ones(n, dtype=torch.bool)
        self.state = None
        self.partial = [{"obs": [], "actions": [], "rewards": []} for _ in range(n)]

    @torch.no_grad()
    def step(self, eps: float, generator: torch.Generator) -> None:
        q, state = self.q_net(self.obs[None], self.state, self.starts[None])
        n = q.shape[1]
        explore = torch.rand(n, generator=generator) < eps
        random_action = torch.randint(self.n_actions, (n,), generator=generator)
        action = torch.where(explore, random_action, q[0].argmax(-1))
        next_obs, reward, terminated, truncated, info = self.envs.step(action.numpy())
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        ended = terminated | truncated
        obs_np = self.obs.numpy()
        for i in range(n):
            ep = self.partial[i]
            ep["obs"].append(obs_np[i].copy())
            ep["actions"].append(int(action[i]))
            ep["rewards"].append(float(reward[i]))
            if ended[i]:
                final = np.asarray(info["final_obs"][i], dtype=np.float32)
                self.replay.add(np.stack([*ep["obs"], final]), ep["actions"], ep["rewards"], bool(terminated[i]))
                self.partial[i] = {"obs": [], "actions": [], "rewards": []}
        if self.q_net.obs_norm is not None:
            self.q_net.obs_norm.update(self.obs)
        if "episode" in info:
            done = info["_episode"]
            self.episode_returns += [float(r) for r in info["episode"]["r"][done]]
            self.episode_lengths += [int(x) for x in info["episode"]["l"][done]]
        self.obs = torch.as_tensor(np.asarray(next_obs), dtype=self.dtype)
        self.starts, self.state = torch.as_tensor(ended), state

    def partial_state(self) -> list[dict[str, torch.Tensor]]:
        out = []
        for ep in self.partial:
            k = len(ep["actions"])
            obs = np.stack(ep["obs"]) if k else np.zeros((0, self.obs.shape[1]), dtype=np.float32)
            out.append(
                {
                    "obs": torch.from_numpy(np.asarray(obs, dtype=np.float32)),
                    "actions": torch.tensor(ep["actions"], dtype=torch.int64),
                    "rewards": torch.tensor(ep["rewards"], dtype=torch.float32),
                }
            )
        return out

    def load_partial(self, saved: list[dict[str, torch.Tensor]]) -> None:
        self.partial = [
            {
                "obs": list(ep["obs"].numpy()),
                "actions": ep["actions"].tolist(),
                "rewards": ep["rewards"].tolist(),
            }
            for ep in saved
        ]


@small_work_threads()
def train_drqn(
    config: DRQNConfig, run_dir: str | Path | None = None, resume: bool = False, stop_at_step: int | None = None
) -> RLResult:
    """Train a recurrent Q-network with DRQN (see :mod:`qseq.rl.drqn`).

    Args:
        config: a :class:`DRQNConfig`.
        run_dir: where to write the run's files (``None``: nothing is written).
        resume: continue the run in ``run_dir`` from its checkpoint (``config`` must match the saved
            one apart from ``total_steps``, ``checkpoint_every``, ``log_every``, ``progress``, ``plot``).
        stop_at_step: stop once this many environment steps are done (a checkpoint is written there),
            to continue later with ``resume=True`` — for time-limited jobs; the ε and learning-rate
            schedules still run over ``total_steps``.

    Returns:
        :class:`~qseq.rl.runner.RLResult` with the trained :class:`~qseq.rl.agents.RecurrentQNetwork`
        as ``agent``; ``history`` has a row every ``log_every`` updates.
    """
    if not isinstance(config, DRQNConfig):
        raise TypeError(f"config must be a DRQNConfig, got {type(config).__name__}")
    files, checkpoint = open_run(config, run_dir, resume, _RESUME_FREE)

    seed_everything(config.seed)
    envs = make_vector_env(config.env_id, config.n_envs, config.env_kwargs)
    obs_dim, n_actions = space_sizes(envs, config.env_id)
    q_net = build_agent(config, obs_dim, n_actions)
    target_net = build_agent(config, obs_dim, n_actions)
    target_net.load_state_dict(q_net.state_dict())
    target_net.requires_grad_(False)
    optimizer = make_optimizer(q_net, config)
    generators = {
        "explore": torch.Generator().manual_seed(config.seed),
        "replay": torch.Generator().manual_seed(config.seed + 1),
    }
    replay = EpisodeReplay(config.buffer_episodes)
    actor = _Actor(envs, q_net, replay, n_actions)
    history: list[dict[str, Any]] = []
    episode_steps: list[int] = []
    update, step, grad_steps = 0, 0, 0
    last_losses: dict[str, float | None] = {"loss": None, "q_mean": None, "target_mean": None}
    if checkpoint is None:
        actor.reset(config.seed)
    else:
        q_net.load_state_dict(checkpoint["agent"])
        target_net.load_state_dict(checkpoint["target"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"], generators)
        update, step, grad_steps = checkpoint["update"], checkpoint["step"], checkpoint["grad_steps"]
        history, last_losses = checkpoint["history"], checkpoint["last_losses"]
        replay.load_state_dict(checkpoint["replay"])
        saved = checkpoint["collector"]
        actor.episode_returns, actor.episode_lengths = saved["episode_returns"], saved["episode_lengths"]
        episode_steps = saved["episode_steps"]
        if checkpoint["envs"] is not None:
            envs.reset(seed=config.seed)  # builds the vector env's buffers; the saved envs replace its envs
            unpickle_envs(envs, checkpoint["envs"])
            actor.obs, actor.starts, actor.state = saved["obs"], saved["starts"], saved["state"]
            actor.load_partial(saved["partial"])
        else:  # an episode boundary, fresh seeds; the episodes in progress are lost
            actor.reset(config.seed + 1_000_003 * update)
    if files is not None:
        files.write_config(config)

    n_updates = math.ceil(config.total_steps / config.steps_per_update)
    bar = tqdm(total=n_updates * config.steps_per_update, initial=step, unit="step", disable=not config.progress)
    started, steps_at_start = time.perf_counter(), step
    try:
        while update < n_updates and (stop_at_step is None or step < stop_at_step):
            before = len(actor.episode_returns)
            for _ in range(config.train_frequency):
                actor.step(epsilon(config, step), generators["explore"])
                step += config.n_envs
            update += 1
            episode_steps += [step] * (len(actor.episode_returns) - before)
            if step >= config.learning_starts and len(replay):
                if config.anneal_lr:
                    optimizer.param_groups[0]["lr"] = config.lr * (1.0 - update / n_updates)
                batch = replay.sample(config.batch_size, config.seq_len, config.burn_in, generators["replay"])
                last_losses = drqn_update(q_net, target_net, optimizer, batch, config)
                grad_steps += 1
                if grad_steps % config.target_update_every == 0:
                    update_target(target_net, q_net, config.tau)
            bar.update(config.steps_per_update)
            stopping = update == n_updates or (stop_at_step is not None and step >= stop_at_step)
            if update % config.log_every == 0 or stopping:
                elapsed = time.perf_counter() - started
                eps = epsilon(config, step)
                row = progress_row(
                    update,
                    step,
                    actor.episode_returns,
                    step - steps_at_start,
                    elapsed,
                    epsilon=eps,
                    grad_steps=grad_steps,
                    **last_losses,
                )
                history.append(row)
                show_progress(bar, row, eps=f"{eps:.2f}")
            if files is not None and (update % config.checkpoint_every == 0 or stopping):
                state = {
                    "agent": q_net.state_dict(),
                    "target": target_net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": rng_state(generators),
                    "update": update,
                    "step": step,
                    "grad_steps": grad_steps,
                    "history": history,
                    "last_losses": last_losses,
                    "collector": {
                        "obs": actor.obs,
                        "starts": actor.starts,
                        "state": plain_state(actor.state),
                        "partial": actor.partial_state(),
                        "episode_returns": actor.episode_returns,
                        "episode_lengths": actor.episode_lengths,
                        "episode_steps": episode_steps,
                    },
                    "replay": replay.state_dict(),
                    "envs": pickle_envs(envs),
                }
                files.save(config, state, actor.episode_returns)
    finally:
        bar.close()
        envs.close()
    if files is not None and config.plot and update == n_updates:
        files.plot(episode_steps, actor.episode_returns, f"DRQN {config.model} on {config.env_id}")
    return RLResult(q_net, config, history, actor.episode_returns, episode_steps, files.dir if files else None)

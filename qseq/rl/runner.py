"""Training loop of the on-policy agents (A2C, recurrent PPO): :func:`train`.

Per update: collect ``n_steps`` steps of every environment (one agent call per step for all
environments), update (:func:`~qseq.rl.a2c.a2c_update` or :func:`~qseq.rl.ppo.ppo_update`), log a row.
With a run directory it writes ``config.json``, ``metrics.csv``/``metrics.json`` and ``checkpoint.pt``
every ``checkpoint_every`` updates and at the end, and ``learning_curve.png``; ``resume=True``
continues from the checkpoint exactly (see :mod:`qseq.rl.checkpoint`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .._rng import rng_state, seed_everything, set_rng_state
from .a2c import a2c_update
from .agents import RecurrentActorCritic, build_agent
from .checkpoint import open_run, pickle_envs, unpickle_envs
from .config import A2CConfig, PPOConfig, RLConfig, make_optimizer
from .ppo import ppo_update
from .rollout import Collector
from .vector import make_vector_env, space_sizes

__all__ = ["train", "RLResult"]

#: Fields a resumed run may change: they do not alter the trajectory up to the checkpoint.
_RESUME_FREE = frozenset({"total_steps", "checkpoint_every", "progress", "plot"})


@dataclass
class RLResult:
    """What :func:`train` returns."""

    agent: RecurrentActorCritic
    config: RLConfig
    history: list[dict[str, Any]]
    """One row per update: step, episodes, mean return of the last 100 episodes, steps/s, losses."""
    episode_returns: list[float]
    episode_steps: list[int] = field(default_factory=list)
    """The environment step at which each episode ended."""
    run_dir: Path | None = None

    @property
    def mean_return(self) -> float:
        """Mean return of the last 100 training episodes (NaN before the first one ends)."""
        last = self.episode_returns[-100:]
        return float(np.mean(last)) if last else math.nan


def train(
    config: RLConfig, run_dir: str | Path | None = None, resume: bool = False, stop_at_step: int | None = None
) -> RLResult:
    """Train a recurrent agent with A2C or recurrent PPO, as ``config``'s class says.

    Args:
        config: an :class:`~qseq.rl.config.A2CConfig` or :class:`~qseq.rl.config.PPOConfig`.
        run_dir: where to write the run's files (``None``: nothing is written).
        resume: continue the run in ``run_dir`` from its checkpoint (``config`` must match the
            saved one apart from ``total_steps``, ``checkpoint_every``, ``progress``, ``plot``).
        stop_at_step: stop once this many environment steps are done (a checkpoint is written there),
            to continue later with ``resume=True`` — for time-limited jobs; the learning-rate schedule
            still runs over ``total_steps``.

    Returns:
        :class:`RLResult` with the trained agent.
    """
    if not isinstance(config, (A2CConfig, PPOConfig)):
        raise TypeError(f"config must be an A2CConfig or PPOConfig, got {type(config).__name__}")
    files, checkpoint = open_run(config, run_dir, resume, _RESUME_FREE)

    seed_everything(config.seed)
    envs = make_vector_env(config.env_id, config.n_envs, config.env_kwargs)
    obs_dim, n_actions = space_sizes(envs, config.env_id)
    agent = build_agent(config, obs_dim, n_actions)
    optimizer = make_optimizer(agent, config)
    minibatch_order = torch.Generator().manual_seed(config.seed)
    collector = Collector(envs, agent, config.gamma, config.normalize_reward)
    history: list[dict[str, Any]] = []
    episode_steps: list[int] = []
    update, step = 0, 0
    if checkpoint is None:
        collector.reset(config.seed)
    else:
        agent.load_state_dict(checkpoint["agent"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"], {"minibatch_order": minibatch_order})
        update, step, history = checkpoint["update"], checkpoint["step"], checkpoint["history"]
        saved = checkpoint["collector"]
        collector.episode_returns, collector.episode_lengths = saved["episode_returns"], saved["episode_lengths"]
        episode_steps = saved["episode_steps"]
        collector.return_norm.load_state_dict(saved["return_norm"])
        collector.discounted = saved["discounted"]
        if checkpoint["envs"] is not None:
            envs.reset(seed=config.seed)  # builds the vector env's buffers; the saved envs replace its envs
            unpickle_envs(envs, checkpoint["envs"])
            collector.obs, collector.starts, collector.state = saved["obs"], saved["starts"], saved["state"]
        else:
            collector.reset(config.seed + 1_000_003 * update)  # an episode boundary, fresh seeds
    if files is not None:
        files.write_config(config)

    n_updates = math.ceil(config.total_steps / config.steps_per_update)
    bar = tqdm(total=n_updates * config.steps_per_update, initial=step, unit="step", disable=not config.progress)
    started, steps_at_start = time.perf_counter(), step
    try:
        while update < n_updates and (stop_at_step is None or step < stop_at_step):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.lr * (1.0 - update / n_updates)
            before = len(collector.episode_returns)
            rollout = collector.collect(config.n_steps)
            if isinstance(config, PPOConfig):
                losses = ppo_update(agent, optimizer, rollout, config, minibatch_order)
            else:
                losses = a2c_update(agent, optimizer, rollout, config)
            if agent.obs_norm is not None:  # after the update: a rollout is replayed with its own statistics
                agent.obs_norm.update(rollout.obs)
            update += 1
            step += config.steps_per_update
            episode_steps += [step] * (len(collector.episode_returns) - before)
            elapsed = time.perf_counter() - started
            last = collector.episode_returns[-100:]
            row = {
                "update": update,
                "step": step,
                "episodes": len(collector.episode_returns),
                "mean_return_100": float(np.mean(last)) if last else None,
                "steps_per_s": (step - steps_at_start) / elapsed if elapsed > 0 else math.nan,
                "time_s": elapsed,
                **losses,
            }
            history.append(row)
            bar.update(config.steps_per_update)
            mean = "-" if row["mean_return_100"] is None else f"{row['mean_return_100']:.1f}"
            bar.set_postfix(episodes=row["episodes"], mean_return=mean, refresh=False)
            stopping = update == n_updates or (stop_at_step is not None and step >= stop_at_step)
            if files is not None and (update % config.checkpoint_every == 0 or stopping):
                _save(
                    files,
                    config,
                    agent,
                    optimizer,
                    minibatch_order,
                    collector,
                    envs,
                    update,
                    step,
                    history,
                    episode_steps,
                )
    finally:
        bar.close()
        envs.close()
    if files is not None and config.plot and update == n_updates:
        files.plot(episode_steps, collector.episode_returns, f"{config.algo.upper()} {config.model} on {config.env_id}")
    return RLResult(agent, config, history, collector.episode_returns, episode_steps, files.dir if files else None)


def _save(files, config, agent, optimizer, minibatch_order, collector, envs, update, step, history, episode_steps):
    files.save_checkpoint(
        {
            "config": config.to_dict(),
            "agent": agent.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state({"minibatch_order": minibatch_order}),
            "update": update,
            "step": step,
            "history": history,
            "collector": {
                "obs": collector.obs,
                "starts": collector.starts,
                "state": collector.state,
                "episode_returns": collector.episode_returns,
                "episode_lengths": collector.episode_lengths,
                "episode_steps": episode_steps,
                "return_norm": collector.return_norm.state_dict(),
                "discounted": collector.discounted,
            },
            "envs": pickle_envs(envs),
        }
    )
    last = collector.episode_returns[-100:]
    files.write_metrics(
        history,
        {
            "algo": config.algo,
            "env_id": config.env_id,
            "model": config.model,
            "step": step,
            "episodes": len(collector.episode_returns),
            "mean_return_100": float(np.mean(last)) if last else None,
        },
    )

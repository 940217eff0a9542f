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

import torch
from tqdm.auto import tqdm

from .._distributed import average_gradients, barrier, gather_objects, gather_tensors, join
from .._rng import rng_state, seed_everything, set_rng_state
from .._threads import small_work_threads
from ..models.episodes import map_state
from .a2c import a2c_update
from .agents import RecurrentActorCritic, build_agent
from .checkpoint import open_run, pickle_envs, plain_state, progress_row, recent_mean, show_progress, unpickle_envs
from .config import A2CConfig, PPOConfig, RLConfig
from .optim import make_optimizer
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
        mean = recent_mean(self.episode_returns)
        return math.nan if mean is None else mean


@small_work_threads()
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
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"config.device is {config.device!r}, but torch finds no CUDA device here: use 'cpu'")
    files, checkpoint = open_run(config, run_dir, resume, _RESUME_FREE)
    team, device = join(config.distributed, device)
    rank, world = (team.rank, team.world) if team is not None else (0, 1)
    if team is not None:
        barrier()  # every rank has read the run directory before rank 0 writes into it
        if not team.main:
            files = None
    if checkpoint is not None and checkpoint["world"] != world:
        raise ValueError(f"the run was trained by {checkpoint['world']} processes; resume it with as many, not {world}")

    seed_everything(config.seed)  # the same initial weights on every rank
    envs = make_vector_env(config.env_id, config.n_envs, config.env_kwargs)
    obs_dim, n_actions = space_sizes(envs, config.env_id)
    agent = build_agent(config, obs_dim, n_actions).to(device)
    optimizer = make_optimizer(agent, config)
    minibatch_order = torch.Generator().manual_seed(config.seed)
    collector = Collector(envs, agent, config.gamma, config.normalize_reward, device=device)
    if rank:
        seed_everything(config.seed + rank)  # each rank samples its own actions
    history: list[dict[str, Any]] = []
    episode_returns: list[float] = []  # of every rank, in the order the updates saw them end
    episode_steps: list[int] = []
    update, step = 0, 0
    if checkpoint is None:
        collector.reset(config.seed + rank * config.n_envs)
    else:
        agent.load_state_dict(checkpoint["agent"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        update, step, history = checkpoint["update"], checkpoint["step"], checkpoint["history"]
        episode_returns, episode_steps = checkpoint["episode_returns"], checkpoint["episode_steps"]
        _restore_worker(checkpoint["workers"][rank], collector, envs, minibatch_order, config, rank, update)
    if files is not None:
        files.write_config(config)

    per_update = config.steps_per_update * world
    n_updates = math.ceil(config.total_steps / per_update)
    bar = tqdm(total=n_updates * per_update, initial=step, unit="step", disable=not (config.progress and rank == 0))
    sync = average_gradients if team is not None else None
    started, steps_at_start = time.perf_counter(), step
    try:
        while update < n_updates and (stop_at_step is None or step < stop_at_step):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.lr * (1.0 - update / n_updates)
            before = len(collector.episode_returns)
            rollout = collector.collect(config.n_steps)
            if isinstance(config, PPOConfig):
                losses = ppo_update(agent, optimizer, rollout, config, minibatch_order, sync)
            else:
                losses = a2c_update(agent, optimizer, rollout, config, sync)
            if agent.obs_norm is not None:  # after the update: a rollout is replayed with its own statistics
                agent.obs_norm.update(rollout.obs if team is None else gather_tensors(rollout.obs))
            update += 1
            step += per_update
            ended = collector.episode_returns[before:]
            if team is not None:
                ended = [r for part in gather_objects(ended) for r in part]
            episode_returns += ended
            episode_steps += [step] * len(ended)
            row = progress_row(
                update, step, episode_returns, step - steps_at_start, time.perf_counter() - started, **losses
            )
            history.append(row)
            bar.update(per_update)
            show_progress(bar, row)
            stopping = update == n_updates or (stop_at_step is not None and step >= stop_at_step)
            if run_dir is not None and (update % config.checkpoint_every == 0 or stopping):
                worker = _worker_state(collector, envs, minibatch_order)
                workers = gather_objects(worker) if team is not None else [worker]
                if files is not None:
                    learner = {
                        "agent": agent.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "update": update,
                        "step": step,
                        "history": history,
                        "episode_returns": episode_returns,
                        "episode_steps": episode_steps,
                        "world": world,
                    }
                    files.save(config, {**learner, "workers": workers}, episode_returns, processes=world)
    finally:
        bar.close()
        envs.close()
    if files is not None and config.plot and update == n_updates:
        files.plot(episode_steps, episode_returns, f"{config.algo.upper()} {config.model} on {config.env_id}")
    if team is not None:
        barrier()  # rank 0's files are complete before any rank goes on (e.g. to resume from them)
    return RLResult(agent, config, history, episode_returns, episode_steps, files.dir if files else None)


def _worker_state(collector: Collector, envs, minibatch_order: torch.Generator) -> dict[str, Any]:
    """What one process needs to continue exactly: its RNGs, its collector and its environments."""
    return {
        "rng": rng_state({"minibatch_order": minibatch_order}),
        "obs": collector.obs,
        "starts": collector.starts,
        "state": plain_state(collector.state),
        "episode_returns": collector.episode_returns,
        "episode_lengths": collector.episode_lengths,
        "return_norm": collector.return_norm.state_dict(),
        "discounted": collector.discounted,
        "envs": pickle_envs(envs),
    }


def _restore_worker(saved, collector: Collector, envs, minibatch_order, config: RLConfig, rank: int, update: int):
    set_rng_state(saved["rng"], {"minibatch_order": minibatch_order})
    collector.episode_returns, collector.episode_lengths = saved["episode_returns"], saved["episode_lengths"]
    collector.return_norm.load_state_dict(saved["return_norm"])
    collector.discounted = map_state(saved["discounted"], lambda t: t.to(collector.device))
    if saved["envs"] is not None:
        envs.reset(seed=config.seed)  # builds the vector env's buffers; the saved envs replace its envs
        unpickle_envs(envs, saved["envs"])
        collector.obs, collector.starts, collector.state = map_state(
            (saved["obs"], saved["starts"], saved["state"]), lambda t: t.to(collector.device)
        )
    else:  # an episode boundary, fresh seeds
        collector.reset(config.seed + rank * config.n_envs + 1_000_003 * update)

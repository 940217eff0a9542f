"""Running a trained policy: :func:`load_agent` rebuilds an agent from a run directory (optionally on
another backend), :func:`evaluate` plays whole episodes with it and returns their returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._threads import small_work_threads
from ..backends import Backend
from .agents import RecurrentActorCritic, RecurrentQNetwork, build_agent
from .checkpoint import load_checkpoint
from .config import RLConfig
from .vector import make_vector_env, space_sizes

__all__ = ["load_agent", "evaluate"]


def load_agent(
    run_dir: str | Path, backend: str | Backend | None = None
) -> tuple[RecurrentActorCritic | RecurrentQNetwork, RLConfig]:
    """The trained agent of a run directory (or checkpoint file) and its configuration: a
    :class:`RecurrentQNetwork` for a DRQN run, else a :class:`RecurrentActorCritic`.

    Args:
        run_dir: a directory written by :func:`~qseq.rl.train` (``qseq rl --out``) or
            :func:`~qseq.rl.drqn.train_drqn`, or its ``checkpoint.pt``.
        backend: run the agent's circuits on this backend instead of the training one (e.g. ``"aer"``,
            ``"ibm:fake_manila"``); classical agents refuse a backend.
    """
    ckpt = load_checkpoint(run_dir)
    config: RLConfig = ckpt["config"]
    envs = make_vector_env(config.env_id, 1, config.env_kwargs)
    try:
        obs_dim, n_actions = space_sizes(envs, config.env_id)
    finally:
        envs.close()
    agent = build_agent(config, obs_dim, n_actions)
    try:
        agent.load_state_dict(ckpt["agent"])
    except RuntimeError as err:
        raise ValueError(f"the weights in {run_dir} do not fit the agent its configuration describes: {err}") from None
    if backend is not None:
        agent.to_backend(backend)
    return agent.eval(), config


@small_work_threads()
@torch.no_grad()
def evaluate(
    agent: RecurrentActorCritic | RecurrentQNetwork,
    env_id: str,
    episodes: int = 100,
    *,
    n_envs: int = 8,
    seed: int = 10_000,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = True,
    frames: list | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` whole episodes played by ``agent``.

    Every environment of the vector env plays its share of the episodes (so short episodes are not
    over-counted), env ``i`` seeded with ``seed + i``; the default seed lies apart from training's.
    Environments that have played their share idle without calling the agent, so on a paid backend
    no circuit runs for them.

    Args:
        deterministic: take the most probable action (``False``: sample, as in training; a Q-network
            is always greedy and refuses ``False``).
        frames: if a list, the first episode's ``rgb_array`` frames are appended to it (the
            environment is then made with ``render_mode="rgb_array"``).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    n_envs = min(n_envs, episodes)
    kwargs = dict(env_kwargs or {})
    if frames is not None:
        kwargs["render_mode"] = "rgb_array"
    envs = make_vector_env(env_id, n_envs, kwargs)
    quota = np.full(n_envs, episodes // n_envs) + (np.arange(n_envs) < episodes % n_envs)
    returns: list[float] = []
    done = np.zeros(n_envs, dtype=int)
    try:
        obs, _ = envs.reset(seed=seed)
        dtype = next(agent.parameters()).dtype
        starts = torch.ones(n_envs, dtype=torch.bool)
        state, playing = None, np.arange(n_envs)  # the state's rows belong to the envs still playing
        while (done < quota).any():
            if frames is not None and done[0] == 0:
                frames.append(envs.unwrapped.envs[0].render())
            owing = np.flatnonzero(done < quota)
            if len(owing) < len(playing):  # envs that played their share run no more circuits
                state = agent.core.select(state, torch.as_tensor(np.searchsorted(playing, owing)))
                playing = owing
            chosen, state = agent.act(
                torch.as_tensor(obs[playing], dtype=dtype)[None],
                state,
                starts[playing][None],
                deterministic=deterministic,
            )
            action = np.zeros(n_envs, dtype=np.int64)  # finished envs idle on action 0 (not recorded)
            action[playing] = chosen[0].numpy()
            obs, _, terminated, truncated, info = envs.step(action)
            ended = np.asarray(terminated) | np.asarray(truncated)
            for i in np.flatnonzero(ended):
                if done[i] < quota[i]:
                    returns.append(float(info["episode"]["r"][i]))
                done[i] += 1
            starts = torch.as_tensor(ended)
    finally:
        envs.close()
    return np.array(returns)

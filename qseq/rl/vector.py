"""Vector environments for the agents: ``gymnasium.make_vec`` with same-step autoreset and episode
statistics, checked up front (an unknown id or an unsupported space is a clear ``ValueError``)."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from .._optional import require

__all__ = ["make_vector_env", "space_sizes"]


def _gymnasium():
    gym = require("gymnasium", "rl")
    require("qseq.envs", "rl")  # registers the qseq/ ids
    return gym


def make_vector_env(env_id: str, n_envs: int, env_kwargs: dict[str, Any] | None = None):
    """``n_envs`` copies of ``env_id`` in one synchronous vector env.

    Autoreset happens in the same step (``AutoresetMode.SAME_STEP``): when an episode ends, ``step``
    returns the next episode's first observation and puts the last one in ``info["final_obs"]``; an
    agent marks the next observation as an episode start. ``RecordEpisodeStatistics`` adds
    ``info["episode"]`` (return ``r`` and length ``l``) at every episode end.
    """
    gym = _gymnasium()
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown environment id {env_id!r}{hint} (qseq's ids start with 'qseq/')")
    envs = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **(env_kwargs or {}),
    )
    space_sizes(envs, env_id)  # refuse unsupported spaces before any work
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


def space_sizes(envs, env_id: str = "the environment") -> tuple[int, int]:
    """``(observation features, number of actions)``; the agents need a flat ``Box`` observation and
    ``Discrete`` actions."""
    gym = _gymnasium()
    obs, act = envs.single_observation_space, envs.single_action_space
    if not isinstance(act, gym.spaces.Discrete):
        raise ValueError(f"{env_id}: the agents need Discrete actions, got {act}")
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise ValueError(f"{env_id}: the agents need a flat Box observation, got {obs} (flatten it with a wrapper)")
    return int(np.prod(obs.shape)), int(act.n)

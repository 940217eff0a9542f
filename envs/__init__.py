"""Gymnasium environments for recurrent RL agents (needs the ``rl`` extra: ``pip install 'qseq[rl]'``).

Importing this package registers, under the ``qseq/`` namespace:

* ``qseq/CartPoleNoVel-v1``, ``qseq/CartPolePosOnly-v1`` — CartPole-v1 without its velocities
  (:mod:`qseq.envs.cartpole`);
* ``qseq/MiniGrid-Empty-5x5-v0`` … ``qseq/MiniGrid-FourRooms-v0`` — MiniGrid with the QFWP paper's
  flat 147-dim image observation (:mod:`qseq.envs.gridworld`; minigrid is imported on ``make``);
* ``qseq/CueRecall-v0`` — recall a cue after a delay (:mod:`qseq.envs.memory`).

``gymnasium.make(id, **kwargs)`` and ``gymnasium.make_vec(id, num_envs=...)`` then build them. Spaces,
rewards and episode ends: ``docs/rl_envs.md`` and each class's docstring. ``import qseq`` does not
import this package.
"""

from __future__ import annotations

from qseq._optional import require

from .cartpole import CartPolePositionOnly, CartPoleVelocityMask, make_cartpole_no_vel, make_cartpole_pos_only
from .gridworld import MINIGRID_IDS, make_flat_minigrid
from .memory import CueRecallEnv

_gym = require("gymnasium", "rl")

__all__ = [
    "ENV_IDS",
    "MINIGRID_IDS",
    "CartPolePositionOnly",
    "CartPoleVelocityMask",
    "CueRecallEnv",
    "make_cartpole_no_vel",
    "make_cartpole_pos_only",
    "make_flat_minigrid",
    "register_envs",
]

# id -> keywords of gymnasium.register; entry points are strings, so nothing is imported before make
_SPECS: dict[str, dict] = {
    "qseq/CartPoleNoVel-v1": {
        "entry_point": "qseq.envs.cartpole:make_cartpole_no_vel",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    "qseq/CartPolePosOnly-v1": {
        "entry_point": "qseq.envs.cartpole:make_cartpole_pos_only",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    **{
        f"qseq/{env_id}": {
            "entry_point": "qseq.envs.gridworld:make_flat_minigrid",
            "kwargs": {"env_id": env_id},
        }
        for env_id in MINIGRID_IDS
    },
    "qseq/CueRecall-v0": {"entry_point": "qseq.envs.memory:CueRecallEnv"},
}

#: Every environment id this package registers.
ENV_IDS = tuple(_SPECS)


def register_envs() -> None:
    """Register the ``qseq/`` environments with gymnasium; ids already registered are left alone, so
    calling this again (or re-importing the package) neither warns nor fails."""
    for env_id, spec in _SPECS.items():
        if env_id not in _gym.registry:
            _gym.register(id=env_id, **spec)


register_envs()

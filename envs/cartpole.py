"""Partially observed CartPole: gymnasium's CartPole-v1 with the velocities hidden.

Both variants are observation wrappers over gymnasium's own ``CartPole-v1`` (same physics, reward,
termination and rendering); only what the agent sees changes. Without the velocities the state is
not Markov: a policy has to infer them from successive observations, which is what a recurrent
agent (e.g. the QLSTM-DRQN of arXiv 2210.14876) is meant to do.

| id                          | observation                                     |
|-----------------------------|-------------------------------------------------|
| ``qseq/CartPoleNoVel-v1``   | ``[x, 0, θ, 0]``: 4-dim, both velocities zeroed |
| ``qseq/CartPolePosOnly-v1`` | ``[x, θ]``: 2-dim, position and angle only      |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qseq._optional import require

if TYPE_CHECKING:
    import gymnasium as gym
else:  # an ImportError that names the extra when gymnasium is missing
    gym = require("gymnasium", "rl")

__all__ = ["CartPoleVelocityMask", "CartPolePositionOnly", "make_cartpole_no_vel", "make_cartpole_pos_only"]

# indices into CartPole's observation [x, x_dot, theta, theta_dot]
_POSITIONS = np.array([0, 2])
_VELOCITIES = np.array([1, 3])


def _check_cartpole_space(env: gym.Env) -> gym.spaces.Box:
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or space.shape != (4,):
        raise ValueError(
            f"env must have CartPole's observation space, a Box of shape (4,) [x, x_dot, theta, theta_dot], got {space}"
        )
    return space


class CartPoleVelocityMask(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """CartPole with the cart velocity and the pole angular velocity set to zero.

    The convention of rl-baselines3-zoo / sb3-contrib (``MaskVelocityWrapper``): the observation keeps
    its 4 entries and CartPole's observation space, so a model built for CartPole-v1 runs unchanged.

    ## Observation Space

    ``Box(float32, shape (4,))``, CartPole-v1's own bounds:

    | index | entry                          | min     | max    |
    |-------|--------------------------------|---------|--------|
    | 0     | cart position ``x`` (m)        | -4.8    | 4.8    |
    | 1     | cart velocity, always ``0``    | -inf    | inf    |
    | 2     | pole angle ``θ`` (rad)         | -0.4189 | 0.4189 |
    | 3     | pole angular velocity, ``0``   | -inf    | inf    |

    (the bounds of index 1 and 3 are CartPole's ``±float32 max``).

    ## Action Space, Rewards, Episode End

    Unchanged from CartPole-v1: ``Discrete(2)`` (0 push left, 1 push right); +1 per step; terminated
    when ``|θ| > 12°`` or ``|x| > 2.4``; truncated after 500 steps by the registered ``TimeLimit``.

    Args:
        env: a CartPole environment (observation ``[x, x_dot, θ, θ_dot]``).
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.observation_space = _check_cartpole_space(env)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        masked = np.array(observation, dtype=np.float32, copy=True)
        masked[_VELOCITIES] = 0.0
        return masked


class CartPolePositionOnly(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """CartPole observed through its cart position and pole angle only.

    ## Observation Space

    ``Box(float32, shape (2,))``: ``[x, θ]``, with CartPole-v1's bounds of those entries:
    ``x`` in ``[-4.8, 4.8]`` m and ``θ`` in ``[-0.4189, 0.4189]`` rad (twice the termination
    thresholds, as in CartPole-v1).

    ## Action Space, Rewards, Episode End

    Unchanged from CartPole-v1 (see :class:`CartPoleVelocityMask`).

    Args:
        env: a CartPole environment (observation ``[x, x_dot, θ, θ_dot]``).
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = _check_cartpole_space(env)
        self.observation_space = gym.spaces.Box(
            low=space.low[_POSITIONS], high=space.high[_POSITIONS], shape=(2,), dtype=np.float32
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)[_POSITIONS]


def _cartpole(render_mode: str | None, kwargs: dict[str, Any]) -> gym.Env:
    # the TimeLimit (500 steps) and the env checker come from the qseq registration, not from here
    return gym.make("CartPole-v1", render_mode=render_mode, max_episode_steps=-1, disable_env_checker=True, **kwargs)


def make_cartpole_no_vel(render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Entry point of ``qseq/CartPoleNoVel-v1``: CartPole-v1 wrapped in :class:`CartPoleVelocityMask`.

    ``render_mode`` (``None``, ``"rgb_array"`` or ``"human"``) and ``kwargs`` (e.g.
    ``sutton_barto_reward``) go to CartPole-v1. Use ``gymnasium.make("qseq/CartPoleNoVel-v1")``,
    which adds the 500-step limit.
    """
    return CartPoleVelocityMask(_cartpole(render_mode, kwargs))


def make_cartpole_pos_only(render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Entry point of ``qseq/CartPolePosOnly-v1``: CartPole-v1 wrapped in :class:`CartPolePositionOnly`.

    Arguments as :func:`make_cartpole_no_vel`.
    """
    return CartPolePositionOnly(_cartpole(render_mode, kwargs))

"""Cue recall: a task that no policy without memory solves better than chance.

A cue is shown at the first step only, a number of blank steps follow, and at the last step the
agent is asked which cue it saw. The observation at the query is the same whatever the cue, so a
memoryless (feed-forward) policy scores at chance, while a recurrent one that carries the cue through
the delay scores perfectly. A minimal check that a recurrent agent's memory works, with the memory
span set by ``delay``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qseq._checks import check_count
from qseq._optional import require

if TYPE_CHECKING:
    import gymnasium as gym
else:  # an ImportError that names the extra when gymnasium is missing
    gym = require("gymnasium", "rl")

__all__ = ["CueRecallEnv"]


class CueRecallEnv(gym.Env):
    """Remember a cue shown once and name it after a delay (``qseq/CueRecall-v0``).

    ## Description

    Each episode draws a cue ``c`` uniformly from ``{0, …, n_cues − 1}``. The observations are, in order:
    the cue (step 0), ``delay`` blank "waiting" observations, then one "query" observation. The
    agent acts after each of them; the action taken after the query is its answer. Actions before
    the query are ignored.

    ## Observation Space

    ``Box(0, 1, shape (n_cues + 2,), float32)``: ``[one-hot cue (n_cues) | waiting | query]``.

    | observation            | entries                                      |
    |------------------------|----------------------------------------------|
    | cue (from ``reset``)   | one-hot of ``c`` in the first ``n_cues``, rest 0 |
    | waiting (``delay``×)   | waiting = 1, rest 0                          |
    | query (once)           | query = 1, rest 0                            |
    | after the answer       | all 0 (the episode has ended)                |

    ## Action Space

    ``Discrete(n_cues)``: the cue the agent names.

    ## Rewards

    0 for every action before the query. For the answer: +1 if it equals the cue, 0 otherwise. The
    return of an episode is therefore 1 (recalled) or 0, and the mean return is the success rate:

    * optimal (a policy that remembers the cue): **1**;
    * any memoryless policy, which maps the current observation alone to an action: at most
      **1 / n_cues** (the query observation carries no information about the cue; a uniformly
      random or a constant answer gets exactly 1 / n_cues).

    ## Episode End

    Terminated after the answer, i.e. after ``delay + 2`` steps (``delay + 2`` observations from
    ``reset`` and ``step``, one answer per observation). Never truncated. Calling ``step`` before
    ``reset`` or after the end raises ``RuntimeError``.

    ## Arguments

    Args:
        delay: number of blank steps between the cue and the query, ``>= 0`` (default 4); the cue
            has to be held for ``delay + 1`` steps.
        n_cues: number of distinct cues, ``>= 2`` (default 2).
        render_mode: only ``None`` (the environment has no rendering).

    Example:
        >>> env = gymnasium.make("qseq/CueRecall-v0", delay=10, n_cues=3)
        >>> obs, info = env.reset(seed=0)  # obs.shape == (5,)
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, delay: int = 4, n_cues: int = 2, render_mode: str | None = None):
        self.delay = check_count("delay", delay, minimum=0)
        self.n_cues = check_count("n_cues", n_cues, minimum=2)
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (CueRecallEnv has no rendering), got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.n_cues + 2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.n_cues)
        self._waiting = self.n_cues
        self._query = self.n_cues + 1
        self._cue = -1
        self._t = -1  # observations shown so far − 1; -1 means "no episode running"

    @property
    def episode_length(self) -> int:
        """Steps per episode: ``delay + 2``."""
        return self.delay + 2

    def _obs(self, index: int | None) -> np.ndarray:
        obs = np.zeros(self.n_cues + 2, dtype=np.float32)
        if index is not None:
            obs[index] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._cue = int(self.np_random.integers(self.n_cues))
        self._t = 0
        return self._obs(self._cue), {}

    def step(self, action):
        if self._t < 0:
            raise RuntimeError("CueRecallEnv.step called before reset() or after the episode ended; call reset()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.n_cues}), got {action!r}")
        self._t += 1
        if self._t <= self.delay:  # the next observation is a blank
            return self._obs(self._waiting), 0.0, False, False, {}
        if self._t == self.delay + 1:  # the next observation asks for the cue
            return self._obs(self._query), 0.0, False, False, {}
        reward = 1.0 if int(action) == self._cue else 0.0
        self._t = -1
        return self._obs(None), reward, True, False, {}

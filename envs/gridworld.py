"""MiniGrid with the flat 147-dim observation of the QFWP paper's RL experiments (arXiv 2402.17760).

The agent sees MiniGrid's partial, egocentric 7×7 view as 7·7·3 = 147 numbers: for each cell
(row-major over the view, channel last) its object index, colour index and state index. The mission
string and the facing direction are dropped. This is the ``ImgObsFlatWrapper`` observation of the
public A3C code around the QFWP paper, the best public evidence of its RL setup (the paper's own RL code
and exact environment ids are not public; ``docs/references.md#qfwp``). Built here from minigrid's
``ImgObsWrapper`` and gymnasium's ``FlattenObservation`` / ``TransformObservation``.

minigrid is imported when an environment is made, not when :mod:`qseq.envs` is imported, so the
other qseq environments work without it.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from qseq._optional import require

if TYPE_CHECKING:
    import gymnasium as gym
else:  # an ImportError that names the extra when gymnasium is missing
    gym = require("gymnasium", "rl")

__all__ = ["MINIGRID_IDS", "make_flat_minigrid"]

#: The MiniGrid tasks registered as ``qseq/<id>``: the small Empty rooms likely used by the QFWP paper
#: (5x5 in the public QA3C code, 16x16 in the Gated-QKAN-FWP follow-up), SimpleCrossing, and two harder
#: ones (DoorKey, FourRooms).
MINIGRID_IDS = (
    "MiniGrid-Empty-5x5-v0",
    "MiniGrid-Empty-6x6-v0",
    "MiniGrid-Empty-8x8-v0",
    "MiniGrid-Empty-16x16-v0",
    "MiniGrid-SimpleCrossingS9N1-v0",
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-FourRooms-v0",
)


@lru_cache(maxsize=1)
def _channel_max() -> np.ndarray:
    """The largest object, colour and state index minigrid encodes (10, 5, 2 in minigrid 3.x)."""
    constants = require("minigrid.core.constants", "rl")
    return np.array(
        [
            max(constants.OBJECT_TO_IDX.values()),
            max(constants.COLOR_TO_IDX.values()),
            max(constants.STATE_TO_IDX.values()),
        ],
        dtype=np.float32,
    )


# module-level functions (not closures): gymnasium compares the wrapper arguments of a re-made env
# with the recorded ones (``env.spec.make()``), and two closures never compare equal
def _as_float32(obs: np.ndarray) -> np.ndarray:
    return obs.astype(np.float32)


def _as_unit_float32(obs: np.ndarray) -> np.ndarray:
    return (obs.reshape(-1, 3).astype(np.float32) / _channel_max()).reshape(obs.shape)


def _check_env_id(env_id: str) -> None:
    require("minigrid", "rl")  # registers the MiniGrid-* ids with gymnasium
    spec = gym.registry.get(env_id) if isinstance(env_id, str) else None
    if spec is None or not str(spec.entry_point).startswith("minigrid."):
        known = sorted(k for k, s in gym.registry.items() if str(s.entry_point).startswith("minigrid."))
        close = difflib.get_close_matches(str(env_id), known, n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"env_id must be a MiniGrid environment id registered by minigrid, e.g. one of {list(MINIGRID_IDS)}, "
            f"got {env_id!r}{hint}"
        )


def make_flat_minigrid(env_id: str, render_mode: str | None = None, normalize: bool = False, **kwargs: Any) -> gym.Env:
    """A MiniGrid environment observed through its flattened 7×7×3 agent-view image.

    Entry point of the ``qseq/MiniGrid-*`` ids, e.g. ``gymnasium.make("qseq/MiniGrid-Empty-5x5-v0")``,
    which calls ``make_flat_minigrid("MiniGrid-Empty-5x5-v0")``.

    ## Observation Space

    ``Box(float32, shape (147,))``: ``env.unwrapped.gen_obs()["image"]`` — the agent's 7×7 view,
    shape ``(7, 7, 3)``, channels (object index, colour index, state index) — flattened in C order,
    so entry ``3·(7·i + j) + c`` is channel ``c`` of view cell ``(i, j)``.

    * ``normalize=False`` (default, as the public QFWP A3C code): the raw integer indices as float32;
      object in ``[0, 10]``, colour in ``[0, 5]``, state in ``[0, 2]``, and the Box's bounds are
      exactly these per-channel ranges (not MiniGrid's generic ``[0, 255]``).
    * ``normalize=True``: each channel divided by its maximum index (10, 5, 2), so every entry lies
      in ``[0, 1]`` (Box ``[0, 1]``). The values are still categorical codes, not magnitudes.

    A larger or smaller ``agent_view_size`` (a MiniGrid keyword) gives ``3·view²`` entries instead.

    ## Action Space

    ``Discrete(7)``, MiniGrid's full action set, as the public QFWP A3C code's actor (``Linear(·→7)``):
    0 turn left, 1 turn right, 2 forward, 3 pick up, 4 drop, 5 toggle, 6 done. The Empty,
    SimpleCrossing and FourRooms tasks only need 0–2; the others are no-ops there.

    ## Rewards and Episode End

    MiniGrid's: ``1 − 0.9·(step_count / max_steps)`` on reaching the goal (terminated), else 0.
    Truncated after MiniGrid's own ``max_steps``: ``4·size²`` for Empty-NxN (100 for 5x5, 1024 for
    16x16), 324 for SimpleCrossingS9N1, 250 for DoorKey-5x5, 100 for FourRooms.

    Args:
        env_id: a MiniGrid id registered by minigrid (e.g. ``"MiniGrid-Empty-8x8-v0"``).
        render_mode: ``None``, ``"rgb_array"`` or ``"human"``, passed to MiniGrid.
        normalize: divide each channel by its largest index (see above).
        **kwargs: further MiniGrid constructor keywords (``max_steps``, ``agent_view_size``, ...).

    Raises:
        ValueError: ``env_id`` is not a MiniGrid id.
        ImportError: minigrid is not installed (``pip install 'qseq[rl]'``).
    """
    _check_env_id(env_id)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    img_obs_wrapper = require("minigrid.wrappers", "rl").ImgObsWrapper
    env = gym.make(env_id, render_mode=render_mode, disable_env_checker=True, **kwargs)
    env = gym.wrappers.FlattenObservation(img_obs_wrapper(env))
    n_cells = gym.spaces.flatdim(env.observation_space) // 3  # 49 for the default 7×7 view
    high = np.ones(3, dtype=np.float32) if normalize else _channel_max()
    space = gym.spaces.Box(low=0.0, high=np.tile(high, n_cells), dtype=np.float32)
    return gym.wrappers.TransformObservation(env, _as_unit_float32 if normalize else _as_float32, space)

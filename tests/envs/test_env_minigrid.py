"""qseq/MiniGrid-*: the flat 147-dim image observation against minigrid's own ``gen_obs()``."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")
envs = pytest.importorskip("qseq.envs")

from envtools import rollout  # noqa: E402

IDS = list(envs.MINIGRID_IDS)
CHANNEL_MAX = np.array([10.0, 5.0, 2.0])  # largest object, colour, state index


def _actions(n=60, seed=0):
    return np.random.default_rng(seed).integers(0, 7, size=n).tolist()


def _image(env) -> np.ndarray:
    return env.unwrapped.gen_obs()["image"]


def test_the_tasks_the_paper_names_are_registered():
    expected = {f"Empty-{n}x{n}" for n in (5, 6, 8, 16)} | {"SimpleCrossingS9N1", "DoorKey-5x5", "FourRooms"}
    assert {i.removeprefix("MiniGrid-").removesuffix("-v0") for i in IDS} == expected
    for env_id in IDS:
        assert f"qseq/{env_id}" in gym.registry and env_id in gym.registry


@pytest.mark.parametrize("env_id", IDS)
def test_flat_obs_is_the_agent_view_image(env_id):
    env = gym.make(f"qseq/{env_id}")
    obs, _ = env.reset(seed=2)
    assert obs.shape == (147,) and obs.dtype == np.float32
    seen = [obs]
    np.testing.assert_array_equal(obs, _image(env).flatten().astype(np.float32))
    for action in _actions(seed=1):
        obs, _, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(obs, _image(env).flatten().astype(np.float32))
        assert env.observation_space.contains(obs)
        seen.append(obs)
        if terminated or truncated:
            break
    # indices, not pixels: the view's cells hold walls (2) and empty floor (1) at least
    values = np.unique(np.stack(seen).reshape(-1, 3)[:, 0])
    assert {1.0, 2.0} <= set(values.tolist()) and values.max() <= 10


@pytest.mark.parametrize("env_id", ["MiniGrid-DoorKey-5x5-v0", "MiniGrid-FourRooms-v0"])
def test_normalized_obs_is_the_image_over_the_channel_maxima(env_id):
    env = gym.make(f"qseq/{env_id}", normalize=True)
    space = env.observation_space
    assert space.dtype == np.float32 and np.all(space.low == 0) and np.all(space.high == 1)
    obs, _ = env.reset(seed=5)
    for action in [None, *_actions(20, seed=3)]:
        if action is not None:
            obs, *_ = env.step(action)
        expected = (_image(env).reshape(-1, 3) / CHANNEL_MAX).reshape(-1)
        np.testing.assert_allclose(obs, expected, rtol=1e-6)
        assert space.contains(obs)


@pytest.mark.parametrize("env_id", IDS)
def test_rewards_and_ends_are_minigrids(env_id):
    actions = _actions(300, seed=4)
    plain = rollout(gym.make(env_id), 9, actions)
    flat = rollout(gym.make(f"qseq/{env_id}"), 9, actions)
    for key in ("reward", "terminated", "truncated"):
        assert flat[key] == plain[key]
    np.testing.assert_array_equal(flat["obs"], np.stack([o["image"].reshape(-1) for o in plain["obs"]]))


def test_reaching_the_goal_in_empty_5x5():
    # the agent starts at (1, 1) facing east, the goal is at (3, 3): 2 forward, turn right, 2 forward
    env = gym.make("qseq/MiniGrid-Empty-5x5-v0")
    env.reset(seed=0)
    rewards = [env.step(a)[1:3] for a in (2, 2, 1, 2)]
    assert rewards == [(0.0, False)] * 4
    _, reward, terminated, truncated, _ = env.step(2)
    assert terminated and not truncated
    assert reward == pytest.approx(1 - 0.9 * 5 / 100)


def test_spaces():
    env = gym.make("qseq/MiniGrid-Empty-8x8-v0")
    assert env.action_space == gym.spaces.Discrete(7)
    space = env.observation_space
    assert space.shape == (147,) and space.dtype == np.float32
    np.testing.assert_array_equal(space.low, np.zeros(147))
    np.testing.assert_array_equal(space.high, np.tile(CHANNEL_MAX, 49))
    small = gym.make("qseq/MiniGrid-Empty-8x8-v0", agent_view_size=5)
    assert small.observation_space.shape == (75,) and small.reset(seed=0)[0].shape == (75,)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id, check_env):
    # MiniGrid's "human" render mode needs a display and fonts: rgb_array is checked below instead
    check_env(gym.make(f"qseq/{env_id}"), skip_render_check=True)


def test_check_env_normalized(check_env):
    check_env(gym.make("qseq/MiniGrid-DoorKey-5x5-v0", normalize=True), skip_render_check=True)


def test_rgb_array_render_is_minigrids():
    plain = gym.make("MiniGrid-DoorKey-5x5-v0", render_mode="rgb_array")
    env = gym.make("qseq/MiniGrid-DoorKey-5x5-v0", render_mode="rgb_array")
    plain.reset(seed=3)
    env.reset(seed=3)
    for action in (1, 2, 0):
        plain.step(action)
        env.step(action)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, plain.render())


@pytest.mark.parametrize("env_id", ["MiniGrid-DoorKey-5x5-v0", "MiniGrid-FourRooms-v0"])
def test_same_seed_same_trajectory(env_id):
    actions = _actions(100, seed=6)
    a = rollout(gym.make(f"qseq/{env_id}"), 21, actions)
    b = rollout(gym.make(f"qseq/{env_id}"), 21, actions)
    np.testing.assert_array_equal(a["obs"], b["obs"])
    assert a["reward"] == b["reward"]
    # the layout is random in these tasks: another seed, another first view
    assert any(not np.array_equal(a["obs"][0], rollout(gym.make(f"qseq/{env_id}"), s, [])["obs"][0]) for s in range(5))


@pytest.mark.parametrize("bad", ["MiniGrid-Empty-7x7-v0", "CartPole-v1", "Empty-5x5"])
def test_unknown_minigrid_id(bad):
    with pytest.raises(ValueError, match=r"env_id must be a MiniGrid environment id .*MiniGrid-Empty-5x5-v0"):
        envs.make_flat_minigrid(bad)


def test_unknown_size_suggests_the_close_ids():
    with pytest.raises(ValueError, match=r"did you mean .*MiniGrid-Empty-"):
        gym.make("qseq/MiniGrid-Empty-5x5-v0", env_id="MiniGrid-Empty-7x7-v0")


def test_normalize_must_be_a_bool():
    with pytest.raises(TypeError, match="normalize"):
        gym.make("qseq/MiniGrid-Empty-5x5-v0", normalize="yes")

"""qseq/CartPoleNoVel-v1 and qseq/CartPolePosOnly-v1 against a plain CartPole-v1 run."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
envs = pytest.importorskip("qseq.envs")

from envtools import rollout  # noqa: E402

IDS = ["qseq/CartPoleNoVel-v1", "qseq/CartPolePosOnly-v1"]


def _actions(n=500, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=n).tolist()


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_vel_is_cartpole_with_the_velocities_zeroed(seed):
    actions = _actions(seed=seed)
    plain = rollout(gym.make("CartPole-v1"), seed, actions)
    masked = rollout(gym.make("qseq/CartPoleNoVel-v1"), seed, actions)
    assert masked["obs"].shape == plain["obs"].shape and masked["obs"].shape[1] == 4
    assert masked["obs"].dtype == np.float32
    np.testing.assert_array_equal(masked["obs"][:, [0, 2]], plain["obs"][:, [0, 2]])
    assert np.all(masked["obs"][:, [1, 3]] == 0.0)
    assert np.any(plain["obs"][1:, [1, 3]] != 0.0)  # there was something to hide
    for key in ("reward", "terminated", "truncated"):
        assert masked[key] == plain[key]


@pytest.mark.parametrize("seed", [0, 3])
def test_pos_only_is_position_and_angle_of_cartpole(seed):
    actions = _actions(seed=seed)
    plain = rollout(gym.make("CartPole-v1"), seed, actions)
    pos = rollout(gym.make("qseq/CartPolePosOnly-v1"), seed, actions)
    assert pos["obs"].shape == (len(plain["obs"]), 2) and pos["obs"].dtype == np.float32
    np.testing.assert_array_equal(pos["obs"], plain["obs"][:, [0, 2]])
    for key in ("reward", "terminated", "truncated"):
        assert pos[key] == plain[key]


def test_spaces():
    cart = gym.make("CartPole-v1").observation_space
    no_vel = gym.make("qseq/CartPoleNoVel-v1")
    assert no_vel.observation_space == cart  # the 4-dim Box is kept
    pos = gym.make("qseq/CartPolePosOnly-v1").observation_space
    assert pos.shape == (2,) and pos.dtype == np.float32
    np.testing.assert_array_equal(pos.low, cart.low[[0, 2]])
    np.testing.assert_array_equal(pos.high, cart.high[[0, 2]])
    np.testing.assert_allclose(pos.high, [4.8, 2 * 12 * 2 * np.pi / 360], rtol=1e-6)
    assert no_vel.action_space == gym.spaces.Discrete(2)


@pytest.mark.parametrize("env_id", IDS)
def test_registration_matches_cartpole_v1(env_id):
    spec = gym.spec(env_id)
    assert spec.max_episode_steps == 500 and spec.reward_threshold == 475.0


@pytest.mark.parametrize("env_id", IDS)
def test_truncated_after_500_steps(env_id):
    # a controller reading the true state keeps the pole up, so the episode ends by the time limit
    env = gym.make(env_id)
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated and steps < 600:
        x, x_dot, theta, theta_dot = env.unwrapped.state
        _, reward, terminated, truncated, _ = env.step(int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0))
        steps += 1
        assert reward == 1.0 and not terminated
    assert steps == 500 and truncated


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id, check_env, monkeypatch):
    # the render check opens a "human" window: pygame's dummy video driver stands in for a display
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pytest.importorskip("pygame")
    # CartPole-v1's own Box has ±inf velocity bounds, which the checker flags; NoVel keeps that Box
    check_env(gym.make(env_id), allow=("is -infinity", "is infinity"))


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_render_is_cartpoles(env_id):
    pytest.importorskip("pygame")
    plain = gym.make("CartPole-v1", render_mode="rgb_array")
    env = gym.make(env_id, render_mode="rgb_array")
    plain.reset(seed=4)
    env.reset(seed=4)
    for action in (0, 1, 1):
        plain.step(action)
        env.step(action)
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, plain.render())


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id):
    actions = _actions(seed=5)
    a = rollout(gym.make(env_id), 11, actions)
    b = rollout(gym.make(env_id), 11, actions)
    np.testing.assert_array_equal(a["obs"], b["obs"])
    assert a["reward"] == b["reward"] and a["terminated"] == b["terminated"]
    c = rollout(gym.make(env_id), 12, actions)
    assert not np.array_equal(a["obs"][0], c["obs"][0])


@pytest.mark.parametrize("wrapper", [envs.CartPoleVelocityMask, envs.CartPolePositionOnly])
def test_wrappers_refuse_other_envs(wrapper):
    with pytest.raises(ValueError, match=r"env must have CartPole's observation space"):
        wrapper(gym.make("MountainCar-v0"))

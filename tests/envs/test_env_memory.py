"""qseq/CueRecall-v0: the reward follows the cue; memory reaches the optimum, no memory gets chance."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
envs = pytest.importorskip("qseq.envs")


def _episode(env, policy, seed=None):
    """Run one episode; ``policy(obs, memory) -> (action, memory)``. Returns (return, observations)."""
    obs, _ = env.reset(seed=seed)
    memory, total, seen = None, 0.0, [obs]
    while True:
        action, memory = policy(obs, memory)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        seen.append(obs)
        assert not truncated
        if terminated:
            return total, np.stack(seen)


def _remembers(n_cues):
    def policy(obs, memory):
        if obs[:n_cues].any():  # the cue step
            memory = int(np.argmax(obs[:n_cues]))
        return memory, memory

    return policy


def _memoryless(n_cues):
    # the best a function of the current observation can do: name the cue when it is shown, guess 0 else
    def policy(obs, memory):
        return (int(np.argmax(obs[:n_cues])) if obs[:n_cues].any() else 0), None

    return policy


@pytest.mark.parametrize(("delay", "n_cues"), [(0, 2), (3, 3), (10, 5)])
def test_observation_sequence(delay, n_cues):
    env = gym.make("qseq/CueRecall-v0", delay=delay, n_cues=n_cues)
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (n_cues + 2,), np.float32)
    assert env.action_space == gym.spaces.Discrete(n_cues)
    for seed in range(6):
        _, obs = _episode(env, _remembers(n_cues), seed=seed)
        assert obs.dtype == np.float32 and len(obs) == delay + 3  # reset + delay + 2 steps
        cue = int(np.argmax(obs[0]))
        np.testing.assert_array_equal(obs[0], np.eye(n_cues + 2)[cue])
        np.testing.assert_array_equal(obs[1 : delay + 1], np.tile(np.eye(n_cues + 2)[n_cues], (delay, 1)))
        np.testing.assert_array_equal(obs[delay + 1], np.eye(n_cues + 2)[n_cues + 1])
        np.testing.assert_array_equal(obs[delay + 2], np.zeros(n_cues + 2))


@pytest.mark.parametrize("n_cues", [2, 4])
def test_reward_follows_the_cue(n_cues):
    delay = 3
    env = gym.make("qseq/CueRecall-v0", delay=delay, n_cues=n_cues)
    cues = set()
    for seed in range(40):
        for answer_offset in range(n_cues):
            obs, _ = env.reset(seed=seed)
            cue = int(np.argmax(obs[:n_cues]))
            cues.add(cue)
            answer = (cue + answer_offset) % n_cues
            rng = np.random.default_rng(seed)
            for _ in range(delay + 1):  # actions before the answer are ignored and pay 0
                _, reward, terminated, _, _ = env.step(int(rng.integers(n_cues)))
                assert reward == 0.0 and not terminated
            _, reward, terminated, truncated, _ = env.step(answer)
            assert terminated and not truncated
            assert reward == (1.0 if answer == cue else 0.0)
    assert cues == set(range(n_cues))


@pytest.mark.parametrize(("delay", "n_cues"), [(4, 2), (10, 3)])
def test_memory_is_optimal_and_no_memory_is_chance(delay, n_cues):
    env = gym.make("qseq/CueRecall-v0", delay=delay, n_cues=n_cues)
    env.reset(seed=0)
    n = 1500
    remembered = np.mean([_episode(env, _remembers(n_cues))[0] for _ in range(n)])
    forgot = np.mean([_episode(env, _memoryless(n_cues))[0] for _ in range(n)])
    rng = np.random.default_rng(1)
    guessed = np.mean([_episode(env, lambda o, m: (int(rng.integers(n_cues)), None))[0] for _ in range(n)])
    assert remembered == 1.0
    tolerance = 4 * np.sqrt((1 / n_cues) * (1 - 1 / n_cues) / n)  # 4 standard errors
    assert abs(forgot - 1 / n_cues) < tolerance
    assert abs(guessed - 1 / n_cues) < tolerance


def test_make_with_kwargs():
    env = gym.make("qseq/CueRecall-v0", delay=10)
    assert env.unwrapped.delay == 10 and env.unwrapped.n_cues == 2 and env.unwrapped.episode_length == 12
    _, obs = _episode(env, _remembers(2), seed=0)
    assert len(obs) == 13
    default = gym.make("qseq/CueRecall-v0").unwrapped
    assert (default.delay, default.n_cues) == (4, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"delay": -1}, ValueError, r"delay must be >= 0, got -1"),
        ({"n_cues": 1}, ValueError, r"n_cues must be >= 2, got 1"),
        ({"n_cues": 0}, ValueError, r"n_cues must be >= 2"),
        ({"delay": 2.5}, TypeError, r"delay must be an integer"),
        ({"n_cues": True}, TypeError, r"n_cues must be an integer"),
        ({"render_mode": "rgb_array"}, ValueError, r"render_mode must be None"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*not in the possible render_modes")
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        envs.CueRecallEnv(**kwargs)
    with pytest.raises(error, match=match):
        gym.make("qseq/CueRecall-v0", **kwargs)


def test_step_outside_an_episode_and_bad_actions():
    env = envs.CueRecallEnv(delay=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 2\)"):
        env.step(2)
    env.step(0)
    assert env.step(0)[2]  # terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


@pytest.mark.parametrize(("delay", "n_cues"), [(0, 2), (4, 2), (7, 5)])
def test_check_env(delay, n_cues, check_env):
    check_env(gym.make("qseq/CueRecall-v0", delay=delay, n_cues=n_cues))


def test_same_seed_same_cues():
    env = gym.make("qseq/CueRecall-v0", n_cues=5)

    def cues(seed):
        first = int(np.argmax(env.reset(seed=seed)[0][:5]))
        return [first] + [int(np.argmax(env.reset()[0][:5])) for _ in range(30)]

    assert cues(3) == cues(3)
    assert cues(3) != cues(4)

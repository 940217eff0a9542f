"""The qseq/ ids: registered once on ``import qseq.envs``, vectorized, and optional all the way down."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
envs = pytest.importorskip("qseq.envs")

from envtools import vec_rollout  # noqa: E402

try:
    import minigrid  # noqa: F401

    HAVE_MINIGRID = True
except ImportError:
    HAVE_MINIGRID = False

IDS = [
    pytest.param(i, marks=pytest.mark.skipif("MiniGrid" in i and not HAVE_MINIGRID, reason="needs minigrid"))
    for i in envs.ENV_IDS
]


def test_the_ids():
    assert set(envs.ENV_IDS) == {
        "qseq/CartPoleNoVel-v1",
        "qseq/CartPolePosOnly-v1",
        "qseq/CueRecall-v0",
        *(f"qseq/{i}" for i in envs.MINIGRID_IDS),
    }
    for env_id in envs.ENV_IDS:
        assert gym.spec(env_id).namespace == "qseq"
        assert isinstance(gym.spec(env_id).entry_point, str)  # nothing imported before make


def test_registering_again_neither_warns_nor_fails():
    specs = {i: gym.spec(i) for i in envs.ENV_IDS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        envs.register_envs()
        envs.register_envs()
    assert {i: gym.spec(i) for i in envs.ENV_IDS} == specs


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_sync_is_reproducible_and_matches_single_envs(env_id):
    k, steps, seed = 3, 40, 17
    single = gym.make(env_id)
    single.action_space.seed(0)
    actions = np.stack([[single.action_space.sample() for _ in range(k)] for _ in range(steps)])
    vec = gym.make_vec(env_id, num_envs=k, vectorization_mode="sync")
    assert vec.num_envs == k
    assert vec.single_observation_space == single.observation_space
    assert vec.single_action_space == single.action_space
    a = vec_rollout(vec, seed, actions)
    b = vec_rollout(gym.make_vec(env_id, num_envs=k, vectorization_mode="sync"), seed, actions)
    assert a["obs"].shape == (steps + 1, k, *single.observation_space.shape)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # sub-env i is seeded with seed + i: its first observation is a single env's reset(seed=seed + i)
    for i in range(k):
        np.testing.assert_array_equal(a["obs"][0, i], single.reset(seed=seed + i)[0])


def test_import_qseq_leaves_the_envs_alone():
    code = textwrap.dedent(
        """
        import sys
        import qseq
        assert "qseq.envs" not in sys.modules and "gymnasium" not in sys.modules
        import gymnasium, qseq.envs
        assert "minigrid" not in sys.modules
        gymnasium.make("qseq/CartPoleNoVel-v1").reset(seed=0)
        gymnasium.make("qseq/CueRecall-v0").reset(seed=0)
        assert "minigrid" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_gymnasium_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    for name in [m for m in sys.modules if m == "qseq.envs" or m.startswith("qseq.envs.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'qseq\[rl\]'"):
        importlib.import_module("qseq.envs")


def test_without_minigrid_the_other_envs_work(monkeypatch):
    monkeypatch.setitem(sys.modules, "minigrid", None)
    gym.make("qseq/CartPolePosOnly-v1").reset(seed=0)
    gym.make("qseq/CueRecall-v0").reset(seed=0)
    with pytest.raises(ImportError, match=r"pip install 'qseq\[rl\]'"):
        gym.make("qseq/MiniGrid-Empty-5x5-v0")

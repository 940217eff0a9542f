"""DRQN: TD targets by hand, the ε schedule, replay windows, learning a memory task, exact resume,
loading and evaluating a saved Q-network, and configuration errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("gymnasium")

from qseq.rl.agents import RecurrentActorCritic, RecurrentQNetwork  # noqa: E402
from qseq.rl.checkpoint import RunFiles, load_checkpoint  # noqa: E402
from qseq.rl.config import A2CConfig, config_from_dict  # noqa: E402
from qseq.rl.core import build_core  # noqa: E402
from qseq.rl.drqn import DRQNConfig, EpisodeReplay, SequenceBatch, drqn_loss, epsilon, td_targets, train_drqn  # noqa: E402
from qseq.rl.evaluate import evaluate, load_agent  # noqa: E402

CUE = {"env_id": "qseq/CueRecall-v0", "env_kwargs": {"delay": 2}}


def small(**kw) -> DRQNConfig:
    """A small, fast DRQN on cue recall (episodes of 4 steps, whole in every window)."""
    args = {
        **CUE,
        "model": "lstm",
        "hidden_size": 16,
        "n_envs": 8,
        "total_steps": 3000,
        "learning_starts": 200,
        "batch_size": 32,
        "seq_len": 4,
        "burn_in": 4,
        "target_update_every": 50,
        "lr": 3e-3,
        "normalize_obs": False,
        "progress": False,
        "plot": False,
        "log_every": 10,
    }
    return DRQNConfig(**{**args, **kw})


# -- TD targets ---------------------------------------------------------------------------------------


class _StubQ(nn.Module):
    """``Q(o) = o`` (online) or ``Q(o) = o`` with the two actions swapped (target): values by hand."""

    def __init__(self, swap: bool):
        super().__init__()
        self.swap = swap
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, obs, state, starts):
        q = obs * self.w
        return (q.flip(-1) if self.swap else q), state


def _hand_batch() -> SequenceBatch:
    """Two whole episodes of 2 transitions, no burn-in: A terminates, B is truncated by a time limit."""
    # positions 0, 1 hold o_0, o_1; position 2 the last observation (terminal for A, truncated for B)
    obs_a = [[1.0, 2.0], [4.0, 3.0], [5.0, 6.0]]
    obs_b = [[0.5, 0.0], [0.0, 1.0], [7.0, 2.0]]
    return SequenceBatch(
        obs=torch.tensor([obs_a, obs_b]).transpose(0, 1),
        starts=torch.tensor([[True, True], [False, False], [False, False]]),
        actions=torch.tensor([[1, 0], [0, 1]]),
        rewards=torch.tensor([[1.0, 1.0], [2.0, 1.0]]),
        terminated=torch.tensor([[False, False], [True, False]]),
        mask=torch.ones(2, 2, dtype=torch.bool),
        burn_in=0,
    )


def test_td_targets_by_hand_terminated_and_truncated_ends():
    g = 0.9
    batch = _hand_batch()
    online, target = _StubQ(swap=False), _StubQ(swap=True)
    # plain: y = r + γ max_a Q_target(o') (the swap does not change the max); A's end terminates: y = r
    plain = DRQNConfig(double_q=False, gamma=g)
    loss, q_taken, y = drqn_loss(online, target, batch, plain)
    assert torch.allclose(q_taken, torch.tensor([[2.0, 0.5], [4.0, 1.0]]))
    expected = torch.tensor([[1 + g * 4.0, 1 + g * 1.0], [2.0, 1 + g * 7.0]])  # B bootstraps from its last obs
    assert torch.allclose(y, expected)
    huber = torch.nn.functional.smooth_l1_loss(q_taken, expected)
    assert torch.allclose(loss, huber)
    # double Q: the online network picks argmax o', the target (swapped) values it: min(o')
    double = DRQNConfig(double_q=True, gamma=g)
    _, _, y2 = drqn_loss(online, target, batch, double)
    assert torch.allclose(y2, torch.tensor([[1 + g * 3.0, 1 + g * 0.0], [2.0, 1 + g * 2.0]]))
    # the pure function agrees
    q_next = torch.tensor([[[4.0, 3.0], [0.0, 1.0]], [[5.0, 6.0], [7.0, 2.0]]])
    y3 = td_targets(batch.rewards, batch.terminated, q_next.flip(-1), q_next, g)
    assert torch.allclose(y3, y2)
    # padding is masked out of the loss
    batch.mask[1, 1] = False
    loss_masked, _, _ = drqn_loss(online, target, batch, plain)
    keep = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    full = torch.nn.functional.smooth_l1_loss(q_taken, expected, reduction="none")
    assert torch.allclose(loss_masked, (full * keep).sum() / 3)


def test_epsilon_schedule():
    config = DRQNConfig(total_steps=1000, exploration_fraction=0.5, eps_start=1.0, eps_end=0.1)
    assert [round(epsilon(config, s), 6) for s in (0, 250, 500, 900)] == [1.0, 0.55, 0.1, 0.1]
    flat = DRQNConfig(eps_start=0.2, eps_end=0.2)
    assert epsilon(flat, 0) == epsilon(flat, 10**6) == pytest.approx(0.2)


# -- replay --------------------------------------------------------------------------------------------


def _filled_replay(seed: int = 0) -> tuple[EpisodeReplay, dict[int, tuple[int, bool]]]:
    """Episodes ``e = 1..``: observation ``t`` is ``[e, t + 1]`` (never zero, so padding shows), action
    ``t % 2``, reward ``100 e + t``; even episodes terminate, odd ones are truncated."""
    rng = np.random.default_rng(seed)
    replay, info = EpisodeReplay(capacity=9), {}
    for e in range(1, 13):  # 12 episodes into 9 places: the first 3 leave
        L = int(rng.integers(1, 12))
        obs = np.stack([np.full(L + 1, e), np.arange(1, L + 2)], axis=1)
        replay.add(obs, np.arange(L) % 2, 100 * e + np.arange(L), terminated=e % 2 == 0)
        info[e] = (L, e % 2 == 0)
    return replay, info


def test_replay_windows_stay_in_one_episode_with_right_flags():
    replay, info = _filled_replay()
    assert len(replay) == 9 and {int(ep.obs[0, 0]) for ep in replay.episodes} == set(range(4, 13))
    seq_len, burn_in = 5, 3
    batch = replay.sample(400, seq_len, burn_in, torch.Generator().manual_seed(0))
    T = burn_in + seq_len + 1
    assert batch.obs.shape == (T, 400, 2) and batch.mask.shape == (seq_len, 400)
    seen = set()
    for b in range(400):
        obs = batch.obs[:, b].numpy()
        real = np.flatnonzero(obs[:, 1] > 0)
        episode = {int(v) for v in obs[real, 0]}
        assert len(episode) == 1  # never two episodes in one window
        e = episode.pop()
        L, terminated = info[e]
        t = obs[real, 1].astype(int) - 1
        assert np.array_equal(real, np.arange(real[0], real[-1] + 1)) and np.array_equal(
            np.diff(t), np.ones(len(t) - 1)
        )
        # the burn-in is cut only at the episode start, where the state is reset
        assert real[0] == 0 or t[0] == 0
        starts = np.flatnonzero(batch.starts[:, b].numpy())
        assert list(starts) == ([real[0]] if t[0] == 0 else [])
        for j in range(seq_len):
            k = burn_in + j
            step = int(obs[k, 1]) - 1 if obs[k, 1] > 0 else None
            is_transition = step is not None and step < L  # the last observation starts no transition
            assert bool(batch.mask[j, b]) == is_transition
            if not is_transition:
                continue
            seen.add((e, step))
            assert int(batch.actions[j, b]) == step % 2 and float(batch.rewards[j, b]) == 100 * e + step
            assert bool(batch.terminated[j, b]) == (terminated and step == L - 1)
            assert obs[k + 1, 1] - 1 == step + 1 and obs[k + 1, 0] == e  # next obs, the last one included
        assert not batch.terminated[:, b][~batch.mask[:, b]].any()
    assert seen == {(e, t) for e in range(4, 13) for t in range(info[e][0])}  # every transition is drawn


def test_replay_state_dict_round_trip():
    replay, _ = _filled_replay()
    copy = EpisodeReplay(9)
    copy.load_state_dict(replay.state_dict())
    for a, b in zip(replay.episodes, copy.episodes, strict=True):
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.actions, b.actions)
        assert np.array_equal(a.rewards, b.rewards) and a.terminated == b.terminated
    empty = EpisodeReplay(3)
    empty.load_state_dict(EpisodeReplay(3).state_dict())
    assert len(empty) == 0
    with pytest.raises(ValueError, match="L \\+ 1 observations"):
        replay.add(np.zeros((3, 2)), [0, 1, 0], [0.0, 0.0, 0.0], True)


# -- training ------------------------------------------------------------------------------------------


def test_learns_cue_recall_beyond_chance():
    result = train_drqn(small(seed=0))
    assert result.mean_return > 0.8  # training episodes (ε = 0.05 at the end); chance is 0.5
    returns = evaluate(result.agent, CUE["env_id"], 200, env_kwargs=CUE["env_kwargs"])
    assert returns.mean() > 0.9, returns.mean()
    assert result.history[-1]["step"] == 3000 and result.history[-1]["loss"] is not None


def _same_run(a, b):
    for (name, p), (_, q) in zip(a.agent.state_dict().items(), b.agent.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    assert a.episode_returns == b.episode_returns and a.episode_steps == b.episode_steps
    drop = {"steps_per_s", "time_s"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in a.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in b.history
    ]


def test_resume_is_exact(tmp_path, monkeypatch):
    # obs normalisation on, ε > 0, burn-in cut mid-episode, Polyak target: every piece of state matters
    config = small(
        total_steps=480,
        n_envs=4,
        learning_starts=40,
        seq_len=2,
        burn_in=1,
        normalize_obs=True,
        tau=0.5,
        target_update_every=3,
        checkpoint_every=50,
        seed=3,
    )
    straight = train_drqn(config, tmp_path / "straight")

    real_save = RunFiles.save

    def crash_after_first_checkpoint(files, *args, **kwargs):
        real_save(files, *args, **kwargs)
        raise KeyboardInterrupt  # the process dies right after writing checkpoint 50

    monkeypatch.setattr(RunFiles, "save", crash_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_drqn(config, tmp_path / "cut")
    monkeypatch.setattr(RunFiles, "save", real_save)
    assert load_checkpoint(tmp_path / "cut")["update"] == 50
    resumed = train_drqn(config, tmp_path / "cut", resume=True)
    _same_run(straight, resumed)
    ckpt_a, ckpt_b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "cut")
    for key in ckpt_a["target"]:
        assert torch.equal(ckpt_a["target"][key], ckpt_b["target"][key])
    for key in ("lengths", "obs", "actions", "rewards", "terminated"):
        assert torch.equal(ckpt_a["replay"][key], ckpt_b["replay"][key])
    # a time-limited job: stop at a step, resume later
    stopped = train_drqn(config, tmp_path / "stopped", stop_at_step=200)
    assert stopped.history[-1]["step"] == 200 and load_checkpoint(tmp_path / "stopped")["step"] == 200
    _same_run(straight, train_drqn(config, tmp_path / "stopped", resume=True))
    with pytest.raises(ValueError, match="seq_len"):
        train_drqn(dataclasses.replace(config, seq_len=3), tmp_path / "cut", resume=True)


def test_load_agent_and_evaluate_a_saved_run(tmp_path):
    result = train_drqn(small(total_steps=160, learning_starts=64, seed=1), tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert isinstance(ckpt["config"], DRQNConfig) and ckpt["config"] == result.config
    assert config_from_dict(result.config.to_dict()) == result.config
    agent, config = load_agent(tmp_path)
    assert isinstance(agent, RecurrentQNetwork) and config == result.config
    for name, p in result.agent.state_dict().items():
        assert torch.equal(agent.state_dict()[name], p)
    returns = evaluate(agent, config.env_id, 12, n_envs=4, env_kwargs=config.env_kwargs)
    assert returns.shape == (12,) and set(np.unique(returns)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="greedily"):
        evaluate(agent, config.env_id, 2, env_kwargs=config.env_kwargs, deterministic=False)
    # act() is greedy argmax Q, carrying the state
    obs, starts = torch.rand(3, 2, 4), torch.tensor([[True, True], [False, False], [False, True]])
    action, state = agent.act(obs, None, starts)
    q, state_q = agent(obs, None, starts)
    assert torch.equal(action, q.argmax(-1)) and torch.equal(state[0], state_q[0])


def test_actor_critic_act_matches_get_action_and_value():
    torch.manual_seed(0)
    agent = RecurrentActorCritic(build_core("lstm", 3, hidden_size=5), 4)
    obs, starts = torch.randn(4, 2, 3), torch.zeros(4, 2, dtype=torch.bool)
    action, state = agent.act(obs, None, starts)
    expected, *_, state_ref = agent.get_action_and_value(obs, None, starts, deterministic=True)
    assert torch.equal(action, expected) and torch.equal(state[1], state_ref[1])
    sampled, _ = agent.act(obs, None, starts, deterministic=False)
    assert sampled.shape == (4, 2)


# -- configuration errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "error", "field"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"seq_len": 2.5}, TypeError, "seq_len"),
        ({"burn_in": -1}, ValueError, "burn_in"),
        ({"buffer_episodes": 0}, ValueError, "buffer_episodes"),
        ({"learning_starts": 0}, ValueError, "learning_starts"),
        ({"train_frequency": 0}, ValueError, "train_frequency"),
        ({"target_update_every": 0}, ValueError, "target_update_every"),
        ({"tau": 0.0}, ValueError, "tau"),
        ({"tau": 1.5}, ValueError, "tau"),
        ({"eps_start": 1.5}, ValueError, "eps_start"),
        ({"eps_start": 0.1, "eps_end": 0.2}, ValueError, "eps_end"),
        ({"exploration_fraction": 2.0}, ValueError, "exploration_fraction"),
        ({"double_q": "yes"}, TypeError, "double_q"),
        ({"normalize_reward": True}, ValueError, "normalize_reward"),
        ({"gamma": 1.5}, ValueError, "gamma"),
    ],
)
def test_bad_config_names_the_field(kw, error, field):
    with pytest.raises(error, match=f"DRQNConfig.{field}"):
        DRQNConfig(**kw)


def test_config_accepts_zero_burn_in_and_train_drqn_refuses_other_configs():
    assert DRQNConfig(burn_in=0).burn_in == 0
    with pytest.raises(TypeError, match="DRQNConfig"):
        train_drqn(A2CConfig())

"""The recurrent machinery of qseq.rl: state resets at episode starts (against episodes run one by one),
rollouts with same-step autoreset and truncation bootstrapping (against a hand replay), advantages
(closed forms), running normalisation (numpy), learning, exact resume, reloading, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from qseq.rl import A2CConfig, PPOConfig, RecurrentActorCritic, build_core, train  # noqa: E402
from qseq.rl.agents import RunningNorm  # noqa: E402
from qseq.rl.evaluate import evaluate, load_agent  # noqa: E402
from qseq.rl.rollout import Collector, Rollout, advantages  # noqa: E402
from qseq.rl.vector import make_vector_env  # noqa: E402

KINDS = ["lstm", "gru", "qlstm", "qgru", "qrnn", "qfwp"]
FAST = {"progress": False, "plot": False}


def _core(kind: str, obs_dim: int = 3):
    torch.manual_seed(0)
    return build_core(
        kind, obs_dim, hidden_size=2, n_qubits=3 if kind != "qfwp" else 4, n_layers=1, dtype=torch.float64
    )


# -- state resets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_episode_starts_reset_the_state_exactly(kind):
    """A batch whose environments start new episodes mid-sequence gives, per environment, the outputs
    of each episode run alone from a zero state."""
    core = _core(kind)
    T, N = 6, 3
    x = torch.randn(T, N, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    starts = torch.zeros(T, N, dtype=torch.bool)
    starts[0] = True
    starts[3, 1] = starts[4, 2] = starts[1, 2] = True
    with torch.no_grad():
        out, _ = core(x, None, starts)
        for n in range(N):
            bounds = [t for t in range(T) if starts[t, n]] + [T]
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                alone, _ = core(x[a:b, n : n + 1], None, starts[a:b, n : n + 1])
                torch.testing.assert_close(out[a:b, n], alone[:, 0], atol=1e-12, rtol=0)
    assert out[3:, 1].abs().max() > 0  # not a vacuous comparison


@pytest.mark.parametrize("kind", ["qlstm", "qfwp"])
def test_episode_starts_of_the_models_equal_stepping_with_resets(kind):
    """The qseq models' one-call ``episode_starts`` path equals one call per step with the state
    zeroed by hand (the path torch layers take)."""
    core = _core(kind)
    x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    starts = torch.tensor([[1, 1], [0, 0], [1, 0], [0, 1], [0, 0]], dtype=torch.bool)
    with torch.no_grad():
        out, final = core(x, None, starts)
        state, steps = None, []
        for t in range(5):
            y, state = core.model(x[t : t + 1], core.reset(state, starts[t]))
            steps.append(y[0])
    torch.testing.assert_close(out, torch.stack(steps), atol=1e-12, rtol=0)


def test_episode_starts_of_the_wrong_shape_are_refused():
    core = _core("qlstm")
    x = torch.zeros(4, 2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"episode_starts must be a \(L, N\) tensor = \(4, 2\)"):
        core.model(x, None, episode_starts=torch.zeros(2, 4, dtype=torch.bool))


# -- rollouts -----------------------------------------------------------------------------------------
def _agent(envs, kind="lstm", **kw):
    torch.manual_seed(0)
    obs_dim = envs.single_observation_space.shape[0]
    return RecurrentActorCritic(build_core(kind, obs_dim, hidden_size=3), int(envs.single_action_space.n), **kw)


def test_rollouts_mark_episode_starts_with_same_step_autoreset():
    envs = make_vector_env("qseq/CueRecall-v0", 3, {"delay": 1, "n_cues": 2})
    collector = Collector(envs, _agent(envs), gamma=0.9)
    collector.reset(seed=0)
    rollout = collector.collect(10)
    cue_shown = rollout.obs[..., :2].sum(-1) == 1  # the cue is visible exactly at an episode's first step
    assert torch.equal(rollout.starts, cue_shown)
    assert torch.equal(rollout.ends[:-1], rollout.starts[1:])
    assert rollout.ends.sum() == 3 * 3  # episodes of delay + 2 = 3 steps
    assert len(collector.episode_returns) == 9


def test_a_truncated_episode_is_bootstrapped_with_the_state_before_the_reset():
    envs = make_vector_env("qseq/CartPoleNoVel-v1", 2, {"max_episode_steps": 4})
    agent = _agent(envs)
    collector = Collector(envs, agent, gamma=0.9)
    collector.reset(seed=3)
    steps = []
    original_step = envs.step

    def spy(action):
        result = original_step(action)
        steps.append(result)
        return result

    envs.step = spy
    rollout = collector.collect(6)
    t = 3  # the fourth step of the first episodes: truncated
    assert rollout.ends[t].all() and not rollout.ends[:t].any()
    final = torch.as_tensor(np.stack(steps[t][4]["final_obs"]), dtype=torch.float32)
    with torch.no_grad():
        episode = torch.cat([rollout.obs[: t + 1], final[None]])
        starts = torch.zeros(t + 2, 2, dtype=torch.bool)
        starts[0] = True
        v_final = agent.get_value(episode, None, starts)[-1]
    torch.testing.assert_close(rollout.rewards[t], 1.0 + 0.9 * v_final)
    torch.testing.assert_close(rollout.rewards[:t], torch.ones(t, 2))


def _rollout(rewards, ends, values, last_value) -> Rollout:
    r = torch.tensor(rewards, dtype=torch.float64)[:, None]
    z = torch.zeros_like(r)
    return Rollout(
        z,
        z.bool(),
        z.long(),
        z,
        torch.tensor(values, dtype=torch.float64)[:, None],
        r,
        torch.tensor(ends)[:, None],
        None,
        torch.tensor([last_value], dtype=torch.float64),
    )


def test_advantages_are_n_step_returns_and_td_errors_in_closed_form():
    g = 0.9
    ro = _rollout([1.0, 2.0, 3.0, 4.0], [False, True, False, False], [0.5, 0.1, 0.2, 0.3], 10.0)
    adv, ret = advantages(ro, g, 1.0)  # λ = 1: discounted sums up to the episode end or the bootstrap
    expected = [1 + g * 2, 2, 3 + g * 4 + g**2 * 10, 4 + g * 10]
    torch.testing.assert_close(ret[:, 0], torch.tensor(expected, dtype=torch.float64))
    adv0, _ = advantages(ro, g, 0.0)  # λ = 0: one-step TD errors
    td = [1 + g * 0.1 - 0.5, 2 - 0.1, 3 + g * 0.3 - 0.2, 4 + g * 10 - 0.3]
    torch.testing.assert_close(adv0[:, 0], torch.tensor(td, dtype=torch.float64))


def test_running_norm_equals_the_moments_of_everything_seen():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4))
    norm = RunningNorm(4, dtype=torch.float64)
    for chunk in np.array_split(data, 7):
        norm.update(torch.as_tensor(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-12)


# -- training -----------------------------------------------------------------------------------------
def test_a2c_with_memory_solves_the_cue_recall_task():
    """Chance is 1/2; a recurrent policy that keeps the cue gets 1."""
    cfg = A2CConfig(
        env_id="qseq/CueRecall-v0",
        env_kwargs={"delay": 2},
        model="lstm",
        hidden_size=16,
        n_steps=12,
        total_steps=24_000,
        seed=1,
        **FAST,
    )
    result = train(cfg)
    assert result.mean_return > 0.9


def _comparable(history):
    return [{k: v for k, v in row.items() if k not in ("steps_per_s", "time_s")} for row in history]


@pytest.mark.parametrize("algo, kind", [("ppo", "lstm"), ("a2c", "qrnn")])
def test_a_run_interrupted_and_resumed_equals_one_that_never_stopped(tmp_path, monkeypatch, algo, kind):
    from qseq.rl import runner

    cls = PPOConfig if algo == "ppo" else A2CConfig
    kw = dict(env_id="qseq/CartPoleNoVel-v1", model=kind, n_envs=4, n_steps=8, checkpoint_every=2, **FAST)
    if algo == "ppo":
        kw.update(update_epochs=2, n_minibatches=2)
    cfg = cls(total_steps=6 * 32, **kw)
    straight = train(cfg, run_dir=tmp_path / "straight")

    name = f"{algo}_update"
    real, calls = getattr(runner, name), []

    def crash_at_the_fourth_update(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(runner, name, crash_at_the_fourth_update)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run_dir=tmp_path / "split")  # checkpointed after update 2, lost update 3
    monkeypatch.setattr(runner, name, real)
    resumed = train(cfg, run_dir=tmp_path / "split", resume=True)
    assert _comparable(resumed.history) == _comparable(straight.history)
    assert resumed.episode_returns == straight.episode_returns
    for a, b in zip(straight.agent.state_dict().values(), resumed.agent.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_a_cuda_device_without_cuda_is_refused_before_anything_runs(tmp_path):
    cfg = A2CConfig(env_id="qseq/CartPoleNoVel-v1", model="qrnn", n_envs=2, device="cuda", **FAST)
    with pytest.raises(ValueError, match="config.device is 'cuda', but torch finds no CUDA device here"):
        train(cfg, run_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_a_run_interrupted_and_resumed_equals_one_that_never_stopped(tmp_path, monkeypatch):
    from qseq.rl import runner

    kw = dict(env_id="qseq/CartPoleNoVel-v1", model="qlstm", n_envs=4, n_steps=8, checkpoint_every=2, **FAST)
    cfg = A2CConfig(total_steps=6 * 32, device="cuda", **kw)
    straight = train(cfg, run_dir=tmp_path / "straight")
    assert next(straight.agent.parameters()).is_cuda
    real, calls = runner.a2c_update, []

    def crash_at_the_fourth_update(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(runner, "a2c_update", crash_at_the_fourth_update)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run_dir=tmp_path / "split")
    monkeypatch.setattr(runner, "a2c_update", real)
    resumed = train(cfg, run_dir=tmp_path / "split", resume=True)
    assert _comparable(resumed.history) == _comparable(straight.history)
    for a, b in zip(straight.agent.state_dict().values(), resumed.agent.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_a_saved_agent_reloads_and_acts_identically(tmp_path):
    cfg = A2CConfig(env_id="qseq/CartPoleNoVel-v1", model="qgru", n_envs=2, total_steps=80, **FAST)
    result = train(cfg, run_dir=tmp_path)
    agent, config = load_agent(tmp_path)
    assert config == cfg
    ours = evaluate(result.agent.eval(), cfg.env_id, episodes=3, n_envs=3)
    theirs = evaluate(agent, cfg.env_id, episodes=3, n_envs=3)
    np.testing.assert_array_equal(ours, theirs)
    assert len(ours) == 3 and (ours > 0).all()


# -- bad inputs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"model": "transformer"}, ValueError, "PPOConfig.model must be one of qlstm"),
        ({"total_steps": 0}, ValueError, "PPOConfig.total_steps must be >= 1"),
        ({"n_envs": 6, "n_minibatches": 4}, ValueError, "multiple of n_minibatches"),
        ({"gamma": 1.5}, ValueError, r"PPOConfig.gamma must be in \[0, 1\]"),
        ({"lr": float("nan")}, ValueError, "PPOConfig.lr must be finite"),
        ({"n_steps": 2.5}, TypeError, "PPOConfig.n_steps must be an int"),
        ({"normalize_obs": "yes"}, TypeError, "PPOConfig.normalize_obs must be True or False"),
        ({"device": "gpu"}, ValueError, "PPOConfig.device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    ],
)
def test_bad_configurations_name_the_field(kwargs, error, match):
    with pytest.raises(error, match=match):
        PPOConfig(**kwargs)


def test_bad_environments_and_run_directories_are_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown environment id 'qseq/CartPoleNoVell-v1'; did you mean qseq/CartPoleNoVel-v1"
    ):
        train(A2CConfig(env_id="qseq/CartPoleNoVell-v1", **FAST))
    with pytest.raises(ValueError, match="need Discrete actions"):
        train(A2CConfig(env_id="Pendulum-v1", **FAST))
    cfg = A2CConfig(model="lstm", n_envs=2, total_steps=20, **FAST)
    train(cfg, run_dir=tmp_path)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(cfg, run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"these fields differ: hidden_size: 4 -> 8"):
        train(A2CConfig(model="lstm", n_envs=2, total_steps=40, hidden_size=8, **FAST), run_dir=tmp_path, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable qseq RL checkpoint"):
        load_agent(tmp_path)


def test_evaluation_equals_each_environment_played_alone_and_stops_running_finished_ones():
    cfg = A2CConfig(env_id="qseq/CartPoleNoVel-v1", model="qrnn", n_envs=2, total_steps=40, **FAST)
    agent = train(cfg).agent.eval()
    rows = []
    forward = agent.core.forward
    agent.core.forward = lambda x, state, starts: rows.append(x.shape[1]) or forward(x, state, starts)
    together = evaluate(agent, cfg.env_id, episodes=5, n_envs=3, seed=7)
    assert rows[0] == 3 and rows[-1] < 3  # the env with the smaller share stopped calling the agent
    alone = [evaluate(agent, cfg.env_id, episodes=q, n_envs=1, seed=7 + i) for i, q in enumerate((2, 2, 1))]
    np.testing.assert_array_equal(np.sort(together), np.sort(np.concatenate(alone)))


def test_a_classical_core_refuses_a_circuit_backend():
    with pytest.raises(ValueError, match="a lstm core is classical: it runs no circuits, so it takes no backend 'aer'"):
        build_core("lstm", 3, backend="aer")
    build_core("lstm", 3, backend="torch:cpu")  # the torch engine is where a classical core runs anyway

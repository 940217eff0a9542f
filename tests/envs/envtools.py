"""Rollouts shared by the environment tests."""

from __future__ import annotations

import numpy as np


def rollout(env, seed: int, actions) -> dict:
    """Reset ``env`` with ``seed`` and take ``actions`` until the episode ends; what it returned, stacked."""
    obs, _ = env.reset(seed=seed)
    out = {"obs": [obs], "reward": [], "terminated": [], "truncated": []}
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        out["obs"].append(obs)
        out["reward"].append(float(reward))
        out["terminated"].append(bool(terminated))
        out["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    out["obs"] = np.stack(out["obs"])
    return out


def vec_rollout(envs, seed: int, actions) -> dict:
    """Reset a vector env with ``seed`` and step it through ``actions`` (rows of one action per sub-env)."""
    obs, _ = envs.reset(seed=seed)
    out = {"obs": [obs], "reward": [], "terminated": [], "truncated": []}
    for row in actions:
        obs, reward, terminated, truncated, _ = envs.step(np.asarray(row))
        out["obs"].append(obs)
        out["reward"].append(reward)
        out["terminated"].append(terminated)
        out["truncated"].append(truncated)
    return {k: np.stack(v) for k, v in out.items()}

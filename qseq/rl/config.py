"""Configurations of the reinforcement-learning algorithms: one documented dataclass each, checked
when built (every bad value is a ``TypeError``/``ValueError`` naming the field)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from .core import CORES

__all__ = ["RLConfig", "A2CConfig", "PPOConfig", "ALGORITHMS", "config_from_dict"]

_OPTIMIZERS = ("adam", "rmsprop")


@dataclass
class RLConfig:
    """What every algorithm shares: the environment, the agent, the budget and the run's files."""

    algo: ClassVar[str] = ""
    #: Int fields that may be 0 (the others must be >= 1; ``seed`` always may).
    _zero_ok: ClassVar[frozenset[str]] = frozenset()

    env_id: str = "qseq/CartPoleNoVel-v1"
    """A gymnasium id (``qseq/...`` ids are registered by :mod:`qseq.envs`)."""

    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``gymnasium.make`` (e.g. ``{"delay": 10}`` for ``qseq/CueRecall-v0``)."""

    model: str = "qlstm"
    """The recurrent core: one of :data:`~qseq.rl.core.CORES`."""

    hidden_size: int = 4
    """Hidden features of the core (see :func:`~qseq.rl.core.build_core`)."""

    n_qubits: int | None = None
    """Wires per VQC (``None``: 4 for the cells, 8 for the QFWP; see :func:`~qseq.rl.core.build_core`)."""

    n_layers: int = 2
    """Variational layers per VQC, or the QFWP's depth."""

    backend: str = "torch"
    """Where the circuits run while training."""

    reservoir: bool = False
    """Freeze the core at seeded random weights: only the heads train (reservoir RL)."""

    total_steps: int = 100_000
    """Environment steps of the run, summed over the environments (on resume: may be raised)."""

    n_envs: int = 8
    """Environments stepped together (one ``gymnasium.make_vec`` sync vector env)."""

    seed: int = 0
    """Seeds torch/numpy/``random``, the model's initialisation and the environments (env ``i``
    resets first with ``seed + i``)."""

    lr: float = 1e-3
    """Learning rate."""

    optimizer: Literal["adam", "rmsprop"] = "adam"
    """``"adam"`` (eps 1e-5) or ``"rmsprop"`` (alpha 0.99, eps 1e-5, as in A2C implementations)."""

    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over ``total_steps``."""

    gamma: float = 0.99
    """Discount factor."""

    normalize_obs: bool = True
    """Standardise observations with running moments kept in the agent (updated once per rollout)."""

    normalize_reward: bool = True
    """Divide rewards, for learning, by the running standard deviation of each environment's discounted
    return (as SB3's ``VecNormalize``): values stay near unit scale whatever the reward scale, so the
    value loss does not swamp the policy's gradient after clipping. Reported returns are unscaled."""

    max_grad_norm: float = 0.5
    """Clip the gradients' global norm to this value."""

    distributed: bool | None = None
    """Train over a ``torch.distributed`` process group (A2C and PPO): every process steps its own
    ``n_envs`` environments (seeds offset by rank) and the learners average their gradients, one
    all-reduce per optimiser step. ``None`` joins when ``torchrun`` launched the process, ``True``
    requires it, ``False`` never joins. ``total_steps`` counts the steps of all processes."""

    device: str = "cpu"
    """Where the agent acts and learns (A2C and PPO): ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under
    ``torchrun`` ``"cuda"`` means one GPU per process (``cuda:LOCAL_RANK``, NCCL). Environments step on
    the CPU, so observations and actions cross to the device once per step: small policies act faster
    on the CPU (``benchmarks/RESULTS.md``, data-parallel scaling)."""

    checkpoint_every: int = 20
    """Write ``checkpoint.pt`` every this many updates (and at the end)."""

    progress: bool = True
    """Show a tqdm bar with steps/s, episodes and the mean return of the last 100 episodes."""

    plot: bool = True
    """Write ``learning_curve.png`` at the end (needs matplotlib)."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.env_id, str) or not self.env_id:
            raise TypeError(f"{name}.env_id must be a gymnasium id string, got {self.env_id!r}")
        if not isinstance(self.env_kwargs, dict):
            raise TypeError(f"{name}.env_kwargs must be a dict, got {self.env_kwargs!r}")
        if self.model not in CORES:
            raise ValueError(f"{name}.model must be one of {', '.join(CORES)}, got {self.model!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"{name}.optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if not isinstance(self.backend, str):
            raise TypeError(f"{name}.backend must be a backend spec string, got {self.backend!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "int | None") and value is not None:
                _check_int(name, f.name, value, minimum=0 if f.name == "seed" or f.name in self._zero_ok else 1)
                setattr(self, f.name, int(value))
            elif f.type == "float":
                _check_real(name, f.name, value)
                setattr(self, f.name, float(value))
            elif f.type == "bool" and not isinstance(value, bool):
                raise TypeError(f"{name}.{f.name} must be True or False, got {value!r}")
        if self.seed >= 2**32:
            raise ValueError(f"{name}.seed must be < 2**32, got {self.seed}")
        if self.distributed is not None and not isinstance(self.distributed, bool):
            raise TypeError(f"{name}.distributed must be None, True or False, got {self.distributed!r}")
        if not isinstance(self.device, str) or not _is_device(self.device):
            raise ValueError(f"{name}.device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"{name}.gamma must be in [0, 1], got {self.gamma}")

    @property
    def steps_per_update(self) -> int:
        """Environment steps between two updates."""
        return self.n_envs * getattr(self, "n_steps", 1)

    def to_dict(self) -> dict[str, Any]:
        """The fields and the algorithm's name (what ``config.json`` and checkpoints store)."""
        return {"algo": self.algo, **asdict(self)}


@dataclass
class A2CConfig(RLConfig):
    """Synchronous advantage actor-critic (the form of the papers' A3C that runs on one vector env):
    every ``n_steps`` steps of all environments, one gradient step on
    ``-A·log π(a) + vf_coef · ½(R - V)² - ent_coef · H[π]`` with ``n``-step returns (``gae_lambda = 1``)
    or GAE advantages, replaying the rollout from its initial recurrent state."""

    algo: ClassVar[str] = "a2c"

    n_steps: int = 5
    """Steps per environment per update (the papers' A3C: 5); also the backpropagation length."""

    gae_lambda: float = 1.0
    """GAE λ; 1 gives plain ``n``-step returns."""

    ent_coef: float = 0.01
    """Entropy bonus."""

    vf_coef: float = 0.5
    """Weight of the value loss."""

    lr: float = 3e-3
    optimizer: Literal["adam", "rmsprop"] = "rmsprop"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"A2CConfig.gae_lambda must be in [0, 1], got {self.gae_lambda}")


@dataclass
class PPOConfig(RLConfig):
    """Recurrent PPO (clipped surrogate objective): rollouts of ``n_steps`` steps kept with the
    recurrent state they started from, then ``update_epochs`` passes over minibatches of whole
    environments, each replayed from its initial state (truncated backpropagation through time)."""

    algo: ClassVar[str] = "ppo"

    n_steps: int = 32
    """Steps per environment per rollout; also the backpropagation length."""

    gamma: float = 0.98

    gae_lambda: float = 0.8
    """GAE λ."""

    update_epochs: int = 10
    """Passes over each rollout."""

    n_minibatches: int = 1
    """Minibatches per pass; each holds ``n_envs / n_minibatches`` whole environments."""

    clip_coef: float = 0.2
    """Surrogate clipping ε."""

    clip_vloss: bool = True
    """Clip the value update as the policy's (the PPO implementation details)."""

    norm_adv: bool = True
    """Normalise advantages per minibatch."""

    ent_coef: float = 0.0
    """Entropy bonus."""

    vf_coef: float = 0.5
    """Weight of the value loss."""

    target_kl: float | None = None
    """Stop a rollout's epochs early once the approximate KL exceeds this (``None``: never)."""

    anneal_lr: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"PPOConfig.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if self.n_envs % self.n_minibatches:
            raise ValueError(
                f"PPOConfig.n_envs ({self.n_envs}) must be a multiple of n_minibatches ({self.n_minibatches}): "
                "minibatches hold whole environments"
            )
        if self.target_kl is not None:
            _check_real("PPOConfig", "target_kl", self.target_kl)


#: Algorithm name -> its configuration class. ``"drqn"`` (:class:`~qseq.rl.drqn.DRQNConfig`) is added
#: by :mod:`qseq.rl.drqn`, which the package ``qseq.rl`` imports, so it is there whenever any ``qseq.rl``
#: module is (this module cannot import it: drqn builds on it).
ALGORITHMS: dict[str, type[RLConfig]] = {"a2c": A2CConfig, "ppo": PPOConfig}


def config_from_dict(data: dict[str, Any]) -> RLConfig:
    """Rebuild a configuration from :meth:`RLConfig.to_dict` (a checkpoint's or ``config.json``'s)."""
    data = dict(data)
    algo = data.pop("algo", None)
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r} in the saved configuration; known: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[algo]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"the saved {algo} configuration has unknown fields {unknown}")
    return cls(**data)


def _is_device(spec: str) -> bool:
    try:
        return torch.device(spec).type in ("cpu", "cuda")
    except RuntimeError:
        return False


def _check_int(cls: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{cls}.{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{cls}.{name} must be >= {minimum}, got {value}")


def _check_real(cls: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{cls}.{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{cls}.{name} must be finite and >= 0, got {value}")

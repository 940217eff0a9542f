"""Reinforcement learning with recurrent quantum (and classical) policies over gymnasium vector envs.

* :func:`train` — A2C (:class:`A2CConfig`) or recurrent PPO (:class:`PPOConfig`) on any discrete-action
  environment with a flat observation (``qseq/...`` ids from :mod:`qseq.envs`, or any gymnasium id);
* :func:`train_drqn` — deep recurrent Q-learning (:class:`DRQNConfig`: episode replay, ε-greedy, target
  network), the QLSTM-DRQN paper's algorithm;
* agents: :class:`RecurrentActorCritic`, :class:`RecurrentQNetwork` on a :class:`RecurrentCore` built by
  :func:`build_core` from QLSTM, QGRU, QRNN, QFWP or a torch LSTM/GRU (``reservoir=True``: only the
  heads train);
* :func:`evaluate` / :func:`load_agent` — run a saved policy, on any backend.

Needs the ``rl`` extra (``pip install 'qseq[rl]'``): gymnasium is imported when environments are made.
"""

from .agents import RecurrentActorCritic, RecurrentQNetwork, build_agent
from .checkpoint import load_checkpoint
from .config import ALGORITHMS, A2CConfig, PPOConfig, RLConfig
from .core import CORES, RecurrentCore, build_core
from .drqn import DRQNConfig, train_drqn
from .evaluate import evaluate, load_agent
from .runner import RLResult, train

__all__ = [
    "A2CConfig",
    "DRQNConfig",
    "PPOConfig",
    "RLConfig",
    "ALGORITHMS",
    "CORES",
    "RecurrentCore",
    "RecurrentActorCritic",
    "RecurrentQNetwork",
    "RLResult",
    "build_agent",
    "build_core",
    "evaluate",
    "load_agent",
    "load_checkpoint",
    "train",
    "train_drqn",
]

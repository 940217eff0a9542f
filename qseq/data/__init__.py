"""Time-series datasets, windowing, scaling and honest baselines for sequence-model experiments.

Everything here is numpy float64 and deterministic (random generators take a seed). Three layers:

* **Generators** return raw series: the five tasks of the QLSTM / QRNN-RC / QFWP papers reproduced
  from S. Y.-C. Chen's public code (:func:`damped_shm`, :func:`bessel_j2`,
  :func:`delayed_quantum_control`, :func:`narma`, plus :func:`sine` and
  :func:`population_inversion`, whose original loaders are not public), and the standard
  reservoir-computing benchmarks (:func:`narma_random`, :func:`mackey_glass`, :func:`lorenz`).
* **Preparation**: :func:`windows` (Chen's windowing, including its extra ``-1``),
  :func:`chronological_split` (``int(0.67 * N)`` training windows; with ``val=`` a
  train / validation / test :class:`Split`), :class:`MinMaxScaler`
  (fitted on the whole series, as Chen's code does), :func:`load_csv` for users' own data, and the
  :data:`TASKS` registry that chains these exactly as the papers' code does.
* **Baselines**: :func:`persistence_baseline`, :func:`linear_ar_baseline` and :func:`mse`. Several
  paper tasks are solved almost exactly by a 5-parameter linear autoregression (damped SHM: test
  MSE ~1e-7 against ~3e-3 for persistence), so report these beside every model.

Shapes: a series is ``(T,)`` or ``(T, F)`` (time first); windows are ``X (N, seq_len, F)`` and
targets ``y (N, G)``.
"""

from .baselines import linear_ar_baseline, mse, persistence_baseline
from .generators import (
    bessel_j2,
    damped_shm,
    delayed_quantum_control,
    lorenz,
    mackey_glass,
    narma,
    narma_input,
    narma_random,
    population_inversion,
    sine,
)
from .tasks import TASKS, Task, get_task
from .windows import MinMaxScaler, Split, chronological_split, load_csv, windows

__all__ = [
    "damped_shm",
    "bessel_j2",
    "delayed_quantum_control",
    "narma_input",
    "narma",
    "narma_random",
    "sine",
    "mackey_glass",
    "lorenz",
    "population_inversion",
    "windows",
    "chronological_split",
    "Split",
    "MinMaxScaler",
    "load_csv",
    "persistence_baseline",
    "linear_ar_baseline",
    "mse",
    "Task",
    "TASKS",
    "get_task",
]

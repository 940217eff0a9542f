"""The task registry: every named task is a generator plus the exact preparation the papers' code
applies (scaling, windowing, targets), so ``get_task(name).load(seq_len)`` gives the papers' windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .generators import (
    bessel_j2,
    damped_shm,
    delayed_quantum_control,
    lorenz,
    mackey_glass,
    narma,
    population_inversion,
    sine,
)
from .windows import MinMaxScaler, windows

__all__ = ["Task", "TASKS", "get_task"]


@dataclass(frozen=True)
class Task:
    """A named forecasting task: a generator plus the exact preparation the papers' code applies.

    Attributes:
        name: registry key.
        description: formula, size and source, one line.
        scaled: whether the series is min-max scaled to ``[-1, 1]`` on the whole series before
            windowing (Chen's code: every task except NARMA).
        source: where the generator comes from.
        generate: zero-argument callable returning the raw series ``(T,)``/``(T, F)``, or
            ``(inputs, targets)`` for tasks whose windows and targets are different series (NARMA).
        target_column: for multi-feature series, the column the targets are taken from
            (``None``: all features).
    """

    name: str
    description: str
    scaled: bool
    source: str
    generate: Callable[[], np.ndarray | tuple[np.ndarray, np.ndarray]] = field(repr=False, compare=False)
    target_column: int | None = None

    def series(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The raw, unscaled data: ``(inputs, targets)``; ``targets`` is ``None`` when they are the inputs."""
        out = self.generate()
        if isinstance(out, tuple):
            return out
        if self.target_column is not None:
            return out, out[:, self.target_column]
        return out, None

    def load(self, seq_len: int = 4, *, horizon: int = 1, return_scaler: bool = False):
        """Generate, scale (if :attr:`scaled`) and window the task: ready for :func:`chronological_split`.

        Args:
            seq_len: window length (papers: 4).
            horizon: forecast horizon (papers: 1).
            return_scaler: also return the scaler of the targets (``None`` for unscaled tasks), so
                that ``scaler.inverse_transform(pred)`` gives predictions in original units.

        Returns:
            ``(X, y)`` shaped ``(N, seq_len, F)`` and ``(N, G)``, or ``(X, y, scaler)``.
        """
        inputs, targets = self.series()
        scaler = None
        if self.scaled:
            input_scaler = MinMaxScaler((-1.0, 1.0))
            inputs = input_scaler.fit_transform(inputs)
            if targets is not None:
                scaler = MinMaxScaler((-1.0, 1.0))
                targets = scaler.fit_transform(targets)
            else:
                scaler = input_scaler
        X, y = windows(inputs, seq_len, target=targets, horizon=horizon)
        return (X, y, scaler) if return_scaler else (X, y)


_CHEN = "Chen's code (ycchen1989/Quantum_FWP, ycchen1989/FederatedQLSTM)"

TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "damped_shm",
            "Damped pendulum θ'' = -0.15θ' - 9.81 sin θ, θ(0)=0, θ'(0)=3; series θ' on linspace(0, 20, 240)",
            True,
            _CHEN + ", data/damped_shm.py",
            damped_shm,
        ),
        Task(
            "bessel_j2",
            "Bessel J2(x) on linspace(2, 100, 256)",
            True,
            _CHEN + ", data/bessel_functions.py",
            bessel_j2,
        ),
        Task(
            "delayed_quantum_control",
            "s(x) = Σ_{n=0}^{10} exp(-10(x-2n)²) exp(-x/16), x = arange(-2, 20, 0.01) (2200 points)",
            True,
            _CHEN + ", data/delayed_quantum_control.py",
            delayed_quantum_control,
        ),
        Task(
            "narma2",
            "NARMA-2 y_{t+1} = 0.4y_t + 0.4y_t y_{t-1} + 0.6u_t³ + 0.1, sine-product u, T=300; "
            "X = windows of u, y = NARMA target, unscaled",
            False,
            "Chen's NARMA generator (via MatthewPeng57/Gated-QKAN-FWP narma_generator.py)",
            lambda: narma(2),
        ),
        Task(
            "narma5",
            "NARMA-5 (Chen's coefficients 0.3, 0.05, 1.5, 0.1), sine-product u, T=300; "
            "X = windows of u, y = NARMA target, unscaled",
            False,
            "Chen's NARMA generator (via MatthewPeng57/Gated-QKAN-FWP narma_generator.py)",
            lambda: narma(5),
        ),
        Task(
            "narma10",
            "NARMA-10 (Chen's coefficients 0.3, 0.05, 1.5, 0.1), sine-product u, T=300; "
            "X = windows of u, y = NARMA target, unscaled",
            False,
            "Chen's NARMA generator (via MatthewPeng57/Gated-QKAN-FWP narma_generator.py)",
            lambda: narma(10),
        ),
        Task(
            "sine",
            "sin(2π·10·k/500), k = 0..499 (50 samples per period)",
            True,
            "qseq (Chen's sine loader is not public)",
            sine,
        ),
        Task(
            "mackey_glass",
            "Mackey-Glass τ=17, β=0.2, γ=0.1, n=10; RK4 dt=0.1, sampled every 1, 500 discarded, 2000 points",
            True,
            "qseq (standard reservoir-computing benchmark)",
            mackey_glass,
        ),
        Task(
            "lorenz",
            "Lorenz-63 (10, 28, 8/3), RK4 dt=0.01 from (1,1,1), 2000 states; X = windows of the scaled "
            "(x, y, z) state, y = the scaled x at the next step",
            True,
            "qseq (standard reservoir-computing benchmark)",
            lorenz,
            target_column=0,
        ),
        Task(
            "population_inversion",
            "Jaynes-Cummings inversion W(t) = Σ P(n) cos(2√(n+1) t), coherent n̄=20, "
            "t ∈ [0, 3π√20] (1.5 revival times), 1000 points",
            True,
            "qseq (the paper's generator and parameters are not public)",
            population_inversion,
        ),
    ]
}


def get_task(name: str) -> Task:
    """Look up a task of :data:`TASKS` by name.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None

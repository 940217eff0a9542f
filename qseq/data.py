"""Time-series datasets, windowing, scaling and honest baselines for sequence-model experiments.

Everything here is numpy float64 and deterministic (random generators take a seed). Three layers:

* **Generators** return raw series: the five tasks of the QLSTM / QRNN-RC / QFWP papers reproduced
  from S. Y.-C. Chen's public code (:func:`damped_shm`, :func:`bessel_j2`,
  :func:`delayed_quantum_control`, :func:`narma`, plus :func:`sine` and
  :func:`population_inversion`, whose original loaders are not public), and the standard
  reservoir-computing benchmarks (:func:`narma_random`, :func:`mackey_glass`, :func:`lorenz`).
* **Preparation**: :func:`windows` (Chen's windowing, including its extra ``-1``),
  :func:`chronological_split` (``int(0.67 * N)`` training windows), :class:`MinMaxScaler`
  (fitted on the whole series, as Chen's code does), :func:`load_csv` for users' own data, and the
  :data:`TASKS` registry that chains these exactly as the papers' code does.
* **Baselines**: :func:`persistence_baseline`, :func:`linear_ar_baseline` and :func:`mse`. Several
  paper tasks are solved almost exactly by a 5-parameter linear autoregression (damped SHM: test
  MSE ~1e-7 against ~3e-3 for persistence), so report these beside every model.

Shapes: a series is ``(T,)`` or ``(T, F)`` (time first); windows are ``X (N, seq_len, F)`` and
targets ``y (N, G)``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np

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
    "MinMaxScaler",
    "load_csv",
    "persistence_baseline",
    "linear_ar_baseline",
    "mse",
    "Task",
    "TASKS",
    "get_task",
]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _first_nonfinite(a: np.ndarray) -> int | None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0, 0])


# --------------------------------------------------------------------------------------------------
# Generators: the paper tasks
# --------------------------------------------------------------------------------------------------


def damped_shm(
    n_points: int = 240,
    t_max: float = 20.0,
    b: float = 0.15,
    g: float = 9.81,
    l: float = 1.0,  # noqa: E741 - the pendulum length, named as in Chen's code
    m: float = 1.0,
    theta0: float = 0.0,
    omega0: float = 3.0,
    *,
    substeps: int = 100,
) -> np.ndarray:
    r"""Angular velocity of a damped pendulum (the "damped SHM" task of QLSTM / QFWP).

    Integrates

    .. math:: \ddot\theta = -\frac{b}{m}\dot\theta - \frac{g}{l}\sin\theta,
              \qquad \theta(0) = \theta_0,\ \dot\theta(0) = \omega_0

    and samples it on ``t = linspace(0, t_max, n_points)``. As in Chen's
    ``Quantum_FWP/data/damped_shm.py`` (which calls ``scipy.integrate.odeint`` and takes column 1
    of the state), the returned series is the angular velocity :math:`\dot\theta`, not the angle.
    Chen's code writes ``-g*sin(theta)`` (no ``l``); with the default ``l = 1`` the two agree.

    Integration: classical fixed-step 4th-order Runge-Kutta in plain numpy/Python, with
    ``substeps`` equal steps between consecutive output times (default 100, step ~8.4e-4 s for the
    defaults). It agrees with ``scipy.integrate.solve_ivp(method="DOP853", rtol=1e-12)`` to ~2e-11 (rad/s).

    Args:
        n_points: number of output samples ``T`` (Chen: 240).
        t_max: end time in seconds (Chen: 20).
        b: damping coefficient (kg/s).
        g: gravitational acceleration (m/s²).
        l: pendulum length (m).
        m: mass (kg).
        theta0: initial angle (rad).
        omega0: initial angular velocity (rad/s).
        substeps: RK4 steps per output interval.

    Returns:
        ``(T,)`` float64 angular velocity :math:`\dot\theta(t_k)` in rad/s.
    """
    n_points = _check_count("n_points", n_points, 2)
    substeps = _check_count("substeps", substeps)
    h = float(t_max) / (n_points - 1) / substeps
    damping, stiffness = b / m, g / l

    def f(th: float, om: float) -> tuple[float, float]:
        return om, -damping * om - stiffness * math.sin(th)

    th, om = float(theta0), float(omega0)
    out = np.empty(n_points)
    out[0] = om
    for k in range(1, n_points):
        for _ in range(substeps):
            a1, b1 = f(th, om)
            a2, b2 = f(th + 0.5 * h * a1, om + 0.5 * h * b1)
            a3, b3 = f(th + 0.5 * h * a2, om + 0.5 * h * b2)
            a4, b4 = f(th + h * a3, om + h * b3)
            th += (h / 6.0) * (a1 + 2 * a2 + 2 * a3 + a4)
            om += (h / 6.0) * (b1 + 2 * b2 + 2 * b3 + b4)
        out[k] = om
    return out


def _bessel_jn(order: int, x: np.ndarray) -> np.ndarray:
    """Integer-order Bessel function by the trapezoid rule on Bessel's integral.

    ``J_n(x) = (1/2π) ∫_0^{2π} cos(nτ - x sin τ) dτ``. The integrand is periodic and entire, so the
    M-point trapezoid rule's error is the aliased terms ``J_{n±kM}(x)``, negligible (< 1e-16) once
    ``M > |x| + |n| + 40``.
    """
    m = int(2 * (np.max(np.abs(x), initial=0.0) + abs(order)) + 64)
    tau = 2.0 * np.pi * np.arange(m) / m
    return np.cos(order * tau[None, :] - x[:, None] * np.sin(tau)[None, :]).mean(axis=1)


def bessel_j2(n_points: int = 256, x_min: float = 2.0, x_max: float = 100.0) -> np.ndarray:
    r"""Bessel function of the first kind of order 2, :math:`J_2(x)`, on ``linspace(x_min, x_max, n_points)``.

    As Chen's ``FederatedQLSTM/data/bessel_functions.py`` (``scipy.special.jn(2, x)``; 256 points;
    the ``bessel_functions_new.py`` variant uses 3000). Computed without scipy from Bessel's integral
    :math:`J_2(x) = \frac{1}{2\pi}\int_0^{2\pi}\cos(2\tau - x\sin\tau)\,d\tau` with a trapezoid
    rule that is exact to rounding (agrees with ``scipy.special.jv`` to ~1e-15).

    Args:
        n_points: number of samples ``T``.
        x_min: first abscissa (dimensionless).
        x_max: last abscissa (included).

    Returns:
        ``(T,)`` float64 values :math:`J_2(x_k)`.
    """
    n_points = _check_count("n_points", n_points, 2)
    return _bessel_jn(2, np.linspace(x_min, x_max, n_points))


def delayed_quantum_control(step: float = 0.01, x_min: float = -2.0, x_max: float = 20.0) -> np.ndarray:
    r"""The "delayed quantum control" signal of the QLSTM paper (Chen's ``data/delayed_quantum_control.py``).

    .. math:: s(x) = \sum_{n=0}^{10} e^{-10 (x - 2n)^2}\, e^{-x/16},
              \qquad x = \texttt{arange(x\_min, x\_max, step)}

    a train of eleven Gaussian pulses 2 apart with an exponentially decaying envelope. The
    defaults give 2200 points.

    Args:
        step: sample spacing (dimensionless).
        x_min: first abscissa.
        x_max: end of the ``arange`` (excluded).

    Returns:
        ``(T,)`` float64 signal, ``T = len(arange(x_min, x_max, step))``.
    """
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    x = np.arange(x_min, x_max, step)
    n = np.arange(11)
    return np.exp(-10.0 * (x[:, None] - 2.0 * n[None, :]) ** 2).sum(axis=1) * np.exp(-x / 16.0)


def narma_input(n_points: int = 300) -> np.ndarray:
    r"""Chen's deterministic NARMA input: a product of three sines.

    .. math:: u_t = 0.1\left(\sin\frac{2\pi\,2.11\,t}{T}\,\sin\frac{2\pi\,3.73\,t}{T}\,
              \sin\frac{2\pi\,4.11\,t}{T} + 1\right), \qquad t = 0, \dots, T-1,\ T = \texttt{n\_points}

    (``u_generator`` in Chen's NARMA code). Note that ``T`` appears in the frequencies, so the
    shape of ``u`` changes with ``n_points``. For ``T = 300``: ``u ∈ [0.023, 0.178]``.

    Returns:
        ``(T,)`` float64 input ``u``.
    """
    n_points = _check_count("n_points", n_points)
    t = np.arange(n_points, dtype=np.float64)
    w = 2.0 * np.pi * t / n_points
    return 0.1 * (np.sin(2.11 * w) * np.sin(3.73 * w) * np.sin(4.11 * w) + 1.0)


def narma(order: int, n_points: int = 300, y0: float = 0.196) -> tuple[np.ndarray, np.ndarray]:
    r"""NARMA series in Chen's convention (QRNN-RC / QFWP code): deterministic input, ``(u, y)``.

    The input is :func:`narma_input` (a product of sines, **not** the random ``U[0, 0.5]`` input of
    the reservoir-computing literature; for that see :func:`narma_random`). For ``order = n0 != 2``
    (NARMA-n0):

    .. math:: y_{t+1} = 0.3\,y_t + 0.05\,y_t \sum_{j=0}^{n_0-1} y_{t-j} + 1.5\,u_{t-n_0+1}\,u_t + 0.1

    For ``order = 2`` Chen uses a different recursion (NARMA-2):

    .. math:: y_{t+1} = 0.4\,y_t + 0.4\,y_t\,y_{t-1} + 0.6\,u_t^3 + 0.1

    Initial conditions as in Chen's code: :math:`y_0 = ` ``y0`` (0.196); for NARMA-n0 every
    ``y`` and ``u`` at a negative index is 0; for NARMA-2 the code uses ``y_{-1} = y0``. The
    recursion runs for ``t = 0 .. T-1`` and the last value is dropped, so ``y = (y_0, ..., y_{T-1})``
    has length ``T`` like ``u``; ``y_t`` depends on ``u`` only up to ``u_{t-1}``.

    For ``T = 300``: NARMA-5 ``y ∈ [0.149, 0.226]``, NARMA-10 ``y ∈ [0.149, 0.239]``. Chen's
    loaders do **not** scale NARMA data.

    Args:
        order: ``n0`` (2 selects the NARMA-2 formula; any other integer >= 1 the NARMA-n0 one).
        n_points: length ``T`` of ``u`` and ``y``.
        y0: initial value :math:`y_0`.

    Returns:
        ``(u, y)``: two ``(T,)`` float64 arrays, the input and the target.
    """
    order = _check_count("order", order)
    u = narma_input(n_points)
    n_points = len(u)
    y = np.empty(n_points + 1)
    y[0] = y0
    if order == 2:
        prev = float(y0)  # Chen: y_{-1} = initial_y
        for t in range(n_points):
            y[t + 1] = 0.4 * y[t] + 0.4 * y[t] * prev + 0.6 * u[t] ** 3 + 0.1
            prev = y[t]
    else:
        for t in range(n_points):
            y_sum = y[max(0, t - order + 1) : t + 1].sum()  # y at negative indices is 0
            u_lag = u[t - order + 1] if t - order + 1 >= 0 else 0.0
            y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y_sum + 1.5 * u_lag * u[t] + 0.1
    return u, y[:-1].copy()


def narma_random(
    order: int = 10,
    n_points: int = 2000,
    seed: int = 0,
    *,
    a1: float = 0.3,
    a2: float = 0.05,
    b: float = 1.5,
    c: float = 0.1,
    u_max: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The standard reservoir-computing NARMA benchmark with a random input (NARMA-10 by default).

    .. math:: y_{t+1} = a_1\,y_t + a_2\,y_t \sum_{i=0}^{n-1} y_{t-i} + b\,u_{t-n+1}\,u_t + c,
              \qquad u_t \sim \mathcal U[0, u_{\max}]\ \text{i.i.d.}

    with the NARMA-10 coefficients ``a1 = 0.3, a2 = 0.05, b = 1.5, c = 0.1, u_max = 0.5`` by
    default (reservoirpy's ``narma()`` defaults to the NARMA-30 set; pass these to match it).
    ``y_t = 0`` for ``t < n`` (the recursion starts once ``n`` past inputs exist), ``u`` is drawn
    from ``numpy.random.default_rng(seed).uniform(0, u_max, T)``. Discard a washout (a few hundred
    steps) before scoring, as is customary.

    Args:
        order: memory ``n`` of the system.
        n_points: length ``T`` of ``u`` and ``y``.
        seed: seed of the input draw.
        a1, a2, b, c: recursion coefficients.
        u_max: the input is uniform on ``[0, u_max]``.

    Returns:
        ``(u, y)``: two ``(T,)`` float64 arrays.

    Raises:
        FloatingPointError: if the recursion diverges (possible for large ``u_max`` or ``order``).
    """
    order = _check_count("order", order)
    n_points = _check_count("n_points", n_points)
    u = np.random.default_rng(seed).uniform(0.0, u_max, n_points)
    y = np.zeros(n_points)
    for t in range(order - 1, n_points - 1):
        y[t + 1] = a1 * y[t] + a2 * y[t] * y[t - order + 1 : t + 1].sum() + b * u[t - order + 1] * u[t] + c
    if not np.all(np.isfinite(y)):
        raise FloatingPointError(f"NARMA-{order} diverged (seed={seed}, u_max={u_max})")
    return u, y


def sine(
    n_points: int = 500,
    periods: float = 10.0,
    amplitude: float = 1.0,
    phase: float = 0.0,
    offset: float = 0.0,
) -> np.ndarray:
    r"""A plain sampled sine wave (the QLSTM paper's "sine" task; Chen's loader is not public).

    .. math:: s_k = \text{offset} + \text{amplitude}\cdot
              \sin\!\left(2\pi\,\text{periods}\,\frac{k}{T} + \text{phase}\right),\qquad k = 0, \dots, T-1

    i.e. exactly ``periods`` periods over the ``T`` samples (end point excluded),
    ``T / periods`` samples per period (50 with the defaults).

    Returns:
        ``(T,)`` float64 series.
    """
    n_points = _check_count("n_points", n_points)
    k = np.arange(n_points, dtype=np.float64)
    return offset + amplitude * np.sin(2.0 * np.pi * periods * k / n_points + phase)


def mackey_glass(
    n_points: int = 2000,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    dt: float = 0.1,
    x0: float = 1.2,
    discard: int = 500,
    *,
    sample_step: float = 1.0,
) -> np.ndarray:
    r"""The Mackey-Glass delay differential equation (chaotic for ``tau = 17``).

    .. math:: \frac{dx}{dt} = \beta\,\frac{x(t-\tau)}{1 + x(t-\tau)^n} - \gamma\,x(t),
              \qquad x(t) = x_0 \text{ for } t \le 0

    Scheme: classical RK4 with fixed step ``dt`` (``tau / dt`` must be an integer ``D``); the
    delayed term at the stage times ``t`` and ``t + dt`` is the stored grid value
    ``x_{k-D}``, ``x_{k-D+1}``, and at ``t + dt/2`` their linear interpolation. The solution is
    sampled every ``sample_step`` time units (default 1, i.e. every 10 steps), the first
    ``discard`` samples (default 500 time units) are dropped as a transient, and ``n_points``
    samples are returned. The attractor for the defaults lies in about ``[0.4, 1.35]``.

    Args:
        n_points: number of returned samples ``T``.
        tau: delay (time units).
        beta, gamma, n: equation parameters.
        dt: integration step (time units).
        x0: constant history / initial value.
        discard: number of initial samples dropped.
        sample_step: time between returned samples (a multiple of ``dt``).

    Returns:
        ``(T,)`` float64 series ``x(t_0 + k·sample_step)``, ``t_0 = discard·sample_step``.
    """
    n_points = _check_count("n_points", n_points)
    discard = _check_count("discard", discard, 0)
    delay = int(round(tau / dt))
    every = int(round(sample_step / dt))
    if delay < 1 or not math.isclose(delay * dt, tau, rel_tol=1e-9):
        raise ValueError(f"tau / dt must be a positive integer, got tau={tau}, dt={dt}")
    if every < 1 or not math.isclose(every * dt, sample_step, rel_tol=1e-9):
        raise ValueError(f"sample_step / dt must be a positive integer, got sample_step={sample_step}, dt={dt}")
    n_steps = (n_points + discard - 1) * every
    x = np.empty(n_steps + 1)
    x[0] = x0
    h = float(dt)

    def f(xt: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**n) - gamma * xt

    for k in range(n_steps):
        xd0 = x[k - delay] if k >= delay else x0
        xd1 = x[k - delay + 1] if k + 1 >= delay else x0
        xdm = 0.5 * (xd0 + xd1)
        xk = x[k]
        k1 = f(xk, xd0)
        k2 = f(xk + 0.5 * h * k1, xdm)
        k3 = f(xk + 0.5 * h * k2, xdm)
        k4 = f(xk + h * k3, xd1)
        x[k + 1] = xk + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x[discard * every :: every].copy()


def lorenz(
    n_points: int = 2000,
    dt: float = 0.01,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    x0: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    discard: int = 0,
    substeps: int = 1,
) -> np.ndarray:
    r"""The Lorenz-63 system, integrated with fixed-step RK4.

    .. math:: \dot x = \sigma (y - x),\quad \dot y = x(\rho - z) - y,\quad \dot z = x y - \beta z

    Row ``k`` is the state at ``t = (discard + k)·dt``; with ``discard = 0`` the first row is ``x0``.
    ``substeps`` RK4 steps of ``dt / substeps`` per sample. With the default single step of 0.01 the
    trajectory from ``(1, 1, 1)`` agrees with a tight ``solve_ivp`` to ~1e-3 (absolute, on values
    ~20) over two time units, with ``substeps=10`` to ~1e-7; chaos amplifies any error at later
    times (Lyapunov exponent ~0.9), as for every integrator.

    Args:
        n_points: number of returned states ``T``.
        dt: time step (dimensionless time units).
        sigma, rho, beta: Lorenz parameters (chaotic defaults 10, 28, 8/3).
        x0: initial state ``(x, y, z)``.
        discard: number of initial states dropped (transient).
        substeps: RK4 steps per sample interval.

    Returns:
        ``(T, 3)`` float64 states ``(x, y, z)``.
    """
    n_points = _check_count("n_points", n_points)
    discard = _check_count("discard", discard, 0)
    s = np.asarray(x0, dtype=np.float64)
    if s.shape != (3,):
        raise ValueError(f"x0 must have 3 entries (x, y, z), got shape {s.shape}")
    xs, ys, zs = (float(v) for v in s)
    substeps = _check_count("substeps", substeps)
    h = float(dt) / substeps

    def f(x: float, y: float, z: float) -> tuple[float, float, float]:
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    total = n_points + discard
    out = np.empty((total, 3))
    out[0] = xs, ys, zs
    for k in range(1, total):
        for _ in range(substeps):
            a1, b1, c1 = f(xs, ys, zs)
            a2, b2, c2 = f(xs + 0.5 * h * a1, ys + 0.5 * h * b1, zs + 0.5 * h * c1)
            a3, b3, c3 = f(xs + 0.5 * h * a2, ys + 0.5 * h * b2, zs + 0.5 * h * c2)
            a4, b4, c4 = f(xs + h * a3, ys + h * b3, zs + h * c3)
            xs += (h / 6.0) * (a1 + 2 * a2 + 2 * a3 + a4)
            ys += (h / 6.0) * (b1 + 2 * b2 + 2 * b3 + b4)
            zs += (h / 6.0) * (c1 + 2 * c2 + 2 * c3 + c4)
        out[k] = xs, ys, zs
    return out[discard:].copy()


def population_inversion(
    n_points: int = 1000,
    t_max: float | None = None,
    mean_photons: float = 20.0,
    g: float = 1.0,
    n_max: int | None = None,
) -> np.ndarray:
    r"""Jaynes-Cummings atomic population inversion for a coherent field: collapse and revival.

    An atom starting in the excited state interacts resonantly with a coherent field of mean photon
    number :math:`\bar n`; the inversion is

    .. math:: W(t) = \sum_{n=0}^{n_{\max}} P(n)\cos\!\left(2g\sqrt{n+1}\,t\right),
              \qquad P(n) = e^{-\bar n}\frac{\bar n^{\,n}}{n!}

    on ``t = linspace(0, t_max, n_points)``. The Rabi oscillations (angular frequency
    ~ :math:`2g\sqrt{\bar n}`) collapse with a Gaussian envelope :math:`e^{-g^2t^2/2}` after
    :math:`t \approx \sqrt 2/g`, stay collapsed, and revive around :math:`t_r = 2\pi\sqrt{\bar n}/g`
    (28.1 for the defaults). The QLSTM paper's parameters are not public; these defaults are our
    choice: :math:`\bar n = 20`, ``t_max = 1.5 t_r`` (42.2, so the whole first revival is included)
    and 1000 points (~ 15 samples per Rabi period).

    Args:
        n_points: number of samples ``T``.
        t_max: end time in units of ``1/g``; ``None`` means ``1.5 · 2π√n̄ / g``.
        mean_photons: :math:`\bar n` of the coherent state.
        g: atom-field coupling (sets the time unit).
        n_max: photon-number truncation; ``None`` means ``n̄ + 12√n̄ + 20`` (neglected
            probability < 1e-15).

    Returns:
        ``(T,)`` float64 inversion ``W(t_k)`` in ``[-1, 1]`` (``W(0) = 1`` up to truncation).
    """
    n_points = _check_count("n_points", n_points, 2)
    if not mean_photons > 0:
        raise ValueError(f"mean_photons must be > 0, got {mean_photons}")
    if t_max is None:
        t_max = 1.5 * 2.0 * np.pi * math.sqrt(mean_photons) / g
    if n_max is None:
        n_max = int(mean_photons + 12.0 * math.sqrt(mean_photons) + 20)
    n = np.arange(n_max + 1, dtype=np.float64)
    log_p = -mean_photons + n * math.log(mean_photons) - np.array([math.lgamma(k + 1.0) for k in n])
    p = np.exp(log_p)
    t = np.linspace(0.0, t_max, n_points)
    return np.cos(2.0 * g * np.sqrt(n + 1.0)[None, :] * t[:, None]) @ p


# --------------------------------------------------------------------------------------------------
# Windowing, splitting, scaling
# --------------------------------------------------------------------------------------------------


def _as_series(name: str, a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be shaped (T,) or (T, features), got shape {arr.shape}")
    bad = _first_nonfinite(arr)
    if bad is not None:
        raise ValueError(f"{name} has a non-finite value (NaN or inf) at index {bad}: {arr[bad].tolist()}")
    return arr


def windows(series, seq_len: int, *, target=None, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into sliding windows and next-value targets, in Chen's convention.

    For ``i = 0, ..., N-1``::

        X[i] = series[i : i + seq_len]
        y[i] = target[i + seq_len + horizon - 1]        # target defaults to series

    with ``N = T - seq_len - horizon``. For ``horizon = 1`` this is ``range(len(s) - seq_len - 1)``
    exactly as in Chen's ``transform_data_single_predict``: the extra ``-1`` means the last point of
    the series is never used as a target (240 points, ``seq_len = 4`` → 235 windows, not 236). For
    ``horizon = k`` the same rule shifts the target ``k - 1`` steps further.

    Args:
        series: ``(T,)`` or ``(T, F)`` inputs (a 1-D series becomes ``F = 1``).
        seq_len: window length ``L >= 1``.
        target: optional ``(T,)`` or ``(T, G)`` series the targets are read from (NARMA: windows of
            the input ``u``, targets from ``y``); must have the same length ``T``.
        horizon: forecast horizon ``k >= 1``.

    Returns:
        ``(X, y)``: float64 arrays shaped ``(N, L, F)`` and ``(N, G)`` (``G = F`` without ``target``).

    Raises:
        ValueError: ``seq_len`` or ``horizon`` < 1, a series too short for one window, NaN/inf in
            ``series`` or ``target`` (the message gives the index), or mismatched lengths.
    """
    seq_len = _check_count("seq_len", seq_len)
    horizon = _check_count("horizon", horizon)
    s = _as_series("series", series)
    tgt = s if target is None else _as_series("target", target)
    if len(tgt) != len(s):
        raise ValueError(f"series and target must have the same length, got {len(s)} and {len(tgt)}")
    n = len(s) - seq_len - horizon
    if n < 1:
        raise ValueError(
            f"series too short: {len(s)} points give no window for seq_len={seq_len}, horizon={horizon} "
            f"(need at least seq_len + horizon + 1 = {seq_len + horizon + 1} points)"
        )
    start = np.arange(n)
    X = s[start[:, None] + np.arange(seq_len)[None, :]]
    y = tgt[start + seq_len + horizon - 1]
    return X, y


def chronological_split(X, y, train_fraction: float = 0.67) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split windows in time order: the first ``int(train_fraction * N)`` train, the rest test.

    Chen's convention (``int(0.67 * len(x))``): 235 windows → 157 train / 78 test. No shuffling, so
    the test part lies strictly after the training part in time (its windows overlap the last
    training targets by at most ``seq_len`` points, as in the papers).

    Args:
        X: ``(N, ...)`` windows.
        y: ``(N, ...)`` targets.
        train_fraction: in ``(0, 1)``.

    Returns:
        ``(X_train, y_train, X_test, y_test)``.

    Raises:
        ValueError: mismatched ``N``, a fraction outside ``(0, 1)``, or an empty side.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of windows, got {len(X)} and {len(y)}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    n_train = int(train_fraction * len(X))
    if n_train < 1 or n_train >= len(X):
        raise ValueError(f"{len(X)} windows with train_fraction={train_fraction} leave an empty train or test set")
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


class MinMaxScaler:
    """Per-feature affine map of ``[min, max]`` onto ``feature_range`` (sklearn-compatible formula).

    ``transform(x) = x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)`` and
    ``min_ = lo - data_min_ * scale_``: the same arithmetic as ``sklearn.preprocessing.MinMaxScaler``,
    without the dependency. Features are the last axis of the fitted array (a 1-D array is one
    feature); :meth:`transform` accepts any array whose last axis matches (or any shape for a
    single-feature scaler), e.g. windows ``(N, L, F)``.

    Chen's code fits the scaler on the **whole** series before splitting (test-range leakage
    included); the :data:`TASKS` reproduce that.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``.
    """

    def __init__(self, feature_range: tuple[float, float] = (-1.0, 1.0)):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"feature_range must be (lo, hi) with lo < hi, got {feature_range}")
        self.feature_range = (float(lo), float(hi))
        self.data_min_: np.ndarray | None = None

    def fit(self, data) -> "MinMaxScaler":
        """Record per-feature min and max of ``data`` ``(T,)`` or ``(T, F)``.

        Raises:
            ValueError: empty data, NaN/inf, or a constant feature (it cannot be scaled).
        """
        arr = np.asarray(data, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("cannot fit MinMaxScaler on an empty array")
        flat = arr.reshape(len(arr), -1) if arr.ndim > 1 else arr[:, None]
        bad = _first_nonfinite(flat)
        if bad is not None:
            raise ValueError(f"cannot fit MinMaxScaler: non-finite value at index {bad}")
        dmin, dmax = flat.min(axis=0), flat.max(axis=0)
        const = np.flatnonzero(dmax == dmin)
        if const.size:
            raise ValueError(
                f"cannot scale a constant feature: feature(s) {const.tolist()} have min == max "
                f"(value {dmin[const[0]]!r})"
            )
        lo, hi = self.feature_range
        self._one_d = arr.ndim == 1
        self.n_features_ = flat.shape[1]
        self.data_min_, self.data_max_ = dmin, dmax
        self.scale_ = (hi - lo) / (dmax - dmin)
        self.min_ = lo - dmin * self.scale_
        return self

    def _params(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.data_min_ is None:
            raise RuntimeError("MinMaxScaler is not fitted; call fit() first")
        if self.n_features_ == 1:
            return self.scale_[0], self.min_[0]
        if arr.ndim == 0 or arr.shape[-1] != self.n_features_:
            raise ValueError(
                f"expected an array whose last axis has {self.n_features_} features, got shape {arr.shape}"
            )
        return self.scale_, self.min_

    def transform(self, data) -> np.ndarray:
        """Map ``data`` into ``feature_range`` (same shape, float64)."""
        arr = np.asarray(data, dtype=np.float64)
        scale, offset = self._params(arr)
        return arr * scale + offset

    def inverse_transform(self, data) -> np.ndarray:
        """Undo :meth:`transform` (same shape, float64), e.g. on model predictions."""
        arr = np.asarray(data, dtype=np.float64)
        scale, offset = self._params(arr)
        return (arr - offset) / scale

    def fit_transform(self, data) -> np.ndarray:
        """``fit(data).transform(data)``."""
        return self.fit(data).transform(data)

    def __repr__(self) -> str:
        return f"MinMaxScaler(feature_range={self.feature_range})"


# --------------------------------------------------------------------------------------------------
# CSV loading
# --------------------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


ColumnSpec = Union[int, str, Sequence[Union[int, str]], None]


def load_csv(path, column: ColumnSpec = None, *, delimiter: str = ",", skip_header="auto") -> np.ndarray:
    """Load a numeric time series from a delimited text file (time runs down the rows).

    Blank lines and lines starting with ``#`` are ignored. Cells may be quoted and are stripped of
    surrounding whitespace; ``nan``/``inf`` parse as floats (:func:`windows` rejects them later, with
    the index). Every data row must have the same number of cells.

    Args:
        path: file path.
        column: which column(s) to return: ``None`` (all), an index (negative counts from the end),
            a header name, or a list of these.
        delimiter: cell separator (``","``; use ``"\\t"`` for TSV, ``";"`` for European CSV).
        skip_header: ``"auto"`` treats the first line as a header when any of its cells is not a
            number; ``True`` always, ``False`` never.

    Returns:
        float64 ``(T,)`` for a single column (a file with one column, an ``int``/``str`` ``column``),
        otherwise ``(T, k)``.

    Raises:
        FileNotFoundError: the file does not exist (the message gives the path).
        ValueError: empty file, no data rows, a non-numeric or empty cell, a ragged row (each with
            the line number and the offending text), or an unknown column name / index.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    if skip_header not in ("auto", True, False):
        raise ValueError(f"skip_header must be 'auto', True or False, got {skip_header!r}")
    rows: list[tuple[int, list[str]]] = []
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        for cells in reader:
            lineno = reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            rows.append((lineno, cells))
    if not rows:
        raise ValueError(f"{str(p)!r} is empty (no non-blank, non-comment lines)")

    header: list[str] | None = None
    first_line, first = rows[0]
    if skip_header is True or (skip_header == "auto" and not all(_is_number(c) for c in first)):
        header = first
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{str(p)!r} has a header (line {first_line}) but no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    ref_line = first_line
    data = np.empty((len(rows), width))
    for r, (lineno, cells) in enumerate(rows):
        if len(cells) != width:
            raise ValueError(
                f"{str(p)!r} line {lineno}: ragged row with {len(cells)} cells, expected {width} "
                f"(as on line {ref_line}): {delimiter.join(cells)!r}"
            )
        for j, cell in enumerate(cells):
            try:
                data[r, j] = float(cell)
            except ValueError:
                what = "empty cell" if cell == "" else f"non-numeric cell {cell!r}"
                raise ValueError(f"{str(p)!r} line {lineno}, column {j}: {what}") from None

    def index_of(col) -> int:
        if isinstance(col, str):
            if header is None:
                raise ValueError(f"column {col!r} given by name but {str(p)!r} has no header line")
            if col not in header:
                raise ValueError(f"unknown column {col!r}; the header has {header}")
            return header.index(col)
        if isinstance(col, bool) or not isinstance(col, (int, np.integer)):
            raise TypeError(f"column must be an int, a str or a list of them, got {col!r}")
        if not -width <= col < width:
            raise ValueError(f"column index {col} out of range for {width} column(s)")
        return int(col) % width

    if column is None:
        return data[:, 0].copy() if width == 1 else data
    if isinstance(column, (str, int, np.integer)):
        return data[:, index_of(column)].copy()
    return data[:, [index_of(c) for c in column]]


# --------------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------------


def mse(a, b) -> float:
    """Mean squared error ``mean((a - b)²)`` of two arrays of the same shape.

    Shapes that differ only by size-1 axes (``(N, 1)`` vs ``(N,)``) are compared element by element;
    anything else raises instead of broadcasting (``(N, 1) - (N,)`` would silently give ``(N, N)``).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        if np.squeeze(a).shape != np.squeeze(b).shape:
            raise ValueError(f"mse needs arrays of the same shape, got {a.shape} and {b.shape}")
        a, b = a.reshape(-1), b.reshape(-1)
    return float(np.mean((a - b) ** 2))


def persistence_baseline(X, y=None, *, column: int | None = None) -> np.ndarray:
    """Last-value ("persistence", random-walk) forecast: ``ŷ_i = X[i, -1]``.

    Args:
        X: ``(N, L, F)`` (or ``(N, L)``) windows.
        y: optional targets ``(N, G)``; the prediction takes their shape. When ``G != F`` (e.g.
            Lorenz windows of ``(x, y, z)`` predicting ``x``) pass ``column``.
        column: which input feature to persist.

    Returns:
        Predictions shaped like ``y`` (``(N, F)`` without ``y``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(f"X must be shaped (N, seq_len, features), got {X.shape}")
    last = X[:, -1, :] if column is None else X[:, -1, [column]]
    if y is None:
        return last
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X and y must have the same number of windows, got {len(X)} and {len(y)}")
    g = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    if last.shape[1] != g:
        raise ValueError(
            f"windows have {last.shape[1]} feature(s) but targets have {g}; pass column= to choose the feature"
        )
    return last.reshape(y.shape)


def linear_ar_baseline(X_train, y_train, X_test) -> np.ndarray:
    """Linear autoregression on the flattened window plus a bias, fitted by least squares.

    ``ŷ = W · vec(X_i) + c`` with ``W, c`` from ``numpy.linalg.lstsq`` on the training windows
    (``L·F + 1`` parameters per target: 5 for a window of 4 scalars). Equivalent to an AR(L) model
    (ARX when ``X`` and ``y`` are different series, as in NARMA).

    Args:
        X_train: ``(N_train, L, F)`` (or ``(N_train, L)``) windows.
        y_train: ``(N_train,)`` or ``(N_train, G)`` targets.
        X_test: ``(N_test, L, F)`` windows.

    Returns:
        Test predictions ``(N_test, G)`` (or ``(N_test,)`` for 1-D ``y_train``).
    """
    Xtr = np.asarray(X_train, dtype=np.float64)
    Xte = np.asarray(X_test, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    if len(Xtr) != len(ytr):
        raise ValueError(f"X_train and y_train must have the same number of windows, got {len(Xtr)} and {len(ytr)}")
    A = np.hstack([Xtr.reshape(len(Xtr), -1), np.ones((len(Xtr), 1))])
    B = np.hstack([Xte.reshape(len(Xte), -1), np.ones((len(Xte), 1))])
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"train and test windows differ in size: {Xtr.shape[1:]} vs {Xte.shape[1:]}")
    coef, *_ = np.linalg.lstsq(A, ytr.reshape(len(ytr), -1), rcond=None)
    pred = B @ coef
    return pred.reshape(len(Xte), *ytr.shape[1:])


# --------------------------------------------------------------------------------------------------
# Task registry
# --------------------------------------------------------------------------------------------------


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
    generate: Callable[[], Union[np.ndarray, tuple[np.ndarray, np.ndarray]]] = field(repr=False, compare=False)
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

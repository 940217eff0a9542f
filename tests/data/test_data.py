"""qseq.data: generators against closed forms / independent references, windowing, splits, CSV, baselines."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from qseq import data
from qseq.data import (
    TASKS,
    MinMaxScaler,
    bessel_j2,
    chronological_split,
    damped_shm,
    delayed_quantum_control,
    get_task,
    linear_ar_baseline,
    load_csv,
    lorenz,
    mackey_glass,
    mse,
    narma,
    narma_input,
    narma_random,
    persistence_baseline,
    population_inversion,
    sine,
    windows,
)

# --------------------------------------------------------------------------------------------------
# Paper tasks: point counts, window counts and Chen's 67/33 split
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n_points, n_windows, n_train, n_test",
    [
        ("damped_shm", 240, 235, 157, 78),
        ("bessel_j2", 256, 251, 168, 83),
        ("delayed_quantum_control", 2200, 2195, 1470, 725),
        ("narma2", 300, 295, 197, 98),
        ("narma5", 300, 295, 197, 98),
        ("narma10", 300, 295, 197, 98),
    ],
)
def test_paper_task_sizes(name, n_points, n_windows, n_train, n_test):
    task = get_task(name)
    inputs, _ = task.series()
    assert len(inputs) == n_points
    X, y = task.load(seq_len=4)
    assert X.shape == (n_windows, 4, 1) and y.shape == (n_windows, 1)
    assert X.dtype == np.float64 and y.dtype == np.float64
    Xtr, ytr, Xte, yte = chronological_split(X, y)
    assert (len(Xtr), len(ytr), len(Xte), len(yte)) == (n_train, n_train, n_test, n_test)
    np.testing.assert_array_equal(np.concatenate([Xtr, Xte]), X)


def test_registry_names_scaling_and_lookup():
    assert set(TASKS) == {
        "damped_shm", "bessel_j2", "delayed_quantum_control", "narma2", "narma5", "narma10",
        "sine", "mackey_glass", "lorenz", "population_inversion",
    }  # fmt: skip
    for name, task in TASKS.items():
        assert task.name == name
        assert task.scaled == (not name.startswith("narma"))
        X, y = task.load(4)
        assert np.isfinite(X).all() and np.isfinite(y).all()
        if task.scaled:  # scaled on the whole series: the windows reach (almost) both ends of [-1, 1]
            assert X.min() >= -1 - 1e-12 and X.max() <= 1 + 1e-12
            assert X.min() < -0.95 and X.max() > 0.95
    with pytest.raises(ValueError, match="unknown task 'narma7'.*damped_shm.*population_inversion"):
        get_task("narma7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TASKS["sine"].scaled = False


def test_damped_shm_load_reproduces_chen_pipeline():
    """MinMax to [-1, 1] on the whole θ' series, then x_i = s[i:i+4], y_i = s[i+4], i < len(s) - 5."""
    s = damped_shm()
    scaled = (s - s.min()) / (s.max() - s.min()) * 2 - 1
    xs = [scaled[i : i + 4] for i in range(len(scaled) - 4 - 1)]
    ys = [scaled[i + 4] for i in range(len(scaled) - 4 - 1)]
    X, y, scaler = get_task("damped_shm").load(4, return_scaler=True)
    np.testing.assert_allclose(X[:, :, 0], np.array(xs), atol=1e-14)
    np.testing.assert_allclose(y[:, 0], np.array(ys), atol=1e-14)
    np.testing.assert_allclose(scaler.inverse_transform(y[:, 0]), s[4:-1], atol=1e-13)


def test_lorenz_task_windows_of_state_predict_x():
    X, y, scaler = get_task("lorenz").load(4, return_scaler=True)
    state = lorenz()
    assert X.shape == (1995, 4, 3) and y.shape == (1995, 1)
    np.testing.assert_allclose(scaler.inverse_transform(y[:, 0]), state[4:-1, 0], atol=1e-12)


def test_narma_task_is_unscaled_u_windows_to_y_target():
    u, yy = narma(10)
    X, y, scaler = get_task("narma10").load(4, return_scaler=True)
    assert scaler is None
    np.testing.assert_array_equal(X[7, :, 0], u[7:11])
    assert y[7, 0] == yy[11]


# --------------------------------------------------------------------------------------------------
# Generators against references
# --------------------------------------------------------------------------------------------------


def test_damped_shm_matches_solve_ivp():
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    t = np.linspace(0, 20, 240)
    sol = solve_ivp(
        lambda _, s: [s[1], -0.15 * s[1] - 9.81 * np.sin(s[0])],
        (0, 20), [0.0, 3.0], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    series = damped_shm()
    assert series.shape == (240,) and series.dtype == np.float64
    assert series[0] == 3.0
    np.testing.assert_allclose(series, sol.y[1], rtol=0, atol=1e-9)
    # a longer pendulum (l = 2) with other initial conditions, through the g/l term
    sol2 = solve_ivp(
        lambda _, s: [s[1], -0.3 * s[1] - 9.81 / 2 * np.sin(s[0])],
        (0, 5), [0.5, 0.0], t_eval=np.linspace(0, 5, 50), method="DOP853", rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    got = damped_shm(50, 5.0, b=0.6, m=2.0, l=2.0, theta0=0.5, omega0=0.0)
    np.testing.assert_allclose(got, sol2.y[1], rtol=0, atol=1e-9)


def test_bessel_matches_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.linspace(2, 100, 256)
    np.testing.assert_allclose(bessel_j2(), special.jv(2, x), rtol=0, atol=1e-13)
    x = np.linspace(0.5, 300, 3000)
    np.testing.assert_allclose(bessel_j2(3000, 0.5, 300), special.jv(2, x), rtol=0, atol=1e-13)


def test_delayed_quantum_control_formula():
    s = delayed_quantum_control()
    assert s.shape == (2200,)

    def ref(x):
        return sum(math.exp(-10 * (x - 2 * n) ** 2) for n in range(11)) * math.exp(-x / 16)

    for i in (0, 123, 200, 1200, 2199):
        x = -2 + 0.01 * i
        assert s[i] == pytest.approx(ref(x), rel=1e-12, abs=1e-300)
    assert s[200] == pytest.approx(1.0, abs=1e-15)  # x = 0: the n = 0 pulse, envelope 1
    assert s[1200] == pytest.approx(math.exp(-10 / 16), rel=1e-12)  # x = 10: pulse n = 5


def _chen_narma(order, T=300, y0=0.196):
    """Independent re-implementation, written like Chen's generator (lists, explicit zero history)."""
    u = [0.1 * (math.sin(2 * math.pi * 2.11 * t / T) * math.sin(2 * math.pi * 3.73 * t / T)
                * math.sin(2 * math.pi * 4.11 * t / T) + 1) for t in range(T)]  # fmt: skip
    y = [y0]
    for t in range(T):
        if order == 2:
            y_prev = y[t - 1] if t >= 1 else y0
            y.append(0.4 * y[t] + 0.4 * y[t] * y_prev + 0.6 * u[t] ** 3 + 0.1)
        else:
            total = sum(y[t - j] if t - j >= 0 else 0.0 for j in range(order))
            u_lag = u[t - order + 1] if t - order + 1 >= 0 else 0.0
            y.append(0.3 * y[t] + 0.05 * y[t] * total + 1.5 * u_lag * u[t] + 0.1)
    return np.array(u), np.array(y[:-1])


@pytest.mark.parametrize("order", [2, 5, 10])
def test_narma_matches_independent_recursion(order):
    u, y = narma(order)
    u_ref, y_ref = _chen_narma(order)
    assert u.shape == y.shape == (300,)
    np.testing.assert_allclose(u, u_ref, rtol=1e-14)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13)
    assert y[0] == 0.196
    # the first steps by hand (NARMA-n: zero history)
    if order != 2:
        assert y[1] == pytest.approx(0.3 * 0.196 + 0.05 * 0.196**2 + 0.1)  # u_{-n+1} = 0
    else:
        assert y[1] == pytest.approx(0.4 * 0.196 + 0.4 * 0.196**2 + 0.6 * 0.1**3 + 0.1)


def test_narma_ranges_match_docstrings():
    u = narma_input(300)
    assert u.min() == pytest.approx(0.023, abs=1e-3) and u.max() == pytest.approx(0.178, abs=1e-3)
    _, y5 = narma(5)
    assert y5.min() == pytest.approx(0.149, abs=1e-3) and y5.max() == pytest.approx(0.226, abs=1e-3)
    _, y10 = narma(10)
    assert y10.min() == pytest.approx(0.149, abs=1e-3) and y10.max() == pytest.approx(0.239, abs=1e-3)


def test_narma_random_recursion_and_seed():
    u, y = narma_random(order=10, n_points=500, seed=3)
    np.testing.assert_array_equal(u, np.random.default_rng(3).uniform(0, 0.5, 500))
    assert u.min() >= 0 and u.max() <= 0.5
    assert np.all(y[:10] == 0)
    for t in (9, 10, 57, 498):
        expected = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
        assert y[t + 1] == pytest.approx(expected, rel=1e-14)
    u2, y2 = narma_random(order=10, n_points=500, seed=3)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(narma_random(n_points=500, seed=4)[0], u)
    assert 0.1 < y[100:].mean() < 1.0  # bounded, the usual NARMA-10 regime


def test_sine():
    s = sine(500, periods=10)
    k = np.arange(500)
    np.testing.assert_allclose(s, np.sin(2 * np.pi * k / 50), atol=1e-12)
    np.testing.assert_allclose(sine(100, 2, amplitude=3, phase=0.5, offset=1)[0], 1 + 3 * np.sin(0.5))


def test_lorenz_matches_solve_ivp():
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    t = np.arange(201) * 0.01
    ref = solve_ivp(
        lambda _, s: [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]],
        (0, 2), [1.0, 1.0, 1.0], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-12,
    ).y.T  # fmt: skip
    got = lorenz(201)
    assert got.shape == (201, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got[0], [1, 1, 1])
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-3)  # one RK4 step of 0.01 per sample
    np.testing.assert_allclose(lorenz(201, substeps=10), ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(lorenz(50, discard=20), lorenz(70)[20:])


def test_mackey_glass_satisfies_the_dde_and_is_chaotic():
    x = mackey_glass()
    assert x.shape == (2000,)
    # the known attractor range for tau = 17
    assert 0.35 < x.min() < 0.5 and 1.25 < x.max() < 1.4
    # the equation itself: central differences of a dt-sampled run vs the right-hand side
    dt, delay = 0.1, 170
    fine = mackey_glass(n_points=3000, discard=0, sample_step=dt)
    k = np.arange(delay + 1, len(fine) - 1)
    lhs = (fine[k + 1] - fine[k - 1]) / (2 * dt)
    xd = fine[k - delay]
    rhs = 0.2 * xd / (1 + xd**10) - 0.1 * fine[k]
    assert np.abs(lhs - rhs).max() < 2e-3 * np.abs(rhs).max()
    # convergence in the step size over 150 time units (before chaos amplifies the difference)
    a = mackey_glass(n_points=150, discard=0)
    b = mackey_glass(n_points=150, discard=0, dt=0.01)
    assert np.abs(a - b).max() < 1e-4
    # not periodic: a 1e-9 change of x0 grows by > 7 orders of magnitude (Lyapunov exponent ~0.006)
    n = 5000
    ref = mackey_glass(n_points=n)
    pert = mackey_glass(n_points=n, x0=1.2 + 1e-9)
    assert np.abs(pert - ref)[:200].max() < 1e-7
    assert np.abs(pert - ref).max() > 0.1


def test_population_inversion_collapse_and_revival():
    nbar = 20.0
    t_r = 2 * np.pi * np.sqrt(nbar)
    w = population_inversion()
    t = np.linspace(0, 1.5 * t_r, 1000)
    assert w.shape == (1000,)
    assert w[0] == pytest.approx(1.0, abs=1e-12)  # Σ P(n) = 1 up to truncation
    # independent reference: Poisson weights by recursion, a few times
    p = [math.exp(-nbar)]
    for n in range(199):
        p.append(p[-1] * nbar / (n + 1))
    for i in (1, 37, 500, 999):
        ref = sum(pn * math.cos(2 * math.sqrt(n + 1) * t[i]) for n, pn in enumerate(p))
        assert w[i] == pytest.approx(ref, abs=1e-12)
    # Rabi oscillations at first, collapse (envelope exp(-t²/2)), then revival near t_r ≈ 28.1
    assert w[t < 1.0].min() < -0.5
    assert np.abs(w[(t > 6) & (t < 20)]).max() < 0.02
    assert np.abs(w[(t > 24) & (t < 32)]).max() > 0.4


def test_generators_are_deterministic():
    for task in TASKS.values():
        a, b = task.series()[0], task.series()[0]
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------------
# The caveat in docs/references.md: a 5-parameter AR solves the easy paper tasks
# --------------------------------------------------------------------------------------------------


def test_damped_shm_linear_ar_beats_everything():
    Xtr, ytr, Xte, yte = chronological_split(*get_task("damped_shm").load(4))
    ar = mse(linear_ar_baseline(Xtr, ytr, Xte), yte)
    persistence = mse(persistence_baseline(Xte, yte), yte)
    assert ar < 1e-6  # references: ≈ 9e-8
    assert 2e-3 < persistence < 4e-3  # references: ≈ 3e-3
    assert yte.var() == pytest.approx(0.047, abs=2e-3)


def test_bessel_linear_ar_and_persistence():
    Xtr, ytr, Xte, yte = chronological_split(*get_task("bessel_j2").load(4))
    assert mse(linear_ar_baseline(Xtr, ytr, Xte), yte) < 1e-7  # references: ≈ 1e-8
    assert 3e-3 < mse(persistence_baseline(Xte, yte), yte) < 5e-3  # references: ≈ 4e-3
    assert yte.var() == pytest.approx(0.024, abs=2e-3)


def test_random_narma10_is_not_solved_by_linear_ar():
    u, y = narma_random(n_points=2000, seed=0)
    Xtr, ytr, Xte, yte = chronological_split(*windows(u[200:], 10, target=y[200:]))
    nmse = mse(linear_ar_baseline(Xtr, ytr, Xte), yte) / yte.var()
    assert 0.3 < nmse < 0.7


def test_linear_ar_exact_on_linear_recursion_and_multi_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3, 2))
    w = rng.normal(size=(6, 2))
    y = X.reshape(50, -1) @ w + np.array([0.5, -1.0])
    pred = linear_ar_baseline(X[:40], y[:40], X[40:])
    np.testing.assert_allclose(pred, y[40:], atol=1e-10)
    pred1 = linear_ar_baseline(X[:40], y[:40, 0], X[40:])
    assert pred1.shape == (10,)


def test_persistence_baseline_shapes():
    X, y = windows(np.arange(10.0), 3)
    np.testing.assert_array_equal(persistence_baseline(X, y)[:, 0], np.arange(2.0, 8.0))
    state = np.arange(30.0).reshape(10, 3)
    X, y = windows(state, 2, target=state[:, 1])
    np.testing.assert_array_equal(persistence_baseline(X, y, column=1)[:, 0], state[1:8, 1])
    with pytest.raises(ValueError, match="column="):
        persistence_baseline(X, y)


def test_mse():
    assert mse([1.0, 2.0], [1.0, 4.0]) == 2.0
    assert mse(np.ones((4, 1)), np.zeros(4)) == 1.0  # (N, 1) vs (N,): no (N, N) broadcast
    with pytest.raises(ValueError, match="same shape"):
        mse(np.ones(4), np.ones(5))


# --------------------------------------------------------------------------------------------------
# windows / split
# --------------------------------------------------------------------------------------------------


def test_windows_convention_and_horizon():
    s = np.arange(10.0)
    X, y = windows(s, 4)
    assert X.shape == (5, 4, 1) and y.shape == (5, 1)  # 10 - 4 - 1: the last point is never a target
    np.testing.assert_array_equal(X[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(y[:, 0], [4, 5, 6, 7, 8])
    X3, y3 = windows(s, 4, horizon=3)
    assert X3.shape == (3, 4, 1)
    np.testing.assert_array_equal(y3[:, 0], [6, 7, 8])
    two = np.stack([s, -s], axis=1)
    X2, y2 = windows(two, 2, target=s * 10)
    assert X2.shape == (7, 2, 2) and y2.shape == (7, 1)
    np.testing.assert_array_equal(X2[1], [[1, -1], [2, -2]])
    assert y2[1, 0] == 30


def test_windows_errors():
    s = np.arange(10.0)
    with pytest.raises(ValueError, match="seq_len must be >= 1"):
        windows(s, 0)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        windows(s, 2, horizon=0)
    with pytest.raises(TypeError, match="seq_len must be an integer"):
        windows(s, 2.5)
    with pytest.raises(ValueError, match="too short.*= 6 points"):
        windows(np.arange(5.0), 4)
    bad = s.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="series has a non-finite value.*index 7"):
        windows(bad, 3)
    bad[7] = np.inf
    with pytest.raises(ValueError, match="target has a non-finite value.*index 7"):
        windows(s, 3, target=bad)
    with pytest.raises(ValueError, match="same length, got 10 and 9"):
        windows(s, 3, target=s[:-1])
    with pytest.raises(ValueError, match=r"shaped \(T,\) or \(T, features\)"):
        windows(np.zeros((5, 2, 2)), 2)


def test_split_errors_and_fraction():
    X, y = windows(np.arange(240.0), 4)
    Xtr, _, Xte, _ = chronological_split(X, y, train_fraction=0.8)
    assert (len(Xtr), len(Xte)) == (188, 47)
    with pytest.raises(ValueError, match="same number of windows"):
        chronological_split(X, y[:-1])
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        chronological_split(X, y, train_fraction=1.0)
    with pytest.raises(ValueError, match="empty"):
        chronological_split(X[:1], y[:1])


# --------------------------------------------------------------------------------------------------
# MinMaxScaler
# --------------------------------------------------------------------------------------------------


def test_scaler_round_trip_and_per_feature():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(100, 3)) * [1, 10, 100] + [0, 5, -7]
    sc = MinMaxScaler()
    z = sc.fit_transform(a)
    np.testing.assert_allclose(z.min(axis=0), -1, atol=1e-15)
    np.testing.assert_allclose(z.max(axis=0), 1, atol=1e-15)
    np.testing.assert_allclose(sc.inverse_transform(z), a, rtol=1e-13, atol=1e-12)
    # windows (N, L, F) transform along the last axis
    X, _ = windows(a, 4)
    np.testing.assert_allclose(sc.transform(X)[:, 0, :], z[: len(X)], atol=1e-15)
    with pytest.raises(ValueError, match="3 features"):
        sc.transform(np.zeros((4, 2)))
    s = MinMaxScaler((0, 1)).fit(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(s.transform([[3.0], [6.0]]), [[0.25], [1.0]])
    np.testing.assert_allclose(s.inverse_transform(0.5), 4.0)


def test_scaler_errors():
    with pytest.raises(ValueError, match="constant feature.*\\[1\\]"):
        MinMaxScaler().fit(np.stack([np.arange(5.0), np.full(5, 2.0)], axis=1))
    with pytest.raises(RuntimeError, match="not fitted"):
        MinMaxScaler().transform([1.0])
    with pytest.raises(ValueError, match="lo < hi"):
        MinMaxScaler((1, -1))
    with pytest.raises(ValueError, match="non-finite value at index 2"):
        MinMaxScaler().fit([0.0, 1.0, np.nan])


# --------------------------------------------------------------------------------------------------
# CSV loading
# --------------------------------------------------------------------------------------------------


def test_load_csv_duplicate_names_still_load_by_index(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("t,v,v\n0,1,2\n1,3,4\n")
    np.testing.assert_array_equal(load_csv(p, 2), [2, 4])
    np.testing.assert_array_equal(load_csv(p, "t"), [0, 1])
    assert load_csv(p).shape == (2, 3)


def test_load_csv_good_files(tmp_path):
    p = tmp_path / "series.csv"
    p.write_text("time,value,other\n0,1.5,10\n1,2.5,20\n\n# a comment\n2,-3e-1,30\n")
    np.testing.assert_array_equal(load_csv(p, "value"), [1.5, 2.5, -0.3])
    np.testing.assert_array_equal(load_csv(p, -1), [10, 20, 30])
    full = load_csv(p)
    assert full.shape == (3, 3) and full.dtype == np.float64
    np.testing.assert_array_equal(load_csv(p, ["other", 0]), [[10, 0], [20, 1], [30, 2]])
    # no header: auto-detected, the first line is data
    q = tmp_path / "plain.txt"
    q.write_text("1.0\n2.0\n3.0\n")
    np.testing.assert_array_equal(load_csv(q), [1.0, 2.0, 3.0])
    # numeric first line forced to be a header; TSV
    np.testing.assert_array_equal(load_csv(q, skip_header=True), [2.0, 3.0])
    t = tmp_path / "tabs.tsv"
    t.write_text("a\tb\n1\t2\n3\t4\n")
    np.testing.assert_array_equal(load_csv(t, "b", delimiter="\t"), [2, 4])


@pytest.mark.parametrize(
    "text, kwargs, pattern",
    [
        ("", {}, "is empty"),
        ("\n\n# only a comment\n", {}, "is empty"),
        ("a,b\n", {}, "header \\(line 1\\) but no data rows"),
        ("a,b\n1,2\n3,x7\n", {}, "line 3, column 1: non-numeric cell 'x7'"),
        ("1,2\n3,4\n5,,\n", {}, "line 3: ragged row with 3 cells, expected 2"),
        ("1,2\n3\n", {}, "line 2: ragged row with 1 cells, expected 2.*'3'"),
        ("a,b\n1,2\n\n3,\n", {}, "line 4, column 1: empty cell"),
        ("a,b\n1,2\n", {"column": "c"}, "unknown column 'c'.*\\['a', 'b'\\]"),
        ("a,b\n1,2\n", {"column": 2}, "column index 2 out of range for 2"),
        ("1,2\n3,4\n", {"column": "a"}, "no header"),
        ("1,2\n3,4\n", {"skip_header": "yes"}, "skip_header"),
        ("t,v,v\n0,1,2\n", {"column": "v"}, r"column 'v' is ambiguous: .*\(line 1\) names columns \[1, 2\] 'v'"),
        ("t,v,v\n0,1,2\n", {"column": ["t", "v"]}, r"column 'v' is ambiguous.*select one by index \(column=1\)"),
    ],
)
def test_load_csv_bad_files(tmp_path, text, kwargs, pattern):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        load_csv(p, **kwargs)


def test_load_csv_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv(missing)


def test_public_api_listed():
    for name in data.__all__:
        assert hasattr(data, name)

"""Reservoir computing: frozen quantum/classical reservoirs, ReservoirRegressor (ridge / CV / sgd,
feature cache, circuit counts) and the reservoirpy ESN baseline."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from torch import nn

from qseq import QFWP, QGRU, QLSTM, QRNN
from qseq.circuits import chen_vqc
from qseq.data import chronological_split, get_task, narma_random
from qseq.models import build_model, count_parameters
from qseq.models.cells import angle_encode
from qseq.models.classical import ESN, ClassicalReservoir
from qseq.reservoir import ReservoirModel, ReservoirRegressor, reservoir_features, ridge_fit
from qseq.train import fit as train_fit

F64 = torch.float64
QUANTUM = {"qlstm": QLSTM, "qgru": QGRU, "qrnn": QRNN}
#: circuit evaluations per window and time step of the paper configuration with readout VQC
#: (QLSTM: 4 gate VQCs + VQC5 + VQC6; QGRU: 2 gates + candidate + readout; QRNN: VQC1 + VQC2).
CIRCUITS_PER_STEP = {"qlstm": 6, "qgru": 4, "qrnn": 2}


def _windows(n: int = 24, seq_len: int = 4, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, seq_len, 1))
    y = 0.6 * X[:, -1] - 0.3 * X[:, -2] ** 2 + 0.1 + noise * rng.normal(size=(n, 1))
    return X, y


def _quantum_reservoir(name: str = "qlstm", seed: int = 0, **kwargs):
    return QUANTUM[name](1, 3, batch_first=True, readout_vqc=True, reservoir=True, seed=seed, dtype=F64, **kwargs)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


# -- freezing --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(QUANTUM))
def test_reservoir_flag_freezes_every_parameter(name):
    layer = QUANTUM[name](1, 3, batch_first=True, readout_vqc=True, reservoir=True, seed=3)
    params = list(layer.named_parameters())
    assert params and all(not p.requires_grad for _, p in params)
    assert layer.reservoir is True
    # with classical projections (hidden 5 > 4 qubits) those are frozen too
    wide = QUANTUM[name](1, 5, n_qubits=4, batch_first=True, reservoir=True, seed=3)
    names = [n for n, _ in wide.named_parameters()]
    assert any("in_proj" in n for n in names) and any("hidden_proj" in n for n in names)
    assert all(not p.requires_grad for p in wide.parameters())


@pytest.mark.parametrize("name", ["qlstm", "qgru", "qrnn", "lstm", "gru", "rnn"])
def test_build_model_reservoir_backward_reaches_only_the_head(name):
    model = build_model(name, reservoir=True, seed=4, dtype=F64)
    assert all(not p.requires_grad for p in model.rnn.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    X, y = _windows(6)
    loss = torch.mean((model(torch.as_tensor(X)) - torch.as_tensor(y)) ** 2)
    loss.backward()
    assert all(p.grad is None for p in model.rnn.parameters())
    for p in model.head.parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0


def test_build_model_reservoir_matches_layer_and_freeze_method():
    direct = QLSTM(1, 3, batch_first=True, readout_vqc=True, n_layers=2, reservoir=True, seed=11, dtype=F64)
    built = build_model("qlstm", reservoir=True, seed=11, dtype=F64)
    _assert_identical(_snapshot(direct), _snapshot(built.rnn))
    # freeze_reservoir on a trainable model gives the same frozen weights, and keeps the head trainable
    model = build_model("qlstm", dtype=F64)
    assert all(p.requires_grad for p in model.parameters())
    assert model.freeze_reservoir("paper", seed=11) is model
    _assert_identical(_snapshot(direct), _snapshot(model.rnn))
    assert all(not p.requires_grad for p in model.rnn.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    # classical: freeze_reservoir(seed) == build_model(..., reservoir=True, seed)
    lstm = build_model("lstm", dtype=F64).freeze_reservoir(seed=2)
    _assert_identical(_snapshot(lstm.rnn), _snapshot(build_model("lstm", reservoir=True, seed=2, dtype=F64).rnn))


@pytest.mark.parametrize("name", ["qlstm", "lstm"])
def test_frozen_weights_survive_training_and_reservoir_fit(name):
    torch.manual_seed(0)
    model = build_model(name, reservoir=True, seed=5, dtype=F64)
    frozen, head = _snapshot(model.rnn), _snapshot(model.head)
    X, y = _windows(12)
    result = train_fit(model, (X, y), epochs=2, batch_size=4, progress=False, plot=False)
    assert len(result.history) == 2
    _assert_identical(frozen, _snapshot(model.rnn))
    assert any(not torch.equal(head[k], v) for k, v in model.head.state_dict().items())  # the head trained
    ReservoirRegressor(model.rnn, alpha=1e-3).fit(X, y)
    ReservoirRegressor(model.rnn, readout="sgd", epochs=2).fit(X, y)
    _assert_identical(frozen, _snapshot(model.rnn))


@pytest.mark.parametrize("name", sorted(QUANTUM))
def test_reservoir_seed_determines_weights(name):
    a, b, c = (_snapshot(_quantum_reservoir(name, seed=s)) for s in (7, 7, 8))
    _assert_identical(a, b)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    # freeze_reservoir(seed) re-draws deterministically, whatever the weights were before
    layer = QUANTUM[name](1, 3, batch_first=True, readout_vqc=True, dtype=F64)
    _assert_identical(a, _snapshot(layer.freeze_reservoir(seed=7)))


def test_paper_init_statistics():
    layer = QLSTM(1, 3, batch_first=True, readout_vqc=True, n_layers=10, reservoir=True, seed=0, dtype=F64)
    w = torch.cat([p.reshape(-1) for p in layer.parameters()])
    assert w.numel() == 6 * 10 * 4 * 3  # 720 angles, no classical projections in the paper cell
    # 0.01·N(0, 1): std within ~4 standard errors (0.01/√(2·720) ≈ 2.6e-4), mean within ~4 SE (3.7e-4)
    assert 0.0089 < w.std().item() < 0.0111
    assert abs(w.mean().item()) < 0.0015
    assert w.abs().max().item() < 0.06  # no sample beyond 6σ


def test_uniform_init_statistics():
    layer = QLSTM(
        1, 3, batch_first=True, readout_vqc=True, n_layers=10, init="uniform", reservoir=True, seed=0, dtype=F64
    )
    w = torch.cat([p.reshape(-1) for p in layer.parameters()])
    assert w.min().item() >= 0 and w.max().item() < 2 * math.pi
    assert w.min().item() < 0.1 and w.max().item() > 2 * math.pi - 0.1  # covers the whole interval
    # U[0, 2π): mean π (SE 1.81/√720 ≈ 0.068), std 2π/√12 ≈ 1.814
    assert abs(w.mean().item() - math.pi) < 0.25
    assert abs(w.std().item() - 2 * math.pi / math.sqrt(12)) < 0.12


def test_callable_init_is_used_with_a_seeded_generator():
    calls = []

    def init(weight, generator):
        calls.append((tuple(weight.shape), generator))
        weight.fill_(0.25)

    layer = QLSTM(1, 3, batch_first=True, readout_vqc=True, init=init, reservoir=True, seed=1, dtype=F64)
    assert all(torch.all(p == 0.25) for p in layer.parameters())
    # one call per VQC bank at construction, again at freezing, the latter with a torch.Generator
    assert sorted({shape for shape, _ in calls}) == [(2, 2, 4, 3), (4, 2, 4, 3)]
    assert isinstance(calls[-1][1], torch.Generator)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_classical_reservoir_frozen_and_seeded(kind):
    res = ClassicalReservoir(kind, 4, seed=2, dtype=F64)
    assert isinstance(res, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind])
    assert res.batch_first and res.hidden_size == 4
    assert all(not p.requires_grad for p in res.parameters())
    for p in res.parameters():  # U(±1/√hidden)
        assert p.abs().max().item() <= 0.5
    _assert_identical(_snapshot(res), _snapshot(ClassicalReservoir(kind, 4, seed=2, dtype=F64)))
    other = _snapshot(ClassicalReservoir(kind, 4, seed=3, dtype=F64))
    assert all(not torch.equal(v, other[k]) for k, v in _snapshot(res).items())
    head = torch.nn.Linear(4, 1, dtype=F64)
    X, y = _windows(5)
    out, _ = res(torch.as_tensor(X))
    torch.mean((head(out[:, -1]) - torch.as_tensor(y)) ** 2).backward()
    assert all(p.grad is None for p in res.parameters()) and head.weight.grad is not None
    assert ClassicalReservoir(kind, 4, seed=2, scale=0.1).weight_ih_l0.abs().max().item() <= 0.1


def test_classical_reservoir_unknown_kind():
    with pytest.raises(ValueError, match="unknown reservoir kind 'transformer'.*rnn, lstm, gru"):
        ClassicalReservoir("transformer", 4)


# -- ReservoirRegressor: circuit counts and the feature cache ---------------------------------------
@pytest.mark.parametrize("name", sorted(QUANTUM))
def test_first_fit_counts_circuits_second_fit_calls_nothing(name):
    X, y = _windows(10)
    res = _quantum_reservoir(name)
    usage = res.backend.usage
    reg = ReservoirRegressor(res, alpha=1e-3)
    reg.fit(X, y)
    assert reg.n_circuit_evaluations_ == 10 * 4 * CIRCUITS_PER_STEP[name] == usage.circuits
    calls, circuits = usage.calls, usage.circuits
    assert calls > 0
    reg.fit(X, y)
    assert reg.n_circuit_evaluations_ == 0
    assert (usage.calls, usage.circuits) == (calls, circuits)
    reg.predict(X)  # cached
    reg.score(X, y)
    assert (usage.calls, usage.circuits) == (calls, circuits)
    reg.predict(X[:3] * 0.5)  # new data: the reservoir runs
    assert usage.circuits == circuits + 3 * 4 * CIRCUITS_PER_STEP[name]


def test_new_weights_invalidate_the_cache():
    X, y = _windows(8)
    res = _quantum_reservoir("qlstm", seed=0)
    reg = ReservoirRegressor(res, alpha=1e-3).fit(X, y)
    first = reg.features(X).copy()
    calls = res.backend.usage.calls
    res.freeze_reservoir("uniform", seed=1)
    reg.fit(X, y)
    assert reg.n_circuit_evaluations_ == 8 * 4 * 6
    assert res.backend.usage.calls > calls
    assert not np.allclose(reg.features(X), first)


def test_disk_cache_is_reused_by_a_new_object_and_written_atomically(tmp_path):
    X, y = _windows(8)
    reg = ReservoirRegressor(_quantum_reservoir("qlstm", seed=2), alpha=1e-3, cache_dir=tmp_path).fit(X, y)
    assert reg.n_circuit_evaluations_ == 8 * 4 * 6
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("features-") and files[0].endswith(".npy"), files
    assert files[1] == files[0] + ".sha256"  # its checksum, beside it
    # a new reservoir object with the same weights and a new regressor: no backend call at all
    res2 = _quantum_reservoir("qlstm", seed=2)
    reg2 = ReservoirRegressor(res2, alpha=1e-3, cache_dir=tmp_path).fit(X, y)
    assert reg2.n_circuit_evaluations_ == 0
    assert (res2.backend.usage.calls, res2.backend.usage.circuits) == (0, 0)
    np.testing.assert_array_equal(reg2.features(X), reg.features(X))
    np.testing.assert_array_equal(reg2.coef_, reg.coef_)
    assert res2.backend.usage.calls == 0
    # another seed -> another key -> a second file, and still no temporary files
    ReservoirRegressor(_quantum_reservoir("qlstm", seed=3), alpha=1e-3, cache_dir=tmp_path).fit(X, y)
    files = sorted(p.name for p in tmp_path.glob("*.npy"))
    assert len(files) == 2 and all(n.startswith("features-") for n in files), files
    assert len(list(tmp_path.iterdir())) == 4  # and their checksums; no temporary file


# -- ridge, CV, sgd ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classical_data():
    X, y = _windows(36, seed=1, noise=0.05)
    return ClassicalReservoir("rnn", 6, seed=0, dtype=F64), X, y


def _design(features):
    return np.hstack([features, np.ones((len(features), 1))])


def test_ridge_equals_closed_form_with_unpenalised_intercept(classical_data):
    res, X, y = classical_data
    alpha = 1e-3
    reg = ReservoirRegressor(res, alpha=alpha).fit(X, y)
    A = _design(reg.features(X))
    penalty = alpha * np.eye(A.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not penalised
    w = np.linalg.lstsq(A.T @ A + penalty, A.T @ y, rcond=None)[0]
    assert reg.alpha_ == alpha
    np.testing.assert_allclose(reg.coef_, w[:-1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(reg.intercept_, w[-1], rtol=0, atol=1e-8)
    assert reg.coef_.shape == (6, 1) and reg.intercept_.shape == (1,)


def test_alpha_zero_is_ordinary_least_squares(classical_data):
    res, X, y = classical_data
    reg = ReservoirRegressor(res, alpha=0).fit(X, y)
    w = np.linalg.lstsq(_design(reg.features(X)), y, rcond=None)[0]
    np.testing.assert_allclose(reg.coef_, w[:-1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(reg.intercept_, w[-1], rtol=0, atol=1e-8)
    # ridge_fit directly, with two targets
    rng = np.random.default_rng(3)
    F, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    coef, intercept = ridge_fit(F, Y, 0.0)
    w = np.linalg.lstsq(_design(F), Y, rcond=None)[0]
    np.testing.assert_allclose(coef, w[:-1], atol=1e-10)
    np.testing.assert_allclose(intercept, w[-1], atol=1e-10)


def test_cv_picks_the_alpha_with_lowest_time_ordered_kfold_error(classical_data):
    res, X, y = classical_data
    grid, folds = (1e-8, 1e-2, 1.0, 100.0), 3
    reg = ReservoirRegressor(res, alpha="cv", alphas=grid, cv_folds=folds).fit(X, y)
    features = reg.features(X)
    n = len(y)
    size = n // folds  # 36 windows -> three contiguous folds of 12
    scores = []
    for alpha in grid:
        errors = []
        for k in range(folds):
            val = np.arange(n) // size == k
            A = _design(features[~val])
            penalty = alpha * np.eye(A.shape[1])
            penalty[-1, -1] = 0.0
            w = np.linalg.lstsq(A.T @ A + penalty, A.T @ y[~val], rcond=None)[0]
            errors.append(np.mean((_design(features[val]) @ w - y[val]) ** 2))
        scores.append(np.mean(errors))
    assert len(set(np.round(scores, 12))) == len(grid)  # the grid values are distinguishable
    assert reg.alpha_ == grid[int(np.argmin(scores))]
    # and the final fit uses the chosen alpha on all windows
    again = ReservoirRegressor(res, alpha=reg.alpha_).fit(X, y)
    np.testing.assert_allclose(reg.coef_, again.coef_, atol=1e-12)


def test_sgd_readout_learns_and_records_history(classical_data):
    res, X, y = classical_data
    reg = ReservoirRegressor(res, readout="sgd", epochs=15, seed=0).fit(X, y, eval_set=(X[:10], y[:10]))
    assert [row["epoch"] for row in reg.history_] == list(range(1, 16))
    assert all(set(row) == {"epoch", "train_mse", "val_mse"} for row in reg.history_)
    assert reg.history_[-1]["train_mse"] < 0.5 * reg.history_[0]["train_mse"]
    assert reg.history_[-1]["train_mse"] == pytest.approx(reg.mse(X, y), rel=1e-9)
    assert reg.history_[-1]["val_mse"] == pytest.approx(reg.mse(X[:10], y[:10]), rel=1e-9)
    plain = ReservoirRegressor(res, readout="sgd", epochs=3).fit(X, y)
    assert len(plain.history_) == 3 and all("val_mse" not in row for row in plain.history_)


def test_sgd_readout_is_deterministic(classical_data):
    res, X, y = classical_data
    a = ReservoirRegressor(res, readout="sgd", epochs=4, seed=1).fit(X, y)
    b = ReservoirRegressor(res, readout="sgd", epochs=4, seed=1).fit(X, y)
    c = ReservoirRegressor(res, readout="sgd", epochs=4, seed=2).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    assert a.history_ == b.history_
    assert not np.array_equal(a.coef_, c.coef_)


def test_score_is_r2_and_mse_matches(classical_data):
    res, X, y = classical_data
    reg = ReservoirRegressor(res, alpha=1e-3).fit(X[:24], y[:24])
    pred = reg.predict(X[24:])
    assert pred.shape == (12, 1)
    r2 = 1 - np.sum((y[24:] - pred) ** 2) / np.sum((y[24:] - y[24:].mean()) ** 2)
    assert reg.score(X[24:], y[24:]) == pytest.approx(r2, rel=1e-12)
    assert reg.mse(X[24:], y[24:]) == pytest.approx(np.mean((pred - y[24:]) ** 2), rel=1e-12)
    assert reg.score(X[24:], y[24:].ravel()) == pytest.approx(r2, rel=1e-12)  # (N,) targets too


def test_washout_drops_leading_windows(classical_data):
    res, X, y = classical_data
    k = 5
    a = ReservoirRegressor(res, alpha=1e-3, washout=k).fit(X, y)
    b = ReservoirRegressor(res, alpha=1e-3).fit(X[k:], y[k:])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=0, atol=1e-12)
    c = ReservoirRegressor(res, alpha="cv", alphas=(1e-6, 1e-2), cv_folds=3, washout=k).fit(X, y)
    d = ReservoirRegressor(res, alpha="cv", alphas=(1e-6, 1e-2), cv_folds=3).fit(X[k:], y[k:])
    assert c.alpha_ == d.alpha_
    np.testing.assert_allclose(c.coef_, d.coef_, rtol=0, atol=1e-12)


# -- bad inputs -------------------------------------------------------------------------------------
def test_regressor_bad_inputs(classical_data):
    res, X, y = classical_data
    reg = ReservoirRegressor(res, alpha=1e-3)
    with pytest.raises(RuntimeError, match="not fitted"):
        reg.predict(X)
    with pytest.raises(ValueError, match="X has 36 windows but y has 35 targets"):
        reg.fit(X, y[:-1])
    bad = X.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        reg.fit(bad, y)
    bad_y = y.copy()
    bad_y[2] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        reg.fit(X, bad_y)
    with pytest.raises(ValueError, match="X is empty"):
        reg.fit(np.zeros((0, 4, 1)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match=r"X must be windows shaped \(N, seq_len, features\)"):
        reg.fit(X[:, :, 0], y)
    with pytest.raises(ValueError, match="y must be shaped"):
        reg.fit(X, y[:, :, None])
    with pytest.raises(ValueError, match="washout=36 leaves no training windows"):
        ReservoirRegressor(res, washout=36).fit(X, y)
    with pytest.raises(ValueError, match="readout must be 'ridge' or 'sgd', got 'lasso'"):
        ReservoirRegressor(res, readout="lasso")
    with pytest.raises(ValueError, match="alpha must be a finite non-negative number or 'cv', got -1"):
        ReservoirRegressor(res, alpha=-1)
    with pytest.raises(ValueError, match="washout must be a non-negative integer"):
        ReservoirRegressor(res, washout=-1)
    with pytest.raises(TypeError, match="reservoir must be a torch.nn.Module"):
        ReservoirRegressor(lambda x: x)


# -- ESN (reservoirpy) ------------------------------------------------------------------------------
needs_reservoirpy = pytest.mark.skipif(
    importlib.util.find_spec("reservoirpy") is None, reason="needs reservoirpy (pip install 'qseq[baselines]')"
)


def _nrmse(pred, target) -> float:
    return float(np.sqrt(np.mean((np.ravel(pred) - np.ravel(target)) ** 2)) / np.std(target))


@pytest.fixture(scope="module")
def narma10():
    u, y = narma_random(order=10, n_points=2000, seed=0)
    # streaming NARMA-10: input u_t, target y_{t+1} (the recursion's own alignment: y_{t+1} needs u_t, u_{t-9})
    return u[:-1], y[1:]


# Measured (reservoirpy 0.4.2, seed 0, train steps 0..1499 with warmup 200, test steps 1500..1998):
# units=200, sr=0.9, lr=1.0, input_scaling=0.5, ridge=1e-6: NRMSE 0.329 (seeds 0-2: 0.33-0.39);
# the defaults (units=100, sr=0.9, lr=0.3, input_scaling=1): NRMSE 0.562.
@pytest.mark.parametrize(
    "kwargs, threshold",
    [
        (dict(units=200, sr=0.9, lr=1.0, input_scaling=0.5, ridge=1e-6), 0.42),
        (dict(), 0.65),
    ],
)
@needs_reservoirpy
def test_esn_narma10_streaming(narma10, kwargs, threshold):
    u, y = narma10
    esn = ESN(seed=0, **kwargs).fit_series(u[:1500], y[:1500], warmup=200)
    pred = esn.predict_series(u[1500:])  # continues from the state after step 1499
    assert pred.shape == (len(u) - 1500, 1)
    assert _nrmse(pred, y[1500:]) < threshold


@needs_reservoirpy
def test_esn_streaming_state_continuation_and_determinism(narma10):
    u, y = narma10
    u, y = u[:400], y[:400]
    a = ESN(units=50, lr=1.0, seed=1, warmup=100).fit_series(u[:300], y[:300])
    b = ESN(units=50, lr=1.0, seed=1).fit_series(u[:300], y[:300], warmup=100)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    cont = a.predict_series(u[300:])
    # continuing from the training state == running the whole series from zeros
    whole = ESN(units=50, lr=1.0, seed=1, warmup=100).fit_series(u[:300], y[:300]).predict_series(u, reset=True)
    np.testing.assert_allclose(cont, whole[300:], rtol=0, atol=1e-12)
    assert not np.allclose(a.predict_series(u[300:], reset=True)[:5], cont[:5])
    c = ESN(units=50, lr=1.0, seed=2, warmup=100).fit_series(u[:300], y[:300])
    assert not np.allclose(a.coef_, c.coef_)


@needs_reservoirpy
def test_esn_windows_follow_the_update_equation():
    X, y = _windows(10)
    esn = ESN(units=30, sr=0.9, lr=0.3, seed=0).fit(X, y)
    W, W_in = esn.reservoir_.W, esn.reservoir_.Win
    expected = []
    for window in X:  # x_{t+1} = (1 - lr) x_t + lr tanh(W_in u_{t+1} + W x_t), x_0 = 0, bias 0
        x = np.zeros(30)
        for u_t in window:
            x = (1 - 0.3) * x + 0.3 * np.tanh(W_in @ u_t + W @ x)
        expected.append(x)
    np.testing.assert_allclose(esn.features(X), np.array(expected), rtol=0, atol=1e-12)
    # every window starts from the zero state: a window's features do not depend on the others
    np.testing.assert_allclose(esn.features(X[3:4]), esn.features(X)[3:4], rtol=0, atol=1e-14)
    assert esn.predict(X).shape == (10, 1)


@needs_reservoirpy
def test_esn_windows_beat_persistence_on_damped_shm():
    X, y = get_task("damped_shm").load()
    X_train, y_train, X_test, y_test = chronological_split(X, y)
    esn = ESN(seed=0).fit(X_train, y_train)
    persistence = float(np.mean((X_test[:, -1, :] - y_test) ** 2))
    # measured: ESN 3.4e-6 vs persistence 3.2e-3
    assert esn.mse(X_test, y_test) < 0.05 * persistence
    assert esn.score(X_test, y_test) > 0.99
    pred = esn.predict(X_test)
    r2 = 1 - np.sum((y_test - pred) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert esn.score(X_test, y_test) == pytest.approx(r2, rel=1e-12)
    # warmup on windows drops leading windows, like ReservoirRegressor's washout
    a = ESN(seed=0, warmup=5).fit(X_train, y_train)
    b = ESN(seed=0).fit(X_train[5:], y_train[5:])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-10)


@needs_reservoirpy
def test_esn_bad_inputs():
    X, y = _windows(10)
    with pytest.raises(RuntimeError, match=r"not fitted yet: call fit\(X, y\)"):
        ESN().predict(X)
    with pytest.raises(RuntimeError, match=r"not fitted yet: call fit_series"):
        ESN().predict_series(X[:, 0])
    with pytest.raises(ValueError, match="X has 10 windows but y has 9"):
        ESN().fit(X, y[:-1])
    with pytest.raises(ValueError, match="X must be windows shaped"):
        ESN().fit(X[:, :, 0], y)
    bad = X.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinite"):
        ESN().fit(bad, y)
    with pytest.raises(ValueError, match="warmup=10 leaves no training windows"):
        ESN(warmup=10).fit(X, y)
    with pytest.raises(ValueError, match="warmup=5 leaves no training steps"):
        ESN().fit_series(np.ones(5), np.ones(5), warmup=5)
    with pytest.raises(ValueError, match="u contains NaN"):
        ESN().fit_series(np.array([0.1, np.nan, 0.2]), np.ones(3))
    with pytest.raises(ValueError, match="u must be a series shaped"):
        ESN().fit_series(np.ones((3, 2, 1)), np.ones(3))
    with pytest.raises(ValueError, match="u has 4 time steps but y has 3"):
        ESN().fit_series(np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="fitted on 1 input features, got 2"):
        ESN(units=10).fit(X, y).predict(np.ones((3, 4, 2)))
    for kwargs, message in [
        (dict(units=0), "units must be a positive integer"),
        (dict(lr=0), r"lr \(leak rate\) must be in \(0, 1\]"),
        (dict(lr=1.5), r"lr \(leak rate\) must be in \(0, 1\]"),
        (dict(sr=-1), "sr must be a positive number"),
        (dict(ridge=-1e-3), "ridge must be a non-negative number"),
        (dict(input_scaling=0), "input_scaling must be a positive number"),
        (dict(warmup=-1), "warmup must be a non-negative integer"),
        (dict(seed=1.5), "seed must be an integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            ESN(**kwargs)


# -- regressions found in review ------------------------------------------------------------------
def _random_windows(n=24, seed=0):
    gen = np.random.default_rng(seed)
    return gen.uniform(-1, 1, (n, 4, 1)), gen.uniform(-1, 1, (n, 1))


def test_features_are_deterministic_with_dropout_and_mode_is_restored():
    X, _ = _random_windows()
    reservoir = QLSTM(1, 3, num_layers=2, dropout=0.5, batch_first=True, reservoir=True, seed=1, dtype=torch.float64)
    reservoir.train()
    a = ReservoirRegressor(reservoir).features(X)
    b = ReservoirRegressor(reservoir).features(X)
    np.testing.assert_array_equal(a, b)
    assert reservoir.training  # the caller's mode is put back


def test_cache_key_includes_backend_options():
    from qseq.backends.torch_engine import TorchBackend

    X, _ = _random_windows(8)
    reservoir = QLSTM(1, 3, batch_first=True, reservoir=True, seed=0, dtype=torch.float64)
    reg = ReservoirRegressor(reservoir)
    reg.features(X)
    reservoir.to_backend(TorchBackend(fuse=False))  # same name "torch", other options
    calls = reservoir.backend.usage.calls
    reg.features(X)
    assert reservoir.backend.usage.calls > calls


def test_cached_features_are_read_only():
    X, _ = _random_windows(8)
    reg = ReservoirRegressor(QRNN(1, 3, batch_first=True, reservoir=True, dtype=torch.float64))
    features = reg.features(X)
    with pytest.raises(ValueError, match="read-only"):
        features[:] = 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": True}, "alpha must be"),
        ({"alpha": float("inf")}, "alpha must be"),
        ({"cv_folds": 1}, "cv_folds must be"),
        ({"alphas": ()}, "alphas must be"),
        ({"alphas": (1.0, -1.0)}, "alphas must be"),
    ],
)
def test_readout_options_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReservoirRegressor(QRNN(1, 3, batch_first=True, reservoir=True), **kwargs)


def test_numpy_alpha_is_accepted_and_too_few_windows_for_cv_fail_clearly():
    X, y = _random_windows(4)
    reservoir = QRNN(1, 3, batch_first=True, reservoir=True, dtype=torch.float64)
    ReservoirRegressor(reservoir, alpha=np.float64(1e-3)).fit(X, y)
    with pytest.raises(ValueError, match="cv_folds=5 needs at least"):
        ReservoirRegressor(reservoir, alpha="cv").fit(X, y)


def test_reservoir_features_agree_across_backends():
    """The same frozen reservoir on PennyLane gives the torch engine's features (one pass each)."""
    X, y = _random_windows(6)
    reservoir = QLSTM(
        1, 3, batch_first=True, readout_vqc=True, reservoir=True, seed=2, init="uniform", dtype=torch.float64
    )
    torch_features = ReservoirRegressor(reservoir).features(X)
    reservoir.to_backend("pennylane:default.qubit")
    pl = ReservoirRegressor(reservoir, alpha=1e-6).fit(X, y)
    np.testing.assert_allclose(pl.features(X), torch_features, atol=1e-10, rtol=0)
    assert pl.n_circuit_evaluations_ == 6 * 4 * 6  # windows x steps x circuits, one pass


# -- feature modes ------------------------------------------------------------------------------------
def _numpy_rnn(rnn, X):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) by hand: (N, L, H)."""
    w_ih, w_hh = rnn.weight_ih_l0.detach().numpy(), rnn.weight_hh_l0.detach().numpy()
    b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
    h, out = np.zeros((X.shape[0], w_hh.shape[0])), []
    for t in range(X.shape[1]):
        h = np.tanh(X[:, t] @ w_ih.T + h @ w_hh.T + b)
        out.append(h)
    return np.stack(out, 1)


def _numpy_lstm(lstm, X):
    """Hidden states (N, L, H) and the final cell state (N, H) of a one-layer LSTM by hand."""
    w_ih, w_hh = lstm.weight_ih_l0.detach().numpy(), lstm.weight_hh_l0.detach().numpy()
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
    H = w_hh.shape[1]
    h, c, out = np.zeros((X.shape[0], H)), np.zeros((X.shape[0], H)), []
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(X.shape[1]):
        z = X[:, t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = sig(z[:, :H]), sig(z[:, H : 2 * H]), np.tanh(z[:, 2 * H : 3 * H]), sig(z[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, 1), c


def _feature_windows(n=6, length=5, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, length, 2))


def test_feature_modes_of_an_rnn_reservoir_against_a_hand_recurrence():
    torch.manual_seed(0)
    rnn = nn.RNN(2, 3, batch_first=True, dtype=torch.float64)
    X = _feature_windows()
    hs = _numpy_rnn(rnn, X)
    np.testing.assert_allclose(reservoir_features(rnn, X, features="last"), hs[:, -1], atol=1e-12)
    np.testing.assert_allclose(reservoir_features(rnn, X, features="steps"), hs.reshape(6, -1), atol=1e-12)
    np.testing.assert_allclose(reservoir_features(rnn, X, features="steps+state"), hs.reshape(6, -1), atol=1e-12)


def test_steps_and_state_of_an_lstm_reservoir_add_its_cell_state():
    torch.manual_seed(1)
    lstm = nn.LSTM(2, 3, batch_first=True, dtype=torch.float64)
    X = _feature_windows(seed=1)
    hs, c = _numpy_lstm(lstm, X)
    np.testing.assert_allclose(
        reservoir_features(lstm, X, features="steps+state"), np.concatenate([hs.reshape(6, -1), c], 1), atol=1e-12
    )


def test_steps_and_state_of_quantum_reservoirs():
    X = _feature_windows(n=4, length=3)
    qlstm = QLSTM(2, 2, batch_first=True, n_qubits=4, reservoir=True, seed=2, dtype=torch.float64)
    with torch.no_grad():
        out, (_, c) = qlstm(torch.as_tensor(X))
    got = reservoir_features(qlstm, X, features="steps+state")
    assert got.shape == (4, 3 * 2 + 4)  # every step's h, then the final c of n_qubits features
    np.testing.assert_allclose(got, np.concatenate([out.reshape(4, -1).numpy(), c[-1].numpy()], 1), atol=1e-12)
    qfwp = QFWP(2, n_qubits=4, depth=2, n_measured=2, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        out, state = qfwp(torch.as_tensor(X))
    got = reservoir_features(qfwp, X, features="steps+state")
    np.testing.assert_allclose(got, torch.cat([out.reshape(4, -1), state.fast.reshape(4, -1)], 1).numpy())


def _correlations_by_hand(cell, bound_weights, x, state, step):
    """Every ``⟨Z_i Z_j⟩`` (i < j) of every VQC of ``cell`` at one step: each bank's circuit measured for
    those words alone, evaluated on the step's own encoded input (computed as the cell's equations say)."""
    n = cell.n_qubits
    words = [{i: "Z", j: "Z"} for i in range(n) for j in range(i + 1, n)]
    out = []
    for name, inputs in step(x, state):
        circuit = chen_vqc(n, cell.n_layers).measure(words)
        w = bound_weights[name]
        out.append(cell.backend.expval(circuit, {"inputs": angle_encode(inputs), "weights": w.reshape(len(w), 1, -1)}))
    return torch.cat(out, 0).permute(1, 0, 2).reshape(x.shape[0], -1)  # (N, K·pairs), bank by bank


def test_observables_mode_adds_every_steps_correlations_of_every_vqc():
    X = _feature_windows(n=3, length=2)
    layer = QLSTM(2, 2, batch_first=True, n_qubits=3, reservoir=True, init="uniform", seed=4, dtype=torch.float64)
    cell = layer.cells[0]
    weights = {name: bank.weight.detach() for name, bank in cell.vqc.items()}
    got = reservoir_features(layer, X, features="observables")
    base = reservoir_features(layer, X, features="steps+state")
    assert got.shape == (3, base.shape[1] + 2 * 5 * 3)  # 2 steps × 5 VQCs × 3 pairs of 3 qubits
    np.testing.assert_allclose(got[:, : base.shape[1]], base, atol=1e-12)  # fused vs stepped layer

    def qlstm_step(x, state):  # the values each bank encodes: the projected [x, h], then o ⊙ tanh c
        h, c = state
        v = cell.in_proj(torch.cat([x, h], -1))  # 4 values onto 3 qubits
        f, i, g, o = cell.backend.expval(
            cell.vqc["gates"].circuit, {"inputs": angle_encode(v), "weights": weights["gates"].reshape(4, 1, -1)}
        ).unbind(0)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return [("gates", v), ("hidden", torch.sigmoid(o) * torch.tanh(c))]

    x = torch.as_tensor(X)
    state = (torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64))
    expected = []
    with torch.no_grad():
        for t in range(2):
            expected.append(_correlations_by_hand(cell, weights, x[:, t], state, qlstm_step))
            _, state, _ = cell.step(cell._bind(), x[:, t], state)
    np.testing.assert_allclose(got[:, base.shape[1] :], torch.cat(expected, 1).numpy(), atol=1e-12)


def test_observe_returns_what_forward_returns_with_the_same_calls():
    x = torch.randn(4, 3, 1, dtype=torch.float64)
    for layer in (QLSTM(1, 3, dtype=torch.float64), QGRU(1, 2, dtype=torch.float64), QRNN(1, 1, dtype=torch.float64)):
        with torch.no_grad():
            layer.backend.usage.reset()
            out, final = layer(x)
            calls = layer.backend.usage.calls
            layer.backend.usage.reset()
            out_o, final_o, correlations = layer.observe(x)
        assert layer.backend.usage.calls == calls
        torch.testing.assert_close(out_o, out, atol=1e-12, rtol=0)
        n, n_vqc = layer.n_qubits, sum(len(bank.weight) for bank in layer.cells[-1].vqc.values())
        assert correlations.shape == (4, 3, n_vqc * n * (n - 1) // 2)


def test_the_cache_keeps_feature_modes_apart_and_a_second_fit_runs_no_circuit(tmp_path):
    X, y = _feature_windows(n=12, length=3), np.random.default_rng(3).normal(size=(12, 1))
    reservoir = QLSTM(2, 2, batch_first=True, n_qubits=4, reservoir=True, seed=3, dtype=torch.float64)
    for mode in ("last", "steps", "observables"):
        first = ReservoirRegressor(reservoir, features=mode, alpha=1e-3, cache_dir=tmp_path).fit(X, y)
        assert first.n_circuit_evaluations_ > 0
        again = ReservoirRegressor(reservoir, features=mode, alpha=1e-3, cache_dir=tmp_path).fit(X, y)
        assert again.n_circuit_evaluations_ == 0
        np.testing.assert_array_equal(first.coef_, again.coef_)
    assert len(list(tmp_path.glob("features-*.npy"))) == 3
    assert first.coef_.shape == (3 * 2 + 4 + 3 * 5 * 6, 1)  # steps, the final c, 3 steps × 5 VQCs × 6 pairs


def test_a_damaged_disk_cache_is_set_aside_and_computed_again(tmp_path):
    X, y = _feature_windows(n=12, length=3), np.random.default_rng(3).normal(size=(12, 1))
    reservoir = QRNN(2, 2, batch_first=True, n_qubits=3, reservoir=True, seed=1, dtype=torch.float64)
    first = ReservoirRegressor(reservoir, features="steps", alpha=1e-3, cache_dir=tmp_path).fit(X, y)
    (cached,) = tmp_path.glob("features-*.npy")
    cached.write_bytes(b"not an array")
    with pytest.warns(RuntimeWarning, match=f"the cache file {cached} cannot be read"):
        again = ReservoirRegressor(reservoir, features="steps", alpha=1e-3, cache_dir=tmp_path).fit(X, y)
    assert again.n_circuit_evaluations_ == first.n_circuit_evaluations_ > 0  # computed again, not crashed
    np.testing.assert_array_equal(again.coef_, first.coef_)
    assert (tmp_path / f"{cached.name}.damaged").read_bytes() == b"not an array"  # kept, never deleted
    np.load(cached)  # and the recomputed features were written back


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"features": "all"}, "features must be one of"),
        ({"features": "observables"}, "features='observables' measures more observables .* RNN has none"),
    ],
)
def test_bad_feature_modes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReservoirRegressor(nn.RNN(1, 2, batch_first=True), **kwargs)


@pytest.mark.parametrize("init", ["scaled:0", "scaled:-1", "scaled:x", "scaled:inf", "wide"])
def test_bad_reservoir_initialisations_are_refused(init):
    with pytest.raises(ValueError, match="init"):
        QLSTM(1, 2, reservoir=True, init=init)


def test_the_scaled_initialisation_draws_angles_in_its_range():
    from qseq.models import init_vqc_weights

    w = torch.empty(20_000, dtype=torch.float64)
    init_vqc_weights(w, "scaled:0.25", torch.Generator().manual_seed(0))
    assert w.abs().max() <= 0.25 * np.pi and w.abs().max() > 0.24 * np.pi
    assert abs(float(w.mean())) < 0.02 and float(w.std()) == pytest.approx(0.25 * np.pi / np.sqrt(3), rel=0.02)


# -- classical reservoirs in every feature mode ----------------------------------------------------
def _numpy_gru(gru, X):
    """Hidden states (N, L, H) of a one-layer GRU by hand (torch's gate order r, z, n)."""
    w_ih, w_hh = gru.weight_ih_l0.detach().numpy(), gru.weight_hh_l0.detach().numpy()
    b_ih, b_hh = gru.bias_ih_l0.detach().numpy(), gru.bias_hh_l0.detach().numpy()
    H = w_hh.shape[1]
    h, out = np.zeros((X.shape[0], H)), []
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(X.shape[1]):
        gi, gh = X[:, t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out, 1)


def _hand_features(kind: str, layer, X) -> dict[str, np.ndarray]:
    """Each feature mode of a one-layer torch reservoir, by hand: the hidden states and, for an LSTM,
    the final cell state; an RNN's or GRU's final state is its last hidden state, already a step."""
    if kind == "lstm":
        hs, state = _numpy_lstm(layer, X)
    else:
        hs = _numpy_rnn(layer, X) if kind == "rnn" else _numpy_gru(layer, X)
        state = np.zeros((len(X), 0))
    steps = hs.reshape(len(X), -1)
    return {"last": hs[:, -1], "steps": steps, "steps+state": np.concatenate([steps, state], 1)}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_classical_reservoirs_in_every_feature_mode_against_a_hand_recurrence(kind):
    X = _feature_windows(n=8, length=3, seed=2)
    y = np.random.default_rng(4).normal(size=(8, 1))
    built = build_model(kind, input_size=2, hidden_size=3, reservoir=True, seed=7, dtype=F64).rnn
    layer = ClassicalReservoir(kind, 3, seed=7, input_size=2, dtype=F64)
    _assert_identical(_snapshot(built), _snapshot(layer))  # one freeze, either way in
    hand = _hand_features(kind, layer, X)
    assert {mode: f.shape[1] for mode, f in hand.items()} == {
        "last": 3,
        "steps": 9,
        "steps+state": 12 if kind == "lstm" else 9,
    }
    for mode, expected in hand.items():
        np.testing.assert_allclose(reservoir_features(layer, X, features=mode), expected, atol=1e-12)
        fitted = ReservoirRegressor(layer, features=mode, alpha=1e-3).fit(X, y)
        coef, intercept = ridge_fit(expected, y, 1e-3)
        np.testing.assert_allclose(fitted.coef_, coef, atol=1e-9)
        np.testing.assert_allclose(fitted.predict(X), expected @ coef + intercept, atol=1e-9)
    with torch.no_grad():
        _, state = layer(torch.as_tensor(X))
    final = state[1] if kind == "lstm" else state  # an LSTM's cell state, else the hidden state
    np.testing.assert_allclose(hand["steps+state"][:, -3:], final[-1].numpy(), atol=1e-12)


# -- ReservoirModel -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["last", "steps", "steps+state"])
@pytest.mark.parametrize("name", ["qlstm", "lstm", "gru"])
def test_reservoir_model_predicts_what_its_regressor_predicts(name, mode):
    X, y = _windows(n=20)
    reservoir = build_model(name, reservoir=True, seed=1, dtype=F64).rnn
    model = ReservoirModel(reservoir, seq_len=4, features=mode)
    regressor = model.fit_readout(X, y, alpha=1e-4)
    assert model.head.weight.shape == (1, regressor.coef_.shape[0])
    assert count_parameters(model) == regressor.n_trainable_  # only the readout trains
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.as_tensor(X)).numpy(), regressor.predict(X), atol=1e-12)
    np.testing.assert_allclose(regressor.features(X), reservoir_features(reservoir, X, features=mode))


def test_reservoir_model_reading_the_last_step_is_a_sequence_regressor():
    X, y = _windows(n=12)
    sequence = build_model("qrnn", reservoir=True, seed=2, dtype=F64)
    model = ReservoirModel(sequence.rnn, seq_len=4, features="last")
    model.fit_readout(X, y, alpha=0.0)
    assert model.state_dict().keys() == sequence.state_dict().keys()
    sequence.load_state_dict(model.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(sequence(torch.as_tensor(X)).numpy(), model(torch.as_tensor(X)).numpy())


def test_reservoir_model_moves_its_circuits_and_a_classical_one_refuses():
    X, y = _windows(n=8)
    model = ReservoirModel(_quantum_reservoir("qrnn"), seq_len=4)
    model.fit_readout(X, y, alpha=1e-3)
    with torch.no_grad():
        before = model(torch.as_tensor(X))
        assert model.to_backend("torch:dtype=complex128") is model
        np.testing.assert_allclose(model(torch.as_tensor(X)).numpy(), before.numpy(), atol=1e-6)
    assert [b.name for b in model.backends()] == ["torch"]
    with pytest.raises(TypeError, match="classical"):
        ReservoirModel(ClassicalReservoir("gru", 3, dtype=F64), seq_len=4).to_backend("aer")


def test_reservoir_model_bad_inputs():
    rnn = ClassicalReservoir("rnn", 3, dtype=F64)
    with pytest.raises(ValueError, match="features must be one of"):
        ReservoirModel(rnn, seq_len=4, features="all")
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        ReservoirModel(rnn, seq_len=0)
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        ReservoirModel(rnn, seq_len=4, out_features=True)
    with pytest.raises(TypeError, match="reservoir must be a torch.nn.Module"):
        ReservoirModel(np.tanh, seq_len=4)
    with pytest.raises(ValueError, match="input_size"):
        ReservoirModel(nn.Tanh(), seq_len=4)
    model = ReservoirModel(rnn, seq_len=4, features="steps")
    X, y = _windows(n=8, seq_len=5)
    with pytest.raises(ValueError, match="windows of length 4; got windows of length 5"):
        model.fit_readout(X, y)
    with pytest.raises(ValueError, match="windows of length 4; got windows of length 5"):
        model(torch.as_tensor(X))
    with pytest.raises(ValueError, match=r"input must be windows \(N, L, input_size\)"):
        model(torch.zeros(4, 1, dtype=F64))
    X, y = _windows(n=8)
    with pytest.raises(ValueError, match="y has 2 target columns, the model predicts 1"):
        model.fit_readout(X, np.hstack([y, y]))
    with pytest.raises(TypeError, match="leave out features="):
        model.fit_readout(X, y, features="last")
    ReservoirModel(rnn, seq_len=4, features="last")(torch.as_tensor(_windows(n=3, seq_len=6)[0]))  # any length

"""One protocol for every model with circuits (QuantumModel), one freeze function, and models that
survive torch.save / pickle / deepcopy with their outputs unchanged."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import io
import pickle

import pytest
import torch
from torch import nn

import qseq
from qseq.backends import get
from qseq.models import (
    MODELS,
    QFWP,
    QGRU,
    QLSTM,
    QRNN,
    ClassicalReservoir,
    QGRUCell,
    QLSTMCell,
    QRNNCell,
    QuantumModel,
    build_model,
    freeze_random,
    runs_circuits,
)
from qseq.models.init import init_linear, init_recurrent
from qseq.reservoir import ReservoirRegressor

F64 = torch.float64
QUANTUM = sorted(m for m in MODELS if m.startswith("q"))
CLASSICAL = sorted(set(MODELS) - set(QUANTUM))


def _every_quantum_object():
    return [
        QRNNCell(1, 3),
        QLSTMCell(1, 3),
        QGRUCell(1, 3),
        QRNN(1, 3),
        QLSTM(1, 3),
        QGRU(1, 3),
        QFWP(1),
        *(build_model(m) for m in QUANTUM),
        ReservoirRegressor(QLSTM(1, 3, batch_first=True)),
    ]


def test_public_api_is_reachable_from_the_top_package():
    assert qseq.QFWP is QFWP and qseq.QLSTM is QLSTM and qseq.ReservoirRegressor is ReservoirRegressor
    assert callable(qseq.data.damped_shm) and callable(qseq.backends.get) and callable(qseq.circuits.chen_vqc)
    assert callable(qseq.train.fit) and qseq.reservoir.ReservoirRegressor is ReservoirRegressor


@pytest.mark.parametrize("obj", _every_quantum_object(), ids=lambda o: type(o).__name__)
def test_every_quantum_object_implements_the_protocol_with_one_signature(obj):
    assert isinstance(obj, QuantumModel) and runs_circuits(obj)
    assert [b.name for b in obj.backends()] == ["torch"]
    signature = inspect.signature(obj.freeze_reservoir)
    assert list(signature.parameters) == ["init", "seed"]
    assert signature.parameters["init"].default == "paper" and signature.parameters["seed"].default == 0


@pytest.mark.parametrize("name", CLASSICAL)
def test_classical_models_report_no_circuits(name):
    model = build_model(name)
    assert isinstance(model, QuantumModel) and not runs_circuits(model) and model.backends() == ()
    with pytest.raises(TypeError, match="classical"):
        model.to_backend("torch")
    assert not runs_circuits(nn.LSTM(1, 2)) and not runs_circuits(ClassicalReservoir("gru", 3))


def test_to_backend_reaches_every_cell_and_backends_lists_each_once():
    model = build_model("qlstm")
    backend = get("torch", dtype=torch.complex128)
    assert model.to_backend(backend) is model
    assert model.backends() == (backend,)
    assert all(cell.backend is backend for cell in model.rnn.cells)


def test_freeze_reservoir_passes_init_through_every_wrapper():
    # the wrapper freezes exactly like the layer it wraps, for each init
    for init in ("paper", "uniform"):
        wrapped = build_model("qlstm", dtype=F64).freeze_reservoir(init, seed=4)
        layer = QLSTM(1, 3, batch_first=True, readout_vqc=True, dtype=F64).freeze_reservoir(init, seed=4)
        for (name, a), b in zip(wrapped.rnn.state_dict().items(), layer.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    # QFWP's angles are programmed: an init it cannot honour is an error, never silently dropped
    with pytest.raises(ValueError, match="init must be 'paper'"):
        build_model("qfwp").freeze_reservoir("uniform", seed=1)
    with pytest.raises(ValueError, match="init must be one of"):
        build_model("qrnn").freeze_reservoir("wide", seed=1)


def test_freeze_random_draws_in_registration_order_from_one_generator():
    # reference: the same draws made by hand from one seeded generator
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.GRU(3, 4))
    freeze_random(model, seed=9)
    expected = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.GRU(3, 4))
    generator = torch.Generator().manual_seed(9)
    init_linear(expected[0], generator)
    init_recurrent(expected[2], generator)
    for a, b in zip(model.parameters(), expected.parameters(), strict=True):
        assert torch.equal(a, b)
    bound = 1 / 4**0.5  # torch's default for a GRU of hidden size 4
    assert all(p.abs().max() <= bound and not p.requires_grad for p in model[2].parameters())


def test_freeze_random_refuses_parameters_it_cannot_draw():
    with pytest.raises(TypeError, match="Conv1d"):
        freeze_random(nn.Sequential(nn.Conv1d(1, 1, 2)), seed=0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        freeze_random(nn.Linear(1, 1), seed=1.5)


def test_reservoir_regressor_freeze_reservoir_redraws_and_drops_the_readout():
    import numpy as np

    X = np.random.default_rng(0).uniform(-1, 1, (12, 3, 1))
    y = X[:, -1]
    reg = ReservoirRegressor(QLSTM(1, 3, batch_first=True, reservoir=True, seed=0), alpha=1e-3).fit(X, y)
    before = reg.features(X).copy()
    assert reg.freeze_reservoir("uniform", seed=3) is reg
    assert not hasattr(reg, "coef_")
    with pytest.raises(RuntimeError, match="not fitted"):
        reg.predict(X)
    assert not np.allclose(reg.features(X), before)  # new weights: new features, not the cache


# -- saving whole models -----------------------------------------------------------------------------
def _roundtrip(model):
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_save_roundtrips_every_registered_model_after_use(name):
    model = build_model(name, dtype=F64)
    x = torch.randn(3, 4, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    y = model(x)  # a used model holds compiled programs in its backend
    for copied in (_roundtrip(model), pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert torch.equal(copied(x), y)
        assert copied.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize(
    "spec",
    [
        "pennylane:default.qubit",
        "aer",
        "ibm:fake_manila,shots=64,seed=1",
    ],
)
def test_models_on_other_backends_pickle_and_run_again(spec):
    module = {"pennylane": "pennylane", "aer": "qiskit_aer", "ibm": "qiskit_ibm_runtime"}[spec.split(":")[0]]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs {module}")
    model = build_model("qrnn", dtype=F64).to_backend(spec)
    x = torch.randn(2, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(1))
    y = model(x)
    copied = pickle.loads(pickle.dumps(model))
    assert copied.backends()[0].name == model.backends()[0].name
    assert copied.backends()[0] is not model.backends()[0]
    torch.testing.assert_close(copied(x), y, rtol=0, atol=1e-12)  # seeded shots repeat exactly


# -- mixed dtypes, as torch.nn.LSTM ------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: QLSTM(1, 3),
        lambda: QLSTM(1, 3, num_layers=2),
        lambda: QGRU(1, 3, num_layers=3),
        lambda: QRNN(1, 3),
        lambda: QFWP(1),
    ],
    ids=["qlstm", "qlstm-2-layers", "qgru-3-layers", "qrnn", "qfwp"],
)
def test_an_input_of_another_dtype_is_refused_with_the_fix(make):
    model = make()  # float32 parameters
    with pytest.raises(ValueError, match=r"input dtype \(torch.float64\) does not match.*model.to\(torch.float64\)"):
        model(torch.zeros(4, 2, 1, dtype=F64))
    for dtype in (torch.int64, torch.float16, torch.bool):
        with pytest.raises(ValueError, match=f"got {dtype}"):
            model(torch.zeros(4, 2, 1, dtype=dtype))
    model.to(F64)
    assert model(torch.zeros(4, 2, 1, dtype=F64))[0].dtype == F64


@pytest.mark.parametrize("cell", [QLSTMCell(1, 3), QGRUCell(1, 3), QRNNCell(1, 3)], ids=lambda c: type(c).__name__)
def test_cells_refuse_another_dtype_batched_and_unbatched(cell):
    for x in (torch.zeros(2, 1, dtype=F64), torch.zeros(1, dtype=F64)):
        with pytest.raises(ValueError, match="does not match the parameters' dtype"):
            cell(x)

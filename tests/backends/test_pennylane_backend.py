"""The PennyLane backend against the Qiskit statevector reference, for values and gradients."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
import torch

from qseq.backends import get
from qseq.circuits import Circuit, Operation, ParamGroup, chen_vqc

pytest.importorskip("pennylane")

DEVICES = ["default.qubit", "lightning.qubit"]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
CIRCUIT = chen_vqc(3, 2).measure(["Z0", "Z2", "XYZ", {0: "X", 2: "Y"}])


@pytest.fixture(scope="module", params=DEVICES)
def backend(request):
    return get(f"pennylane:{request.param}")


def test_names_and_default_diff_methods():
    assert get("pennylane").name == "pennylane:default.qubit"
    assert get("pennylane:default.qubit").diff_method == "backprop"
    assert get("pennylane:lightning.qubit").diff_method == "adjoint"
    assert get("pennylane:lightning.qubit", shots=100).diff_method == "parameter-shift"
    assert get("pennylane:default.qubit", diff_method="parameter-shift").diff_method == "parameter-shift"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batch_matches_reference(backend, dtype, angles, qiskit_reference):
    params = angles(CIRCUIT.n_params, 5, seed=1, dtype=dtype)
    out = backend.expval(CIRCUIT, params)
    assert out.shape == (5, CIRCUIT.n_obs) and out.dtype == dtype
    expected = qiskit_reference(CIRCUIT, params)
    np.testing.assert_allclose(out.double().numpy(), expected, atol=TOLERANCE[dtype], rtol=0)


def test_unbatched_matches_reference(backend, angles, qiskit_reference):
    params = angles(CIRCUIT.n_params, seed=2)
    out = backend.expval(CIRCUIT, params)
    assert out.shape == (CIRCUIT.n_obs,)
    np.testing.assert_allclose(out.numpy(), qiskit_reference(CIRCUIT, params), atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_group_broadcasting_matches_reference(backend, dtype, angles, qiskit_reference):
    k, b = 2, 3
    sizes = CIRCUIT.group_sizes
    inputs = angles(sizes["inputs"], b, seed=3, dtype=dtype)
    weights = angles(sizes["weights"], k, 1, seed=4, dtype=dtype)
    out = backend.expval(CIRCUIT, {"inputs": inputs, "weights": weights})
    assert out.shape == (k, b, CIRCUIT.n_obs) and out.dtype == dtype
    flat = torch.cat([inputs.expand(k, b, -1), weights.expand(k, b, -1)], dim=-1)
    expected = qiskit_reference(CIRCUIT, flat)
    np.testing.assert_allclose(out.double().numpy(), expected, atol=TOLERANCE[dtype], rtol=0)


def test_bound_circuit_matches_expval(backend, angles):
    inputs, weights = angles(6, 4, seed=5), angles(18, seed=6)
    bound = backend.bind(CIRCUIT, weights=weights)
    expected = backend.expval(CIRCUIT, {"inputs": inputs, "weights": weights})
    torch.testing.assert_close(bound(inputs=inputs), expected, rtol=0, atol=1e-12)


def test_gradients_match_central_differences(backend, angles):
    circuit, h = chen_vqc(2, 1).measure(["Z0", "XY"]), 1e-5
    params = angles(circuit.n_params, 2, seed=7).requires_grad_()
    cotangent = angles(circuit.n_obs, 2, seed=8)
    (backend.expval(circuit, params) * cotangent).sum().backward()
    # every ±h shift of every entry, evaluated as one batch: (2, P, B, P)
    shifts = h * torch.eye(circuit.n_params, dtype=torch.float64)[:, None, :]
    shifted = params.detach() + torch.stack([shifts, -shifts])
    with torch.no_grad():
        plus, minus = (backend.expval(circuit, shifted) * cotangent).sum(-1)
    np.testing.assert_allclose(params.grad.numpy(), ((plus - minus) / (2 * h)).T.numpy(), atol=1e-6, rtol=0)


def test_circuit_without_parameters(backend):
    circuit = Circuit(2, (Operation("H", (0,)), Operation("CNOT", (0, 1))), observables=("ZZ", "XX", "Z0"))
    out = backend.expval(circuit, torch.zeros(0))
    torch.testing.assert_close(out, torch.tensor([1.0, 1.0, 0.0]), atol=1e-6, rtol=0)


def test_shots_are_seeded_and_differentiable():
    circuit = Circuit(1, (Operation("RY", (0,), (0,)),), (ParamGroup("weights", 1),))
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    runs = [get("pennylane:default.qubit", shots=20_000, seed=1234).expval(circuit, theta) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert float(runs[0].detach()) == pytest.approx(np.cos(1.0), abs=0.03)
    runs[0].sum().backward()
    assert float(theta.grad) == pytest.approx(-np.sin(1.0), abs=0.05)


def test_unknown_device_lists_installed_devices():
    with pytest.raises(ValueError, match="unknown PennyLane device 'default.qubitt'") as err:
        get("pennylane:default.qubitt")
    for name in ("default.qubit", "lightning.qubit"):
        assert name in str(err.value)


@pytest.mark.skipif(
    "lightning.gpu" in {ep.name for ep in entry_points(group="pennylane.plugins")},
    reason="lightning.gpu is installed",
)
def test_missing_lightning_gpu_names_the_package():
    with pytest.raises(ImportError, match="pip install pennylane-lightning-gpu"):
        get("pennylane:lightning.gpu")


def test_missing_pennylane_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pennylane", None)
    with pytest.raises(ImportError, match=r"pip install 'qseq\[pennylane\]'"):
        get("pennylane:default.qubit")

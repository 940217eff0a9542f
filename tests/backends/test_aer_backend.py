"""Qiskit Aer: exact values equal the engine, shots scatter as binomials, noise follows the device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import all_gates_circuit, mixed_observables, random_params

from qseq.backends import get
from qseq.circuits import Circuit, Operation, ParamGroup, chen_vqc

pytest.importorskip("qiskit_aer")

EXACT = get("torch", dtype=torch.complex128)
CIRCUITS = {"all_gates": all_gates_circuit().measure(mixed_observables(4)), "chen_vqc": chen_vqc(4, 2)}


def binomial_sigma(expval: torch.Tensor, shots: int) -> torch.Tensor:
    """Standard deviation of the mean of ``shots`` ±1 outcomes with mean ``expval``."""
    return ((1 - expval**2).clamp_min(0) / shots).sqrt()


#: Agreement each exact method holds in float64: rounding for state vector and density matrix
#: (1e-15 seen); Aer's own SVD in the matrix-product-state method costs up to ~7e-11 here.
EXACT_TOLERANCE = {"statevector": 1e-12, "matrix_product_state": 1e-9, "density_matrix": 1e-12}


@pytest.mark.parametrize("method", EXACT_TOLERANCE)
@pytest.mark.parametrize("name", CIRCUITS)
def test_exact_methods_equal_the_engine(name, method):
    circuit = CIRCUITS[name]
    params = random_params(circuit, (2, 3))
    got = get(f"aer:{method}").expval(circuit, params)
    assert got.shape == (2, 3, circuit.n_obs) and got.dtype == torch.float64
    torch.testing.assert_close(got, EXACT.expval(circuit, params), atol=EXACT_TOLERANCE[method], rtol=0)


def test_exact_gradients_equal_autograd():
    circuit = CIRCUITS["all_gates"]
    params = {k: v.requires_grad_() for k, v in random_params(circuit, 3, seed=1).items()}
    backend = get("aer")
    got = torch.autograd.grad(backend.expval(circuit, params).sum(), list(params.values()))
    want = torch.autograd.grad(EXACT.expval(circuit, params).sum(), list(params.values()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-12, rtol=0)
    assert backend.usage.jobs == 1  # values and every shift in one job


def test_shots_scatter_within_five_sigma_and_are_seeded():
    circuit = CIRCUITS["chen_vqc"]
    params = random_params(circuit, 8, seed=2)
    shots = 2000
    exact = EXACT.expval(circuit, params)
    backend = get("aer", shots=shots, seed=7)
    sampled = backend.expval(circuit, params)
    assert (sampled - exact).abs().le(5 * binomial_sigma(exact, shots) + 1e-9).all()
    assert (sampled - exact).abs().max() > 0  # really sampled
    torch.testing.assert_close(get("aer", shots=shots, seed=7).expval(circuit, params), sampled)
    assert backend.usage.shots == 8 * shots


def test_noise_from_a_fake_device_transpiles_and_lays_out_observables():
    # X on wire 1 only: <Z1> = -1, others +1 — a wrong layout of the observables swaps signs
    circuit = Circuit(
        3, (Operation("RY", (0,), (0,)), Operation("X", (1,)), Operation("RY", (2,), (1,))), (ParamGroup("weights", 2),)
    )
    backend = get("aer:noise=fake_manila", seed=3)
    values = backend.expval(circuit, torch.zeros(2, dtype=torch.float64))
    np.testing.assert_allclose(values.numpy(), [1, -1, 1], atol=0.1)  # readout noise only
    assert (values - torch.tensor([1.0, -1, 1], dtype=torch.float64)).abs().max() > 1e-4  # noisy
    isa = backend.isa_circuit(circuit)
    assert isa.num_qubits == 5 and set(isa.count_ops()) <= {"rz", "sx", "x", "cx", "measure", "barrier"}


def test_noisy_values_deviate_like_device_noise():
    # exact noisy values carry gate noise (no readout errors: those act on measurements only);
    # sampled ones add readout errors and shot noise
    circuit = CIRCUITS["chen_vqc"]
    params = random_params(circuit, 4, seed=4)
    exact = EXACT.expval(circuit, params)
    exact_noisy = get("aer:noise=fake_manila", seed=5).expval(circuit, params)
    sampled = get("aer:noise=fake_manila", shots=4000, seed=5).expval(circuit, params)
    for noisy in (exact_noisy, sampled):
        deviation = (noisy - exact).abs().max()
        assert 1e-3 < deviation < 0.3
    assert exact_noisy.abs().max() < exact.abs().max()  # noise contracts toward the maximally mixed state


def test_spec_options_and_names():
    backend = get("aer:density_matrix,shots=100,seed=3")
    assert (backend.method, backend.shots, backend.seed) == ("density_matrix", 100, 3)
    assert backend.name == "aer:density_matrix"
    assert get("aer:noise=fake_manila").name == "aer:density_matrix,noise=fake_manila"
    assert get("aer:noise=fake_manila").max_qubits == 5


@pytest.mark.parametrize(
    ("spec", "options", "error", "match"),
    [
        ("aer:stabilizer_plus", {}, ValueError, "unknown Aer method"),
        ("aer", {"shots": 0}, ValueError, "shots must be a positive integer"),
        ("aer", {"shots": 2.5}, ValueError, "shots must be a positive integer"),
        ("aer:statevector,noise=fake_manila", {}, ValueError, "density_matrix"),
        ("aer:noise=fake_nowhere", {}, ValueError, "unknown fake IBM device 'fake_nowhere'; known: .*fake_manila"),
        ("aer", {"device": "TPU"}, ValueError, "device must be 'CPU' or 'GPU'"),
        ("aer:statevector,shots=10", {"shots": 20}, ValueError, r"given both in the spec .* and as keywords"),
        ("aer:statevector,10", {}, ValueError, "expected key=value"),
        ("aer", {"max_circuits": 0}, ValueError, "max_circuits"),
    ],
)
def test_bad_specs_and_options_are_named(spec, options, error, match):
    with pytest.raises(error, match=match):
        get(spec, **options)


@pytest.mark.skipif("GPU" in __import__("qiskit_aer").AerSimulator().available_devices(), reason="Aer GPU installed")
def test_gpu_without_qiskit_aer_gpu_says_what_to_install():
    with pytest.raises(ImportError, match="qiskit-aer-gpu"):
        get("aer", device="GPU")


def test_too_many_qubits_for_the_noisy_device_fails_before_running():
    backend = get("aer:noise=fake_manila")
    with pytest.raises(
        ValueError, match="6 qubits but backend 'aer:density_matrix,noise=fake_manila' supports at most 5"
    ):
        backend.expval(chen_vqc(6, 1), torch.zeros(chen_vqc(6, 1).n_params))
    assert backend.usage.jobs == 0


def test_circuits_whose_angles_never_reach_the_device():
    fixed = Circuit(2, (Operation("H", (0,)), Operation("X", (1,))), (), ("Z0", "Z1"))
    values = get("aer").expval(fixed, torch.zeros(3, 0))
    torch.testing.assert_close(values, torch.tensor([[0.0, -1.0]] * 3), atol=1e-6, rtol=0)
    unused = Circuit(2, (Operation("X", (1,)),), (ParamGroup("inputs", 2),))  # declared, used by no gate
    x = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    values = get("aer").expval(unused, x)
    torch.testing.assert_close(values, torch.tensor([[1.0, -1.0]] * 4, dtype=torch.float64), atol=1e-12, rtol=0)
    values.sum().backward()
    assert x.grad.abs().max() == 0

"""Property tests of the torch engine on random circuits drawn from the whole gate table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import qiskit_expval, qiskit_state

from qseq.backends import get
from qseq.circuits import GATES, Circuit, Operation, ParamGroup

torch_engine = pytest.importorskip("qseq.backends.torch_engine")
TorchBackend = torch_engine.TorchBackend

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BATCH = 3


@st.composite
def random_circuits(draw, max_qubits: int = 5, max_ops: int = 25) -> Circuit:
    """1–5 qubits, 1–25 gates from GATES on random distinct wires, each angle a fresh parameter
    index; the parameters split at a random point into ``inputs`` and ``weights``; 1–3 random
    Pauli words as observables."""
    n = draw(st.integers(1, max_qubits))
    names = sorted(g for g, spec in GATES.items() if spec.n_wires <= n)
    ops, n_params = [], 0
    for _ in range(draw(st.integers(1, max_ops))):
        spec = GATES[draw(st.sampled_from(names))]
        wires = tuple(draw(st.permutations(range(n)))[: spec.n_wires])
        ops.append(Operation(spec.name, wires, tuple(range(n_params, n_params + spec.n_params))))
        n_params += spec.n_params
    if n_params == 0:  # keep a batch dimension: a circuit needs at least one angle here
        ops.append(Operation("RY", (draw(st.integers(0, n - 1)),), (0,)))
        n_params = 1
    n_inputs = draw(st.integers(0, n_params))
    groups = (ParamGroup("inputs", n_inputs), ParamGroup("weights", n_params - n_inputs))
    words = st.text(alphabet="IXYZ", min_size=n, max_size=n)
    observables = tuple(draw(st.lists(words, min_size=1, max_size=3)))
    return Circuit(n, tuple(ops), groups, observables)


seeds = st.integers(0, 2**31 - 1)


def _params(circuit: Circuit, seed: int, dtype=torch.float64, batch=BATCH) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return ((torch.rand(batch, circuit.n_params, generator=gen, dtype=torch.float64) * 2 - 1) * np.pi).to(dtype)


@SETTINGS
@given(random_circuits(), seeds)
def test_state_is_normalised(circuit, seed):
    for real, cplx, tol in ((torch.float32, torch.complex64, 1e-5), (torch.float64, torch.complex128, 1e-12)):
        state = get("torch").state(circuit, _params(circuit, seed, real))
        assert state.dtype == cplx and state.shape == (BATCH, 2**circuit.n_qubits)
        norms = state.abs().pow(2).sum(-1).double()
        np.testing.assert_allclose(norms.numpy(), 1.0, atol=tol, rtol=0)


@SETTINGS
@given(random_circuits(), seeds)
def test_unitary_is_unitary_and_maps_e0_to_state(circuit, seed):
    be = get("torch")
    params = _params(circuit, seed)
    u = be.unitary(circuit, params)
    dim = 2**circuit.n_qubits
    assert u.shape == (BATCH, dim, dim)
    eye = torch.eye(dim, dtype=u.dtype).expand_as(u)
    torch.testing.assert_close(u.mH @ u, eye, atol=1e-12, rtol=0)
    e0 = torch.zeros(dim, dtype=u.dtype)
    e0[0] = 1
    torch.testing.assert_close(u @ e0, be.state(circuit, params), atol=1e-12, rtol=0)


@SETTINGS
@given(random_circuits(), seeds)
def test_z_expectations_in_range(circuit, seed):
    z_all = circuit.measure([f"Z{w}" for w in range(circuit.n_qubits)])
    for dtype, slack in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        out = get("torch").expval(z_all, _params(circuit, seed, dtype))
        assert out.shape == (BATCH, circuit.n_qubits) and out.dtype == dtype
        assert bool((out.abs() <= 1 + slack).all()), out


@SETTINGS
@given(random_circuits(), seeds)
def test_matches_qiskit_statevector(circuit, seed):
    params = _params(circuit, seed)
    be = get("torch")
    np.testing.assert_allclose(be.state(circuit, params).numpy(), qiskit_state(circuit, params), atol=1e-10, rtol=0)
    out = be.expval(circuit, params)
    np.testing.assert_allclose(out.detach().numpy(), qiskit_expval(circuit, params), atol=1e-10, rtol=0)


@SETTINGS
@given(random_circuits(), seeds, st.booleans())
def test_fuse_true_equals_fuse_false(circuit, seed, shared):
    params = _params(circuit, seed)
    sl = circuit.group_slices()
    groups = {n: params[..., s] for n, s in sl.items() if s.stop > s.start}
    if shared and "weights" in groups and "inputs" in groups:
        groups["weights"] = groups["weights"][0]  # one weight vector for the whole batch of inputs
    fused = TorchBackend(fuse=True).expval(circuit, groups)
    unfused = TorchBackend(fuse=False).expval(circuit, groups)
    assert fused.shape == unfused.shape == (BATCH, circuit.n_obs)
    torch.testing.assert_close(fused, unfused, atol=1e-10, rtol=0)
    torch.testing.assert_close(
        TorchBackend(fuse=True).state(circuit, groups),
        TorchBackend(fuse=False).state(circuit, groups),
        atol=1e-10,
        rtol=0,
    )

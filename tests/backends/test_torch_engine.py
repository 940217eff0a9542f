"""The torch state-vector engine against independent references (Qiskit, PennyLane, lightning),
finite differences, and its own contract (broadcasting, bind, fusion, dtypes, errors)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch
from reference import (
    all_gates_circuit,
    flat_params,
    lightning_expval,
    mixed_observables,
    pennylane_expval,
    pennylane_qnode,
    qiskit_expval,
    qiskit_state,
    random_params,
)

from qseq.backends import get
from qseq.circuits import (
    Circuit,
    Operation,
    ParamGroup,
    angle_embedding,
    basic_entangler,
    chen_vqc,
    fwp_vqc,
    strongly_entangling,
)

torch_engine = pytest.importorskip("qseq.backends.torch_engine")
TorchBackend = torch_engine.TorchBackend

BUILDERS = {
    "chen_3_1": lambda: chen_vqc(3, 1),
    "chen_4_2": lambda: chen_vqc(4, 2),
    "chen_5_2_m2": lambda: chen_vqc(5, 2, n_measured=2),
    "fwp_4_2_2": lambda: fwp_vqc(4, 2, 2),
    "fwp_6_2_3_in2": lambda: fwp_vqc(6, 2, 3, n_inputs=2),
    "angleY_strong_4_2": lambda: angle_embedding(4, "Y") + strongly_entangling(4, 2),
    "angleX_basicZ_3_2": lambda: angle_embedding(3) + basic_entangler(3, 2, "Z"),
    "all_gates": all_gates_circuit,
}

# (params dtype, tolerance) — DESIGN §7: 1e-5 in complex64, 1e-10 in complex128.
PRECISIONS = {"float32": (torch.float32, 1e-5), "float64": (torch.float64, 1e-10)}
BATCH = 5


def _circuit(name: str, observables: str) -> Circuit:
    c = BUILDERS[name]()
    return c.measure(mixed_observables(c.n_qubits)) if observables == "mixed" else c


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


# -- values against independent references -------------------------------------------------------
@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("observables", ["default", "mixed"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_expval_matches_references(name, observables, precision):
    dtype, tol = PRECISIONS[precision]
    circuit = _circuit(name, observables)
    groups = random_params(circuit, BATCH, dtype=dtype, seed=zlib.crc32(f"{name}/{observables}".encode()))
    flat = flat_params(circuit, groups)
    out = get("torch").expval(circuit, groups)
    assert out.shape == (BATCH, circuit.n_obs)
    assert out.dtype == dtype
    # the references see exactly the (possibly float32-rounded) angles the engine saw
    ref_qiskit = qiskit_expval(circuit, flat)
    np.testing.assert_allclose(_np(out), ref_qiskit, atol=tol, rtol=0)
    np.testing.assert_allclose(_np(out), pennylane_expval(circuit, flat), atol=tol, rtol=0)
    np.testing.assert_allclose(_np(out), lightning_expval(circuit, flat), atol=tol, rtol=0)
    # the flat form gives the same numbers as the group form
    torch.testing.assert_close(get("torch").expval(circuit, flat), out, atol=tol, rtol=0)


def test_references_are_not_trivial():
    """Guard against a reference that agrees with anything: the values vary and are not all ±1/0."""
    circuit = _circuit("all_gates", "mixed")
    ref = qiskit_expval(circuit, flat_params(circuit, random_params(circuit, BATCH)))
    assert np.std(ref) > 0.1
    assert np.all(np.abs(ref) < 1 - 1e-6)


def test_identity_observable_is_one():
    circuit = chen_vqc(3, 1).measure(["III", "ZII"])
    flat = flat_params(circuit, random_params(circuit, 4))
    out = get("torch", dtype=torch.complex128).expval(circuit, flat)
    np.testing.assert_allclose(_np(out[:, 0]), 1.0, atol=1e-12)
    np.testing.assert_allclose(_np(out), qiskit_expval(circuit, flat), atol=1e-10)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_state_matches_qiskit_with_exact_phases(name):
    circuit = BUILDERS[name]()
    flat = flat_params(circuit, random_params(circuit, 3, seed=7))
    state = get("torch").state(circuit, flat)
    assert state.shape == (3, 2**circuit.n_qubits)
    assert state.dtype == torch.complex128
    np.testing.assert_allclose(state.detach().numpy(), qiskit_state(circuit, flat), atol=1e-10, rtol=0)


def test_state_ordering_wire0_is_msb():
    """X on wire 0 of 3 qubits -> |100> = index 4 (PennyLane convention), not index 1."""
    circuit = Circuit(3, (Operation("X", (0,)), Operation("RY", (2,), (0,))), (ParamGroup("weights", 1),))
    state = get("torch").state(circuit, torch.tensor([math.pi], dtype=torch.float64))
    expected = np.zeros(8, complex)
    expected[0b101] = 1.0  # RY(pi)|0> = |1>
    np.testing.assert_allclose(state.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("name", ["chen_3_1", "all_gates"])
def test_unitary_first_column_is_state(name):
    circuit = BUILDERS[name]()
    flat = flat_params(circuit, random_params(circuit, 2, seed=3))
    be = get("torch")
    u = be.unitary(circuit, flat)
    n = 2**circuit.n_qubits
    assert u.shape == (2, n, n)
    eye = torch.eye(n, dtype=u.dtype)
    torch.testing.assert_close(u.mH @ u, eye.expand_as(u), atol=1e-10, rtol=0)
    torch.testing.assert_close(u[..., :, 0], be.state(circuit, flat), atol=1e-12, rtol=0)
    # unitary columns: U |j> for a basis state j, checked against Qiskit with an X prefix
    j = 5 % n
    prefix = [Operation("X", (w,)) for w in range(circuit.n_qubits) if (j >> (circuit.n_qubits - 1 - w)) & 1]
    shifted = Circuit(circuit.n_qubits, tuple(prefix) + circuit.ops, circuit.param_groups, circuit.observables)
    np.testing.assert_allclose(u[..., :, j].numpy(), qiskit_state(shifted, flat), atol=1e-10)


# -- broadcasting, bind and fusion ---------------------------------------------------------------
@pytest.mark.parametrize("fuse", [None, True, False])
def test_broadcast_weights_k1_inputs_b(fuse):
    circuit = chen_vqc(4, 2).measure(mixed_observables(4))
    K, B = 3, 4
    w = random_params(circuit, (K, 1), seed=1)["weights"]
    x = random_params(circuit, B, seed=2)["inputs"]
    be = TorchBackend(fuse=fuse)
    out = be.expval(circuit, {"inputs": x, "weights": w})
    assert out.shape == (K, B, circuit.n_obs)
    for k in range(K):
        for b in range(B):
            one = be.expval(circuit, {"inputs": x[b], "weights": w[k, 0]})
            assert one.shape == (circuit.n_obs,)
            torch.testing.assert_close(out[k, b], one, atol=1e-12, rtol=0)
    flat = flat_params(circuit, {"inputs": x, "weights": w})
    np.testing.assert_allclose(_np(out), qiskit_expval(circuit, flat), atol=1e-10)


def test_unbatched_params():
    circuit = fwp_vqc(4, 2, 2)
    flat = flat_params(circuit, random_params(circuit, (), seed=4))
    assert flat.shape == (circuit.n_params,)
    out = get("torch").expval(circuit, flat)
    assert out.shape == (circuit.n_obs,)
    np.testing.assert_allclose(_np(out), qiskit_expval(circuit, flat), atol=1e-10)
    assert get("torch").state(circuit, flat).shape == (16,)
    assert get("torch").unitary(circuit, flat).shape == (16, 16)


@pytest.mark.parametrize("shared", ["weights", "inputs", None], ids=["shared_weights", "shared_inputs", "per_sample"])
@pytest.mark.parametrize("name", ["chen_4_2", "fwp_6_2_3_in2", "all_gates"])
def test_fuse_modes_agree(name, shared):
    circuit = _circuit(name, "mixed")
    B = 4
    groups = random_params(circuit, B, seed=11)
    if shared:
        groups[shared] = groups[shared][0]
    outs = {f: TorchBackend(fuse=f).expval(circuit, groups) for f in (None, True, False)}
    for f in (True, False):
        torch.testing.assert_close(outs[f], outs[None], atol=1e-12, rtol=0)
    np.testing.assert_allclose(_np(outs[None]), qiskit_expval(circuit, flat_params(circuit, groups)), atol=1e-10)


@pytest.mark.parametrize("fuse", [None, True, False])
@pytest.mark.parametrize("name", ["chen_4_2", "all_gates"])
def test_bind_equals_expval(name, fuse):
    circuit = _circuit(name, "mixed")
    be = TorchBackend(fuse=fuse)
    w = random_params(circuit, (), seed=5)["weights"]
    bound = be.bind(circuit, weights=w)
    for seed, B in ((6, 3), (7, 5)):  # different batch sizes through the same bound circuit
        x = random_params(circuit, B, seed=seed)["inputs"]
        got = bound(inputs=x)
        want = be.expval(circuit, {"inputs": x, "weights": w})
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
        torch.testing.assert_close(bound(x), want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(
            _np(got), qiskit_expval(circuit, flat_params(circuit, {"inputs": x, "weights": w})), atol=1e-10
        )
    # per-sample weights bound (K, 1, P) with inputs (B, P)
    wk = random_params(circuit, (2, 1), seed=8)["weights"]
    x = random_params(circuit, 3, seed=9)["inputs"]
    torch.testing.assert_close(
        be.bind(circuit, weights=wk)(inputs=x), be.expval(circuit, {"inputs": x, "weights": wk}), atol=1e-12, rtol=0
    )


# -- gradients -------------------------------------------------------------------------------------
def _finite_differences(be, circuit, flat: torch.Tensor, cot: torch.Tensor, eps=1e-6) -> torch.Tensor:
    """d/dflat of sum(expval * cot) per sample, by central differences in one batched call."""
    P = flat.shape[-1]
    shift = torch.eye(P, dtype=flat.dtype) * eps  # (P, P)
    plus = flat.unsqueeze(0) + shift.unsqueeze(1)  # (P, B, P)
    minus = flat.unsqueeze(0) - shift.unsqueeze(1)
    with torch.no_grad():
        fp = (be.expval(circuit, plus) * cot).sum(-1)  # (P, B)
        fm = (be.expval(circuit, minus) * cot).sum(-1)
    return ((fp - fm) / (2 * eps)).T  # (B, P)


@pytest.mark.parametrize("fuse", [None, True, False])
@pytest.mark.parametrize("shared", [True, False], ids=["shared_weights", "per_sample_weights"])
@pytest.mark.parametrize("name", ["chen_3_1", "all_gates", "fwp_4_2_2"])
def test_gradients_match_finite_differences_and_pennylane(name, shared, fuse):
    circuit = _circuit(name, "mixed")
    be = TorchBackend(fuse=fuse)
    B = 3
    groups = random_params(circuit, B, seed=21)
    if shared:
        groups["weights"] = groups["weights"][0]
    cot = torch.randn(B, circuit.n_obs, generator=torch.Generator().manual_seed(22), dtype=torch.float64)
    x = groups["inputs"].clone().requires_grad_(True)
    w = groups["weights"].clone().requires_grad_(True)
    (be.expval(circuit, {"inputs": x, "weights": w}) * cot).sum().backward()

    flat = flat_params(circuit, groups)
    sl = circuit.group_slices()
    fd = _finite_differences(be, circuit, flat, cot)
    fd_x, fd_w = fd[:, sl["inputs"]], fd[:, sl["weights"]]
    if shared:
        fd_w = fd_w.sum(0)
    assert x.grad.abs().max() > 1e-3 and w.grad.abs().max() > 1e-3  # not a vacuous comparison
    torch.testing.assert_close(x.grad, fd_x, atol=1e-6, rtol=0)
    torch.testing.assert_close(w.grad, fd_w, atol=1e-6, rtol=0)

    # PennyLane default.qubit backprop
    pf = flat.clone().requires_grad_(True)
    (pennylane_qnode(circuit, "default.qubit", "backprop")(pf) * cot).sum().backward()
    pg_x, pg_w = pf.grad[:, sl["inputs"]], pf.grad[:, sl["weights"]]
    if shared:
        pg_w = pg_w.sum(0)
    torch.testing.assert_close(x.grad, pg_x, atol=1e-10, rtol=0)
    torch.testing.assert_close(w.grad, pg_w, atol=1e-10, rtol=0)


@pytest.mark.parametrize("fuse", [None, True, False])
def test_gradients_flow_through_bind(fuse):
    circuit = chen_vqc(4, 2).measure(mixed_observables(4))
    be = TorchBackend(fuse=fuse)
    w0 = random_params(circuit, (), seed=31)["weights"]
    x1 = random_params(circuit, 3, seed=32)["inputs"]
    x2 = random_params(circuit, 3, seed=33)["inputs"]
    gen = torch.Generator().manual_seed(34)
    c1, c2 = (torch.randn(3, circuit.n_obs, generator=gen, dtype=torch.float64) for _ in range(2))

    w = w0.clone().requires_grad_(True)
    xa, xb = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
    bound = be.bind(circuit, weights=w)
    ((bound(inputs=xa) * c1).sum() + (bound(inputs=xb) * c2).sum()).backward()

    wr = w0.clone().requires_grad_(True)
    xra, xrb = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
    (
        (be.expval(circuit, {"inputs": xra, "weights": wr}) * c1).sum()
        + (be.expval(circuit, {"inputs": xrb, "weights": wr}) * c2).sum()
    ).backward()

    assert w.grad is not None and w.grad.abs().max() > 1e-3
    torch.testing.assert_close(w.grad, wr.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(xa.grad, xra.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(xb.grad, xrb.grad, atol=1e-10, rtol=0)


@pytest.mark.parametrize("fuse", [None, True, False])
def test_bind_backward_per_call(fuse):
    """Backward after each call of one bound circuit (per-step losses, gradient accumulation) works
    and accumulates the same weight gradient as the unbound computation."""
    circuit = chen_vqc(4, 2)
    be = TorchBackend(fuse=fuse)
    w0 = random_params(circuit, (), seed=35)["weights"]
    xs = [random_params(circuit, 3, seed=36 + t)["inputs"] for t in range(3)]
    w = w0.clone().requires_grad_(True)
    bound = be.bind(circuit, weights=w)
    for x in xs:
        bound(inputs=x).sum().backward()
    wr = w0.clone().requires_grad_(True)
    for x in xs:
        be.expval(circuit, {"inputs": x, "weights": wr}).sum().backward()
    torch.testing.assert_close(w.grad, wr.grad, atol=1e-10, rtol=0)


def test_circuit_without_parameters_keeps_batch_shape():
    circuit = Circuit(
        2, (Operation("H", (0,)), Operation("CNOT", (0, 1)), Operation("S", (1,))), observables=("ZZ", "XX", "YY", "Z0")
    )
    out = get("torch").expval(circuit, torch.zeros(3, 0, dtype=torch.float64))
    assert out.shape == (3, 4)
    np.testing.assert_allclose(_np(out), np.tile([1.0, 0.0, 0.0, 0.0], (3, 1)), atol=1e-12)
    # (|00> + i|11>)/sqrt(2): <ZZ> = 1, <XX> = <YY> = <Z0> = 0
    np.testing.assert_allclose(_np(out), qiskit_expval(circuit, np.zeros((3, 0))), atol=1e-12)


# -- dtypes ----------------------------------------------------------------------------------------
def test_output_dtype_follows_params():
    circuit = chen_vqc(3, 1)
    be = get("torch")
    for real, cplx in ((torch.float32, torch.complex64), (torch.float64, torch.complex128)):
        flat = flat_params(circuit, random_params(circuit, 2, dtype=real))
        assert be.expval(circuit, flat).dtype == real
        assert be.state(circuit, flat).dtype == cplx
        assert be.unitary(circuit, flat).dtype == cplx


def test_explicit_complex128_with_float32_params_is_double_accurate():
    circuit = all_gates_circuit().measure(mixed_observables(4))
    flat32 = flat_params(circuit, random_params(circuit, BATCH, dtype=torch.float32, seed=41))
    be = get("torch", dtype=torch.complex128)
    state = be.state(circuit, flat32)
    assert state.dtype == torch.complex128
    # exact angles = the float32 values; a complex64 simulation would miss 1e-10 by orders
    np.testing.assert_allclose(state.numpy(), qiskit_state(circuit, flat32), atol=1e-10, rtol=0)
    out = be.expval(circuit, flat32)
    ref = qiskit_expval(circuit, flat32)
    # the output may be float32 (the params' dtype) or float64; either way it must be the
    # double-precision result rounded, not a complex64 computation
    atol = 1e-10 if out.dtype == torch.float64 else 1.2e-7
    np.testing.assert_allclose(_np(out), ref, atol=atol, rtol=0)
    # while the default engine follows the params: complex64 for float32
    assert get("torch").state(circuit, flat32).dtype == torch.complex64


# -- errors ----------------------------------------------------------------------------------------
def test_error_wrong_last_dimension():
    circuit = chen_vqc(3, 1)  # 6 inputs + 9 weights
    be = get("torch")
    with pytest.raises(ValueError, match=r"takes 15 parameters.*\(2, 14\)"):
        be.expval(circuit, torch.zeros(2, 14))
    with pytest.raises(ValueError, match=r"'weights'.*last dimension of 9.*\(2, 8\)"):
        be.expval(circuit, {"inputs": torch.zeros(2, 6), "weights": torch.zeros(2, 8)})


def test_error_missing_and_unknown_groups():
    circuit = chen_vqc(3, 1)
    be = get("torch")
    with pytest.raises(ValueError, match=r"missing parameter group.*'weights'"):
        be.expval(circuit, {"inputs": torch.zeros(2, 6)})
    with pytest.raises(ValueError, match=r"unknown parameter group.*'bias'"):
        be.expval(circuit, {"inputs": torch.zeros(2, 6), "weights": torch.zeros(9), "bias": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unknown parameter group.*'bias'"):
        be.bind(circuit, bias=torch.zeros(3))


def test_error_non_broadcastable_groups():
    circuit = chen_vqc(3, 1)
    with pytest.raises(ValueError, match="do not broadcast"):
        get("torch").expval(circuit, {"inputs": torch.zeros(3, 6), "weights": torch.zeros(2, 9)})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_error_non_finite_params(bad):
    circuit = chen_vqc(3, 1)
    flat = torch.zeros(2, 15)
    flat[1, 7] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        get("torch").expval(circuit, flat)
    with pytest.raises(ValueError, match=r"'weights'.*NaN or infinite"):
        get("torch").expval(circuit, {"inputs": torch.zeros(2, 6), "weights": flat[:, 6:]})


def test_extreme_finite_params_are_not_mistaken_for_infinite_ones():
    circuit = chen_vqc(3, 1)
    flat = torch.zeros(2, 15)
    flat[0, 3], flat[1, 9] = 3e38, -3e38  # their difference overflows float32; each is finite
    assert torch.isfinite(get("torch").expval(circuit, flat)).all()


@pytest.mark.parametrize("spec", ["torch", "pennylane:default.qubit", "aer"])
def test_an_empty_batch_gives_an_empty_result_and_runs_nothing(spec):
    if spec == "aer":
        pytest.importorskip("qiskit_aer")
    circuit = chen_vqc(3, 2)
    backend = get(spec)
    weights = torch.rand(1, 18, dtype=torch.float64, requires_grad=True)
    out = backend.expval(circuit, {"inputs": torch.rand(0, 6, dtype=torch.float64), "weights": weights})
    assert out.shape == (0, 3) and out.dtype == torch.float64
    (grad,) = torch.autograd.grad(out.sum(), weights)
    assert torch.equal(grad, torch.zeros_like(weights))
    assert backend.bind(circuit, weights=weights)(inputs=torch.rand(2, 0, 6, dtype=torch.float64)).shape == (2, 0, 3)
    assert backend.usage.circuits == 0 and backend.usage.jobs == 0  # nothing run (on hardware: no job)


def test_error_complex_params():
    circuit = chen_vqc(3, 1)
    with pytest.raises(TypeError, match="real angles"):
        get("torch").expval(circuit, torch.zeros(2, 15, dtype=torch.complex64))


def test_error_too_many_qubits():
    be = get("torch")
    assert be.max_qubits is not None and be.max_qubits < 40  # else the call below would try 2**40 amplitudes
    big = Circuit(40, (Operation("RY", (0,), (0,)),), (ParamGroup("weights", 1),), ("Z0",))
    with pytest.raises(ValueError, match=rf"40 qubits.*at most {be.max_qubits}"):
        be.expval(big, torch.zeros(1))
    with pytest.raises(ValueError, match="at most"):
        be.bind(big, weights=torch.zeros(1))


def test_error_unknown_gate():
    with pytest.raises(ValueError, match=r"unknown gate 'FOO'.*CNOT"):
        Circuit(2, (Operation("FOO", (0,)),))


def test_error_unknown_backend_spec():
    with pytest.raises(ValueError, match=r"unknown backend 'nonsense'.*torch"):
        get("nonsense")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: torch:cuda is valid here")
def test_error_cuda_without_cuda():
    with pytest.raises(ValueError, match=r"(?i)cuda.*(not available|is_available|unavailable)"):
        get("torch:cuda")


@pytest.mark.parametrize("fuse", [None, True])
def test_error_bound_weights_modified_in_place(fuse):
    circuit = chen_vqc(3, 1)
    w = random_params(circuit, (), seed=51)["weights"]
    bound = TorchBackend(fuse=fuse).bind(circuit, weights=w)
    x = random_params(circuit, 2, seed=52)["inputs"]
    bound(inputs=x)
    w.add_(0.1)
    with pytest.raises(RuntimeError, match="'weights'.*modified in place"):
        bound(inputs=x)


# -- GPU ---------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    circuit = chen_vqc(4, 2).measure(mixed_observables(4))
    for dtype, tol in PRECISIONS.values():
        groups = random_params(circuit, BATCH, dtype=dtype, seed=61)
        cpu = get("torch").expval(circuit, groups)
        gpu_groups = {k: v.cuda() for k, v in groups.items()}
        out = get("torch:cuda").expval(circuit, gpu_groups)
        assert out.device.type == "cuda" and out.dtype == dtype
        torch.testing.assert_close(out.cpu(), cpu, atol=tol, rtol=0)
        w = gpu_groups["weights"].clone().requires_grad_(True)
        get("torch:cuda").expval(circuit, {"inputs": gpu_groups["inputs"], "weights": w}).sum().backward()
        assert w.grad is not None and w.grad.device.type == "cuda"
        bound = get("torch:cuda").bind(circuit, weights=gpu_groups["weights"])
        torch.testing.assert_close(bound(inputs=gpu_groups["inputs"]).cpu(), cpu, atol=tol, rtol=0)
        # a CPU model on the CUDA backend: computed on the GPU, returned on the CPU
        on_cpu = get("torch:cuda").expval(circuit, groups)
        assert on_cpu.device.type == "cpu"
        torch.testing.assert_close(on_cpu, cpu, atol=tol, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_calls_on_cuda_replay_graphs_with_each_calls_values():
    circuit, larger = chen_vqc(4, 2), chen_vqc(8, 2)
    graphed, eager = get("torch:cuda"), get("torch:cuda", graphs=False)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):  # captured at the first call, replayed with new values after; two graphs
        for shapes in ({"inputs": (64, 8), "weights": (64, 24)}, {"inputs": (32, 8), "weights": (1, 24)}):
            groups = {k: (torch.rand(*v, generator=gen) * 6).cuda() for k, v in shapes.items()}
            torch.testing.assert_close(
                graphed.expval(circuit, groups), eager.expval(circuit, groups), rtol=0, atol=1e-6
            )
        wide = torch.rand(16, larger.n_params, generator=gen).cuda()  # a third graph, in the same pool
        torch.testing.assert_close(graphed.expval(larger, wide), eager.expval(larger, wide), rtol=0, atol=1e-6)
    assert graphed.paths == {"graph": 9} and "graph" not in eager.paths
    assert len(graphed._graphs.entries) == 3  # one graph per circuit and shapes
    x = torch.rand(64, circuit.n_params, device="cuda", requires_grad=True)
    graphed.expval(circuit, x).sum().backward()  # with gradients: eager
    assert graphed.paths["graph"] == 9 and x.grad is not None


def test_bound_circuits_keep_their_gate_blocks_and_give_the_same_values(monkeypatch):
    from qseq.backends.engine import compiled_run, simulate

    monkeypatch.setattr(compiled_run, "_kernel", lambda cdtype: None)  # the torch stages keep blocks
    circuit = chen_vqc(8, 2)  # applied stage by stage by torch
    w = torch.randn(3, 1, circuit.group_sizes["weights"], dtype=torch.float64)
    x = torch.randn(64, 16, dtype=torch.float64)
    backend = TorchBackend(fuse=False)
    bound = backend.bind(circuit, weights=w)
    built = []
    per_wire = simulate._Matrices.per_wire
    simulate._Matrices.per_wire = lambda self, *a: built.append(1) or per_wire(self, *a)
    try:
        first = bound(inputs=x)
        after_first = len(built)
        second = bound(inputs=x + 0.5)
        assert after_first == 2 and len(built) == 2  # the two weight layers' blocks came from the cache
    finally:
        simulate._Matrices.per_wire = per_wire
    torch.testing.assert_close(first, backend.expval(circuit, {"inputs": x, "weights": w}), rtol=0, atol=1e-12)
    torch.testing.assert_close(second, backend.expval(circuit, {"inputs": x + 0.5, "weights": w}), rtol=0, atol=1e-12)


def test_the_cuda_forms_of_complex_products_equal_matmul_with_gradients():
    # run on the CPU here: on CUDA the engine takes these forms for speed (see simulate.py)
    from qseq.backends.engine.simulate import _broadcast_product, _real_block_matmul, _SplitKMatmul

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 96, 5, dtype=torch.complex128, generator=gen, requires_grad=True)
    u = torch.randn(3, 5, 5, dtype=torch.complex128, generator=gen, requires_grad=True)
    a, b = _real_block_matmul(x, u), x @ u
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    ga, gb = (torch.autograd.grad((y.abs() ** 2).sum(), (x, u)) for y in (a, b))
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-11)
    xr = torch.randn(2, 100, 4, dtype=torch.float64, generator=gen, requires_grad=True)  # 100: uneven chunks
    w = torch.randn(2, 4, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(_SplitKMatmul.apply, (xr, w))
    m = torch.randn(7, 4, 2, 2, dtype=torch.complex128, generator=gen)
    n = torch.randn(2, 2, dtype=torch.complex128, generator=gen)
    torch.testing.assert_close(_broadcast_product(m, n), m @ n)
    torch.testing.assert_close(_broadcast_product(n, m), n @ m)


def test_a_call_whose_states_cannot_fit_is_refused_before_allocating(monkeypatch):
    from qseq.backends import torch_engine

    monkeypatch.setattr(torch_engine, "_free_bytes", lambda device: 2**30)  # 1 GiB free
    circuit = chen_vqc(20, 1)  # 16 MiB a complex128 state
    x = torch.zeros(64, circuit.n_params, dtype=torch.float64, requires_grad=True)
    # autograd's states cannot fit, so the adjoint method is chosen; its four states cannot either
    message = r"20 qubits x 64 circuits need about .* GiB .* with adjoint gradients, but 1.0 GiB"
    with pytest.raises(MemoryError, match=message):
        get("torch").expval(circuit, x)
    with pytest.raises(MemoryError, match="complex64"):
        get("torch").expval(circuit, x.detach())
    small = chen_vqc(4, 1)
    get("torch").expval(small, torch.zeros(64, small.n_params))  # far below the checked size: no check


# -- registers above TABLE_QUBITS: no 2^n table in the compiled program, observables read on the wires --
@pytest.fixture
def no_tables(monkeypatch):
    """Compile as above TABLE_QUBITS whatever the size, so the large-register path runs on small circuits."""
    from qseq.backends.engine import program

    monkeypatch.setattr(program, "TABLE_QUBITS", 1)


@pytest.mark.parametrize("observables", ["default", "mixed"])
@pytest.mark.parametrize("name", ["chen_4_2", "fwp_6_2_3_in2", "angleY_strong_4_2", "all_gates"])
def test_the_wire_level_path_matches_qiskit_with_gradients(no_tables, name, observables):
    circuit = _circuit(name, observables)
    groups = random_params(circuit, BATCH, seed=zlib.crc32(f"wires/{name}/{observables}".encode()))
    backend = get("torch")
    program = backend._entry(circuit)[1]
    assert program.readout is None  # read on the wires
    out = backend.expval(circuit, groups)
    np.testing.assert_allclose(_np(out), qiskit_expval(circuit, flat_params(circuit, groups)), atol=1e-10, rtol=0)
    # gradients against central finite differences of the wire-level values
    flat = flat_params(circuit, groups)[:2].clone().requires_grad_()
    grad = torch.autograd.grad(backend.expval(circuit, flat).sum(), flat)[0]
    eps = 1e-6
    for k in range(0, circuit.n_params, max(1, circuit.n_params // 5)):
        step = torch.zeros_like(flat)
        step[:, k] = eps
        fd = (backend.expval(circuit, flat + step).sum(-1) - backend.expval(circuit, flat - step).sum(-1)) / (2 * eps)
        torch.testing.assert_close(grad[:, k], fd.detach(), atol=1e-7, rtol=0)


def test_compiling_a_large_register_builds_no_table_of_2_to_the_n():
    from qseq.backends.engine import compile_circuit

    n = 22
    program = compile_circuit(chen_vqc(n, 2).measure(mixed_observables(n)))
    assert program.readout is None

    def sizes(value):
        if isinstance(value, np.ndarray):
            yield value.size
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from sizes(v)
        elif hasattr(value, "__dataclass_fields__"):
            for field in value.__dataclass_fields__:
                yield from sizes(getattr(value, field))

    assert max(sizes(program)) < 2**10

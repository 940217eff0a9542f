"""The lanes kernel (``engine/compiled_lanes.py``): circuits whose gate layers the batch shares,
evaluated without gradients with the batch across SIMD lanes. Values equal PennyLane and the torch
engine's stages for every gate kind, partial vectors of lanes and the layouts of a bank's call; the
path is taken where it should be, and bad angles are rejected as on the checked path."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.engine import compiled_lanes, compiled_run, simulate
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Operation, chen_vqc, to_pennylane
from qseq.circuits.circuit import build

qml = pytest.importorskip("pennylane")

if compiled_run._kernel(torch.complex128) is None:
    pytest.skip("no C compiler here: the compiled kernels are off (tests/test_native.py)", allow_module_level=True)


def pennylane_bank(circuit, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``(K, B, n_obs)`` by PennyLane's ``default.qubit``, one circuit and input at a time."""
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=circuit.n_qubits))
    rows = [
        [torch.stack(list(qnode(torch.cat([x, w])))) for x in inputs.to(torch.float64)]
        for w in weights.reshape(weights.shape[0], -1).to(torch.float64)
    ]
    return torch.stack([torch.stack(r) for r in rows])


def gates_and_phases(n: int = 3):
    """A preparation of RY, RZ and H (``inputs``) and RX (``weights``: the preparation reads both
    groups), then: CNOT / CZ / SWAP (permutations, CZ with phases), a layer with a wire
    left out (its identity skipped), Rot on every wire, and a CZ last (a Permute before the readout);
    ⟨Z⟩ on some wires in shuffled order."""
    ops = [Operation("H", (q,)) for q in range(n)]
    ops += [Operation("RY", (q,), (q,)) for q in range(n)] + [Operation("RZ", (q,), (n + q,)) for q in range(n)]
    k = 2 * n
    ops += [Operation("RX", (q,), (k + q,)) for q in range(n)]
    k += n
    ops += [Operation("CNOT", (0, 1)), Operation("CZ", (1, 2)), Operation("SWAP", (0, 2))]
    ops += [Operation("RY", (q,), (k + q,)) for q in range(1, n)]
    k += n - 1
    ops += [Operation("CNOT", (2, 0))]
    ops += [Operation("Rot", (q,), (k + 3 * q, k + 3 * q + 1, k + 3 * q + 2)) for q in range(n)]
    k += 3 * n
    ops += [Operation("CZ", (0, 2))]
    return build(n, ops, [("inputs", 2 * n), ("weights", k - 2 * n)], [{2: "Z"}, {0: "Z"}])


def _inputs(circuit, k: int, b: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.rand(b, circuit.group_sizes["inputs"], generator=g, dtype=dtype) * 6 - 3
    weights = torch.rand(k, 1, circuit.group_sizes["weights"], generator=g, dtype=dtype) * 6.28 - 3.14
    return inputs, weights


@pytest.mark.parametrize("circuit", [chen_vqc(2, 1), chen_vqc(3, 2), chen_vqc(4, 2), gates_and_phases()], ids=str)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)], ids=["c128", "c64"])
def test_values_equal_pennylane(circuit, dtype, tol):
    inputs, weights = _inputs(circuit, 3, 5, dtype)
    backend = TorchBackend()
    got = backend.bind(circuit, weights=weights)(inputs=inputs)
    assert backend.paths == {"lanes": 1} and got.dtype == dtype and got.shape == (3, 5, circuit.n_obs)
    torch.testing.assert_close(got.double(), pennylane_bank(circuit, inputs, weights), atol=tol, rtol=0)


@pytest.mark.parametrize("n", [5, 8])
@pytest.mark.parametrize("batch", [4, 16, 17, 40])  # whole, partial and several vectors of 8 or 16 lanes
def test_values_equal_the_torch_stages(n, batch):
    circuit = chen_vqc(n, 2)
    inputs, weights = _inputs(circuit, 2, batch, seed=n + batch)
    lanes, stages = TorchBackend(), TorchBackend(fuse=False)
    got = lanes.bind(circuit, weights=weights)(inputs=inputs)
    want = stages.bind(circuit, weights=weights)(inputs=inputs)
    assert lanes.paths == {"lanes": 1} and stages.paths == {"state": 1}
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_a_banks_layouts_equal_the_torch_stages():
    circuit = chen_vqc(3, 2)
    g = torch.Generator().manual_seed(4)
    cases = {  # (inputs, weights): the weights vary over leading dims, the inputs over trailing ones
        "time and batch": (torch.randn(2, 5, 6, generator=g), torch.randn(4, 1, 1, 18, generator=g)),
        "an input per circuit": (torch.randn(3, 6, 6, generator=g), torch.randn(3, 1, 18, generator=g)),
        "one weight set": (torch.randn(7, 6, generator=g), torch.randn(18, generator=g)),
    }
    for name, (inputs, weights) in cases.items():
        lanes, stages = TorchBackend(), TorchBackend(fuse=False)
        got = lanes.expval(circuit, {"inputs": inputs, "weights": weights})
        want = stages.expval(circuit, {"inputs": inputs, "weights": weights})
        assert lanes.paths == {"lanes": 1}, name
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0, msg=name)


def test_where_the_lanes_kernel_is_not_taken():
    circuit = chen_vqc(3, 2)
    inputs, weights = _inputs(circuit, 2, 8)

    def path(backend, inputs, weights, circuit=circuit):
        backend.bind(circuit, weights=weights)(inputs=inputs)
        return set(backend.paths)

    assert path(TorchBackend(), inputs, weights) == {"lanes"}
    assert path(TorchBackend(), inputs, weights.clone().requires_grad_()) == {"product"}  # gradients
    assert path(TorchBackend(fuse=True), inputs, weights) == {"product"}  # the user's choice of algorithm
    assert path(TorchBackend(fuse=False), inputs, weights) == {"state"}
    assert path(TorchBackend(), inputs[:2], weights) == {"lanes"}  # two weight sets in one vector of lanes
    assert path(TorchBackend(), inputs[:1], weights) == {"compiled"}  # one state per weight set: per sample
    per_sample = torch.rand(8, 18, dtype=torch.float64)
    assert path(TorchBackend(), inputs, per_sample) == {"compiled"}
    # the weights vary over the trailing dim, the inputs over the leading one: they interleave
    assert path(TorchBackend(), inputs[:4].unsqueeze(1), weights.reshape(1, 2, -1)) == {"state"}
    assert path(TorchBackend(), inputs, weights, circuit.measure([{0: "X"}])) == {"state"}  # not Z


def test_a_bound_call_is_prepared_once_per_input_shape(monkeypatch):
    made = []
    prepare = simulate.lanes_call
    monkeypatch.setattr("qseq.backends.torch_engine.lanes_call", lambda *a, **k: made.append(1) or prepare(*a, **k))
    circuit = chen_vqc(4, 2)
    inputs, weights = _inputs(circuit, 3, 8, torch.float32)
    backend = TorchBackend()
    bound = backend.bind(circuit, weights=weights)
    first = [bound(inputs=inputs + i) for i in range(3)]
    assert len(made) == 1 and backend.paths == {"lanes": 3}
    other = bound(inputs=torch.cat([inputs, inputs]))  # a new shape: prepared again
    assert len(made) == 2 and other.shape == (3, 16, 4)
    for i, got in enumerate(first):
        torch.testing.assert_close(got, backend.expval(circuit, {"inputs": inputs + i, "weights": weights}))
    assert backend.usage.calls == 7 and backend.usage.circuits == 3 * (3 * 8) + 3 * 16 + 3 * (3 * 8)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_angles_are_rejected_on_every_call(bad):
    circuit = chen_vqc(3, 2)
    inputs, weights = _inputs(circuit, 2, 8)
    bound = TorchBackend().bind(circuit, weights=weights)
    bound(inputs=inputs)  # prepared with finite angles
    inputs[5, 2] = bad
    with pytest.raises(ValueError, match="parameter group 'inputs' contains NaN or infinite angles"):
        bound(inputs=inputs)
    with pytest.raises(ValueError, match="needs a last dimension of 6"):
        bound(inputs=inputs[:, :4])
    huge = torch.full_like(inputs, 3e38)  # finite, however large
    assert torch.isfinite(bound(inputs=huge)).all()
    unchecked = TorchBackend(check_finite=False)  # as on every path: NaN values instead of the scan
    unchecked.bind(circuit, weights=weights)(inputs=inputs.abs().clamp(max=1))
    out = unchecked.bind(circuit, weights=weights)(inputs=inputs)
    assert unchecked.paths == {"lanes": 2} and out[:, 5].isnan().any() and not out[:, :5].isnan().any()


def every_gate_per_sample(n: int):
    """Per-sample angles on every gate: the preparation, CNOT / CZ (phases) / SWAP, RX, RY, RZ and Rot
    layers, a wire without a gate in one layer, and a Permute last (nothing to read into the readout)
    or a Local stage last (read into it)."""
    ops, k = [Operation("H", (q,)) for q in range(n)], 0
    ops += [Operation("RY", (q,), (q,)) for q in range(n)]
    k = n
    for layer, name in enumerate(("RX", "Rot", "RZ")):
        if n > 1:
            ops += [Operation("CNOT", (q, (q + 1) % n)) for q in range(n)] + [Operation("CZ", (0, n - 1))]
        if n > 2:
            ops.append(Operation("SWAP", (1, 2)))
        for q in range(n):
            if layer == 1 and q == n - 1 and n > 1:
                continue  # an identity slot
            width = 3 if name == "Rot" else 1
            ops.append(Operation(name, (q,), tuple(range(k, k + width))))
            k += width
    last = build(n, ops, [("weights", k)], [{q: "Z"} for q in reversed(range(n))])
    if n > 1:
        ops.append(Operation("CZ", (0, 1)))
    return last, build(n, ops, [("weights", k)], [{0: "Z"}] + [{q: "Z"} for q in range(1, n, 2)])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 5e-6)], ids=["c128", "c64"])
def test_per_sample_circuits_in_lanes_equal_the_state_kernel_with_gradients(n, dtype, tol, monkeypatch):
    g = torch.Generator().manual_seed(n)
    for circuit in every_gate_per_sample(n):
        params = torch.rand(20, circuit.n_params, generator=g, dtype=dtype) * 6 - 3
        params[:16] = 0  # whole vectors of lanes whose gates are the identity by their angles: not skipped
        cot = torch.randn(20, circuit.n_obs, generator=g, dtype=dtype)
        results = []
        for min_states in (1, 10**9):  # the lanes, then one state at a time
            monkeypatch.setattr(compiled_lanes, "LANES_MIN_STATES", min_states)
            x = params.clone().requires_grad_()
            backend = TorchBackend()
            out = backend.expval(circuit, x)
            (grad,) = torch.autograd.grad((out * cot).sum(), x)
            assert backend.paths == {"compiled": 1}
            results.append((out.detach(), grad))
        (out, grad), (want, want_grad) = results
        torch.testing.assert_close(out, want, atol=tol, rtol=0)
        torch.testing.assert_close(grad, want_grad, atol=10 * tol, rtol=0)


def test_per_sample_lanes_against_pennylane_and_finite_differences(monkeypatch):
    monkeypatch.setattr(compiled_lanes, "LANES_MIN_STATES", 1)
    circuit = every_gate_per_sample(3)[1]
    params = torch.rand(5, circuit.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 6 - 3
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=3))
    got = TorchBackend().expval(circuit, params)
    torch.testing.assert_close(got, torch.stack(qnode(params), -1), atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(lambda p: TorchBackend().expval(circuit, p), params.clone().requires_grad_())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lanes_split_over_threads_give_the_same_numbers(dtype, split_over_threads):
    circuit = every_gate_per_sample(5)[0]
    params = torch.rand(37, circuit.n_params, dtype=dtype, requires_grad=True)  # not whole vectors of lanes
    probe = torch.randn(37, circuit.n_obs, dtype=dtype)

    def run():
        backend = TorchBackend()
        out = backend.expval(circuit, params)
        assert backend.paths == {"compiled": 1}
        return out, torch.autograd.grad((out * probe).sum(), params)[0]

    want = run()
    got = split_over_threads(run)  # 37 states over 3 threads, split at whole vectors of lanes
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=0, rtol=0)

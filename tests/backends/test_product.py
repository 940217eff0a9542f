"""The product-state fast path of the torch engine (``engine/product.py``): equal to PennyLane (a
Chen VQC written out gate by gate here, not derived from qseq's circuit) and to the general engine,
gradients equal to finite differences, taken exactly where it applies."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.engine import product
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Circuit, Operation, chen_vqc
from qseq.circuits.circuit import build

qml = pytest.importorskip("pennylane")


def pennylane_chen(n: int, n_layers: int):
    """Chen's VQC block in PennyLane: H, RY(inputs[i]), RZ(inputs[n+i]); per layer CNOT(i, i+1),
    CNOT(i, i+2) rings and Rot(w) on every wire; ⟨Z_i⟩."""
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def qnode(inputs, weights):
        for i in range(n):
            qml.Hadamard(i)
        for i in range(n):
            qml.RY(inputs[..., i], wires=i)
            qml.RZ(inputs[..., n + i], wires=i)
        w = weights.reshape(n_layers, n, 3)
        for layer in range(n_layers):
            if n > 1:
                for i in range(n):
                    qml.CNOT([i, (i + 1) % n])
                for i in range(n):
                    if (i + 2) % n != i:
                        qml.CNOT([i, (i + 2) % n])
            for i in range(n):
                qml.Rot(*w[layer, i], wires=i)
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    return lambda inputs, weights: torch.stack(qnode(inputs, weights), dim=-1)


def _groups(n: int, n_layers: int, k: int, batch: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.atan(torch.randn(batch, 2 * n, generator=g, dtype=dtype))
    inputs[:, n:] = torch.atan(torch.randn(batch, n, generator=g, dtype=dtype) ** 2)
    weights = torch.rand(k, 1, 3 * n * n_layers, generator=g, dtype=dtype) * 6.28 - 3.14
    return inputs, weights


@pytest.mark.parametrize("grad, path", [(True, "product"), (False, "lanes")])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_fast_paths_equal_pennylane(n, grad, path):
    inputs, weights = _groups(n, 2, 3, 5)
    backend = TorchBackend()  # with gradients the product-state path, without them the lanes kernel
    got = backend.bind(chen_vqc(n, 2), weights=weights.requires_grad_(grad))(inputs=inputs)
    assert backend.paths == {path: 1}
    ref = pennylane_chen(n, 2)
    want = torch.stack([ref(inputs, weights[k, 0].detach()) for k in range(3)])
    torch.testing.assert_close(got.detach(), want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("n", [2, 4, 6])
def test_fast_path_values_and_gradients_equal_the_general_engine(n, dtype, tol):
    inputs, weights = _groups(n, 2, 4, 7, dtype)
    cot = torch.randn(4, 7, n, generator=torch.Generator().manual_seed(3), dtype=dtype)
    results = []
    for backend in (TorchBackend(), TorchBackend(fuse=False)):
        x, w = inputs.clone().requires_grad_(), weights.clone().requires_grad_()
        out = backend.bind(chen_vqc(n, 2), weights=w)(inputs=x)
        (out * cot).sum().backward()
        results.append((out.detach(), x.grad, w.grad, dict(backend.paths)))
    (out_f, gx_f, gw_f, paths_f), (out_s, gx_s, gw_s, paths_s) = results
    assert paths_f == {"product": 1} and paths_s == {"state": 1}
    torch.testing.assert_close(out_f, out_s, atol=tol, rtol=0)
    torch.testing.assert_close(gx_f, gx_s, atol=tol * 10, rtol=0)
    torch.testing.assert_close(gw_f, gw_s, atol=tol * 10, rtol=0)


def test_fast_path_gradients_equal_finite_differences():
    inputs, weights = _groups(3, 2, 2, 4)
    circuit = chen_vqc(3, 2)
    backend = TorchBackend()

    def f(x, w):
        return backend.bind(circuit, weights=w)(inputs=x)

    assert torch.autograd.gradcheck(f, (inputs.requires_grad_(), weights.requires_grad_()))
    assert backend.paths["product"] > 0 and "state" not in backend.paths


def _prep_circuit(per_wire: list[list[str]]) -> Circuit:
    """A preparation with the given gate names per wire (angles from ``inputs``), then CNOTs and a
    trained RX layer; ⟨Z⟩ on every wire and ⟨Z0 Z1⟩."""
    n = len(per_wire)
    ops, k = [], 0
    for wire, names in enumerate(per_wire):
        for name in names:
            params = () if name == "H" else (k,)
            k += len(params)
            ops.append(Operation(name, (wire,), params))
    ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]
    ops += [Operation("RX", (i,), (k + i,)) for i in range(n)]
    observables = [{i: "Z"} for i in range(n)] + [{0: "Z", 1: "Z"}]
    return build(n, ops, [("inputs", k), ("weights", n)], observables)


@pytest.mark.parametrize(
    "per_wire",
    [
        [["H", "RY", "RZ"]] * 3,
        [["RY"], ["H", "RY"], ["RY", "RZ"]],
        [["H"], ["RZ"], ["RY"], []],
        [["H", "RZ"], ["H", "RY", "RZ"], ["RY", "RZ"]],
    ],
    ids=["chen", "mixed", "constant_wires", "phases"],
)
def test_every_qualifying_preparation_equals_the_general_engine(per_wire):
    circuit = _prep_circuit(per_wire)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(5, circuit.group_sizes["inputs"], generator=g, dtype=torch.float64) * 8 - 4).requires_grad_()
    w = torch.randn(3, 1, circuit.group_sizes["weights"], generator=g, dtype=torch.float64, requires_grad=True)
    fast, general = TorchBackend(), TorchBackend(fuse=False)
    out_f = fast.bind(circuit, weights=w)(inputs=x)
    out_s = general.bind(circuit, weights=w)(inputs=x)
    assert fast.paths == {"product": 1}
    torch.testing.assert_close(out_f, out_s, atol=1e-12, rtol=0)
    gf = torch.autograd.grad(out_f.sin().sum(), (x, w))
    gs = torch.autograd.grad(out_s.sin().sum(), (x, w))
    for a, b in zip(gf, gs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_the_log_domain_form_equals_the_kronecker_form():
    inputs, weights = _groups(4, 2, 3, 6)
    backend = TorchBackend()
    form = backend.product_form(backend.bind(chen_vqc(4, 2), weights=weights), 6)
    assert form is not None and form.tables.arctan_positive
    a, b = inputs[:, :4], inputs[:, 4:]
    out_k, state_k = product.product_forward(a, b, form.w, form.tables)
    out_l, state_l = product.product_forward(a, b, form.w, form.tables, arctan=True)
    assert state_k.partial is not None and state_l.partial is None
    torch.testing.assert_close(out_l, out_k, atol=1e-12, rtol=0)
    cot = torch.randn_like(out_k)
    for got, want in zip(
        product.product_backward(cot, state_l, form.w, form.tables),
        product.product_backward(cot, state_k, form.w, form.tables),
        strict=True,
    ):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_where_the_fast_path_is_not_taken():
    circuit = chen_vqc(3, 2)
    inputs, weights = _groups(3, 2, 2, 4)

    def path(backend, inputs, weights, circuit=circuit):
        backend.bind(circuit, weights=weights)(inputs=inputs)
        return set(backend.paths)

    assert path(TorchBackend(), inputs, weights.requires_grad_()) == {"product"}
    assert path(TorchBackend(), inputs, weights.detach()) == {"lanes"}
    weights = weights.detach()
    per_sample = torch.randn(4, 18, dtype=torch.float64)  # a weight set per input: nothing to fuse
    assert path(TorchBackend(), inputs, per_sample) == {"compiled"}  # the whole circuit in C (CPU)
    assert path(TorchBackend(fuse=False), inputs, weights) == {"state"}
    assert path(TorchBackend(diff="adjoint"), inputs.requires_grad_(), weights) == {"adjoint"}
    # inputs (2, 1, ...) against weights (1, 2, ...): the output's dims interleave the two
    assert path(TorchBackend(), inputs[:2].unsqueeze(1), weights.reshape(1, 2, -1)) == {"state"}
    x_words = chen_vqc(3, 2).measure([{0: "X"}, {1: "Z"}])
    assert path(TorchBackend(), inputs, weights, x_words) == {"state"}


def test_fast_path_broadcasts_leading_dims_like_the_general_engine():
    circuit = chen_vqc(3, 2)
    g = torch.Generator().manual_seed(2)
    inputs = torch.randn(2, 3, 6, generator=g, dtype=torch.float64)  # (T, N, 2n)
    weights = torch.randn(4, 1, 1, 18, generator=g, dtype=torch.float64)  # (K, 1, 1, P)
    fast, general = TorchBackend(), TorchBackend(fuse=False)
    want = general.bind(circuit, weights=weights)(inputs=inputs)
    got = fast.bind(circuit, weights=weights)(inputs=inputs)  # no gradients: the lanes kernel
    assert fast.paths == {"lanes": 1} and got.shape == (4, 2, 3, 3)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    got = fast.bind(circuit, weights=weights.requires_grad_())(inputs=inputs)
    assert fast.paths == {"lanes": 1, "product": 1} and got.shape == (4, 2, 3, 3)
    torch.testing.assert_close(got.detach(), want, atol=1e-12, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fast_path_on_cuda_equals_the_cpu():
    inputs, weights = _groups(4, 2, 4, 64)
    cpu = TorchBackend().bind(chen_vqc(4, 2), weights=weights)(inputs=inputs)
    backend = TorchBackend()
    gpu = backend.bind(chen_vqc(4, 2), weights=weights.cuda())(inputs=inputs.cuda())
    assert backend.paths == {"product": 1}
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=0)

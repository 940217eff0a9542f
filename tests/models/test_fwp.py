"""Quantum fast weight programmers (qseq.models.fwp.QFWP; QFWP paper, see docs/references.md).

What is checked:

1. the paper configuration has exactly 111 trainable parameters (16 + 18 + 72 + 5); reservoir mode
   trains only the output layer (5) and draws the frozen weights from the seed;
2. the update rule (additive, decay, gated) against a hand computation over three steps;
3. the outputs against an independent per-sample PennyLane implementation written here from
   the QFWP paper's reference code as described in docs/references.md (not from qseq.circuits);
4. gradients of the slow programmer, its heads (and the gate) and the output layer against central
   finite differences;
5. the carried state: two halves == one pass (additive, gated, LSTMCell / GRUCell slow programmers),
   unbatched == batch of one, batch_first == transposed layout;
6. one backend call per time step for the whole batch;
7. ``to_backend("pennylane:default.qubit")`` gives the torch engine's outputs;
8. a custom MLP slow programmer (latent width detected);
9. bad inputs raise clear ValueErrors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qseq.backends.torch_engine import TorchBackend
from qseq.models import LastStep, build_model, count_parameters
from qseq.models.fwp import QFWP, FWPState

F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    """The tensors here are tiny: intra-op threads only add overhead, and on a busy machine they
    oversubscribe the cores (observed: 100× slower with 2 threads beside a running benchmark)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _rand(*shape, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=gen, dtype=F64) * 2 - 1) * scale


def _model(seed: int = 0, scale: float = 1.0, **kwargs) -> QFWP:
    """A float64 QFWP whose weights are drawn from ``seed`` (scaled so the fast weights are O(1))."""
    torch.manual_seed(seed)
    kwargs.setdefault("dtype", F64)
    model = QFWP(1, **kwargs)
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(_rand(*p.shape, seed=1000 * seed + k, scale=scale))
    return model


def _assert_close(a, b, tol):
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item()
    assert err <= tol, f"max |Δ| = {err:.3e} > {tol:.0e}"


# ==================================================================================================
# 1. parameter counts, reservoir mode
# ==================================================================================================
def test_paper_configuration_has_111_parameters():
    model = QFWP(1)
    assert count_parameters(model) == 111
    assert (model.n_qubits, model.depth, model.n_measured, model.update) == (8, 2, 4, "additive")
    sizes = {
        name: sum(p.numel() for p in m.parameters())
        for name, m in [
            ("slow", model.slow),
            ("layer_head", model.layer_head),
            ("qubit_head", model.qubit_head),
            ("head", model.head),
        ]
    }
    # slow Linear(1→8): 16, heads Linear(8→2) + Linear(8→8): 18 + 72, output Linear(4→1): 5
    assert sizes == {"slow": 16, "layer_head": 18, "qubit_head": 72, "head": 5}
    assert isinstance(model.slow, nn.Linear) and model.gate is None
    built = build_model("qfwp", dtype=F64)
    assert isinstance(built, LastStep) and isinstance(built.model, QFWP)
    assert count_parameters(built) == 111
    assert next(built.parameters()).dtype == F64
    # the gated variant adds Linear(8→1) for the gate
    assert count_parameters(QFWP(1, update="gated")) == 120


def _frozen(model: QFWP) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}


def test_reservoir_trains_only_the_output_layer_and_is_seeded():
    torch.manual_seed(123)
    a = QFWP(1, reservoir=True, seed=7, dtype=F64)
    torch.manual_seed(456)  # a different global RNG state must not matter
    b = QFWP(1, reservoir=True, seed=7, dtype=F64)
    c = QFWP(1, reservoir=True, seed=8, dtype=F64)
    assert a.reservoir and count_parameters(a) == 5
    assert [n for n, p in a.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    fa, fb, fc = _frozen(a), _frozen(b), _frozen(c)
    assert set(fa) == {
        "slow.weight",
        "slow.bias",
        "layer_head.weight",
        "layer_head.bias",
        "qubit_head.weight",
        "qubit_head.bias",
    }
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert all(not torch.equal(fa[k], fc[k]) for k in fa)
    # gated: the gate is frozen too; build_model and LastStep.freeze_reservoir reach the same mode
    assert count_parameters(QFWP(1, update="gated", reservoir=True)) == 5
    assert count_parameters(build_model("qfwp", reservoir=True, seed=3)) == 5
    assert count_parameters(build_model("qfwp").freeze_reservoir(seed=3)) == 5
    # training reaches only the output layer
    x, y = _rand(3, 2, 1, seed=1), _rand(2, 1, seed=2)
    before = _frozen(a)
    opt = torch.optim.RMSprop([p for p in a.parameters() if p.requires_grad], lr=0.01)
    loss = ((a(x)[0][-1] - y) ** 2).mean()
    loss.backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in _frozen(a).items())
    assert a.head.weight.grad is not None and a.slow.weight.grad is None


# ==================================================================================================
# 2. the update rule by hand
# ==================================================================================================
def _hand_delta(model: QFWP, x_t: torch.Tensor):
    """e_t = W_e x_t + b_e, a_t, b_t, Δ_t = outer(a_t, b_t), for a batch; also e_t."""
    e = x_t @ model.slow.weight.T + model.slow.bias
    a = e @ model.layer_head.weight.T + model.layer_head.bias  # (N, depth)
    b = e @ model.qubit_head.weight.T + model.qubit_head.bias  # (N, n_qubits)
    return torch.einsum("nk,nq->nkq", a, b), e


@pytest.mark.parametrize("update", ["additive", "decay", "gated"])
def test_update_rule_matches_hand_computation(update):
    model = _model(seed=3, update=update, decay=0.7)
    x = _rand(3, 2, 1, seed=4, scale=2.0)
    theta = torch.zeros(2, 2, 8, dtype=F64)
    with torch.no_grad():
        for t in range(3):
            delta, e = _hand_delta(model, x[t])
            if update == "additive":
                theta = theta + delta
            elif update == "decay":
                theta = 0.7 * theta + delta
            else:
                g = torch.sigmoid(e @ model.gate.weight.T + model.gate.bias)[:, :, None]
                theta = g * theta + (1 - g) * delta
            _, state = model(x[: t + 1])
            assert state.fast.shape == (2, 2, 8)
            _assert_close(state.fast, theta, 1e-12)
            assert theta.abs().max() > 1e-3  # not trivially zero


def test_update_rule_first_step_is_the_outer_product():
    model = _model(seed=5)
    x = _rand(1, 3, 1, seed=6)
    with torch.no_grad():
        _, state = model(x)
        delta, _ = _hand_delta(model, x[0])
    _assert_close(state.fast, delta, 1e-12)
    assert torch.linalg.matrix_rank(state.fast[0]).item() == 1  # a_t ⊗ b_t has rank one


# ==================================================================================================
# 3. an independent PennyLane implementation (QFWP paper, docs/references.md), one sample at a time
# ==================================================================================================
class ReferenceFWP:
    """The fast programmer on default.qubit, float64, written from the QFWP description in docs/references.md."""

    def __init__(self, n_qubits: int = 8, n_measured: int = 4):
        import pennylane as qml

        dev = qml.device("default.qubit", wires=n_qubits)

        @qml.qnode(dev, interface=None, diff_method=None)
        def circuit(x_t, theta):
            for q in range(n_qubits):
                qml.Hadamard(wires=q)
            qml.RY(x_t, wires=0)
            for k in range(theta.shape[0]):
                for q in (0, 2, 4, 6):
                    qml.CNOT(wires=[q, q + 1])
                for q in (1, 3, 5):
                    qml.CNOT(wires=[q, q + 1])
                for q in range(n_qubits):
                    qml.RY(theta[k, q], wires=q)
            return [qml.expval(qml.PauliZ(q)) for q in range(n_measured)]

        self.circuit = circuit

    def __call__(self, model: QFWP, X: np.ndarray) -> np.ndarray:
        """``X`` ``(L, N, 1)`` -> ``(L, N, 1)``, additive update, θ_0 = 0, per sample and step."""
        We, be = model.slow.weight.detach().numpy(), model.slow.bias.detach().numpy()
        WL, bL = model.layer_head.weight.detach().numpy(), model.layer_head.bias.detach().numpy()
        WQ, bQ = model.qubit_head.weight.detach().numpy(), model.qubit_head.bias.detach().numpy()
        Wo, bo = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
        L, N, _ = X.shape
        out = np.zeros((L, N, Wo.shape[0]))
        for n in range(N):
            theta = np.zeros((model.depth, model.n_qubits))
            for t in range(L):
                e = We @ X[t, n] + be
                theta = theta + np.outer(WL @ e + bL, WQ @ e + bQ)
                z = np.asarray(self.circuit(float(X[t, n, 0]), theta), dtype=np.float64)
                out[t, n] = Wo @ z + bo
        return out


def test_outputs_match_independent_pennylane_reference():
    pytest.importorskip("pennylane")
    model = _model(seed=8)
    x = _rand(3, 2, 1, seed=9, scale=2.0)
    with torch.no_grad():
        out, _ = model(x)
    assert out.shape == (3, 2, 1) and out.dtype == F64
    ref = ReferenceFWP()(model, x.numpy())
    _assert_close(out, ref, 1e-10)
    # the outputs depend on the whole history: the two samples differ
    assert (out[:, 0] - out[:, 1]).abs().max() > 1e-3


# ==================================================================================================
# 4. gradients against central finite differences
# ==================================================================================================
@pytest.mark.parametrize("update", ["additive", "gated"])
def test_gradients_match_finite_differences(update):
    model = _model(seed=10, update=update, scale=0.7)
    x, w = _rand(3, 2, 1, seed=11, scale=2.0), _rand(3, 2, 1, seed=12)

    def loss() -> torch.Tensor:
        return (model(x)[0] * w).sum()

    model.zero_grad()
    loss().backward()
    trained = ["slow", "layer_head", "qubit_head", "head"] + (["gate"] if update == "gated" else [])
    named = [(n, p) for n, p in model.named_parameters() if n.split(".")[0] in trained]
    assert len(named) == 2 * len(trained)
    eps = 1e-6
    for name, p in named:
        assert p.grad is not None, name
        numeric = torch.zeros_like(p)
        with torch.no_grad():
            for i in range(p.numel()):
                flat = p.view(-1)
                orig = flat[i].item()
                flat[i] = orig + eps
                up = loss().item()
                flat[i] = orig - eps
                down = loss().item()
                flat[i] = orig
                numeric.view(-1)[i] = (up - down) / (2 * eps)
        scale = max(1.0, numeric.abs().max().item())
        _assert_close(p.grad / scale, numeric / scale, 1e-7)
        assert p.grad.abs().max() > 0, name


# ==================================================================================================
# 5. carried state
# ==================================================================================================
def _recurrent(cell: type) -> QFWP:
    torch.manual_seed(13)
    model = QFWP(1, slow=cell(1, 6)).double()
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(_rand(*p.shape, seed=200 + k))
    return model


@pytest.mark.parametrize("variant", ["additive", "gated", "lstm_cell", "gru_cell"])
def test_two_halves_equal_one_pass(variant):
    if variant == "lstm_cell":
        model = _recurrent(nn.LSTMCell)
    elif variant == "gru_cell":
        model = _recurrent(nn.GRUCell)
    else:
        model = _model(seed=14, update=variant)
    x = _rand(6, 3, 1, seed=15, scale=2.0)
    with torch.no_grad():
        out, state = model(x)
        first, mid = model(x[:3])
        second, end = model(x[3:], state=mid)
    _assert_close(torch.cat([first, second]), out, 1e-12)
    _assert_close(end.fast, state.fast, 1e-12)
    assert isinstance(state, FWPState)
    if variant == "lstm_cell":
        assert model.layer_head.in_features == 6
        assert isinstance(state.slow, tuple) and len(state.slow) == 2
        assert state.slow[0].shape == (3, 6)
        _assert_close(end.slow[0], state.slow[0], 1e-12)
        _assert_close(end.slow[1], state.slow[1], 1e-12)
    elif variant == "gru_cell":
        assert state.slow.shape == (3, 6)
        _assert_close(end.slow, state.slow, 1e-12)
    else:
        assert state.slow is None
    # the recurrent slow state matters: dropping it changes the second half
    if variant.endswith("cell"):
        with torch.no_grad():
            dropped, _ = model(x[3:], state=FWPState(mid.fast, None))
        assert (dropped - second).abs().max() > 1e-6
    # the fast weights matter: restarting from zero changes the second half
    with torch.no_grad():
        restarted, _ = model(x[3:])
    assert (restarted - second).abs().max() > 1e-6


@pytest.mark.parametrize("variant", ["additive", "lstm_cell"])
def test_unbatched_equals_batch_of_one(variant):
    model = _recurrent(nn.LSTMCell) if variant == "lstm_cell" else _model(seed=16)
    x = _rand(4, 1, seed=17, scale=2.0)  # (L, 1): unbatched, one feature
    with torch.no_grad():
        out_u, state_u = model(x)
        out_b, state_b = model(x.unsqueeze(1))
        assert out_u.shape == (4, 1) and state_u.fast.shape == (2, 8)
        _assert_close(out_u, out_b[:, 0], 1e-12)
        _assert_close(state_u.fast, state_b.fast[0], 1e-12)
        # the unbatched state round-trips as well
        first, mid = model(x[:2])
        second, _ = model(x[2:], state=mid)
    _assert_close(torch.cat([first, second]), out_u, 1e-12)


def test_batch_first_equals_transposed_layout():
    model = _model(seed=18)
    bf = QFWP(1, batch_first=True, dtype=F64)
    bf.load_state_dict(model.state_dict())
    x = _rand(4, 3, 1, seed=19, scale=2.0)  # (L, N, F)
    with torch.no_grad():
        out, state = model(x)
        out_bf, state_bf = bf(x.transpose(0, 1).contiguous())
    assert out_bf.shape == (3, 4, 1)
    _assert_close(out_bf, out.transpose(0, 1), 1e-12)
    _assert_close(state_bf.fast, state.fast, 1e-12)
    # LastStep (build_model("qfwp")) is the batch-first last step
    last = build_model("qfwp", dtype=F64)
    last.model.load_state_dict(model.state_dict())
    with torch.no_grad():
        _assert_close(last(x.transpose(0, 1)), out[-1], 1e-12)


# ==================================================================================================
# 6. backend calls
# ==================================================================================================
class CountingBackend(TorchBackend):
    def __init__(self):
        super().__init__()
        self.batches = []

    def expval(self, circuit, params):
        self.batches.append(tuple(params["inputs"].shape))
        return super().expval(circuit, params)


def test_one_backend_call_per_time_step_for_the_whole_batch():
    backend = CountingBackend()
    model = QFWP(1, backend=backend, dtype=F64)
    assert model.backend is backend
    x = _rand(5, 7, 1, seed=20)
    model(x)[0].sum().backward()
    assert backend.batches == [(7, 1)] * 5
    assert backend.usage.calls == 5 and backend.usage.circuits == 35
    # the default backend counts the same way
    model = build_model("qfwp", dtype=F64)
    model.model.backend.usage.reset()
    model(x.transpose(0, 1))
    assert model.model.backend.usage.calls == 5


# ==================================================================================================
# 7. PennyLane backend
# ==================================================================================================
def test_to_backend_pennylane_matches_torch():
    pytest.importorskip("pennylane")
    model = _model(seed=21, update="gated")
    x = _rand(3, 2, 1, seed=22, scale=2.0)
    with torch.no_grad():
        out_t, state_t = model(x)
    assert model.to_backend("pennylane:default.qubit") is model
    assert model.backend.name.startswith("pennylane")
    out_p, state_p = model(x)
    _assert_close(out_p, out_t, 1e-10)
    _assert_close(state_p.fast, state_t.fast, 1e-12)
    out_p.sum().backward()  # gradients flow on PennyLane too
    assert model.slow.weight.grad is not None and model.slow.weight.grad.abs().max() > 0
    last = build_model("qfwp", dtype=F64)
    assert last.to_backend("pennylane:default.qubit") is last
    assert last.model.backend.name.startswith("pennylane")


# ==================================================================================================
# 8. custom slow programmer
# ==================================================================================================
@pytest.mark.parametrize("width", [8, 5])
def test_custom_mlp_slow_programmer(width):
    torch.manual_seed(23)
    mlp = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, width))
    model = QFWP(1, slow=mlp, latent=3)  # ``latent`` is ignored: the width is read from a dry run
    assert model.slow is mlp
    assert model.layer_head.in_features == width and model.qubit_head.in_features == width
    assert count_parameters(model) == 32 + 16 * width + width + (width + 1) * (2 + 8) + 5
    x = _rand(3, 2, 1, seed=24).float()
    out, state = model(x)
    assert out.shape == (3, 2, 1) and state.fast.shape == (2, 2, 8) and state.slow is None
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in mlp.parameters())
    # the fast weights are a_t ⊗ b_t of the MLP's features
    with torch.no_grad():
        e = mlp(x[0])
        delta = model.layer_head(e)[:, :, None] * model.qubit_head(e)[:, None, :]
        _assert_close(model(x[:1])[1].fast, delta, 1e-6)


def test_mlp_reservoir_is_seeded():
    def build(seed):
        torch.manual_seed(seed + 100)
        mlp = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 8))
        return QFWP(1, slow=mlp, reservoir=True, seed=seed)

    a, b, c = build(0), build(0), build(1)
    assert count_parameters(a) == 5
    assert all(torch.equal(p, q) for p, q in zip(a.slow.parameters(), b.slow.parameters(), strict=True))
    assert not torch.equal(a.slow[0].weight, c.slow[0].weight)


@pytest.mark.parametrize("cell", [nn.LSTMCell, nn.GRUCell])
def test_recurrent_slow_reservoir_is_seeded(cell):
    torch.manual_seed(1)
    a = QFWP(1, slow=cell(1, 6), reservoir=True, seed=0)
    torch.manual_seed(2)
    b = QFWP(1, slow=cell(1, 6), reservoir=True, seed=0)
    assert count_parameters(a) == 5
    assert all(torch.equal(p, q) for p, q in zip(a.slow.parameters(), b.slow.parameters(), strict=True))


# ==================================================================================================
# 9. bad inputs
# ==================================================================================================
def test_bad_inputs_raise_clear_errors():
    model = QFWP(1, dtype=F64)
    x = _rand(3, 2, 1, seed=25)
    with pytest.raises(ValueError, match=r"input must be \(L, N, 1\)"):
        model(_rand(3, 2, 2, seed=26))
    with pytest.raises(ValueError, match="input must be"):
        model(_rand(3, 2, 1, 1, seed=26))
    with pytest.raises(ValueError, match="input must be"):
        model(x[0, 0])
    bad = x.clone()
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(bad)
    bad[1, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="infinite"):
        model(bad)
    with pytest.raises(ValueError, match=r"fast weights must have shape \(2, 2, 8\)"):
        model(x, state=FWPState(torch.zeros(2, 2, 7, dtype=F64)))
    with pytest.raises(ValueError, match=r"fast weights must have shape \(2, 2, 8\)"):
        model(x, state=FWPState(torch.zeros(3, 2, 8, dtype=F64)))
    with pytest.raises(ValueError, match=r"fast weights must have shape \(2, 8\)"):
        model(x[:, 0], state=FWPState(torch.zeros(1, 2, 8, dtype=F64)))
    with pytest.raises(ValueError, match=r"update must be one of .*additive.*got 'hebbian'"):
        QFWP(1, update="hebbian")


@pytest.mark.parametrize("name", ["input_size", "n_qubits", "depth", "n_measured", "out_features", "latent"])
@pytest.mark.parametrize("value", [0, -2])
def test_non_positive_sizes_raise(name, value):
    kwargs = {"input_size": 1, name: value}
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got {value}"):
        QFWP(**kwargs)


def test_inconsistent_sizes_raise():
    with pytest.raises(ValueError, match="n_measured"):
        QFWP(1, n_measured=9)
    with pytest.raises(ValueError, match="exceeds n_qubits"):
        QFWP(9)
    with pytest.raises(ValueError, match="positive integer"):
        QFWP(1.5)


def test_custom_slow_programmer_follows_dtype_and_tensor_state_is_accepted():
    model = QFWP(1, slow=nn.LSTMCell(1, 6), dtype=torch.float64)
    x = torch.randn(3, 2, 1, dtype=torch.float64)
    out, state = model(x)
    assert out.dtype == torch.float64
    again, _ = model(x, state=torch.zeros(2, 2, 8, dtype=torch.float64))  # fast weights alone
    plain, _ = model(x)
    torch.testing.assert_close(again, plain)


@pytest.mark.parametrize("kwargs", [{"decay": float("nan")}, {"n_qubits": True}])
def test_more_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        QFWP(1, **kwargs)


@pytest.mark.parametrize("decay", [2.0, 1.0, 1.0001, -0.5, float("inf"), float("nan"), True, "0.5"])
def test_a_decay_that_would_not_keep_the_fast_weights_bounded_is_refused(decay):
    with pytest.raises(ValueError, match=rf"decay must be a number in \[0, 1\), got {decay!r}.*bounded"):
        QFWP(1, update="decay", decay=decay)


@pytest.mark.parametrize("decay", [0, 0.0, 0.5, 0.999])
def test_decay_in_range_keeps_the_fast_weights_within_the_geometric_bound(decay):
    model = _model(seed=3, update="decay", decay=decay)
    x = _rand(60, 2, 1, seed=4, scale=2.0)
    with torch.no_grad():
        _, state = model(x)
        bound = max(_hand_delta(model, x[t])[0].abs().max() for t in range(len(x))) / (1 - decay)
    assert state.fast.abs().max() <= bound * (1 + 1e-12)

"""Quantum recurrent cells and layers (qseq.models.cells) and the ready-made models (qseq.models).

What is checked:

1. torch.nn.RNN/LSTM/GRU API parity (shapes for every input layout, batch_first, unbatched,
   num_layers, state round trip) and cells stepped by hand against the layers;
2. parameter counts (paper QLSTM 149 / 293, projections for non-paper sizes);
3. gradients reach every parameter; a VQC weight gradient matches a central finite difference;
4. the cell equations against an independent step-by-step PennyLane implementation written here
   like Chen's reference code (``VQLSTM._forward``; QLSTM paper, docs/references.md), one sample at a time;
5. backend calls per time step (gate fusion into one call per shared input);
6. ``to_backend("pennylane:default.qubit")`` gives the torch engine's outputs;
7. bad inputs raise clear ValueErrors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qseq.backends import get
from qseq.backends.torch_engine import TorchBackend
from qseq.models import MODELS, build_model, count_parameters
from qseq.models.cells import QGRU, QLSTM, QRNN, QGRUCell, QLSTMCell, QRNNCell, angle_encode

LAYERS = {"rnn": (QRNN, nn.RNN), "lstm": (QLSTM, nn.LSTM), "gru": (QGRU, nn.GRU)}
CELLS = {"rnn": QRNNCell, "lstm": QLSTMCell, "gru": QGRUCell}
F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand(*shape, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """Uniform in [-scale, scale), float64, from a fixed seed."""
    return (torch.rand(*shape, generator=_gen(seed), dtype=F64) * 2 - 1) * scale


def _layer(kind: str, input_size=1, hidden_size=3, seed=0, **kwargs):
    """A float64 quantum layer with U[0, 2π) VQC weights (not the tiny paper init)."""
    torch.manual_seed(seed)  # the classical projections use torch's default init
    layer = LAYERS[kind][0](input_size, hidden_size, dtype=F64, **kwargs)
    layer.reset_parameters("uniform", _gen(seed))
    return layer


def _states(kind: str, layer, num_layers: int, batch: tuple, seed: int = 1):
    """Random non-zero initial states in the layer's layout (``batch`` = () for unbatched)."""
    h = _rand(num_layers, *batch, layer.hidden_size, seed=seed)
    if kind == "lstm":
        return h, _rand(num_layers, *batch, layer.n_qubits, seed=seed + 1)
    return h


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _assert_close(a, b, tol=1e-12):
    for x, y in zip(_as_tuple(a), _as_tuple(b), strict=True):
        assert x.shape == y.shape, (x.shape, y.shape)
        torch.testing.assert_close(x, y, rtol=0, atol=tol)


# ==================================================================================================
# 1. API parity with torch.nn.RNN / LSTM / GRU
# ==================================================================================================
@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("layout", ["seq_first", "batch_first", "unbatched"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_shapes_match_torch(kind, layout, num_layers, with_state):
    """Output and state shapes equal torch's for the same call (LSTM: c has n_qubits features)."""
    L, N, H_in, H = 3, 2, 1, 3
    qcls, tcls = LAYERS[kind]
    batch_first = layout == "batch_first"
    # n_qubits=4 on every layer: see test_qlstm_stack_default_n_qubits for the default-n_qubits case
    q = qcls(H_in, H, num_layers=num_layers, batch_first=batch_first, n_qubits=4, dtype=F64)
    t = tcls(H_in, H, num_layers=num_layers, batch_first=batch_first, dtype=F64)
    x = {"seq_first": _rand(L, N, H_in), "batch_first": _rand(N, L, H_in), "unbatched": _rand(L, H_in)}[layout]
    batch = () if layout == "unbatched" else (N,)
    q_state = t_state = None
    if with_state:
        q_state = _states(kind, q, num_layers, batch)
        t_state = (q_state[0], _rand(num_layers, *batch, H, seed=5)) if kind == "lstm" else q_state
    q_out, q_final = q(x, q_state)
    t_out, t_final = t(x, t_state)
    assert q_out.shape == t_out.shape
    assert q_out.dtype == F64
    expected_out = {"seq_first": (L, N, H), "batch_first": (N, L, H), "unbatched": (L, H)}[layout]
    assert tuple(q_out.shape) == expected_out
    if kind == "lstm":
        assert isinstance(q_final, tuple) and len(q_final) == 2
        assert q_final[0].shape == t_final[0].shape == (num_layers, *batch, H)
        assert q_final[1].shape == (num_layers, *batch, q.n_qubits) == (num_layers, *batch, 4)
    else:
        assert isinstance(q_final, torch.Tensor)
        assert q_final.shape == t_final.shape == (num_layers, *batch, H)
    # the last layer's final h is the output's last step (no readout VQC)
    h_last = (q_final[0] if kind == "lstm" else q_final)[-1]
    last_step = q_out[:, -1] if batch_first else q_out[-1]
    _assert_close(h_last, last_step, 0)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_initial_state_is_used(kind):
    """A non-zero initial state changes the outputs (the zero default is not silently used)."""
    layer = _layer(kind)
    x = _rand(3, 2, 1)
    out0, _ = layer(x)
    out1, _ = layer(x, _states(kind, layer, 1, (2,)))
    assert (out0 - out1).abs().max() > 1e-3
    if kind == "lstm":  # c_0 alone matters too
        h0, c0 = _states(kind, layer, 1, (2,))
        out2, _ = layer(x, (torch.zeros_like(h0), c0))
        assert (out0 - out2).abs().max() > 1e-3


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers", [1, 2])
def test_batch_first_is_transpose(kind, num_layers):
    """batch_first output = transposed output of the same weights on the transposed input."""
    a = _layer(kind, num_layers=num_layers, n_qubits=4)
    b = _layer(kind, num_layers=num_layers, n_qubits=4, batch_first=True, seed=99)
    b.load_state_dict(a.state_dict())
    x = _rand(3, 2, 1)  # (L, N, H_in)
    state = _states(kind, a, num_layers, (2,))
    out_a, fin_a = a(x, state)
    out_b, fin_b = b(x.transpose(0, 1), state)
    _assert_close(out_b, out_a.transpose(0, 1))
    _assert_close(fin_b, fin_a)
    assert (out_a[:, 0] - out_a[:, 1]).abs().max() > 1e-6  # the two samples differ (non-trivial check)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_is_batch_of_one(kind, batch_first, with_state):
    layer = _layer(kind, num_layers=2, n_qubits=4, batch_first=batch_first)
    x = _rand(3, 1)  # (L, H_in) whatever batch_first says, as in torch
    state = _states(kind, layer, 2, ()) if with_state else None
    out, fin = layer(x, state)
    batched_state = None if state is None else tuple(s.unsqueeze(1) for s in _as_tuple(state))
    if batched_state is not None and kind != "lstm":
        batched_state = batched_state[0]
    out1, fin1 = layer(x.unsqueeze(0 if batch_first else 1), batched_state)
    _assert_close(out, out1.squeeze(0 if batch_first else 1))
    _assert_close(fin, tuple(s.squeeze(1) for s in _as_tuple(fin1)) if kind == "lstm" else fin1.squeeze(1))


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("readout_vqc", [False, True])
def test_state_round_trip(kind, num_layers, readout_vqc):
    """Feeding the final state back in on the continuation equals one call on the whole sequence."""
    layer = _layer(kind, num_layers=num_layers, n_qubits=4, readout_vqc=readout_vqc, batch_first=True)
    x = _rand(2, 5, 1)  # (N, L, H_in)
    full, fin = layer(x)
    first, mid = layer(x[:, :2])
    second, fin2 = layer(x[:, 2:], mid)
    _assert_close(torch.cat([first, second], 1), full)
    _assert_close(fin2, fin)
    # and with an explicit initial state
    s0 = _states(kind, layer, num_layers, (2,))
    full, fin = layer(x, s0)
    first, mid = layer(x[:, :3], s0)
    second, fin2 = layer(x[:, 3:], mid)
    _assert_close(torch.cat([first, second], 1), full)
    _assert_close(fin2, fin)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers", [1, 2])
def test_cells_stepped_by_hand_match_layer(kind, num_layers):
    layer = _layer(kind, num_layers=num_layers, n_qubits=4)
    assert all(type(c) is CELLS[kind] for c in layer.cells)
    x = _rand(3, 2, 1)
    s0 = _states(kind, layer, num_layers, (2,))
    out, fin = layer(x, s0)
    seq, finals = x, []
    for k, cell in enumerate(layer.cells):
        state = (s0[0][k], s0[1][k]) if kind == "lstm" else s0[k]
        outs = []
        for x_t in seq.unbind(0):
            state = cell(x_t, state)
            outs.append(state[0] if kind == "lstm" else state)
        seq = torch.stack(outs, 0)
        finals.append(state)
    _assert_close(seq, out)
    if kind == "lstm":
        _assert_close(fin, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])))
    else:
        _assert_close(fin, torch.stack(finals))


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("sizes", [dict(input_size=1, hidden_size=3), dict(input_size=2, hidden_size=5, n_qubits=4)])
def test_standalone_cell_shapes(kind, sizes):
    """Cells follow torch.nn.*Cell for (N, H_in) input; the default state is zeros."""
    cell = CELLS[kind](**sizes, dtype=F64)
    cell.reset_parameters("uniform", _gen(3))
    H = sizes["hidden_size"]
    x = _rand(3, sizes["input_size"])
    res = cell(x)
    if kind == "lstm":
        h, c = res
        assert h.shape == (3, H) and c.shape == (3, 4)
        zero = (torch.zeros(3, H, dtype=F64), torch.zeros(3, 4, dtype=F64))
        assert cell(x, res)[0].shape == (3, H)  # a second step
    else:
        assert res.shape == (3, H)
        zero = torch.zeros(3, H, dtype=F64)
        assert cell(x, res).shape == (3, H)
    _assert_close(cell(x, zero), res, 0)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_standalone_cell_unbatched(kind):
    """Like torch.nn.*Cell, an unbatched (H_in,) input gives (hidden,) states equal to the batch row."""
    cell = CELLS[kind](1, 3, dtype=F64)
    cell.reset_parameters("uniform", _gen(3))
    x = _rand(3, 1)
    res = cell(x)
    one = cell(x[1])
    if kind == "lstm":
        assert one[0].shape == (3,) and one[1].shape == (4,)
        _assert_close(one, (res[0][1], res[1][1]))
        _assert_close(cell(x[1], one), tuple(t[1] for t in cell(x, res)))
    else:
        assert one.shape == (3,)
        _assert_close(one, res[1])
        _assert_close(cell(x[1], one), cell(x, res)[1])


def test_qlstm_stack_default_n_qubits():
    """QLSTM(1, 3, num_layers=2) without n_qubits should run like nn.LSTM(1, 3, num_layers=2)."""
    layer = QLSTM(1, 3, num_layers=2)
    out, (h, c) = layer(torch.randn(3, 2, 1))
    assert out.shape == (3, 2, 3) and h.shape == (2, 2, 3) and c.shape[:2] == (2, 2)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_stack_shares_n_qubits(kind):
    """Every layer of a stack has layer 0's width (input + hidden); deeper layers project [x, h]."""
    layer = LAYERS[kind][0](1, 3, num_layers=2)
    assert [c.n_qubits for c in layer.cells] == [4, 4]
    assert layer.cells[0].in_proj is None and layer.cells[1].in_proj.in_features == 6
    out, h = layer(torch.randn(3, 2, 1))
    assert out.shape == (3, 2, 3) and (h[0] if kind == "lstm" else h).shape == (2, 2, 3)


# ==================================================================================================
# 2. parameter counts
# ==================================================================================================
def test_paper_qlstm_has_149_parameters():
    model = build_model("qlstm")
    assert count_parameters(model) == 149 == 6 * 2 * 4 * 3 + 5
    cell = model.rnn.cells[0]
    assert len(model.rnn.cells) == 1
    assert (cell.input_size, cell.hidden_size, cell.n_qubits, cell.n_layers) == (1, 3, 4, 2)
    assert cell.in_proj is None and cell.hidden_proj is None  # paper sizes: no classical projection
    assert cell.vqc["gates"].weight.shape == (4, 2, 4, 3)
    assert cell.vqc["hidden"].weight.shape == (2, 2, 4, 3)  # VQC5, VQC6
    assert (model.head.in_features, model.head.out_features) == (4, 1)
    # paper init: 0.01 * N(0, 1)
    assert 0 < cell.vqc["gates"].weight.abs().max() < 0.1
    assert model(torch.randn(2, 4, 1)).shape == (2, 1)


def test_qlstm_four_vqc_layers_has_293_parameters():
    assert count_parameters(build_model("qlstm", n_layers=4)) == 293 == 6 * 4 * 4 * 3 + 5


@pytest.mark.parametrize("name, expected", [("qrnn", 2 * 24 + 5), ("qgru", 4 * 24 + 5)])
def test_other_paper_models_counts(name, expected):
    assert count_parameters(build_model(name)) == expected


def test_rc_mode_freezing_leaves_five():
    """Freezing the VQCs (reservoir mode, QRNN-RC paper) leaves only the Linear(4→1) head."""
    model = build_model("qlstm")
    model.rnn.requires_grad_(False)
    assert count_parameters(model) == 5


@pytest.mark.parametrize("kind, banks", [("lstm", 5), ("gru", 3), ("rnn", 1)])
def test_non_paper_sizes_create_projections(kind, banks):
    layer = LAYERS[kind][0](2, 5, n_qubits=4)
    cell = layer.cells[0]
    assert isinstance(cell.in_proj, nn.Linear)
    assert (cell.in_proj.in_features, cell.in_proj.out_features) == (7, 4)
    assert isinstance(cell.hidden_proj, nn.Linear)
    assert (cell.hidden_proj.in_features, cell.hidden_proj.out_features) == (4, 5)
    assert count_parameters(layer) == (7 * 4 + 4) + (4 * 5 + 5) + banks * 2 * 4 * 3
    no_bias = LAYERS[kind][0](2, 5, n_qubits=4, bias=False)
    assert count_parameters(no_bias) == 7 * 4 + 4 * 5 + banks * 2 * 4 * 3
    # hidden ≤ n_qubits: no hidden projection, the first `hidden` wires are read
    small = LAYERS[kind][0](1, 2, n_qubits=4).cells[0]
    assert small.hidden_proj is None and (small.in_proj.in_features, small.in_proj.out_features) == (3, 4)
    out, _ = layer(torch.randn(3, 2, 2))
    assert out.shape == (3, 2, 5)


# ==================================================================================================
# 3. gradients
# ==================================================================================================
@pytest.mark.parametrize("name", list(MODELS))
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name)
    if hasattr(model.rnn, "reset_parameters") and name.startswith("q"):
        model.rnn.reset_parameters("uniform", _gen(0))
    x, y = torch.randn(3, 4, 1), torch.randn(3, 1)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    params = dict(model.named_parameters())
    assert params
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: {pname} has no gradient"
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().max() > 0, f"{name}: {pname} has an all-zero gradient"


def _finite_difference(model, x, weight, index, eps=1e-6):
    with torch.no_grad():
        orig = weight[index].item()
        weight[index] = orig + eps
        plus = model(x).sum().item()
        weight[index] = orig - eps
        minus = model(x).sum().item()
        weight[index] = orig
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize(
    "bank, index",
    [
        ("gates", (2, 0, 1, 1)),
        ("gates", (1, 0, 0, 1)),
        ("gates", (0, 1, 0, 1)),
        ("hidden", (0, 0, 2, 0)),
        ("hidden", (1, 1, 3, 0)),
    ],
)
def test_qlstm_weight_gradient_matches_finite_difference(bank, index):
    torch.manual_seed(0)  # the head's default init
    model = build_model("qlstm").double()
    model.rnn.reset_parameters("uniform", _gen(7))
    x = _rand(2, 3, 1, seed=3, scale=2.0)
    weight = model.rnn.cells[0].vqc[bank].weight
    model.zero_grad()
    model(x).sum().backward()
    analytic = weight.grad[index].item()
    numeric = _finite_difference(model, x, weight, index)
    assert abs(analytic) > 1e-4  # a meaningful, non-vanishing derivative
    assert abs(analytic - numeric) < 1e-6, (analytic, numeric)
    assert abs(analytic - numeric) < 1e-4 * abs(analytic), (analytic, numeric)


def test_last_layer_rz_weight_has_zero_gradient():
    """The last Rot's ω is an RZ right before a Z measurement: no effect, zero derivative on both sides."""
    torch.manual_seed(0)
    model = build_model("qlstm").double()
    model.rnn.reset_parameters("uniform", _gen(7))
    x = _rand(2, 3, 1, seed=3, scale=2.0)
    weight = model.rnn.cells[0].vqc["gates"].weight
    model(x).sum().backward()
    assert weight.grad[:, -1, :, 2].abs().max() < 1e-14
    assert abs(_finite_difference(model, x, weight, (1, 1, 2, 2))) < 1e-8


# ==================================================================================================
# 4. cell equations against an independent step-by-step PennyLane implementation
# ==================================================================================================
class ChenVQC:
    """One Chen VQC on default.qubit, float64, one sample per call (Chen VQC block, docs/references.md),
    written from the paper description, not from qseq.circuits."""

    def __init__(self, n_qubits: int):
        import pennylane as qml

        self.n = n_qubits
        dev = qml.device("default.qubit", wires=n_qubits)

        @qml.qnode(dev, interface=None, diff_method=None)
        def circuit(v, W):
            n = self.n
            for i in range(n):
                qml.Hadamard(wires=i)
            for i in range(n):
                qml.RY(np.arctan(v[i]), wires=i)
                qml.RZ(np.arctan(v[i] ** 2), wires=i)
            for layer in range(W.shape[0]):
                for i in range(n):
                    qml.CNOT(wires=[i, (i + 1) % n])
                for j in range(n):
                    qml.CNOT(wires=[j, (j + 2) % n])
                for k in range(n):
                    qml.Rot(W[layer, k, 0], W[layer, k, 1], W[layer, k, 2], wires=k)
            return [qml.expval(qml.PauliZ(k)) for k in range(n)]

        self.circuit = circuit

    def __call__(self, v: np.ndarray, W: torch.Tensor) -> np.ndarray:
        assert v.shape == (self.n,)
        return np.asarray(self.circuit(np.asarray(v, np.float64), W.detach().double().numpy()), dtype=np.float64)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _np(t):
    return t.detach().double().numpy()


def _linear(module, v):
    """A classical projection (None = identity), in numpy."""
    if module is None:
        return v
    out = _np(module.weight) @ v
    return out + _np(module.bias) if module.bias is not None else out


def _ref_qlstm(cell, x, h0, c0):
    """Chen's VQLSTM._forward, sample by sample; returns (outputs (L, N, out), h, c)."""
    vqc = ChenVQC(cell.n_qubits)
    Wg, Wh = cell.vqc["gates"].weight, cell.vqc["hidden"].weight
    H = cell.hidden_size
    outs = np.zeros((x.shape[0], x.shape[1], cell.output_size))
    hs, cs = [], []
    for b in range(x.shape[1]):
        h, c = _np(h0[b]), _np(c0[b])
        for t in range(x.shape[0]):
            v = _linear(cell.in_proj, np.concatenate([_np(x[t, b]), h]))
            f = _sigmoid(vqc(v, Wg[0]))
            i = _sigmoid(vqc(v, Wg[1]))
            g = np.tanh(vqc(v, Wg[2]))
            o = _sigmoid(vqc(v, Wg[3]))
            c = f * c + i * g
            u = o * np.tanh(c)
            z5 = vqc(u, Wh[0])
            h = z5[:H] if cell.hidden_proj is None else _linear(cell.hidden_proj, z5)
            outs[t, b] = vqc(u, Wh[1]) if cell.readout_vqc else h
        hs.append(h)
        cs.append(c)
    return outs, np.stack(hs), np.stack(cs)


def _ref_qgru(cell, x, h0):
    """QGRUCell's docstring equations, sample by sample."""
    vqc = ChenVQC(cell.n_qubits)
    Wg, Wn = cell.vqc["gates"].weight, cell.vqc["candidate"].weight
    H = cell.hidden_size

    def hid(z):
        return z[:H] if cell.hidden_proj is None else _linear(cell.hidden_proj, z)

    outs = np.zeros((x.shape[0], x.shape[1], cell.output_size))
    hs = []
    for b in range(x.shape[1]):
        h = _np(h0[b])
        for t in range(x.shape[0]):
            xt = _np(x[t, b])
            v = _linear(cell.in_proj, np.concatenate([xt, h]))
            r = _sigmoid(hid(vqc(v, Wg[0])))
            z = _sigmoid(hid(vqc(v, Wg[1])))
            n = np.tanh(hid(vqc(_linear(cell.in_proj, np.concatenate([xt, r * h])), Wn[0])))
            h = (1 - z) * n + z * h
            if cell.readout_vqc:
                outs[t, b] = vqc(_linear(cell.in_proj, np.concatenate([xt, h])), cell.vqc["readout"].weight[0])
            else:
                outs[t, b] = h
        hs.append(h)
    return outs, np.stack(hs)


def _ref_qrnn(cell, x, h0):
    """QRNNCell's docstring equations, sample by sample."""
    vqc = ChenVQC(cell.n_qubits)
    W = cell.vqc["gates"].weight
    H = cell.hidden_size
    outs = np.zeros((x.shape[0], x.shape[1], cell.output_size))
    hs = []
    for b in range(x.shape[1]):
        h = _np(h0[b])
        for t in range(x.shape[0]):
            v = _linear(cell.in_proj, np.concatenate([_np(x[t, b]), h]))
            z1 = vqc(v, W[0])
            y = vqc(v, W[1]) if cell.readout_vqc else None
            h = np.tanh(z1[:H] if cell.hidden_proj is None else _linear(cell.hidden_proj, z1))
            outs[t, b] = y if cell.readout_vqc else h
        hs.append(h)
    return outs, np.stack(hs)


SIZES = {"paper": dict(input_size=1, hidden_size=3), "projected": dict(input_size=2, hidden_size=5, n_qubits=4)}


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("sizes, readout_vqc", [("paper", True), ("paper", False), ("projected", False)])
def test_cell_equations_against_pennylane_reference(kind, sizes, readout_vqc):
    pytest.importorskip("pennylane")
    layer = _layer(kind, seed=11, readout_vqc=readout_vqc, **SIZES[sizes])
    cell = layer.cells[0]
    assert cell.n_qubits == 4
    L, N = 3, 2
    x = _rand(L, N, cell.input_size, seed=12, scale=1.5)
    s0 = _states(kind, layer, 1, (N,), seed=13)
    out, fin = layer(x, s0)
    if kind == "lstm":
        ref_out, ref_h, ref_c = _ref_qlstm(cell, x, s0[0][0], s0[1][0])
        _assert_close(fin, (torch.from_numpy(ref_h)[None], torch.from_numpy(ref_c)[None]), 1e-10)
    elif kind == "gru":
        ref_out, ref_h = _ref_qgru(cell, x, s0[0])
        _assert_close(fin, torch.from_numpy(ref_h)[None], 1e-10)
    else:
        ref_out, ref_h = _ref_qrnn(cell, x, s0[0])
        _assert_close(fin, torch.from_numpy(ref_h)[None], 1e-10)
    _assert_close(out, torch.from_numpy(ref_out), 1e-10)
    assert out.shape[-1] == (4 if readout_vqc else cell.hidden_size)
    assert np.abs(ref_out).max() > 1e-2  # uniform weights: the outputs are far from trivial


def test_paper_model_end_to_end_against_reference():
    """build_model("qlstm"): Linear(4→1) on VQC6 of the last step, against the reference."""
    pytest.importorskip("pennylane")
    model = build_model("qlstm", dtype=F64)
    model.rnn.reset_parameters("uniform", _gen(5))
    x = _rand(2, 3, 1, seed=6, scale=2.0)  # (N, L, 1)
    cell = model.rnn.cells[0]
    ref_out, _, _ = _ref_qlstm(cell, x.transpose(0, 1), torch.zeros(2, 3, dtype=F64), torch.zeros(2, 4, dtype=F64))
    expected = ref_out[-1] @ _np(model.head.weight).T + _np(model.head.bias)
    _assert_close(model(x), torch.from_numpy(expected), 1e-10)


def test_angle_encode():
    v = torch.tensor([[0.5, -2.0, 0.0]], dtype=F64)
    expected = torch.tensor([[math.atan(0.5), math.atan(-2.0), 0.0, math.atan(0.25), math.atan(4.0), 0.0]], dtype=F64)
    _assert_close(angle_encode(v), expected)


# ==================================================================================================
# 5. backend calls per time step
# ==================================================================================================
# ``usage.calls`` counts what a backend is charged for: a call per bank and time step, also when the
# torch engine runs a QLSTM layer fused (tests/models/test_fused.py checks the fused path is taken).
@pytest.mark.parametrize("name, per_step", [("qlstm", 2), ("qrnn", 1), ("qgru", 3)])
def test_backend_calls_per_step_paper_models(name, per_step):
    backend = TorchBackend()
    model = build_model(name, backend=backend)
    assert model.rnn.backend is backend
    for L in (1, 4):
        backend.usage.reset()
        model(torch.randn(3, L, 1))
        assert backend.usage.calls == per_step * L, (name, L, backend.usage.calls)
        assert backend.usage.circuits == 3 * L * {"qlstm": 6, "qrnn": 2, "qgru": 4}[name]


@pytest.mark.parametrize(
    "kind, readout_vqc, per_step",
    [("lstm", False, 2), ("lstm", True, 2), ("rnn", False, 1), ("rnn", True, 1), ("gru", False, 2), ("gru", True, 3)],
)
def test_backend_calls_per_step_layers(kind, readout_vqc, per_step):
    backend = TorchBackend()
    layer = LAYERS[kind][0](1, 3, readout_vqc=readout_vqc, backend=backend, num_layers=2, n_qubits=4)
    layer(torch.randn(5, 2, 1))
    # two layers; readout_vqc applies to the last layer only, so the first makes the plain count
    plain = {"lstm": 2, "rnn": 1, "gru": 2}[kind]
    assert backend.usage.calls == (plain + per_step) * 5, (kind, readout_vqc, backend.usage.calls)
    backend.usage.reset()
    LAYERS[kind][0](1, 3, readout_vqc=readout_vqc, backend=backend)(torch.randn(4, 2, 1))
    assert backend.usage.calls == per_step * 4, (kind, readout_vqc, backend.usage.calls)


# ==================================================================================================
# 6. to_backend("pennylane:default.qubit")
# ==================================================================================================
def test_to_backend_pennylane_matches_torch():
    pytest.importorskip("pennylane")
    model = build_model("qlstm").double()
    model.rnn.reset_parameters("uniform", _gen(21))
    x = _rand(2, 3, 1, seed=22, scale=2.0)
    out_torch, (h_t, c_t) = model.rnn(x)
    y_torch = model(x)
    assert model.to_backend("pennylane:default.qubit") is model
    assert model.rnn.backend.name.startswith("pennylane")
    assert all(c.backend is model.rnn.backend for c in model.rnn.cells)
    out_pl, (h_pl, c_pl) = model.rnn(x)
    _assert_close(out_pl, out_torch, 1e-10)
    _assert_close((h_pl, c_pl), (h_t, c_t), 1e-10)
    _assert_close(model(x), y_torch, 1e-10)
    # gradients still flow on the PennyLane backend
    model.zero_grad()
    model(x).sum().backward()
    assert model.rnn.cells[0].vqc["gates"].weight.grad.abs().max() > 0


# ==================================================================================================
# 7. bad inputs
# ==================================================================================================
@pytest.fixture(scope="module")
def layers():
    return {kind: LAYERS[kind][0](1, 3) for kind in LAYERS}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_nan_input(layers, kind):
    x = torch.randn(3, 2, 1)
    x[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layers[kind](x)
    x[1, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        layers[kind](x)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("shape", [(3, 2, 2), (3, 2), (3,), (3, 2, 1, 1), (2, 1, 3)])
def test_wrong_input_shape(layers, kind, shape):
    with pytest.raises(ValueError, match="H_in = 1"):
        layers[kind](torch.randn(shape))


@pytest.mark.parametrize("kind", list(LAYERS))
def test_empty_sequence(layers, kind):
    with pytest.raises(ValueError, match="empty"):
        layers[kind](torch.randn(0, 2, 1))


@pytest.mark.parametrize("kind", ["rnn", "gru"])
@pytest.mark.parametrize("shape", [(1, 3, 3), (2, 2, 3), (1, 2, 4), (2, 3), (1, 2, 3, 1)])
def test_wrong_h0_shape(layers, kind, shape):
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 2, 3\)"):
        layers[kind](torch.randn(3, 2, 1), torch.zeros(shape))


def test_wrong_h0_shape_unbatched(layers):
    with pytest.raises(ValueError, match="hx must have shape"):
        layers["gru"](torch.randn(3, 1), torch.zeros(1, 2, 3))


@pytest.mark.parametrize(
    "hx, match",
    [
        (torch.zeros(1, 2, 3), "pair"),
        ((torch.zeros(1, 2, 3),), "pair"),
        ((torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)), "pair"),
        ((torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)), r"c_0 must have shape \(1, 2, 4\)"),  # c with hidden features
        ((torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)), r"h_0 must have shape \(1, 2, 3\)"),
        ((torch.zeros(2, 2, 3), torch.zeros(2, 2, 4)), "h_0 must have shape"),
        ((torch.zeros(1, 2, 3), None), "c_0 must have shape"),
    ],
)
def test_wrong_lstm_state_structure(layers, hx, match):
    with pytest.raises(ValueError, match=match):
        layers["lstm"](torch.randn(3, 2, 1), hx)


def test_nan_initial_state(layers):
    h0 = torch.zeros(1, 2, 3)
    h0[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layers["gru"](torch.randn(3, 2, 1), h0)


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
def test_bidirectional_rejected(cls):
    with pytest.raises(ValueError, match="bidirectional"):
        cls(1, 3, bidirectional=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_layers=0), "num_layers"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(n_qubits=0), "n_qubits"),
        (dict(n_layers=0), "n_layers"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QLSTM(1, 3, **kwargs)


@pytest.mark.parametrize("args", [(0, 3), (1, 0), (1.5, 3)])
def test_bad_sizes(args):
    with pytest.raises(ValueError, match="must be a positive integer"):
        QGRU(*args)


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'qtransformer'.*qlstm"):
        build_model("qtransformer")


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU, QLSTMCell])
def test_unknown_init(cls):
    with pytest.raises(ValueError, match="init must be one of"):
        cls(1, 3, init="xavier")
    layer = cls(1, 3)
    with pytest.raises(ValueError, match="init must be one of"):
        layer.reset_parameters("xavier")


def test_init_uniform_range_and_reproducible():
    a, b = QLSTM(1, 3), QLSTM(1, 3)
    a.reset_parameters("uniform", _gen(4))
    b.reset_parameters("uniform", _gen(4))
    w = a.cells[0].vqc["gates"].weight
    assert torch.equal(w, b.cells[0].vqc["gates"].weight)
    assert w.min() >= 0 and w.max() < 2 * math.pi and w.max() > 1.0
    assert QLSTM(1, 3, init="uniform").cells[0].vqc["hidden"].weight.abs().max() > 0.1


@pytest.mark.parametrize("spec", ["nosuchbackend", "qiskit_typo:aer"])
def test_unknown_backend_spec(spec):
    with pytest.raises(ValueError, match="unknown backend"):
        QLSTM(1, 3, backend=spec)
    with pytest.raises(ValueError, match="unknown backend"):
        build_model("qgru", backend=spec)
    layer = QRNN(1, 3)
    with pytest.raises(ValueError, match="unknown backend"):
        layer.to_backend(spec)
    assert isinstance(layer.backend, TorchBackend)  # a failed move leaves the backend unchanged


@pytest.mark.parametrize("cell_cls", [QRNNCell, QGRUCell, QLSTMCell])
def test_cell_bad_inputs(cell_cls):
    cell = cell_cls(1, 3)
    with pytest.raises(ValueError, match="input must be"):
        cell(torch.randn(2, 2))
    with pytest.raises(ValueError, match="input must be"):
        cell(torch.randn(2, 3, 1))
    bad_state = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="must have shape"):
        cell(torch.randn(2, 1), (bad_state, torch.zeros(2, 4)) if cell_cls is QLSTMCell else bad_state)


def test_sequence_regressor_needs_batch_first():
    from qseq.models import SequenceRegressor

    with pytest.raises(ValueError, match="batch_first"):
        SequenceRegressor(QLSTM(1, 3))


def test_backend_get_passthrough():
    backend = get("torch")
    assert get(backend) is backend
    assert QLSTM(1, 3, backend=backend).backend is backend


# -- binding reused across calls without gradients --------------------------------------------------
def test_cells_reuse_their_binding_without_gradients_and_rebind_when_weights_change(monkeypatch):
    from qseq.backends.torch_engine import TorchBackend

    binds = []
    bind = TorchBackend.bind
    monkeypatch.setattr(TorchBackend, "bind", lambda self, *a, **k: binds.append(1) or bind(self, *a, **k))
    torch.manual_seed(0)
    cell = QLSTMCell(2, 3, n_qubits=5, dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64)
    with torch.no_grad():
        first = cell(x)
        assert len(binds) == 1  # VQC1–5 bound as one bank (the fused step)
        assert torch.equal(cell(x)[0], first[0]) and len(binds) == 1  # reused, same values
        cell.vqc["gates"].weight.add_(0.1)  # an in-place update (an optimiser step) invalidates it
        changed = cell(x)
        assert len(binds) == 2
    fresh = QLSTMCell(2, 3, n_qubits=5, dtype=torch.float64)
    fresh.load_state_dict(cell.state_dict())
    with torch.no_grad():
        _assert_close(changed[0], fresh(x)[0])
    # with gradients every call binds afresh, and the weights get their gradient
    out = cell(x)[0].sum() + cell(x)[0].sum()
    out.backward()
    assert len(binds) == 2 + 1 + 2 and cell.vqc["gates"].weight.grad.abs().sum() > 0  # + fresh's two banks

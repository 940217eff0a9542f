"""Every circuit builder against circuits written out by hand in PennyLane and in Qiskit.

The references below are written gate by gate from the papers' public code and PennyLane's
template documentation (docs/references.md): Chen's VQC block (``VQCVariationalLoadingFlexNoisy``
with ``hadamard_gate=True, more_entangle=True``), the QFWP fast programmer (``quantum_net`` of
``Quantum_FWP/vqFWP_time_series.py``) and PennyLane's ``AngleEmbedding``, ``BasicEntanglerLayers``
and ``StronglyEntanglingLayers``. They take the angles in the papers' shapes (weights
``(layers, wires, 3)``) and use nothing of qseq: no exporter, no gate table, no ``Circuit.ops``.
qseq's side is only the builder's output run by the torch engine (and by Aer's exact estimator),
fed the documented parameter layout, so a wrong gate, wire, order or angle index in a builder,
or a wrong layout in its docstring, fails here.

Conventions: wire ``i`` is Qiskit qubit ``i``; qseq's and PennyLane's state index has wire 0 as the
most significant bit, Qiskit's has qubit 0 as the least significant (``reverse_qargs`` turns one
into the other); ``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.backends import get
from qseq.circuits import angle_embedding, basic_entangler, chen_vqc, fwp_vqc, strongly_entangling

qml = pytest.importorskip("pennylane")
qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.quantum_info import SparsePauliOp, Statevector  # noqa: E402

TOL = 1e-10
BATCH = 3


# -- the circuits, written out once per framework -----------------------------------------------
# Each ``*_gates`` function emits the circuit through ``g``, an adapter with the five gate calls the
# circuits need (h, rx/ry/rz, rot, cnot), so the PennyLane and Qiskit versions are the same text
# read twice; the adapters themselves map each call to the framework's own gate.


class PennyLaneGates:
    def h(self, w):
        qml.Hadamard(wires=w)

    def r(self, axis, angle, w):
        {"X": qml.RX, "Y": qml.RY, "Z": qml.RZ}[axis](angle, wires=w)

    def rot(self, phi, theta, omega, w):
        qml.Rot(phi, theta, omega, wires=w)

    def cnot(self, control, target):
        qml.CNOT(wires=[control, target])


class QiskitGates:
    def __init__(self, n):
        self.qc = QuantumCircuit(n)

    def h(self, w):
        self.qc.h(w)

    def r(self, axis, angle, w):
        {"X": self.qc.rx, "Y": self.qc.ry, "Z": self.qc.rz}[axis](float(angle), w)

    def rot(self, phi, theta, omega, w):
        # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ): RZ(φ) acts first
        self.qc.rz(float(phi), w)
        self.qc.ry(float(theta), w)
        self.qc.rz(float(omega), w)

    def cnot(self, control, target):
        self.qc.cx(control, target)


def chen_gates(g, n, x, w):
    """Chen's VQC block: H on every wire; RY(x[i]) then RZ(x[n + i]) on wire i; per layer a CNOT
    ring at distance 1, one at distance 2, then Rot(w[l, i, 0..2]) on every wire. On 2 wires the
    distance-2 ring would be CNOT(i, i) and is left out; on 1 wire there is no CNOT."""
    for i in range(n):
        g.h(i)
    for i in range(n):
        g.r("Y", x[i], i)
        g.r("Z", x[n + i], i)
    for layer in range(w.shape[0]):
        for i in range(n):
            if (i + 1) % n != i:
                g.cnot(i, (i + 1) % n)
        for j in range(n):
            if (j + 2) % n != j:
                g.cnot(j, (j + 2) % n)
        for k in range(n):
            g.rot(w[layer, k, 0], w[layer, k, 1], w[layer, k, 2], k)


def fwp_gates(g, n, x, w):
    """QFWP's fast programmer: H on every wire; RY(x[i]) on the first len(x) wires; per layer the
    brick entangler (CNOT(0,1), CNOT(2,3), ... then CNOT(1,2), CNOT(3,4), ...) and RY(w[k, q])
    on every wire."""
    for q in range(n):
        g.h(q)
    for q, angle in enumerate(x):
        g.r("Y", angle, q)
    for k in range(w.shape[0]):
        for i in range(0, n - 1, 2):
            g.cnot(i, i + 1)
        for i in range(1, n - 1, 2):
            g.cnot(i, i + 1)
        for q in range(n):
            g.r("Y", w[k, q], q)


def angle_gates(g, n, x, rotation):
    """PennyLane's AngleEmbedding: R{rotation}(x[i]) on wire i, for the first len(x) wires."""
    for i, angle in enumerate(x):
        g.r(rotation, angle, i)


def basic_gates(g, n, w, rotation):
    """PennyLane's BasicEntanglerLayers: per layer R{rotation}(w[l, i]) on every wire, then
    CNOT(i, i+1 mod n) for every wire; a single CNOT(0, 1) on two wires, none on one."""
    for layer in range(w.shape[0]):
        for i in range(n):
            g.r(rotation, w[layer, i], i)
        if n == 2:
            g.cnot(0, 1)
        elif n > 2:
            for i in range(n):
                g.cnot(i, (i + 1) % n)


def strong_gates(g, n, w, ranges):
    """PennyLane's StronglyEntanglingLayers: per layer Rot(w[l, i, 0..2]) on every wire, then
    CNOT(i, i + r_l mod n) for every wire (none on one wire); r_l defaults to l mod (n-1) + 1."""
    if ranges is None:
        ranges = [(layer % (n - 1)) + 1 if n > 1 else 0 for layer in range(w.shape[0])]
    for layer in range(w.shape[0]):
        for i in range(n):
            g.rot(w[layer, i, 0], w[layer, i, 1], w[layer, i, 2], i)
        if n > 1:
            for i in range(n):
                g.cnot(i, (i + ranges[layer]) % n)


# -- the cases: builder call, reference text, and angles in the papers' shapes -------------------
def _uniform(rng, *shape):
    return rng.uniform(-np.pi, np.pi, size=shape)


class Case:
    """One builder call with its reference: ``emit(g, sample)`` writes sample ``b``'s circuit, and
    ``groups`` are the same angles in the layout the builder documents."""

    def __init__(self, name, circuit, n, emit, groups, n_measured, template=None):
        self.name, self.circuit, self.n, self.emit, self.groups = name, circuit, n, emit, groups
        self.n_measured, self.template = n_measured, template


def chen_case(n, layers, n_measured=None, seed=0):
    rng = np.random.default_rng(seed)
    x, w = _uniform(rng, BATCH, 2 * n), _uniform(rng, layers, n, 3)  # weights shared by the batch
    groups = {"inputs": x, "weights": w.reshape(-1)}
    m = n if n_measured is None else n_measured
    return Case(
        f"chen_vqc({n},{layers},m={m})",
        chen_vqc(n, layers, n_measured),
        n,
        lambda g, b: chen_gates(g, n, x[b], w),
        groups,
        m,
    )


def fwp_case(n, depth, n_measured, n_inputs=1, seed=0):
    rng = np.random.default_rng(seed)
    x, w = _uniform(rng, BATCH, n_inputs), _uniform(rng, BATCH, depth, n)  # fast weights per sample
    groups = {"inputs": x, "weights": w.reshape(BATCH, -1)}
    return Case(
        f"fwp_vqc({n},{depth},m={n_measured},in={n_inputs})",
        fwp_vqc(n, depth, n_measured, n_inputs=n_inputs),
        n,
        lambda g, b: fwp_gates(g, n, x[b], w[b]),
        groups,
        n_measured,
    )


def angle_case(n, rotation, n_inputs=None, seed=0):
    rng = np.random.default_rng(seed)
    x = _uniform(rng, BATCH, n if n_inputs is None else n_inputs)
    return Case(
        f"angle_embedding({n},{rotation},in={n_inputs})",
        angle_embedding(n, rotation, n_inputs=n_inputs),
        n,
        lambda g, b: angle_gates(g, n, x[b], rotation),
        {"inputs": x},
        n,
        lambda b: qml.AngleEmbedding(x[b], wires=range(len(x[b])), rotation=rotation),
    )


def basic_case(n, layers, rotation="X", seed=0):
    rng = np.random.default_rng(seed)
    w = _uniform(rng, BATCH, layers, n)
    return Case(
        f"basic_entangler({n},{layers},{rotation})",
        basic_entangler(n, layers, rotation),
        n,
        lambda g, b: basic_gates(g, n, w[b], rotation),
        {"weights": w.reshape(BATCH, -1)},
        n,
        lambda b: qml.BasicEntanglerLayers(w[b], wires=range(n), rotation=getattr(qml, "R" + rotation)),
    )


def strong_case(n, layers, ranges=None, seed=0):
    rng = np.random.default_rng(seed)
    w = _uniform(rng, BATCH, layers, n, 3)
    return Case(
        f"strongly_entangling({n},{layers},ranges={ranges})",
        strongly_entangling(n, layers, ranges),
        n,
        lambda g, b: strong_gates(g, n, w[b], ranges),
        {"weights": w.reshape(BATCH, -1)},
        n,
        lambda b: qml.StronglyEntanglingLayers(w[b], wires=range(n), ranges=ranges),
    )


def composed_case(n, layers, seed=0):
    """``angle_embedding(n, "Y") + strongly_entangling(n, layers)``: groups inputs, then weights."""
    rng = np.random.default_rng(seed)
    x, w = _uniform(rng, BATCH, n), _uniform(rng, layers, n, 3)

    def emit(g, b):
        angle_gates(g, n, x[b], "Y")
        strong_gates(g, n, w, None)

    circuit = angle_embedding(n, "Y") + strongly_entangling(n, layers)
    return Case(f"angleY({n})+strong({n},{layers})", circuit, n, emit, {"inputs": x, "weights": w.reshape(-1)}, n)


CASES = [
    chen_case(4, 2),  # the papers' size
    chen_case(3, 1),
    chen_case(5, 3, n_measured=2, seed=1),
    chen_case(6, 2, n_measured=4, seed=2),
    chen_case(2, 2, seed=3),
    chen_case(1, 2, seed=4),
    fwp_case(8, 2, 4),  # the paper's size
    fwp_case(5, 3, 5, n_inputs=2, seed=1),
    fwp_case(4, 1, 2, n_inputs=4, seed=2),
    fwp_case(2, 2, 1, seed=3),
    fwp_case(1, 2, 1, seed=4),
    angle_case(4, "X"),
    angle_case(3, "Y", seed=1),
    angle_case(5, "Z", n_inputs=3, seed=2),
    basic_case(4, 2),
    basic_case(3, 3, "Y", seed=1),
    basic_case(5, 1, "Z", seed=2),
    basic_case(2, 2, seed=3),
    basic_case(1, 2, seed=4),
    strong_case(4, 3),
    strong_case(5, 4, seed=1),
    strong_case(3, 2, ranges=(2, 2), seed=2),
    strong_case(2, 2, seed=3),
    strong_case(1, 1, seed=4),
    composed_case(4, 2),
    composed_case(3, 3, seed=1),
]
IDS = [c.name for c in CASES]


# -- the references -------------------------------------------------------------------------------
def pennylane_by_hand(case):
    """``(states (B, 2**n), <Z_i> (B, m))`` from default.qubit."""
    dev = qml.device("default.qubit", wires=case.n)

    def run(b, measure):
        @qml.qnode(dev, interface=None, diff_method=None)
        def node():
            case.emit(PennyLaneGates(), b)
            return measure()

        return node()

    states = [run(b, qml.state) for b in range(BATCH)]
    z = [run(b, lambda: [qml.expval(qml.PauliZ(i)) for i in range(case.n_measured)]) for b in range(BATCH)]
    return np.asarray(states, dtype=np.complex128), np.asarray(z, dtype=np.float64).reshape(BATCH, case.n_measured)


def qiskit_circuit(case, b):
    g = QiskitGates(case.n)
    case.emit(g, b)
    return g.qc


def qiskit_words(n):
    """Every single-qubit X, Y, Z and a few two- and n-qubit words, as ``(qseq spec, SparsePauliOp)``:
    together they fix the state up to a phase, so the Aer check sees every gate, not only <Z>."""
    words = [{w: p} for w in range(n) for p in "XYZ"]
    if n > 1:
        words += [{0: "X", n - 1: "Y"}, {0: "Z", 1: "Z"}, {w: "XYZ"[w % 3] for w in range(n)}]
    return [
        (spec, SparsePauliOp.from_sparse_list([("".join(spec.values()), list(spec), 1.0)], num_qubits=n))
        for spec in words
    ]


def qiskit_by_hand(case, words=None):
    """``(states (B, 2**n) in qseq's wire order, <words> (B, len))`` from ``Statevector``."""
    if words is None:
        words = [
            (None, SparsePauliOp.from_sparse_list([("Z", [i], 1.0)], num_qubits=case.n)) for i in range(case.n_measured)
        ]
    states, values = [], []
    for b in range(BATCH):
        sv = Statevector(qiskit_circuit(case, b))
        states.append(sv.reverse_qargs().data)
        values.append([float(np.real(sv.expectation_value(op))) for _, op in words])
    return np.asarray(states), np.asarray(values, dtype=np.float64).reshape(BATCH, len(words))


ENGINE = get("torch", dtype=torch.complex128)


def torch_groups(case):
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in case.groups.items()}


def engine_outputs(case):
    """The engine's state, its <Z> by ``expval``, and by a bound circuit (the models' path)."""
    groups = torch_groups(case)
    state = ENGINE.state(case.circuit, groups)
    z = ENGINE.expval(case.circuit, groups)
    fixed = {k: v for k, v in groups.items() if k == "weights"}
    free = {k: v for k, v in groups.items() if k != "weights"}
    bound = ENGINE.bind(case.circuit, **fixed)(**free) if free else z
    return state.numpy(), z.numpy(), bound.numpy()


def assert_same_state(got, want):
    """Equal up to one global phase per sample (the only freedom a state vector has)."""
    for g, w in zip(got, want, strict=True):
        overlap = np.vdot(w, g)
        np.testing.assert_allclose(abs(overlap), 1.0, atol=TOL, rtol=0)
        np.testing.assert_allclose(g * np.conj(overlap), w, atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def references():
    return {}


def reference(case, references):
    if case.name not in references:
        references[case.name] = (pennylane_by_hand(case), qiskit_by_hand(case))
    return references[case.name]


# -- the tests -------------------------------------------------------------------------------------
def test_the_two_references_agree():
    """Guards the adapters: PennyLane's and Qiskit's gates, wire order and Rot order agree."""
    for case in CASES[:: max(1, len(CASES) // 8)]:
        (pl_state, pl_z), (qk_state, qk_z) = pennylane_by_hand(case), qiskit_by_hand(case)
        assert_same_state(qk_state, pl_state)
        np.testing.assert_allclose(qk_z, pl_z, atol=TOL, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_engine_runs_the_circuit_the_papers_describe(case, references):
    (pl_state, pl_z), (qk_state, qk_z) = reference(case, references)
    assert case.circuit.n_obs == case.n_measured
    assert case.circuit.n_params == sum(np.shape(v)[-1] for v in case.groups.values())
    state, z, bound = engine_outputs(case)
    assert state.shape == (BATCH, 2**case.n) and z.shape == (BATCH, case.n_measured)
    assert_same_state(state, pl_state)
    assert_same_state(state, qk_state)
    for got in (z, bound):
        np.testing.assert_allclose(got, pl_z, atol=TOL, rtol=0)
        np.testing.assert_allclose(got, qk_z, atol=TOL, rtol=0)


@pytest.mark.parametrize("case", [c for c in CASES if c.template], ids=lambda c: c.name)
def test_general_ansatze_equal_pennylane_templates(case):
    """The general builders against PennyLane's own templates, not only our reading of their docs."""
    dev = qml.device("default.qubit", wires=case.n)

    @qml.qnode(dev, interface=None, diff_method=None)
    def node(b):
        case.template(b)
        return qml.state()

    want = np.asarray([node(b) for b in range(BATCH)])
    state, _, _ = engine_outputs(case)
    assert_same_state(state, want)


def test_a_wrong_builder_is_caught():
    """The references see a one-gate change: CNOT(1, 2) of Chen's first ring turned around."""
    case = chen_case(4, 2)
    pl_state, _ = pennylane_by_hand(case)
    ops = list(case.circuit.ops)
    k = next(i for i, op in enumerate(ops) if op.name == "CNOT" and op.wires == (1, 2))
    ops[k] = type(ops[k])("CNOT", (2, 1))
    broken = type(case.circuit)(case.circuit.n_qubits, tuple(ops), case.circuit.param_groups, case.circuit.observables)
    state = ENGINE.state(broken, torch_groups(case)).numpy()
    with pytest.raises(AssertionError):
        assert_same_state(state, pl_state)


# -- Aer's exact estimator against the Qiskit reference ---------------------------------------------
AER_CASES = [c for c in CASES if c.n > 1][::2]


@pytest.mark.parametrize("case", AER_CASES, ids=lambda c: c.name)
def test_aer_exact_estimator_equals_the_reference(case):
    pytest.importorskip("qiskit_aer")
    words = qiskit_words(case.n)
    circuit = case.circuit.measure([spec for spec, _ in words])
    _, want = qiskit_by_hand(case, words)
    got = get("aer").expval(circuit, torch_groups(case))
    assert got.dtype == torch.float64 and got.shape == (BATCH, len(words))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12, rtol=0)


#: Aer's exact methods and the agreement each holds: state vector and density matrix are exact to
#: rounding (1e-15 seen); the matrix-product-state method with Aer's own SVD (the default) is off by
#: up to ~4e-11 on these circuits (its truncation and chop thresholds at 0 change nothing), and
#: with LAPACK's SVD (mps_lapack) it is exact to rounding again (5e-15).
AER_METHODS = {
    "aer:statevector": 1e-12,
    "aer:density_matrix": 1e-12,
    "aer:matrix_product_state": 1e-10,
    "aer:matrix_product_state,mps_lapack=true": 1e-12,
}


@pytest.mark.parametrize("method", AER_METHODS)
@pytest.mark.parametrize("case", AER_CASES[:3], ids=lambda c: c.name)
def test_aer_exact_methods_equal_the_reference(case, method):
    pytest.importorskip("qiskit_aer")
    words = qiskit_words(case.n)
    circuit = case.circuit.measure([spec for spec, _ in words])
    _, want = qiskit_by_hand(case, words)
    got = get(method).expval(circuit, torch_groups(case))
    np.testing.assert_allclose(got.numpy(), want, atol=AER_METHODS[method], rtol=0)


#: One case of every builder that fits a 5-qubit device, on two devices in turn.
IBM_CASES = [
    (case, ("fake_manila", "fake_jakarta")[k % 2])
    for k, case in enumerate({c.name.split("(")[0]: c for c in reversed(CASES) if 1 < c.n <= 5}.values())
]


@pytest.mark.parametrize(("case", "device"), IBM_CASES, ids=[f"{c.name}-{d}" for c, d in IBM_CASES])
def test_the_pub_an_ibm_device_gets_has_the_reference_values(case, device):
    """The IBM path without its sampling: the PUB (the circuit transpiled for the device, its
    parameter columns and the observables laid out on the physical qubits) that would be submitted
    is run by Qiskit's exact StatevectorEstimator instead, and qseq reads the values back as usual."""
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit.primitives import StatevectorEstimator

    backend = get(f"ibm:{device}", shots=100)
    pubs = []

    def exact(pub):
        pubs.append(pub)
        return StatevectorEstimator().run([pub])

    backend._submit = exact
    words = qiskit_words(case.n)
    circuit = case.circuit.measure([spec for spec, _ in words])
    _, want = qiskit_by_hand(case, words)
    got = backend.expval(circuit, torch_groups(case))
    (pub,) = pubs
    assert pub[0].num_qubits == backend.max_qubits >= case.n  # the device's ISA circuit, not ours
    assert set(pub[0].count_ops()) <= {"rz", "sx", "x", "cx", "ecr", "barrier"}
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12, rtol=0)

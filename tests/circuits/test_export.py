"""Exporters agree with each other and with the gate table; the drawer shows every gate."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qseq.circuits import (
    GATES,
    Circuit,
    Operation,
    ParamGroup,
    angle_embedding,
    basic_entangler,
    chen_vqc,
    draw,
    fwp_vqc,
    gate,
    strongly_entangling,
    to_pennylane,
    to_qasm3,
    to_qiskit,
)

qml = pytest.importorskip("pennylane")
qiskit = pytest.importorskip("qiskit")
from qiskit.quantum_info import SparsePauliOp  # noqa: E402


def every_gate_circuit() -> Circuit:
    """Each gate of the table twice on 3 wires (two-wire gates on (0, 2), (1, 0), (2, 1), ...)."""
    ops, p = [], 0
    for k, spec in enumerate(list(GATES.values()) * 2):
        wires = (k % 3, (k + 2) % 3)[: spec.n_wires]
        ops.append(Operation(spec.name, wires, tuple(range(p, p + spec.n_params))))
        p += spec.n_params
    return Circuit(3, tuple(ops), (ParamGroup("inputs", 4), ParamGroup("weights", p - 4)))


CIRCUITS = {
    "chen_vqc(3,2)": chen_vqc(3, 2),
    "chen_vqc(4,2,m=2)": chen_vqc(4, 2, n_measured=2),
    "fwp_vqc(4,2,2,in=2)": fwp_vqc(4, 2, 2, n_inputs=2),
    "angle+basic": angle_embedding(4) + basic_entangler(4, 2),
    "angleY+strong": angle_embedding(4, "Y") + strongly_entangling(4, 2),
    "every_gate": every_gate_circuit(),
}


def with_general_words(circuit: Circuit) -> Circuit:
    """The circuit's observables plus an ``XYZI…`` word, ``{0: X, 2: Y}`` and the identity."""
    n = circuit.n_qubits
    words = [("XYZI" * n)[:n], {0: "X", 2: "Y"}, "I" * n]
    return circuit.measure([*circuit.observables, *words])


_QNODES: dict[Circuit, object] = {}


def pennylane_expval(circuit: Circuit, params: torch.Tensor) -> np.ndarray:
    """``to_pennylane`` on default.qubit, the whole ``(B, P)`` batch in one broadcast call."""
    if circuit not in _QNODES:
        dev = qml.device("default.qubit", wires=circuit.n_qubits)
        _QNODES[circuit] = qml.QNode(to_pennylane(circuit), dev, interface="torch")
    return torch.stack(list(_QNODES[circuit](params)), dim=-1).numpy()


@pytest.mark.parametrize("name", CIRCUITS)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_qiskit_and_pennylane_agree(name, seed, angles, qiskit_reference):
    circuit = with_general_words(CIRCUITS[name])
    params = angles(circuit.n_params, 3, seed=seed)
    expected = qiskit_reference(circuit, params)
    np.testing.assert_allclose(pennylane_expval(circuit, params), expected, rtol=0, atol=1e-10)
    assert np.abs(expected[:, -1] - 1).max() < 1e-12  # the identity word


@pytest.mark.parametrize("name", CIRCUITS)
def test_qiskit_matches_gate_table(name, angles, qiskit_reference, table_reference):
    circuit = with_general_words(CIRCUITS[name])
    params = angles(circuit.n_params, seed=7)
    expected = table_reference(circuit, params)
    np.testing.assert_allclose(qiskit_reference(circuit, params), expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", CIRCUITS)
def test_qiskit_matches_torch_engine(name, angles, qiskit_reference):
    from qseq.backends import get

    circuit = with_general_words(CIRCUITS[name])
    params = angles(circuit.n_params, 4, seed=11)
    engine = get("torch", dtype=torch.complex128).expval(circuit, params)
    np.testing.assert_allclose(engine.numpy(), qiskit_reference(circuit, params), atol=1e-10, rtol=0)


@settings(max_examples=15, deadline=None)
@given(word=st.text(alphabet="IXYZ", min_size=3, max_size=3), seed=st.integers(0, 2**31 - 1))
def test_any_pauli_word(word, seed, angles, qiskit_reference, table_reference):
    circuit = every_gate_circuit().measure([word])
    params = angles(circuit.n_params, seed=seed)
    expected = table_reference(circuit, params)
    np.testing.assert_allclose(qiskit_reference(circuit, params), expected, atol=1e-10, rtol=0)
    np.testing.assert_allclose(pennylane_expval(circuit, params[None])[0], expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", CIRCUITS)
def test_qasm3_round_trip(name, angles, qiskit_reference):
    from qiskit.qasm3 import loads
    from qiskit.quantum_info import Statevector

    circuit = with_general_words(CIRCUITS[name])
    params = angles(circuit.n_params, seed=3)
    loaded = loads(to_qasm3(circuit))
    assert loaded.num_qubits == circuit.n_qubits
    assert loaded.num_parameters == circuit.n_params
    names = [f"{g.name}_{i}" for g in circuit.param_groups for i in range(g.size)]
    values = dict(zip(names, params.tolist(), strict=True))
    state = Statevector(loaded.assign_parameters({p: values[p.name] for p in loaded.parameters}))
    observables = to_qiskit(circuit).observables
    got = [state.expectation_value(o).real for o in observables]
    np.testing.assert_allclose(got, qiskit_reference(circuit, params), atol=1e-10, rtol=0)


def test_qasm3_text():
    circuit = chen_vqc(2, 1).measure(["XY", "Z1"])
    text = to_qasm3(circuit)
    lines = text.splitlines()
    assert lines[:2] == ["OPENQASM 3.0;", 'include "stdgates.inc";']
    inputs = [line for line in lines if line.startswith("input float[64] ")]
    assert inputs[0] == "input float[64] inputs_0;"
    assert inputs[-1] == "input float[64] weights_5;"
    assert len(inputs) == circuit.n_params == 10
    assert "qubit[2] q;" in lines
    # Rot(weights_0, weights_1, weights_2) on wire 0 is rz, ry, rz in that order
    start = lines.index("rz(weights_0) q[0];")
    assert lines[start : start + 3] == ["rz(weights_0) q[0];", "ry(weights_1) q[0];", "rz(weights_2) q[0];"]
    assert lines[-1] == "// observables (Pauli words, wire 0 first): XY, IZ"


def test_qasm3_rejects_group_names_that_are_not_identifiers():
    circuit = Circuit(1, (Operation("RX", (0,), (0,)),), (ParamGroup("my angles", 1),))
    with pytest.raises(ValueError, match="my angles"):
        to_qasm3(circuit)


@pytest.mark.parametrize("name", CIRCUITS)
def test_to_qiskit_structure(name):
    circuit = CIRCUITS[name]
    qc, params, observables = to_qiskit(circuit)
    assert params.name == "p" and len(params) == circuit.n_params
    assert set(qc.parameters) == set(params)  # every builder uses every angle
    assert qc.num_qubits == circuit.n_qubits
    n_rot = sum(op.name == "Rot" for op in circuit.ops)
    assert len(qc.data) == len(circuit.ops) + 2 * n_rot
    assert len(observables) == circuit.n_obs
    assert all(o.num_qubits == circuit.n_qubits for o in observables)


def test_to_qiskit_gate_names_and_observables():
    circuit = every_gate_circuit().measure([{0: "X", 2: "Y"}, "III"])
    qc, _, observables = to_qiskit(circuit)
    names = {inst.operation.name for inst in qc.data}
    assert names == {spec.qiskit for spec in GATES.values() if spec.qiskit} | {"rz", "ry"}
    cx = next(inst for inst in qc.data if inst.operation.name == "cx")
    op = next(op for op in circuit.ops if op.name == "CNOT")
    assert [qc.find_bit(q).index for q in cx.qubits] == list(op.wires)  # control first
    assert observables[0] == SparsePauliOp(["YIX"])  # little-endian label: X on qubit 0
    assert observables[1] == SparsePauliOp(["III"])


def test_to_pennylane_unbatched_and_identity():
    circuit = chen_vqc(2, 1).measure(["II", "XZ"])
    params = torch.linspace(-1, 1, circuit.n_params, dtype=torch.float64)
    tape = qml.tape.make_qscript(to_pennylane(circuit))(params)
    assert [type(op).__name__ for op in tape.operations][:4] == ["Hadamard", "Hadamard", "RY", "RZ"]
    assert [type(m.obs).__name__ for m in tape.measurements] == ["Identity", "Prod"]
    got = pennylane_expval(circuit, params)
    assert got.shape == (2,)
    assert got[0] == pytest.approx(1.0, abs=1e-12)


# -- draw --------------------------------------------------------------------------------------


_TARGETS = {"CNOT": "X", "CZ": "Z", "CRX": "RX", "CRY": "RY", "CRZ": "RZ"}  # drawn below a ●


def drawn_label(op: Operation, circuit: Circuit) -> str:
    refs = [f"{g.name}[{i}]" for g in circuit.param_groups for i in range(g.size)]
    args = f"({', '.join(refs[i] for i in op.params)})" if op.params else ""
    return _TARGETS.get(op.name, op.name) + args


def test_draw_text_shows_every_gate():
    circuit = every_gate_circuit()
    text = draw(circuit)
    rows = text.splitlines()
    assert len(rows) == circuit.n_qubits
    assert [row[:3] for row in rows] == ["0: ", "1: ", "2: "]
    for op in circuit.ops:
        assert drawn_label(op, circuit) in rows[op.wires[-1]], op
    n_controls = sum(op.name in _TARGETS for op in circuit.ops)
    assert text.count("●") == n_controls
    assert text.count("SWAP") == 2 * sum(op.name == "SWAP" for op in circuit.ops)
    assert "weights[0]" in text and "inputs[3]" in text


def test_draw_text_layers_disjoint_gates_and_lists_observables():
    circuit = (angle_embedding(3) + basic_entangler(3, 1)).measure(["Z0", {0: "X", 2: "Y"}])
    rows = draw(circuit).splitlines()
    assert len({row.index(f"RX(inputs[{w}])") for w, row in enumerate(rows)}) == 1  # one column
    assert len({row.index(f"RX(weights[{w}])") for w, row in enumerate(rows)}) == 1
    assert rows[0].count("⟨Z⟩") == 1 and "╭X" in rows[0] and "╰Y" in rows[2] and "│" in rows[1]
    assert all("┤" in row for row in rows)


def test_draw_text_with_values():
    circuit = chen_vqc(2, 1)
    text = draw(circuit, params=np.full(circuit.n_params, 0.5))
    assert "RY(0.50)" in text and "Rot(0.50, 0.50, 0.50)" in text
    assert "inputs[" not in text and "weights[" not in text
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        draw(circuit, params=torch.zeros(9))
    with pytest.raises(ValueError, match="output"):
        draw(circuit, output="svg")


def test_draw_mpl_returns_figure():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = draw(chen_vqc(2, 1), output="mpl")
    assert isinstance(fig, Figure)
    matplotlib.pyplot.close(fig)


# -- optional stacks ---------------------------------------------------------------------------


def test_import_does_not_load_optional_stacks():
    code = "import sys, qseq.circuits; print(sorted({'qiskit', 'pennylane', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "export", "extra"),
    [
        ("qiskit", to_qiskit, "qiskit"),
        ("pennylane", to_pennylane, "pennylane"),
    ],
)
def test_missing_stack_names_the_extra(monkeypatch, module, export, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'qseq\[{extra}\]'"):
        export(chen_vqc(2, 1))


def test_every_gate_circuit_covers_the_table():
    assert {op.name for op in every_gate_circuit().ops} == set(GATES)
    assert gate("Rot").qasm3 is None and gate("Rot").qiskit is None  # exercised via DECOMPOSITIONS

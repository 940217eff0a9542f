"""Shared test helpers: seeded random angles and two float64 references built from qseq's own
circuit description, one through its Qiskit exporter and one from its gate table's matrices. They
check the engine and the exporters against each other, not the builders or the gate table; the
independent references are in ``tests/backends/reference.py`` (gate by gate in Qiskit and PennyLane)
and ``tests/circuits/test_independent_references.py`` (every builder written out by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.circuits import Circuit, gate

_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0 + 0j, -1.0]),
}


def random_angles(n: int, *batch: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniform angles in [-π, π), shaped ``(*batch, n)``, from a fixed seed."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*batch, n, generator=gen, dtype=torch.float64) * 2 - 1).mul(torch.pi).to(dtype)


def qiskit_expval(circuit: Circuit, params) -> np.ndarray:
    """Reference via ``to_qiskit`` + ``Statevector``: ``(..., n_params)`` -> ``(..., n_obs)`` float64."""
    from qiskit.quantum_info import Statevector

    from qseq.circuits import to_qiskit

    qc, vector, observables = to_qiskit(circuit)
    flat = np.asarray(torch.as_tensor(params, dtype=torch.float64).detach())
    rows = flat.reshape(-1, circuit.n_params)
    out = [
        [
            Statevector(qc.assign_parameters(dict(zip(vector, row, strict=True)))).expectation_value(o).real
            for o in observables
        ]
        for row in rows
    ]
    return np.asarray(out, dtype=np.float64).reshape(*flat.shape[:-1], circuit.n_obs)


def table_expval(circuit: Circuit, params) -> np.ndarray:
    """Reference from the gate table's own matrices (wire 0 most significant), one vector of angles."""
    angles = torch.as_tensor(params, dtype=torch.float64)
    n = circuit.n_qubits
    psi = np.zeros([2] * n, dtype=complex)
    psi[(0,) * n] = 1
    for op in circuit.ops:
        k = len(op.wires)
        u = gate(op.name).matrix(angles[list(op.params)], torch.complex128).numpy().reshape([2] * (2 * k))
        psi = np.moveaxis(np.tensordot(u, psi, axes=(range(k, 2 * k), op.wires)), range(k), op.wires)
    values = []
    for o in circuit.observables:
        phi = psi
        for w, letter in o.terms:
            phi = np.moveaxis(np.tensordot(_PAULI[letter], phi, axes=(1, w)), 0, w)
        values.append(np.vdot(psi, phi).real)
    return np.asarray(values)


@pytest.fixture(scope="session")
def angles():
    return random_angles


@pytest.fixture(scope="session")
def qiskit_reference():
    pytest.importorskip("qiskit")
    return qiskit_expval


@pytest.fixture(scope="session")
def table_reference():
    return table_expval


@pytest.fixture
def fit_interrupted_in_epoch(monkeypatch):
    """``run(epoch, *args, **kwargs)``: ``qseq.train.fit(*args, **kwargs)`` interrupted by a
    ``KeyboardInterrupt`` as epoch ``epoch`` (1-based, counted in this call) starts, as a killed
    process would be; checks that it got there."""
    from qseq.train import loop as train_loop

    def run(epoch: int, *args, **kwargs) -> None:
        real_epoch, calls = train_loop._train_epoch, {"n": 0}

        def interrupted(*a, **k):
            calls["n"] += 1
            if calls["n"] == epoch:
                raise KeyboardInterrupt
            return real_epoch(*a, **k)

        with monkeypatch.context() as patch:
            patch.setattr(train_loop, "_train_epoch", interrupted)
            with pytest.raises(KeyboardInterrupt):
                train_loop.fit(*args, **kwargs)
        assert calls["n"] == epoch

    return run


@pytest.fixture
def assert_same_run():
    """``check(ref, res, straight, resumed, straight_dir, resumed_dir)``: a resumed ``fit`` (result
    ``res``, model ``resumed``, run directory ``resumed_dir``) ended exactly where an uninterrupted
    one did — every weight and buffer, the history, the best epoch, the final metrics, and the
    checkpoints' weights and optimiser states, bit for bit."""
    from qseq.train import load_checkpoint

    def check(ref, res, straight, resumed, straight_dir, resumed_dir) -> None:
        for (key, p), q in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
            assert torch.equal(p, q), key
        columns = ("epoch", "train_loss", "train_mse", "val_mse", "lr")
        assert [[r[k] for k in columns] for r in res.history] == [[r[k] for k in columns] for r in ref.history]
        assert (res.best_epoch, res.best_value) == (ref.best_epoch, ref.best_value)
        assert res.final_metrics == ref.final_metrics
        a, b = load_checkpoint(straight_dir), load_checkpoint(resumed_dir)
        assert a["model_state"].keys() == b["model_state"].keys()
        for key in a["model_state"]:
            assert torch.equal(a["model_state"][key], b["model_state"][key]), key
        states_a, states_b = a["optimizer_state"]["state"], b["optimizer_state"]["state"]
        assert len(states_a) == len(states_b) > 0
        for sa, sb in zip(states_a.values(), states_b.values(), strict=True):
            assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

    return check


@pytest.fixture
def split_over_threads(monkeypatch):
    """``run(fn, threads=3)``: ``fn()`` with every compiled kernel call split over ``threads`` intra-op
    threads (``qseq._native.call`` splits from no minimum of work), torch's thread count restored."""
    from qseq import _native

    def run(fn, threads: int = 3):
        monkeypatch.setattr(_native, "PARALLEL_MIN_WORK", 0)
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run

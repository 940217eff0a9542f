"""``qseq estimate``'s price of recorded calls against a hand computation:

    QPU seconds = Σ_calls rows · shots · (rep_delay + duration of the ISA circuit + measurement),

with the ISA circuit's duration scheduled here by hand (as soon as possible, each gate's length
from the device's calibration), the longest measurement of the device (one readout is made slower
than the others here, since a fake device's are all alike), and one PUB per job
(a call of more rows than ``max_circuits`` is split into several jobs).
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
import pytest
import torch

from qseq.circuits import chen_vqc, fwp_vqc

pytest.importorskip("qiskit_ibm_runtime")

from qiskit.transpiler import InstructionProperties  # noqa: E402

from qseq.backends.ibm import IBMBackend  # noqa: E402
from qseq.workflows.estimate import Pricer, device_for_estimate  # noqa: E402


def asap_seconds(isa, target) -> float:
    """Length of ``isa`` when every gate starts as soon as its qubits are free."""
    free = [0.0] * isa.num_qubits
    for instruction in isa.data:
        name = instruction.operation.name
        if name == "barrier":
            continue
        qubits = tuple(isa.find_bit(q).index for q in instruction.qubits)
        length = target[name][qubits].duration or 0.0
        start = max(free[q] for q in qubits)
        for q in qubits:
            free[q] = start + length
    return max(free)


@pytest.mark.parametrize("max_circuits", [None, 4])
def test_qpu_seconds_and_counts_equal_the_formula_by_hand(max_circuits):
    shots = 1000
    device = IBMBackend("fake_manila", shots=shots, journal=False, max_circuits=max_circuits)
    target = device._device.target
    # this device's own copy of the calibration, with one readout made the slowest: the formula
    # takes the device's longest measurement
    slow = target["measure"][(2,)]
    target.update_instruction_properties("measure", (2,), InstructionProperties(3 * slow.duration, slow.error))
    a, b = chen_vqc(3, 1), fwp_vqc(4, 2, 2)
    records = [(a, 5), (b, 3), (a, 7)]

    cost = Pricer(device).cost(records)

    rep_delay = 250e-6  # fake_manila's default_rep_delay
    assert device._device.default_rep_delay == rep_delay
    measure = 3 * slow.duration
    assert measure == max(target["measure"][(q,)].duration for q in range(target.num_qubits))
    per_shot = {c: rep_delay + asap_seconds(device.isa_circuit(c), target) + measure for c in (a, b)}
    assert all(200e-6 < t < 1e-3 for t in per_shot.values())  # a few µs of gates on top of the delay
    want = 5 * shots * per_shot[a] + 3 * shots * per_shot[b] + 7 * shots * per_shot[a]
    jobs = 3 if max_circuits is None else math.ceil(5 / 4) + math.ceil(3 / 4) + math.ceil(7 / 4)
    assert (cost.jobs, cost.pubs, cost.circuits, cost.shots) == (jobs, jobs, 15, 15 * shots)
    assert cost.qpu_seconds == pytest.approx(want, rel=1e-12)


def test_a_cloud_name_is_priced_on_its_fake_snapshot():
    device = device_for_estimate("ibm:ibm_fez", shots=64)
    assert device.name == "ibm:fake_fez" and device.shots == 64 and device.journal is None
    with pytest.raises(ValueError, match="ibm:<device>"):
        device_for_estimate("aer", shots=64)


class TinyTask:
    """30 sine windows of length ``seq_len``: what ``get_task(...)`` returns, small."""

    def load(self, seq_len):
        s = np.sin(np.linspace(0, 6, 30 + seq_len))
        X = np.stack([s[i : i + seq_len] for i in range(30)])[..., None]
        return X, s[seq_len:, None]


def test_the_training_estimate_is_what_training_that_long_costs(monkeypatch):
    """``qseq estimate`` prices one and two epochs and extrapolates; training all ``epochs`` on the
    recording backend, with the same data and settings, costs exactly that."""
    from qseq.models import build_model
    from qseq.train import fit

    est = importlib.import_module("qseq.workflows.estimate")  # the module; qseq.workflows.estimate is the function
    monkeypatch.setattr(est, "get_task", lambda name: TinyTask())
    seen = []
    real_fit = est.fit

    def recording_fit(model, train, val, config):
        seen.append((train, val, config))
        return real_fit(model, train, val, config=config)

    monkeypatch.setattr(est, "fit", recording_fit)
    device, costs = est.estimate("qrnn", "tiny", "ibm:fake_manila", shots=64, epochs=3, seed=2)
    train, val, config = seen[-1]
    assert config.epochs == 2 and val is not None  # the two-epoch run, monitored on validation

    model = build_model("qrnn", dtype=torch.float64, seed=2)
    recorder = est.CircuitRecorder(device.max_qubits)
    model.to_backend(recorder)
    fit(model, train, val, config=dataclasses.replace(config, epochs=3))
    direct = est.Pricer(device).cost(recorder.records)
    got = costs["training"]
    assert (got.jobs, got.pubs, got.circuits, got.shots) == (direct.jobs, direct.pubs, direct.circuits, direct.shots)
    assert got.qpu_seconds == pytest.approx(direct.qpu_seconds, rel=1e-12)
    assert got.circuits > 0

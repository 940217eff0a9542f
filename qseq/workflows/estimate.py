"""What a run would cost on an IBM device — jobs, PUBs, circuits, shots, QPU time — before paying.

:func:`estimate` runs the real code path (the model, the parameter-shift bridge, the training
loop, the reservoir readout) on a *recording* backend that evaluates exactly with the torch engine
and records every call it would have sent: one call is one job with one PUB. The QPU time is the
execution time only,

    QPU seconds ≈ Σ_jobs  n_circuits · shots · (rep_delay + duration of the ISA circuit + measurement),

with the durations of the device's calibration (a fake device's snapshot when the name has one,
``ibm_fez`` → ``fake_fez``, so estimating needs no account). Queueing, per-job overheads (seconds
each) and error-mitigation overheads (resilience level 2, twirling) come on top.

Used by ``qseq estimate --model M --task T --backend ibm:NAME [--reservoir]``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import astuple, dataclass

import numpy as np
import torch

from ..backends import get
from ..backends.ibm import IBMBackend, MissingCredentialsError, fake_backend_names
from ..backends.param_shift import ParameterShiftBackend
from ..circuits import Circuit
from ..data import chronological_split, get_task
from ..models import build_model, runs_circuits
from ..reservoir import ReservoirRegressor
from ..train import TrainConfig, evaluate, fit

__all__ = ["Cost", "estimate", "device_for_estimate"]


@dataclass(frozen=True)
class Cost:
    """The cost of one workload on a device."""

    jobs: int
    pubs: int
    circuits: int
    shots: int
    qpu_seconds: float


class CircuitRecorder(ParameterShiftBackend):
    """Exact values from the torch engine; records ``(circuit, rows)`` of every call.

    Args:
        max_qubits: the device's qubit count; a larger circuit is refused.
        device, model: the device's and the model's names, for that error.
    """

    name = "recorder"

    def __init__(self, max_qubits: int | None, *, device: str | None = None, model: str | None = None):
        self.max_qubits, self.device, self.model = max_qubits, device, model
        self.records: list[tuple[Circuit, int]] = []
        self._exact = get("torch", dtype=torch.complex128)

    def _check_qubits(self, circuit: Circuit) -> None:
        if self.max_qubits is not None and circuit.n_qubits > self.max_qubits:
            model = f"model {self.model!r}" if self.model else "the model"
            device = f"the device {self.device}" if self.device else "the device"
            raise ValueError(
                f"{model} runs circuits of {circuit.n_qubits} qubits, but {device} has {self.max_qubits}: "
                f"choose a device with at least {circuit.n_qubits} qubits"
            )

    def _evaluate(self, circuit: Circuit, values: np.ndarray) -> np.ndarray:
        self.records.append((circuit, len(values)))
        return self._exact.expval(circuit, torch.from_numpy(values)).numpy()


def device_for_estimate(spec: str, shots: int) -> IBMBackend:
    """The device whose calibration prices a run: a fake device as named, the fake snapshot of a
    cloud device (``ibm:ibm_fez`` → ``fake_fez``) when there is one, else the cloud device itself
    (needs credentials).

    Raises:
        ValueError: not an ``ibm:`` spec, or a device name that is neither a fake device nor a
            snapshot's, without the credentials that could look it up on the service.
    """
    prefix, _, name = spec.partition(":")
    if prefix != "ibm" or not name:
        raise ValueError(f"estimate prices IBM devices: give --backend ibm:<device>, got {spec!r}")
    snapshot = "fake_" + name.removeprefix("ibm_")
    if not name.startswith("fake") and snapshot in fake_backend_names():
        name = snapshot
    try:
        return IBMBackend(name, shots=shots, journal=False)
    except MissingCredentialsError:
        fakes = fake_backend_names()
        close = difflib.get_close_matches(name, fakes + ["ibm_" + f.removeprefix("fake_") for f in fakes], n=3)
        raise ValueError(
            f"unknown IBM device {name!r}"
            + (f" (did you mean {' or '.join(close)}?)" if close else "")
            + ": no fake device or offline snapshot has that name, and without IBM Quantum credentials the "
            f"service cannot be asked about others. Name one of the {len(fakes)} fake devices, such as "
            "fake_manila (qseq.backends.ibm.fake_backend_names() lists them), or a cloud device that has one "
            "(ibm_fez is priced on fake_fez)"
        ) from None


class Pricer:
    """Turns recorded calls into a :class:`Cost` on one device."""

    def __init__(self, device: IBMBackend):
        self.device = device
        target = device._device.target
        self.rep_delay = float(getattr(device._device, "default_rep_delay", None) or 250e-6)
        self.measure = max((p.duration or 0.0) for p in target["measure"].values() if p is not None)
        self._durations: dict[Circuit, float] = {}

    def duration(self, circuit: Circuit) -> float:
        if circuit not in self._durations:
            isa = self.device.isa_circuit(circuit)
            self._durations[circuit] = isa.estimate_duration(self.device._device.target, unit="s") + self.measure
        return self._durations[circuit]

    def cost(self, records: list[tuple[Circuit, int]]) -> Cost:
        shots, per_job = self.device.shots, self.device.max_circuits
        jobs = sum(math.ceil(rows / per_job) if per_job else 1 for _, rows in records)  # one PUB per job
        circuits = sum(rows for _, rows in records)
        seconds = sum(rows * shots * (self.rep_delay + self.duration(c)) for c, rows in records)
        return Cost(jobs, jobs, circuits, circuits * shots, seconds)


def estimate(
    model_name: str,
    task: str,
    backend: str,
    *,
    reservoir: bool = False,
    shots: int = 4096,
    epochs: int = 100,
    batch_size: int = 4,
    seq_len: int = 4,
    seed: int = 0,
    val: float = 0.1,
) -> tuple[IBMBackend, dict[str, Cost]]:
    """Cost of inference on the test split, of fitting a ridge readout on a frozen reservoir, and of
    ``epochs`` epochs of training (with per-epoch evaluation of the training and validation windows),
    on the chronological train / validation / test split of ``qseq train`` (``val``, test 33 %).

    Returns:
        the pricing device and ``{"inference": Cost, "reservoir fit": Cost, "training": Cost}``.
    """
    device = device_for_estimate(backend, shots)
    pricer = Pricer(device)
    X, y = get_task(task).load(seq_len=seq_len)
    split = chronological_split(X, y, val=val)
    X_train, y_train = split.train
    X_test, y_test = split.test

    def recorded(run, *, frozen: bool = reservoir) -> list[tuple[Circuit, int]]:
        model = build_model(model_name, dtype=torch.float64, reservoir=frozen, seed=seed)
        if not runs_circuits(model):
            raise ValueError(f"model {model_name!r} is classical: it runs no circuits")
        recorder = CircuitRecorder(device.max_qubits, device=device.name, model=model_name)
        model.to_backend(recorder)
        run(model)
        return recorder.records

    costs = {"inference": pricer.cost(recorded(lambda m: evaluate(m, X_test, y_test)))}
    costs["reservoir fit"] = pricer.cost(
        recorded(lambda m: ReservoirRegressor(m.rnn, readout="ridge", alpha="cv").fit(X_train, y_train), frozen=True)
    )

    def train(n_epochs):
        config = TrainConfig(
            epochs=n_epochs, batch_size=batch_size, seed=seed, progress=False, plot=False, restore_best=False
        )
        return lambda m: fit(m, (X_train, y_train), split.val, config=config)

    # one epoch and two epochs: the difference is one epoch, the rest is paid once
    one, two = astuple(pricer.cost(recorded(train(1)))), astuple(pricer.cost(recorded(train(2))))
    costs["training"] = Cost(*(a + (epochs - 1) * (b - a) for a, b in zip(one, two, strict=True)))
    return device, costs

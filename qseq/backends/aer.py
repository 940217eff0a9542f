"""Qiskit Aer simulators as a qseq backend (extra: ``qseq[qiskit]``).

Spec strings::

    get("aer")                                  # exact statevector expectation values
    get("aer", shots=4096, seed=1)              # 4096 sampled shots per circuit, as on hardware
    get("aer:noise=fake_manila")                # exact density matrix under fake_manila's noise
    get("aer:noise=fake_manila", shots=4096)    # ... with shot noise on top
    get("aer:matrix_product_state")             # MPS method
    get("aer", device="GPU")                    # needs qiskit-aer-gpu

**Exact** (``shots=None``) runs Aer's ``EstimatorV2`` with precision 0: each call is one
``AerSimulator.run`` with every parameter vector bound at once and ``save_expectation_value``.
**Shots** run qiskit's ``BackendEstimatorV2`` over an ``AerSimulator``: it measures in the
observables' bases and averages finite shots, as hardware does (Aer's own ``EstimatorV2`` with a
precision only adds Gaussian noise to exact values, which is not what a QPU returns).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .._optional import require
from .qiskit_estimator import QiskitEstimatorBackend

__all__ = ["AerBackend", "METHODS"]

METHODS = ("statevector", "density_matrix", "matrix_product_state", "automatic")


def precision_for_shots(shots: int) -> float:
    """The largest precision ε with ``ceil(1/ε²) == shots`` (how ``BackendEstimatorV2`` picks shots)."""
    eps = 1 / math.sqrt(shots)
    while math.ceil(1 / eps**2) > shots:
        eps = math.nextafter(eps, math.inf)
    while math.ceil(1 / eps**2) < shots:
        eps = math.nextafter(eps, 0.0)
    return eps


@functools.cache
def simulator_options() -> frozenset[str] | None:
    """The option names ``AerSimulator`` takes (passed on by :class:`AerBackend`), or ``None``
    without qiskit-aer."""
    try:
        from qiskit_aer import AerSimulator
    except ImportError:
        return None
    return frozenset(AerSimulator().options.__dict__)


class AerBackend(QiskitEstimatorBackend):
    """Qiskit Aer: exact, sampled and noisy simulation.

    Args:
        method: ``"statevector"`` (default), ``"density_matrix"`` (the default with ``noise``),
            ``"matrix_product_state"`` or ``"automatic"``.
        shots: ``None`` for exact expectation values, else shots per circuit.
        noise: the name of a fake IBM device (``"fake_manila"``): its noise model, and circuits
            transpiled for its coupling map and basis gates (observables laid out to match).
        device: ``"CPU"`` or ``"GPU"`` (needs the ``qiskit-aer-gpu`` wheel).
        seed: seeds the simulator's sampling and the transpiler.
        journal, max_circuits, retries, backoff, timeout: see :class:`QiskitEstimatorBackend`.
        **simulator_options: passed on to ``AerSimulator`` (``precision="single"``,
            ``max_parallel_threads``, ``fusion_enable``, ...).

    Raises:
        ValueError: unknown method or fake device; exact noisy values without the density-matrix
            method.
        ImportError: qiskit-aer is missing, or ``device="GPU"`` without qiskit-aer-gpu.
    """

    def __init__(
        self,
        method: str | None = None,
        *,
        shots: int | None = None,
        noise: str | None = None,
        device: str = "CPU",
        seed: int | None = None,
        journal: Any = None,
        max_circuits: int | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        timeout: float | None = None,
        **simulator_options: Any,
    ):
        require("qiskit_aer", "qiskit")
        from qiskit_aer import AerSimulator

        method = method or ("density_matrix" if noise else "statevector")
        if method not in METHODS:
            raise ValueError(f"unknown Aer method {method!r}; choose one of {METHODS}")
        if noise and shots is None and method != "density_matrix":
            raise ValueError(
                f"exact expectation values under noise need method='density_matrix', got {method!r} "
                "(or give shots to sample noisy trajectories)"
            )
        if device not in ("CPU", "GPU"):
            raise ValueError(f"device must be 'CPU' or 'GPU', got {device!r}")
        if device not in AerSimulator().available_devices():
            raise ImportError(
                "Aer GPU simulation needs the qiskit-aer-gpu wheel (CUDA 12, Linux x86_64): "
                "pip uninstall qiskit-aer && pip install qiskit-aer-gpu"
            )
        super().__init__(
            shots=shots,
            seed=seed,
            journal=journal,
            max_circuits=max_circuits,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )
        self.method, self.noise, self.device = method, noise, device
        self.simulator_options = simulator_options
        self._device_target = None
        options: dict[str, Any] = {"method": method, "device": device}
        if shots is None and not noise:
            # bind all parameter vectors inside one compiled circuit: 3x faster on a QLSTM step
            # (benchmarks/hardware.py); kept off under noise models (qiskit-aer #2207)
            options["runtime_parameter_bind_enable"] = True
        options.update(simulator_options)
        if noise:
            from qiskit_aer.noise import NoiseModel

            from .ibm import fake_backend

            self._device_target = fake_backend(noise)
            options["noise_model"] = NoiseModel.from_backend(self._device_target)
            self.max_qubits = self._device_target.num_qubits
        else:
            self.max_qubits = AerSimulator(method=method, device=device).num_qubits
        self._aer_options = options
        self.name = "aer:" + ",".join(
            [method] + ([f"noise={noise}"] if noise else []) + ([f"device={device}"] if device != "CPU" else [])
        )
        self._primitive: Any = None

    _transient = (*QiskitEstimatorBackend._transient, "_primitive")

    def _restore(self) -> None:
        super()._restore()
        self._primitive = None

    def _options(self) -> dict:
        return {
            **super()._options(),
            "method": self.method,
            "noise": self.noise,
            "device": self.device,
            "simulator_options": self.simulator_options,
        }

    def _target(self) -> Any:
        return self._device_target

    def _lower(self, circuit: Any) -> Any:
        # Aer 0.18's EstimatorV2 binds parameters of controlled rotations wrongly (CRX/CRY/CRZ
        # come out as identity: tests/backends/test_aer_backend.py catches it); their standard
        # decomposition into single-qubit rotations and CNOTs binds correctly.
        return circuit.decompose(gates_to_decompose=["crx", "cry", "crz"])

    def _estimator(self) -> Any:
        if self._primitive is None:
            if self.shots is None:
                from qiskit_aer.primitives import EstimatorV2

                self._primitive = EstimatorV2(
                    options={
                        "backend_options": self._aer_options,
                        "run_options": {"seed_simulator": self.seed} if self.seed is not None else {},
                        "default_precision": 0.0,
                    }
                )
            else:
                from qiskit.primitives import BackendEstimatorV2
                from qiskit_aer import AerSimulator

                options = {"default_precision": precision_for_shots(self.shots)}
                if self.seed is not None:
                    options["seed_simulator"] = self.seed
                self._primitive = BackendEstimatorV2(backend=AerSimulator(**self._aer_options), options=options)
        return self._primitive

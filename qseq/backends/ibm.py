"""IBM quantum computers through qiskit-ibm-runtime ``EstimatorV2`` (extra: ``qseq[qiskit]``).

``get("ibm:ibm_fez")`` runs on a cloud QPU; ``get("ibm:fake_manila")`` (any name of
``qiskit_ibm_runtime.fake_provider``) runs the same code offline in qiskit-ibm-runtime's *local
testing mode*: the fake device's coupling map, basis gates and noise model, simulated by Aer.

Credentials come from a saved account (``QiskitRuntimeService.save_account(...)``) or the
environment (``QISKIT_IBM_TOKEN``, optionally ``QISKIT_IBM_INSTANCE`` and ``QISKIT_IBM_CHANNEL``),
or pass ``service=QiskitRuntimeService(...)``. qseq never stores or writes them.

See ``docs/hardware.md`` for costs, execution modes and the job journal.
"""

from __future__ import annotations

import functools
import os
import socket
import warnings
from typing import Any
from urllib.parse import urlsplit

from .._optional import require
from .qiskit_estimator import JobPendingError, QiskitEstimatorBackend, transient_cause

__all__ = ["IBMBackend", "MissingCredentialsError", "fake_backend", "fake_backend_names"]

MODES = ("job", "batch", "session")
DEFAULT_JOURNAL = "qseq-jobs.sqlite"

_CREDENTIALS_HELP = (
    "no IBM Quantum credentials found. Either save an account once:\n"
    "    from qiskit_ibm_runtime import QiskitRuntimeService\n"
    "    QiskitRuntimeService.save_account(channel='ibm_quantum_platform', token='<API key>', instance='<CRN>')\n"
    "or set the environment variable QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE), or pass "
    "service=QiskitRuntimeService(...). To run offline, use a fake device such as 'ibm:fake_manila'."
)


class MissingCredentialsError(RuntimeError):
    """A cloud device was named, but no IBM Quantum credentials were found (the message says how to
    set them)."""


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict[str, type]:
    """``{"fake_manila": FakeManilaV2, ...}``: every fake device of qiskit-ibm-runtime."""
    require("qiskit_ibm_runtime", "qiskit")
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import fake_provider

    classes = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if attr.startswith("Fake") and isinstance(cls, type) and issubclass(cls, BackendV2):
            stem = attr[len("Fake") :].removesuffix("V2").lower()
            classes[f"fake_{stem}"] = cls
    return classes


def fake_backend_names() -> list[str]:
    """Names of the offline fake devices: ``["fake_aachen", ..., "fake_manila", ...]``."""
    return sorted(_fake_classes())


def fake_backend(name: str) -> Any:
    """A fresh fake device by name (``"fake_manila"``, ``"FakeManilaV2"`` or ``"manila"``).

    Raises:
        ValueError: no such fake device (the message lists them).
    """
    stem = name.lower().removeprefix("fake").lstrip("_").removesuffix("v2")
    cls = _fake_classes().get(f"fake_{stem}")
    if cls is None:
        raise ValueError(f"unknown fake IBM device {name!r}; known: {', '.join(fake_backend_names())}")
    return cls()


def _unreachable(err: BaseException, doing: str) -> ConnectionError:
    """The error for a network failure ``err`` (a ``requests`` error, or one raised from it) while
    ``doing`` something with IBM Quantum: names the host and the cause, never the URL's path or
    query, which could carry credentials."""
    cause = transient_cause(err) or err
    url = getattr(getattr(cause, "request", None), "url", None)
    host = f" at {urlsplit(url).hostname}" if url else ""
    root, deeper = cause, cause.__cause__ or cause.__context__
    while deeper is not None:
        root, deeper = deeper, deeper.__cause__ or deeper.__context__
    kind = "name resolution (DNS) failed" if isinstance(root, socket.gaierror) else type(root).__name__
    return ConnectionError(
        f"cannot reach the IBM Quantum service{host} while {doing}: {kind} ({root}). Check the network "
        "connection, DNS and any proxy (HTTPS_PROXY), or run offline on a fake device such as 'ibm:fake_manila'"
    )


def _service_from_environment() -> Any:
    """``QiskitRuntimeService`` from ``QISKIT_IBM_*`` variables or the saved account."""
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    token = os.environ.get("QISKIT_IBM_TOKEN")
    kwargs = {"channel": os.environ.get("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")}
    if os.environ.get("QISKIT_IBM_INSTANCE"):
        kwargs["instance"] = os.environ["QISKIT_IBM_INSTANCE"]
    try:
        return QiskitRuntimeService(token=token, **kwargs) if token else QiskitRuntimeService()
    except AccountNotFoundError:
        raise MissingCredentialsError(_CREDENTIALS_HELP) from None
    except Exception as err:
        if transient_cause(err) is None:
            raise
        raise _unreachable(err, "signing in (the token was not checked)") from None


def _cloud_device(service: Any, name: str) -> Any:
    """The device ``name`` of ``service``.

    Raises:
        ValueError: the service has no device of that name.
        ConnectionError: the service cannot be reached.
    """
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    try:
        return service.backend(name)
    except QiskitBackendNotFoundError:
        raise ValueError(
            f"unknown IBM device {name!r}: the service has no device of that name for this account "
            "(QiskitRuntimeService().backends() lists yours, qseq.backends.ibm.fake_backend_names() the "
            "offline fake devices)"
        ) from None
    except Exception as err:
        if transient_cause(err) is None:
            raise
        raise _unreachable(err, f"looking up the device {name!r}") from None


class IBMBackend(QiskitEstimatorBackend):
    """An IBM quantum computer (or a fake one, offline) as a qseq backend.

    Every backend call is one ``EstimatorV2`` job with one PUB: the circuit transpiled once for the
    device (ISA), its observables laid out with ``apply_layout``, and the ``(N, P)`` parameter
    values of the whole batch and its parameter shifts.

    Args:
        name: a device name: ``"ibm_fez"`` (cloud) or ``"fake_manila"`` (offline, any
            ``fake_provider`` device).
        shots: shots per circuit (default 4096, precision 1/64).
        mode: ``"job"`` (default: each call its own job), ``"batch"`` (jobs grouped in a Batch)
            or ``"session"`` (a dedicated QPU window, billed wall-clock; call :meth:`close`).
            Local testing mode accepts and ignores batch and session.
        resilience_level: 0 (none), 1 (readout mitigation, IBM's default) or 2 (+ ZNE);
            ``None`` keeps IBM's default.
        dynamical_decoupling: ``None`` (IBM's default), ``False``, ``True`` or a sequence type
            (``"XX"``, ``"XpXm"``, ``"XY4"``).
        twirling: enable gate and measurement twirling (``None``: IBM's default).
        optimization_level: of the preset pass manager (0–3).
        noise: fake devices only: ``False`` runs the transpiled circuits on an ideal simulator (the
            device's coupling map and basis gates, shot noise only) to tell device noise apart.
        seed: seeds the transpiler and, on fake devices, the simulator.
        journal: the job journal file; default ``"qseq-jobs.sqlite"`` in the working directory
            for cloud devices (a paid result is never lost), none for fake ones. ``False``: none.
        service: a ``QiskitRuntimeService`` to use instead of the saved account or environment.
        max_circuits, retries, backoff, timeout: see :class:`QiskitEstimatorBackend`.

    Raises:
        MissingCredentialsError: a cloud device without credentials (the message says how to set them).
        ConnectionError: a cloud device while the service cannot be reached (network, DNS).
        ValueError: unknown device, mode or option values.
    """

    shots: int  # IBM devices always sample

    def __init__(
        self,
        name: str,
        *,
        shots: int = 4096,
        mode: str = "job",
        resilience_level: int | None = None,
        dynamical_decoupling: bool | str | None = None,
        twirling: bool | None = None,
        optimization_level: int = 1,
        noise: bool = True,
        seed: int | None = None,
        journal: Any = None,
        service: Any = None,
        max_circuits: int | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        timeout: float | None = None,
    ):
        require("qiskit_ibm_runtime", "qiskit")
        if not name:
            raise ValueError("name an IBM device: 'ibm:<device>', e.g. 'ibm:ibm_fez' or 'ibm:fake_manila'")
        if shots is None:
            raise ValueError("IBM devices sample: shots must be a positive integer (use 'aer' for exact values)")
        if mode not in MODES:
            raise ValueError(f"unknown execution mode {mode!r}; choose one of {MODES}")
        if resilience_level not in (None, 0, 1, 2):
            raise ValueError(f"resilience_level must be 0, 1, 2 or None, got {resilience_level!r}")
        if optimization_level not in (0, 1, 2, 3):
            raise ValueError(f"optimization_level must be 0..3, got {optimization_level!r}")
        if not (dynamical_decoupling in (None, True, False) or dynamical_decoupling in ("XX", "XpXm", "XY4")):
            raise ValueError(
                f"dynamical_decoupling must be None, a bool or 'XX', 'XpXm', 'XY4'; got {dynamical_decoupling!r}"
            )
        self.local = name.lower().startswith("fake")
        if self.local and seed == 0:
            # local_service.py tests `if seed_simulator := ...`: a seed of 0 is dropped silently
            raise ValueError(
                "seed=0 is ignored by qiskit-ibm-runtime's local testing mode (it reads 0 as unset), "
                "so results would not repeat: use a positive seed"
            )
        if self.local:
            self._device = fake_backend(name)
            self._service = None
        else:
            if not noise:
                raise ValueError("noise=False applies to fake devices only: a QPU is noisy")
            self._service = service if service is not None else _service_from_environment()
            self._device = _cloud_device(self._service, name)
        if journal is None and not self.local:
            journal = DEFAULT_JOURNAL
        super().__init__(
            shots=shots,
            seed=seed,
            journal=journal or None,
            max_circuits=max_circuits,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )
        self.name = f"ibm:{self._device.name}"
        self.max_qubits = self._device.num_qubits
        self.mode, self.resilience_level, self.noise = mode, resilience_level, noise
        self.dynamical_decoupling, self.twirling = dynamical_decoupling, twirling
        self._optimization_level = optimization_level
        self._mode_object: Any = None

    # -- pickling: a cloud device is looked up again through the service of the environment -------
    _transient = (*QiskitEstimatorBackend._transient, "_service", "_device", "_mode_object")

    def _restore(self) -> None:
        super()._restore()
        device = self.name.partition(":")[2]
        self._mode_object = None
        if self.local:
            self._device, self._service = fake_backend(device), None
        else:
            self._service = _service_from_environment()
            self._device = _cloud_device(self._service, device)

    # -- the primitive ------------------------------------------------------------------------------
    def estimator_options(self) -> dict:
        """The ``EstimatorV2`` options this backend submits with."""
        options: dict[str, Any] = {"default_shots": self.shots}
        if self.resilience_level is not None:
            options["resilience_level"] = self.resilience_level
        if self.dynamical_decoupling is not None:
            dd: dict[str, bool | str] = {"enable": bool(self.dynamical_decoupling)}
            if isinstance(self.dynamical_decoupling, str):
                dd["sequence_type"] = self.dynamical_decoupling
            options["dynamical_decoupling"] = dd
        if self.twirling is not None:
            options["twirling"] = {"enable_gates": self.twirling, "enable_measure": self.twirling}
        if self.local and self.seed is not None:
            options["simulator"] = {"seed_simulator": self.seed}
        return options

    def _options(self) -> dict:
        return {
            **super()._options(),
            **self.estimator_options(),
            "mode": self.mode,
            "noise": self.noise,
            "optimization_level": self._optimization_level,
        }

    def _target(self) -> Any:
        return self._device

    def _estimator(self) -> Any:
        from qiskit_ibm_runtime import Batch, EstimatorV2, Session

        if self._mode_object is None:
            runner = self._device
            if not self.noise:
                from qiskit_aer import AerSimulator

                runner = AerSimulator()
            self._mode_object = {
                "job": lambda: runner,
                "batch": lambda: Batch(backend=runner),
                "session": lambda: Session(backend=runner),
            }[self.mode]()
        with warnings.catch_warnings():
            # EstimatorV2 is deprecated in favour of the Executor-based Estimator (0.50), which
            # has no local testing mode; keep the primitive that runs both ways.
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*EstimatorV2.*")
            return EstimatorV2(mode=self._mode_object, options=self.estimator_options())

    def _retrieve(self, job_id: str) -> Any:
        if self._service is None:  # local testing mode keeps no jobs: submit again
            return None
        from qiskit_ibm_runtime.exceptions import RuntimeJobNotFound

        try:
            return self._with_retries(f"fetching job {job_id}", lambda: self._service.job(job_id))
        except RuntimeJobNotFound:
            warnings.warn(
                f"{self.name}: journaled job {job_id} no longer exists on the service; submitting again",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    def _result(self, job: Any) -> Any:
        if self.local or self.timeout is None:
            return job.result()
        from qiskit_ibm_runtime.exceptions import RuntimeJobTimeoutError

        try:
            return job.result(timeout=self.timeout)
        except RuntimeJobTimeoutError:
            raise JobPendingError(
                f"{self.name}: job {job.job_id()} has not finished after {self.timeout} s; "
                + self._still_submitted(job.job_id())
            ) from None

    def _still_submitted(self, job_id: str) -> str:
        if self.journal is None and not self.local:
            return f"fetch its result later with QiskitRuntimeService().job({job_id!r}).result()"
        return super()._still_submitted(job_id)

    def close(self) -> None:
        """Close the Batch or Session (no new jobs; queued ones still run)."""
        if self._mode_object is not None and self.mode != "job":
            self._mode_object.close()
        self._mode_object = None

    def __enter__(self) -> IBMBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

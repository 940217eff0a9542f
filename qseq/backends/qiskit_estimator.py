"""What the Qiskit backends (Aer, IBM) share: circuits to PUBs, jobs, retries and the journal.

A backend call becomes **one PUB** ``(ISA circuit, observables (n_obs, 1), parameter values
(N, P))`` — the whole batch, all gate circuits of a recurrent stage and all parameter shifts — and
one job, unless ``max_circuits`` splits it. Each circuit is exported with
:func:`~qseq.circuits.to_qiskit` and, for a device target, transpiled **once** with
``generate_preset_pass_manager``; the observables follow with ``apply_layout``.

Every job goes through the :class:`~qseq.backends.journal.JobJournal` when one is given:
finished results are reused, submitted ones re-polled by id where the service allows it.

Faults: a network failure (also when the service wraps it in its own error type) is retried with
backoff; a job that fails, or returns other than one finite value per observable and parameter
vector, is marked ``failed`` in the journal and raises one error naming it; a job that is still
running after ``timeout`` (:class:`JobPendingError`) or whose result cannot be fetched stays
``submitted``, and the next run collects it by id instead of submitting it again. A finished row
of the journal whose values do not fit its job is refused as damaged, never used.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .._optional import require
from ..circuits import Circuit, to_qiskit
from .journal import JobJournal
from .param_shift import ParameterShiftBackend

__all__ = ["QiskitEstimatorBackend", "JobPendingError", "transient_errors", "transient_cause"]


class JobPendingError(RuntimeError):
    """A job did not finish within the backend's ``timeout``; it is still queued or running."""


@functools.cache
def transient_errors() -> tuple[type[BaseException], ...]:
    """Failures worth retrying: the network, not the circuit (connection drops, timeouts)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import requests

        errors += [requests.ConnectionError, requests.Timeout]
    except ImportError:  # pragma: no cover - requests comes with qiskit-ibm-runtime
        pass
    return tuple(errors)


def transient_cause(err: BaseException) -> BaseException | None:
    """The network failure behind ``err``: ``err`` itself or the first of its ``__cause__`` chain
    that is one of :func:`transient_errors` (qiskit-ibm-runtime raises its own error types *from*
    the ``requests`` error), or ``None`` when ``err`` is not a network failure."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, transient_errors()):
        cause = cause.__cause__
    return cause


@dataclass(frozen=True)
class _Prepared:
    """A circuit ready for the primitive: ISA circuit, observables, and which columns of the
    flat parameter vector feed ``isa.parameters`` (in that order)."""

    isa: Any
    observables: list
    columns: np.ndarray
    fingerprint: bytes


def _fingerprint(isa, observables) -> bytes:
    from qiskit import qasm3

    text = qasm3.dumps(isa) + "|" + ";".join(str(o.to_list()) for o in observables)
    return hashlib.sha256(text.encode()).digest()


class QiskitEstimatorBackend(ParameterShiftBackend):
    """Base of the Qiskit backends: runs PUBs on an ``EstimatorV2``-like primitive.

    Args:
        shots: shots per circuit, or ``None`` for exact expectation values where the backend
            allows it.
        seed: seeds the simulator and the transpiler (reproducible runs); the transpiler is seeded
            with 0 when ``None``, so a circuit always becomes the same ISA circuit.
        journal: a :class:`JobJournal` or the path of its SQLite file; ``None`` keeps none.
        max_circuits: most parameter vectors per job; a larger call is split into several jobs
            (``None``: never split).
        retries: resubmissions / re-polls after a transient (network) failure; waits
            ``backoff · 2^k`` seconds before retry k.
        backoff: the first wait, seconds.
        timeout: how long to wait for one job's result, seconds (``None``: forever).

    Subclasses implement :meth:`_estimator`, and :meth:`_target` when circuits must be
    transpiled for a device.
    """

    _optimization_level = 1  # of the preset pass manager, for device targets
    _transient: tuple[str, ...] = ("_prepared",)

    def __init__(
        self,
        *,
        shots: int | None,
        seed: int | None = None,
        journal: JobJournal | str | None = None,
        max_circuits: int | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        timeout: float | None = None,
    ):
        require("qiskit", "qiskit")
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
            raise ValueError(f"shots must be a positive integer or None (exact), got {shots!r}")
        if max_circuits is not None and (not isinstance(max_circuits, int) or max_circuits < 1):
            raise ValueError(f"max_circuits must be a positive integer or None, got {max_circuits!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        self.shots, self.seed, self.max_circuits = shots, seed, max_circuits
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.journal = journal if journal is None or isinstance(journal, JobJournal) else JobJournal(journal)
        self._prepared: dict[Circuit, _Prepared] = {}

    def _restore(self) -> None:
        self._prepared = {}

    # -- for subclasses --------------------------------------------------------------------------
    @abc.abstractmethod
    def _estimator(self) -> Any:
        """The primitive: an object with ``run(pubs) -> job``."""

    def _target(self) -> Any:
        """The device circuits are transpiled for, or ``None`` to run them as exported."""
        return None

    def _lower(self, circuit: Any) -> Any:
        """Rewrite an exported circuit that runs without a device target (default: unchanged)."""
        return circuit

    def _options(self) -> dict:
        """Everything besides circuit and values that determines a result (no credentials):
        part of the journal key."""
        return {"backend": self.name, "shots": self.shots, "seed": self.seed}

    def _retrieve(self, job_id: str) -> Any:
        """The job with this id from the service, or ``None`` where jobs cannot be fetched later
        (local simulators: such a job is submitted again)."""
        return None

    def _result(self, job: Any) -> Any:
        """Wait for ``job``'s result; raises :class:`JobPendingError` after ``timeout`` (where the
        job supports one; in-process simulator jobs simply run to the end)."""
        return job.result()

    # -- circuits ----------------------------------------------------------------------------------
    def _prepare(self, circuit: Circuit) -> _Prepared:
        prepared = self._prepared.get(circuit)
        if prepared is None:
            exported = to_qiskit(circuit)
            isa, observables = exported.circuit, exported.observables
            target = self._target()
            if target is None:
                isa = self._lower(isa)
            else:
                from qiskit.transpiler import generate_preset_pass_manager

                # always seeded: the same circuit must become the same ISA circuit (and journal key)
                pm = generate_preset_pass_manager(
                    backend=target,
                    optimization_level=self._optimization_level,
                    seed_transpiler=self.seed if self.seed is not None else 0,
                )
                isa = pm.run(isa)
                observables = [o.apply_layout(isa.layout) for o in observables]
            columns = np.array([p.index for p in isa.parameters], dtype=np.int64)
            prepared = self._prepared[circuit] = _Prepared(isa, observables, columns, _fingerprint(isa, observables))
        return prepared

    def isa_circuit(self, circuit: Circuit) -> Any:
        """The Qiskit circuit that is submitted for ``circuit`` (transpiled for the device, if any)."""
        return self._prepare(circuit).isa

    # -- jobs ----------------------------------------------------------------------------------------
    def _key(self, prepared: _Prepared, values: np.ndarray) -> str:
        h = hashlib.sha256(prepared.fingerprint)
        h.update(json.dumps(self._options(), sort_keys=True, default=str).encode())
        h.update(str(values.shape).encode())
        h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return h.hexdigest()

    def _pub(self, prepared: _Prepared, values: np.ndarray) -> tuple:
        observables = [[o] for o in prepared.observables]
        if not len(prepared.columns):
            return (prepared.isa, observables)
        return (prepared.isa, observables, values[:, prepared.columns])

    def _with_retries(self, what: str, action):
        for attempt in range(self.retries + 1):
            try:
                return action()
            except Exception as err:
                if transient_cause(err) is None:
                    raise
                if attempt == self.retries:
                    raise ConnectionError(f"{self.name}: {what} failed {attempt + 1} times; last error: {err}") from err
                time.sleep(self.backoff * 2**attempt)

    def _still_submitted(self, job_id: str) -> str:
        """What to do about a job that is submitted but whose result this run does not have."""
        if self.journal is not None:
            return (
                f"job {job_id} stays recorded as submitted in the journal {self.journal.path}: "
                "run again to collect it without submitting it again"
            )
        return f"job {job_id} may still run: without a journal, a re-run submits it again"

    def _submit(self, pub: tuple) -> Any:
        """Submit one PUB as one job (the single place where anything is sent)."""
        return self._with_retries("submitting a job", lambda: self._estimator().run([pub]))

    def _evaluate(self, circuit: Circuit, values: np.ndarray) -> np.ndarray:
        prepared = self._prepare(circuit)
        n = len(values)
        if not len(prepared.columns):  # no angle reaches the device: one evaluation serves all
            values = values[:1]
        size = self.max_circuits or max(len(values), 1)
        chunks = [values[i : i + size] for i in range(0, len(values), size)]
        results: list[np.ndarray | None] = [None] * len(chunks)
        waiting = []
        for i, chunk in enumerate(chunks):  # submit everything first: the jobs queue side by side
            key = record = job = None
            if self.journal is not None:
                key = self._key(prepared, chunk)
                record = self.journal.get(key)
                if record is not None and record.status == "done":
                    results[i] = self.journal.values(record, (circuit.n_obs, len(chunk)))
                    self.usage.reused += 1
                    continue
            if record is not None and record.status == "submitted" and record.job_id:
                job = self._retrieve(record.job_id)
            if job is None:
                try:
                    job = self._submit(self._pub(prepared, chunk))
                except ConnectionError:
                    raise
                except Exception as err:
                    raise RuntimeError(
                        f"{self.name}: submitting job {i + 1} of {len(chunks)} of this call failed "
                        f"({type(err).__name__}: {err}); nothing was submitted for it. Check the backend's "
                        "options and the account's limits (max_circuits splits large calls), then run again"
                    ) from err
                self.usage.jobs += 1
                self.usage.shots += len(chunk) * (self.shots or 0)
                if self.journal is not None and key is not None:  # key is set whenever there is a journal
                    self.journal.submitted(key, self.name, job.job_id(), len(chunk), self.shots)
            waiting.append((i, key, job))
        for i, key, job in waiting:
            results[i] = self._collect(key, job, circuit.n_obs, len(chunks[i]))
        # Every slot is filled above, from the journal or by _collect.
        evs = np.concatenate(cast("list[np.ndarray]", results), axis=1).T  # (N, n_obs)
        return np.repeat(evs, n, axis=0) if len(evs) != n else evs

    def _collect(self, key: str | None, job: Any, n_obs: int, n_circuits: int) -> np.ndarray:
        """Wait for a job of ``n_circuits`` parameter vectors, check its result and store it in the
        journal (``key``: its row, when journaled); return ``evs (n_obs, n_circuits)``."""
        job_id = job.job_id()
        try:
            result = self._with_retries(f"fetching the result of job {job_id}", lambda: self._result(job))
        except JobPendingError:
            raise
        except ConnectionError as err:
            raise ConnectionError(f"{err}; {self._still_submitted(job_id)}") from err
        except Exception as err:
            raise self._failed(key, job_id, f"{type(err).__name__}: {err}") from err
        try:
            evs, stds, metadata = _unpack(result, n_obs, n_circuits)
        except ValueError as err:
            raise self._failed(key, job_id, f"its result is unusable: {err}") from None
        if self.journal is not None and key is not None:
            self.journal.done(key, evs, stds, metadata)
        return evs

    def _failed(self, key: str | None, job_id: str, why: str) -> RuntimeError:
        """Mark a job failed in the journal; the error to raise, naming it."""
        if self.journal is not None and key is not None:
            self.journal.failed(key, why)
            then = f"it is marked failed in the journal {self.journal.path}, and a re-run submits it again"
        else:
            then = "a re-run submits it again"
        return RuntimeError(f"{self.name}: job {job_id} failed: {why}; {then}")


def _unpack(result: Any, n_obs: int, n_circuits: int) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """``(evs, stds, metadata)`` of a one-PUB result, ``evs`` and ``stds`` shaped ``(n_obs, n_circuits)``.

    Raises:
        ValueError: not one PUB result, or other than ``n_obs · n_circuits`` values, or values that
            are not finite.
    """
    if len(result) != 1:
        raise ValueError(f"expected the result of 1 PUB, got {len(result)}")
    data = result[0].data
    evs = np.asarray(data.evs, dtype=np.float64)
    stds = np.asarray(data.stds, dtype=np.float64) if hasattr(data, "stds") else None
    for name, array in (("expectation values", evs), ("standard errors", stds)):
        if array is not None and array.size != n_obs * n_circuits:
            raise ValueError(
                f"{array.size} {name} for {n_obs} observables × {n_circuits} parameter vectors "
                f"({n_obs * n_circuits} expected)"
            )
    if not np.isfinite(evs).all():
        raise ValueError(f"{np.count_nonzero(~np.isfinite(evs))} of its {evs.size} expectation values are not finite")
    evs = evs.reshape(n_obs, n_circuits)
    return evs, None if stds is None else stds.reshape(n_obs, n_circuits), dict(result[0].metadata)

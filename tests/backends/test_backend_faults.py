"""Faults injected into the job layer of a hardware-style run: a QRNN forward whose every time step is
split into several jobs (``max_circuits=2``), on a cloud IBM device and on Aer.

The stub cloud submits and re-polls jobs like ``QiskitRuntimeService`` and runs their PUBs on exact
Aer, so a run's numbers repeat exactly and can be compared with the fault-free run. Each scenario
scripts faults at submission (``Cloud.run``) or at a job's result (``Job.result``) and checks the
error, the numbers, what was submitted (nothing paid for twice) and the journal's rows.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_ibm_backend import StubService

from qseq.backends import get
from qseq.backends.ibm import IBMBackend
from qseq.backends.journal import JobJournal
from qseq.backends.qiskit_estimator import JobPendingError
from qseq.models import QRNN

pytest.importorskip("qiskit_ibm_runtime")
requests = pytest.importorskip("requests")

X = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(3, 3, 1)  # 3 windows of 3 steps
JOBS = 6  # 3 steps, each 3 parameter vectors in jobs of at most 2


class Crash(BaseException):
    """The process dies (not an error of the job: nothing may be marked failed)."""


def wrapped_network_error() -> Exception:
    """A network failure as qiskit-ibm-runtime raises it: its own error type, *from* the requests one."""
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError

    try:
        raise requests.ConnectionError("Connection aborted: RemoteDisconnected")
    except requests.ConnectionError as err:
        try:
            raise RequestsApiError(str(err)) from err
        except RequestsApiError as wrapped:
            return wrapped


class Job:
    """A job of the stub cloud: its result, behind the faults its ``result()`` calls raise first."""

    def __init__(self, job_id, result, faults):
        self._id, self._result, self.faults = job_id, result, faults

    def job_id(self):
        return self._id

    def result(self, timeout=None):
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, BaseException):
            raise fault
        return self._result if fault is None else fault(self._result)


class Cloud(StubService):
    """The service and its estimator, which runs PUBs on ``inner`` (exact Aer). ``submit_faults[k]``:
    errors raised by the attempts to submit the k-th job, in turn; ``result_faults[k]``: errors raised
    by (or functions applied to the result of) the k-th job's ``result`` calls, in turn."""

    def __init__(self):
        from qiskit_aer.primitives import EstimatorV2

        super().__init__()
        self.inner = EstimatorV2(options={"default_precision": 0.0})
        self.submit_faults: dict[int, list[BaseException]] = {}
        self.result_faults: dict[int, list] = {}
        self.attempts = 0  # run() calls, failed ones included
        self.submitted: list[str] = []  # job ids, in submission order

    def run(self, pubs):
        self.attempts += 1
        faults = self.submit_faults.get(len(self.submitted))
        if faults:
            raise faults.pop(0)
        job_id = f"job-{len(self.submitted)}"
        # run to the end here: no simulator thread outlives a test that leaves a job uncollected
        result = self.inner.run(pubs).result()
        self.jobs[job_id] = Job(job_id, result, self.result_faults.pop(len(self.submitted), []))
        self.submitted.append(job_id)
        return self.jobs[job_id]


def device(kind, cloud, journal, **options):
    """A backend of ``kind`` (``"ibm"``: a cloud device of ``cloud``; ``"aer"``) whose jobs go to ``cloud``."""
    options = {"max_circuits": 2, "backoff": 0.001, "journal": journal, **options}
    if kind == "ibm":
        backend = IBMBackend("ibm_stub", service=cloud, shots=100, **options)
    else:
        backend = get("aer", **options)
        cloud.inner = backend._estimator()  # Aer's own primitive, as configured by the backend
    backend._estimator = lambda: cloud
    return backend


def forward(backend):
    torch.manual_seed(0)
    model = QRNN(1, 2, n_qubits=3, n_layers=1, batch_first=True, dtype=torch.float64)
    model.to_backend(backend)
    with torch.no_grad():
        return model(X)[0]


def rows(journal):
    """``{job id: (status, error)}`` of the journal."""
    return {r.job_id: (r.status, r.error) for r in JobJournal(journal).records()}


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory):
    """The run without faults on each kind of backend: ``{kind: output}``."""
    outputs = {}
    for kind in ("ibm", "aer"):
        cloud = Cloud()
        journal = tmp_path_factory.mktemp(kind) / "jobs.sqlite"
        outputs[kind] = forward(device(kind, cloud, journal))
        assert len(cloud.submitted) == JOBS and set(rows(journal).values()) == {("done", None)}
    torch.testing.assert_close(outputs["aer"], outputs["ibm"], rtol=0, atol=1e-12)
    return outputs


@pytest.fixture
def sleeps(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("qseq.backends.qiskit_estimator.time.sleep", waits.append)
    return waits


@pytest.mark.parametrize("kind", ["ibm", "aer"])
def test_transient_faults_are_retried_and_change_nothing(tmp_path, fault_free, sleeps, kind):
    cloud = Cloud()
    cloud.submit_faults = {
        0: [ConnectionError("connection reset by peer"), requests.Timeout("read timed out")],
        3: [wrapped_network_error()],
    }
    cloud.result_faults = {1: [TimeoutError("timed out")], 4: [wrapped_network_error(), requests.ConnectionError()]}
    backend = device(kind, cloud, tmp_path / "jobs.sqlite")
    torch.testing.assert_close(forward(backend), fault_free[kind], rtol=0, atol=0)
    assert sleeps == [0.001, 0.002, 0.001, 0.001, 0.001, 0.002]  # backoff · 2^k, k counted per action
    assert cloud.attempts == JOBS + 3 and len(cloud.submitted) == backend.usage.jobs == JOBS
    assert rows(tmp_path / "jobs.sqlite") == {f"job-{k}": ("done", None) for k in range(JOBS)}


def test_a_network_failure_that_outlasts_the_retries_leaves_the_job_to_collect(tmp_path, sleeps):
    cloud = Cloud()
    cloud.result_faults = {2: [requests.ConnectionError("down")] * 4}
    with pytest.raises(ConnectionError) as err:
        forward(device("ibm", cloud, tmp_path / "jobs.sqlite", retries=3))
    assert str(err.value) == (
        "ibm:fake_manila: fetching the result of job job-2 failed 4 times; last error: down; job job-2 stays "
        f"recorded as submitted in the journal {tmp_path / 'jobs.sqlite'}: run again to collect it without "
        "submitting it again"
    )
    assert len(sleeps) == 3 and cloud.submitted == ["job-0", "job-1", "job-2", "job-3"]
    assert rows(tmp_path / "jobs.sqlite") == {
        "job-0": ("done", None),
        "job-1": ("done", None),
        "job-2": ("submitted", None),
        "job-3": ("submitted", None),
    }


def test_a_failed_job_stops_the_run_with_one_error_and_is_marked_failed(tmp_path, fault_free, sleeps):
    from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

    journal = tmp_path / "jobs.sqlite"
    cloud = Cloud()
    cloud.result_faults = {2: [RuntimeJobFailureError("Unable to retrieve job result. Error code 1517")]}
    with pytest.raises(RuntimeError) as err:
        forward(device("ibm", cloud, journal))
    assert str(err.value) == (
        "ibm:fake_manila: job job-2 failed: RuntimeJobFailureError: 'Unable to retrieve job result. Error code "
        f"1517'; it is marked failed in the journal {journal}, and a re-run submits it again"
    )
    assert sleeps == [] and cloud.submitted == ["job-0", "job-1", "job-2", "job-3"]  # no retry, no later step
    records = rows(journal)
    assert records.pop("job-2") == (
        "failed",
        "RuntimeJobFailureError: 'Unable to retrieve job result. Error code 1517'",
    )
    assert records == {"job-0": ("done", None), "job-1": ("done", None), "job-3": ("submitted", None)}

    again = device("ibm", cloud, journal)
    torch.testing.assert_close(forward(again), fault_free["ibm"], rtol=0, atol=0)
    assert cloud.submitted[4:] == ["job-4", "job-5", "job-6"] and cloud.fetched == ["job-3"]  # job-2 again: job-4
    assert again.usage.reused == 2 and set(rows(journal).values()) == {("done", None)}


def test_a_submission_the_service_refuses_is_one_error_and_submits_nothing_more(tmp_path, sleeps):
    journal = tmp_path / "jobs.sqlite"
    cloud = Cloud()
    cloud.submit_faults = {2: [ValueError("the instance has no access to device ibm_stub")]}
    with pytest.raises(RuntimeError) as err:
        forward(device("ibm", cloud, journal))
    assert str(err.value) == (
        "ibm:fake_manila: submitting job 1 of 2 of this call failed (ValueError: the instance has no access to "
        "device ibm_stub); nothing was submitted for it. Check the backend's options and the account's limits "
        "(max_circuits splits large calls), then run again"
    )
    assert sleeps == [] and cloud.attempts == 3 and cloud.submitted == ["job-0", "job-1"]
    assert rows(journal) == {"job-0": ("done", None), "job-1": ("done", None)}


def test_a_timeout_leaves_the_job_submitted_and_the_rerun_polls_it(tmp_path, fault_free, sleeps):
    from qiskit_ibm_runtime.exceptions import RuntimeJobTimeoutError

    journal = tmp_path / "jobs.sqlite"
    cloud = Cloud()
    cloud.result_faults = {2: [RuntimeJobTimeoutError("Timed out waiting for job to complete after 5 secs.")]}
    with pytest.raises(JobPendingError) as err:
        forward(device("ibm", cloud, journal, timeout=5))
    assert str(err.value) == (
        "ibm:fake_manila: job job-2 has not finished after 5 s; job job-2 stays recorded as submitted in the "
        f"journal {journal}: run again to collect it without submitting it again"
    )
    assert cloud.submitted == ["job-0", "job-1", "job-2", "job-3"]
    assert rows(journal) == {
        "job-0": ("done", None),
        "job-1": ("done", None),
        "job-2": ("submitted", None),
        "job-3": ("submitted", None),
    }

    again = device("ibm", cloud, journal, timeout=5)
    torch.testing.assert_close(forward(again), fault_free["ibm"], rtol=0, atol=0)
    assert cloud.fetched == ["job-2", "job-3"] and again.usage.reused == 2
    assert cloud.submitted == [f"job-{k}" for k in range(JOBS)]  # each job submitted once over both runs
    assert rows(journal) == {f"job-{k}": ("done", None) for k in range(JOBS)}


def _drop_last(result):
    data = result[0].data
    return [SimpleNamespace(data=SimpleNamespace(evs=data.evs[:, :-1], stds=data.stds[:, :-1]), metadata={})]


def _extra(result):
    data = result[0].data
    evs, stds = np.concatenate([data.evs, data.evs], axis=1), np.concatenate([data.stds, data.stds], axis=1)
    return [SimpleNamespace(data=SimpleNamespace(evs=evs, stds=stds), metadata={})]


def _nan(result):
    data = result[0].data
    evs = np.array(data.evs, dtype=np.float64)
    evs[1, 0] = np.nan
    return [SimpleNamespace(data=SimpleNamespace(evs=evs, stds=data.stds), metadata={})]


def _two_pubs(result):
    return [result[0], result[0]]


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_drop_last, "3 expectation values for 3 observables × 2 parameter vectors (6 expected)"),
        (_extra, "12 expectation values for 3 observables × 2 parameter vectors (6 expected)"),
        (_nan, "1 of its 6 expectation values are not finite"),
        (_two_pubs, "expected the result of 1 PUB, got 2"),
    ],
    ids=["fewer", "more", "nan", "two-pubs"],
)
def test_a_partial_or_broken_result_is_refused_and_not_recorded_as_done(tmp_path, fault_free, tamper, why):
    journal = tmp_path / "jobs.sqlite"
    cloud = Cloud()
    cloud.result_faults = {2: [tamper]}
    with pytest.raises(RuntimeError) as err:
        forward(device("ibm", cloud, journal))
    assert str(err.value) == (
        f"ibm:fake_manila: job job-2 failed: its result is unusable: {why}; it is marked failed in the journal "
        f"{journal}, and a re-run submits it again"
    )
    (record,) = [r for r in JobJournal(journal).records() if r.job_id == "job-2"]
    assert (record.status, record.error, record.evs) == ("failed", f"its result is unusable: {why}", None)
    assert cloud.submitted == ["job-0", "job-1", "job-2", "job-3"]

    torch.testing.assert_close(forward(device("ibm", cloud, journal)), fault_free["ibm"], rtol=0, atol=0)
    assert cloud.submitted[4:] == ["job-4", "job-5", "job-6"] and cloud.fetched == ["job-3"]  # job-2 again: job-4


@pytest.mark.parametrize("where", ["waiting", "journal"])
def test_a_crash_between_submission_and_done_is_resumed_without_resubmitting(tmp_path, fault_free, monkeypatch, where):
    journal = tmp_path / "jobs.sqlite"
    cloud = Cloud()
    if where == "waiting":  # the process dies while it waits for job-3
        cloud.result_faults = {3: [Crash()]}
    else:  # the result of job-3 arrives, the process dies before the journal records it
        done, calls = JobJournal.done, []

        def dies_on_the_fourth(self, key, *args):
            calls.append(key)
            if len(calls) == 4:
                raise Crash
            return done(self, key, *args)

        monkeypatch.setattr(JobJournal, "done", dies_on_the_fourth)
    with pytest.raises(Crash):
        forward(device("ibm", cloud, journal))
    assert cloud.submitted == ["job-0", "job-1", "job-2", "job-3"]
    assert rows(journal) == {
        "job-0": ("done", None),
        "job-1": ("done", None),
        "job-2": ("done", None),
        "job-3": ("submitted", None),
    }

    monkeypatch.undo()
    again = device("ibm", cloud, journal)
    torch.testing.assert_close(forward(again), fault_free["ibm"], rtol=0, atol=0)
    assert again.usage.reused == 3 and cloud.fetched == ["job-3"]
    assert cloud.submitted == [f"job-{k}" for k in range(JOBS)]  # nothing submitted twice
    assert rows(journal) == {f"job-{k}": ("done", None) for k in range(JOBS)}

"""IBM devices offline (local testing mode), the job journal, retries and credentials.

The cloud path is exercised with a stand-in for ``QiskitRuntimeService`` whose ``backend()`` is a
fake device: everything qseq does for a cloud device (journal by default, re-polling by job id,
credentials from the environment) runs, and the jobs execute locally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from qseq.backends import get
from qseq.backends.ibm import IBMBackend, MissingCredentialsError, fake_backend, fake_backend_names
from qseq.backends.journal import JobJournal
from qseq.backends.qiskit_estimator import JobPendingError
from qseq.circuits import Circuit, Operation, ParamGroup, chen_vqc

pytest.importorskip("qiskit_ibm_runtime")

EXACT = get("torch", dtype=torch.complex128)
CIRCUIT = chen_vqc(3, 1)
TOKEN = "qseq-test-secret-token-0123456789"


def counting(backend):
    """Wrap ``backend._submit`` to count submissions and keep the jobs by id."""
    backend.submitted = {}
    submit = backend._submit

    def wrapped(pub):
        job = submit(pub)
        backend.submitted[job.job_id()] = job
        return job

    backend._submit = wrapped
    return backend


class StubService:
    """Stands in for QiskitRuntimeService: its devices are fake ones, its jobs those it is given."""

    def __init__(self, jobs=None, **credentials):
        self.credentials, self.jobs, self.fetched = credentials, dict(jobs or {}), []

    def backend(self, name):
        return fake_backend("fake_manila")

    def job(self, job_id):
        self.fetched.append(job_id)
        return self.jobs[job_id]


def inputs(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, CIRCUIT.n_params, generator=gen, dtype=torch.float64) * 2 - 1


def test_fake_device_names_resolve():
    assert "fake_manila" in fake_backend_names() and "fake_fez" in fake_backend_names()
    for alias in ("fake_manila", "FakeManilaV2", "manila"):
        assert fake_backend(alias).name == "fake_manila"
    backend = get("ibm:fake_manila")
    assert (backend.name, backend.max_qubits, backend.local, backend.journal) == ("ibm:fake_manila", 5, True, None)


def test_isa_circuit_and_layout_are_right_within_noise():
    # X on wire 1 only: <Z> = (1, -1, 1); a mislaid observable would swap the signs
    circuit = Circuit(
        3, (Operation("RY", (0,), (0,)), Operation("X", (1,)), Operation("RY", (2,), (1,))), (ParamGroup("weights", 2),)
    )
    backend = get("ibm:fake_manila", shots=2000, seed=1)
    values = backend.expval(circuit, torch.zeros(2, dtype=torch.float64))
    np.testing.assert_allclose(values.numpy(), [1, -1, 1], atol=0.25)  # readout errors reach ~7%
    isa = backend.isa_circuit(circuit)
    assert isa.num_qubits == 5 and set(isa.count_ops()) <= {"rz", "sx", "x", "cx"}


def test_isa_circuits_and_observable_layout_are_exact_within_shot_noise():
    # the device's transpiled circuits and laid-out observables on an ideal simulator
    params = inputs(4)
    shots = 4000
    sampled = get("ibm:fake_manila", shots=shots, seed=2, noise=False).expval(CIRCUIT, params)
    exact = EXACT.expval(CIRCUIT, params)
    sigma = ((1 - exact**2).clamp_min(0) / shots).sqrt()
    assert (sampled - exact).abs().le(5 * sigma + 1e-9).all()
    noisy = get("ibm:fake_manila", shots=shots, seed=2).expval(CIRCUIT, params)
    assert (noisy - exact).abs().max() > 5 * sigma.max()  # the fake device's noise is on by default
    with pytest.raises(ValueError, match="fake devices only"):
        IBMBackend("ibm_stub", service=StubService(), noise=False)


def test_parameter_shift_gradients_through_a_device_are_one_job():
    params = inputs(2).requires_grad_()
    backend = get("ibm:fake_manila", shots=256, seed=3)
    backend.expval(CIRCUIT, params).sum().backward()
    assert params.grad.shape == params.shape and torch.isfinite(params.grad).all()
    assert backend.usage.jobs == 1
    assert backend.usage.shots == 256 * 2 * (1 + 2 * CIRCUIT.n_params)


def test_seeded_runs_repeat():
    first = get("ibm:fake_manila", shots=500, seed=7).expval(CIRCUIT, inputs(3))
    torch.testing.assert_close(get("ibm:fake_manila", shots=500, seed=7).expval(CIRCUIT, inputs(3)), first)
    assert (get("ibm:fake_manila", shots=500, seed=8).expval(CIRCUIT, inputs(3)) - first).abs().max() > 0


def test_too_many_qubits_fail_before_anything_is_submitted():
    backend = counting(get("ibm:fake_manila"))
    circuit = chen_vqc(6, 1)
    with pytest.raises(ValueError, match="6 qubits but backend 'ibm:fake_manila' supports at most 5"):
        backend.expval(circuit, torch.zeros(circuit.n_params))
    assert backend.submitted == {}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mode": "sessions"}, "unknown execution mode"),
        ({"shots": None}, "IBM devices sample"),
        ({"resilience_level": 3}, "resilience_level"),
        ({"dynamical_decoupling": "XYZ"}, "dynamical_decoupling"),
        ({"optimization_level": 4}, "optimization_level"),
        ({"seed": 0}, "seed=0 is ignored by qiskit-ibm-runtime's local testing mode"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        get("ibm:fake_manila", **options)


def test_unknown_fake_device_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown fake IBM device 'fake_atlantis'; known: .*fake_manila"):
        get("ibm:fake_atlantis")
    with pytest.raises(ValueError, match="name an IBM device"):
        get("ibm")


def test_cloud_device_without_credentials_says_how_to_set_them(tmp_path, monkeypatch):
    saved = tmp_path / "qiskit-ibm.json"  # no saved account: the path qiskit-ibm-runtime read at import
    monkeypatch.setattr("qiskit_ibm_runtime.accounts.management._DEFAULT_ACCOUNT_CONFIG_JSON_FILE", str(saved))
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(
        MissingCredentialsError,
        match=r"(?s)no IBM Quantum credentials found.*save_account.*QISKIT_IBM_TOKEN.*ibm:fake_manila",
    ):
        get("ibm:ibm_fez")


def dns_failure(*args, **kwargs):
    """What ``QiskitRuntimeService(token=...)`` raises when the IAM host's name does not resolve: an
    InvalidAccountError blaming the token, from the requests error, from urllib3's, from the socket's."""
    import socket

    import requests
    from qiskit_ibm_runtime.accounts import InvalidAccountError
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    host = "iam.cloud.ibm.com"
    request = requests.Request("POST", f"https://{host}/identity/token?apikey={TOKEN}").prepare()
    try:
        try:
            try:
                raise socket.gaierror(-2, "Name or service not known")
            except socket.gaierror as err:
                raise NameResolutionError(host, None, err) from err
        except NameResolutionError as err:
            raise MaxRetryError(None, "/identity/token", err) from err
    except MaxRetryError as err:
        try:
            raise requests.ConnectionError(err, request=request)  # as requests' HTTPAdapter.send does
        except requests.ConnectionError as cause:
            raise InvalidAccountError(
                "Unable to retrieve instances. Please check that you are using a valid API token."
            ) from cause


def test_cloud_device_offline_says_so_and_does_not_blame_the_token(monkeypatch):
    import qiskit_ibm_runtime

    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", dns_failure)
    with pytest.raises(ConnectionError) as err:
        get("ibm:ibm_fez")
    assert str(err.value) == (
        "cannot reach the IBM Quantum service at iam.cloud.ibm.com while signing in (the token was not checked): "
        "name resolution (DNS) failed ([Errno -2] Name or service not known). Check the network connection, DNS "
        "and any proxy (HTTPS_PROXY), or run offline on a fake device such as 'ibm:fake_manila'"
    )
    assert err.value.__suppress_context__  # no chained traceback that blames the token
    assert TOKEN not in str(err.value)  # the URL's query held it


def test_a_lost_connection_or_an_unknown_name_when_looking_up_the_device_is_named():
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    class Unreachable(StubService):
        def backend(self, name):
            dns_failure()

    class Empty(StubService):
        def backend(self, name):
            raise QiskitBackendNotFoundError("No backend matches the criteria.")

    with pytest.raises(
        ConnectionError,
        match=r"^cannot reach the IBM Quantum service at iam.cloud.ibm.com while "
        r"looking up the device 'ibm_fez': name resolution \(DNS\) failed",
    ):
        IBMBackend("ibm_fez", service=Unreachable())
    with pytest.raises(ValueError, match=r"^unknown IBM device 'ibm_fezz': the service has no device of that name"):
        IBMBackend("ibm_fezz", service=Empty())


def test_batch_and_session_modes_run_in_local_testing_mode():
    for mode in ("batch", "session"):
        with get("ibm:fake_manila", mode=mode, shots=100) as backend:
            assert backend.expval(CIRCUIT, inputs(2)).shape == (2, CIRCUIT.n_obs)
        assert backend._mode_object is None  # closed


def test_options_reach_the_primitive():
    backend = get("ibm:fake_manila", shots=1000, resilience_level=1, dynamical_decoupling="XY4", twirling=True, seed=4)
    options = backend.estimator_options()
    assert options["default_shots"] == 1000 and options["resilience_level"] == 1
    assert options["dynamical_decoupling"] == {"enable": True, "sequence_type": "XY4"}
    assert options["twirling"] == {"enable_gates": True, "enable_measure": True}
    assert options["simulator"] == {"seed_simulator": 4}


# -- splitting, retries ----------------------------------------------------------------------------
def test_oversize_calls_are_split_into_jobs_and_reassembled():
    params = inputs(7)
    whole = get("aer").expval(CIRCUIT, params)
    backend = counting(get("aer", max_circuits=3))
    torch.testing.assert_close(backend.expval(CIRCUIT, params), whole)
    assert backend.usage.jobs == len(backend.submitted) == 3


def test_transient_failures_are_retried_with_backoff(monkeypatch):
    backend = get("aer", retries=2, backoff=0.001)
    estimator = backend._estimator()
    calls = []

    def flaky_run(pubs, run=estimator.run):
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection reset by peer")
        return run(pubs)

    monkeypatch.setattr(estimator, "run", flaky_run)
    sleeps = []
    monkeypatch.setattr("qseq.backends.qiskit_estimator.time.sleep", sleeps.append)
    torch.testing.assert_close(backend.expval(CIRCUIT, inputs(2)), get("aer").expval(CIRCUIT, inputs(2)))
    assert len(calls) == 3 and sleeps == [0.001, 0.002]

    calls.clear()
    monkeypatch.setattr(
        estimator, "run", lambda pubs: (calls.append(1), (_ for _ in ()).throw(ConnectionError("down")))[1]
    )
    with pytest.raises(ConnectionError, match="submitting a job failed 3 times; last error: down"):
        backend.expval(CIRCUIT, inputs(2))
    assert len(calls) == 3


# -- the journal --------------------------------------------------------------------------------------
def run_calls(backend, n_calls):
    """n_calls backend calls of 2 circuits each; returns the stacked results."""
    return torch.stack([backend.expval(CIRCUIT, inputs(2, seed=k)) for k in range(n_calls)])


class Interrupt(BaseException):
    pass


def test_an_interrupted_run_resubmits_only_the_rest(tmp_path):
    journal = tmp_path / "run" / "jobs.sqlite"
    first = counting(get("ibm:fake_manila", shots=200, seed=5, journal=journal))
    submit = first._submit

    def crash_after_two(pub):
        if len(first.submitted) == 2:
            raise Interrupt
        return submit(pub)

    first._submit = crash_after_two
    with pytest.raises(Interrupt):
        run_calls(first, 5)
    assert len(first.submitted) == 2

    second = counting(get("ibm:fake_manila", shots=200, seed=5, journal=journal))
    results = run_calls(second, 5)
    assert len(second.submitted) == 3 and second.usage.reused == 2  # only the 3 that never ran

    third = counting(get("ibm:fake_manila", shots=200, seed=5, journal=journal))
    torch.testing.assert_close(run_calls(third, 5), results)  # everything from the journal
    assert third.submitted == {} and third.usage.reused == 5
    records = JobJournal(journal).records()
    assert len(records) == 5 and {r.status for r in records} == {"done"}
    assert all(r.evs.shape == (CIRCUIT.n_obs, 2) and r.shots == 200 and r.job_id for r in records)


def test_a_changed_input_shot_count_or_option_is_a_new_job(tmp_path):
    journal = tmp_path / "jobs.sqlite"
    get("ibm:fake_manila", shots=100, journal=journal).expval(CIRCUIT, inputs(2))
    for options, x in [
        ({"shots": 100}, inputs(2, seed=9)),
        ({"shots": 101}, inputs(2)),
        ({"shots": 100, "optimization_level": 2}, inputs(2)),
    ]:
        backend = counting(get("ibm:fake_manila", journal=journal, **options))
        backend.expval(CIRCUIT, x)
        assert len(backend.submitted) == 1


def test_pending_cloud_jobs_are_repolled_by_id_not_resubmitted(tmp_path, monkeypatch):
    journal = tmp_path / "jobs.sqlite"
    service = StubService()
    first = counting(IBMBackend("ibm_stub", service=service, shots=100, journal=journal, timeout=1))

    def times_out(job):
        raise JobPendingError(f"job {job.job_id()} has not finished")

    monkeypatch.setattr(first, "_result", times_out)
    with pytest.raises(JobPendingError):
        first.expval(CIRCUIT, inputs(2))
    (job_id,) = first.submitted
    assert JobJournal(journal).records()[0].status == "submitted"

    service.jobs = first.submitted  # the cloud still has the job
    second = counting(IBMBackend("ibm_stub", service=service, shots=100, journal=journal))
    values = second.expval(CIRCUIT, inputs(2))
    assert second.submitted == {} and service.fetched == [job_id]
    assert values.shape == (2, CIRCUIT.n_obs) and JobJournal(journal).records()[0].status == "done"


def test_a_journaled_job_the_service_lost_is_submitted_again(tmp_path):
    from qiskit_ibm_runtime.exceptions import RuntimeJobNotFound

    class Forgetful(StubService):
        def job(self, job_id):
            raise RuntimeJobNotFound(f"job {job_id} not found")

    journal = JobJournal(tmp_path / "jobs.sqlite")
    first = IBMBackend("ibm_stub", service=StubService(), shots=100, journal=journal)
    x = inputs(2)

    def pending(key, job, n_obs, n_circuits):
        # The local job runs in a simulator thread whose fake device enters and leaves
        # warnings.catch_warnings (building its noise model). catch_warnings saves and restores the
        # process-wide filters and showwarning, so a thread still running when pytest.warns starts
        # would restore the handlers pytest.warns replaced, and the warning below would go unseen.
        job.result()
        raise JobPendingError("still queued")

    first._collect = pending
    with pytest.raises(JobPendingError):
        first.expval(CIRCUIT, x)
    second = counting(IBMBackend("ibm_stub", service=Forgetful(), shots=100, journal=journal))
    with pytest.warns(RuntimeWarning, match="journaled job .* no longer exists on the service; submitting again"):
        second.expval(CIRCUIT, x)
    assert len(second.submitted) == 1


def test_cloud_devices_keep_a_journal_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = IBMBackend("ibm_stub", service=StubService(), shots=100)
    assert backend.journal.path == Path("qseq-jobs.sqlite") and not backend.local
    assert IBMBackend("ibm_stub", service=StubService(), journal=False).journal is None


def test_a_failed_job_is_recorded_and_submitted_again(tmp_path, monkeypatch):
    journal = tmp_path / "jobs.sqlite"
    backend = get("ibm:fake_manila", shots=100, journal=journal)

    def fails(job):
        job.result()  # no simulator thread outlives the test (see the lost-job test)
        raise ValueError("calibration error on qubit 3")

    monkeypatch.setattr(backend, "_result", fails)
    with pytest.raises(
        RuntimeError, match=r"job .* failed: ValueError: calibration error on qubit 3; it is marked failed"
    ):
        backend.expval(CIRCUIT, inputs(2))
    (record,) = JobJournal(journal).records()
    assert record.status == "failed" and "calibration error" in record.error
    again = counting(get("ibm:fake_manila", shots=100, journal=journal))
    again.expval(CIRCUIT, inputs(2))
    assert len(again.submitted) == 1

"""No IBM credential in anything a run writes or prints.

A token is put where qseq reads it (``QISKIT_IBM_TOKEN``), and a stand-in for
``QiskitRuntimeService`` keeps it the way the real one does (an attribute of the service, so
pickling the service would write it). Then every kind of file a run writes is produced through the
IBM backend: a run directory of ``qseq train`` and its ``qseq predict`` on the device (checkpoint,
best weights, metrics, ``run.json``, predictions, the run's job journal), a ``fit`` whose model runs on
the device (its checkpoints written while the backend holds the service), a whole model saved with
``torch.save``, a reservoir's feature cache, the default journal of a cloud device, every log record
and warning (to a log file) and everything printed. Each file, and each member of a zip archive
(``torch.save``), is searched for the token as text, UTF-16 and base64.
"""

from __future__ import annotations

import base64
import logging
import pickle
import sqlite3
import zipfile
from pathlib import Path

import pytest
import torch

from qseq.backends import get
from qseq.backends.ibm import fake_backend

pytest.importorskip("qiskit_ibm_runtime")

TOKEN = "qseq-scan-secret-token-9f8e7d6c5b4a"
NEEDLES = [TOKEN.encode(), TOKEN.encode("utf-16-le"), base64.b64encode(TOKEN.encode())]


class TokenKeepingService:
    """Keeps the token on itself like ``QiskitRuntimeService`` (account and client parameters);
    its devices are fake ones, so jobs run locally."""

    def __init__(self, token=None, **kwargs):
        self._account = {"token": token, **kwargs}
        self.jobs = {}

    def backend(self, name):
        return fake_backend("fake_manila")

    def job(self, job_id):
        return self.jobs[job_id]


class LastStep(torch.nn.Module):
    def __init__(self, rnn, head):
        super().__init__()
        self.rnn, self.head = rnn, head

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def leaks(data: bytes) -> bool:
    return any(n in data for n in NEEDLES)


def files_with_token(root: Path) -> list[str]:
    """Every file under ``root`` (and every member of a zip archive) that holds the token."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if leaks(data):
            found.append(str(path))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found += [f"{path}!{m}" for m in archive.namelist() if leaks(archive.read(m))]
    return found


def test_the_scan_finds_a_token_wherever_it_is_written(tmp_path):
    """The controls: the scan sees a token in text, a torch checkpoint, a journal and base64, and
    the stand-in service really carries the token, so a pickled service would be found."""
    service = TokenKeepingService(token=TOKEN)
    assert leaks(pickle.dumps(service))
    (tmp_path / "a.log").write_text(f"connecting with {TOKEN}\n")
    torch.save({"service": service, "w": torch.zeros(3)}, tmp_path / "b.pt")
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        db.execute("create table t (x text)")
        db.execute("insert into t values (?)", (TOKEN,))
    (tmp_path / "d.txt").write_bytes(base64.b64encode(TOKEN.encode()))
    (tmp_path / "clean.txt").write_text("nothing here")
    found = files_with_token(tmp_path)
    for name in ("a.log", "b.pt", "c.sqlite", "d.txt"):
        assert any(Path(f.split("!")[0]).name == name for f in found), name
    assert not any("clean.txt" in f for f in found)


def test_nothing_a_run_writes_or_prints_holds_the_token(tmp_path, monkeypatch, capsys):
    import qiskit_ibm_runtime

    from qseq.cli import main
    from qseq.models.cells import QRNN
    from qseq.reservoir import ReservoirRegressor
    from qseq.train import fit

    made = []

    def service(**kwargs):
        made.append(TokenKeepingService(**kwargs))
        return made[-1]

    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", service)
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "logs" / "run.log"
    log.parent.mkdir()
    handler = logging.FileHandler(log)
    root, runtime = logging.getLogger(), logging.getLogger("qiskit_ibm_runtime")
    levels = root.level, runtime.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    runtime.addHandler(handler)  # the runtime's records do not propagate to the root logger
    runtime.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    try:
        # a run directory trained on the engine, predicted on the device
        train = ["train", "--model", "qrnn", "--task", "damped_shm", "--epochs", "1", "--seq-len", "2"]
        assert main([*train, "--out", "run"]) == 0
        assert main(["predict", "--checkpoint", "run", "--backend", "ibm:ibm_stub", "--shots", "8"]) == 0
        # training on the device: checkpoints are written while the backend holds the service
        backend = get("ibm:ibm_stub", shots=8)
        model = QRNN(1, 1, n_qubits=2, n_layers=1, batch_first=True, backend=backend, dtype=torch.float64)
        net = LastStep(model, torch.nn.Linear(1, 1, dtype=torch.float64))
        x, y = torch.rand(4, 2, 1, dtype=torch.float64), torch.rand(4, 1, dtype=torch.float64)
        fit(net, (x, y), (x, y), run_dir="fit-on-device", epochs=1, progress=False, plot=False)
        torch.save(net, tmp_path / "whole-model.pt")
        # a reservoir's feature cache, features computed on the device
        reservoir = QRNN(1, 2, n_qubits=2, reservoir=True, backend=backend)
        ReservoirRegressor(reservoir, cache_dir=tmp_path / "cache").fit(torch.rand(6, 3, 1), torch.rand(6))
    finally:
        root.removeHandler(handler)
        runtime.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        runtime.setLevel(levels[1])
        logging.captureWarnings(False)
    out = capsys.readouterr()
    (tmp_path / "logs" / "stdout.txt").write_text(out.out)
    (tmp_path / "logs" / "stderr.txt").write_text(out.err)

    assert made and all(s._account["token"] == TOKEN for s in made)  # the token was read and used
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    expected = [
        "run/run.json",
        "run/checkpoint.pt",
        "run/best.pt",
        "run/metrics.json",
        "run/metrics.csv",
        "run/jobs.sqlite",
        "fit-on-device/checkpoint.pt",
        "fit-on-device/best.pt",
        "fit-on-device/config.json",
        "whole-model.pt",
        "qseq-jobs.sqlite",
        "logs/run.log",
        "logs/stdout.txt",
    ]
    assert not [f for f in expected if f not in written], sorted(written)
    assert any(f.startswith("run/predictions-") and f.endswith(".csv") for f in written), sorted(written)
    assert any(f.startswith("cache/") for f in written), sorted(written)
    assert "Submitting job" in log.read_text()  # the log file saw the device's jobs
    assert "predictions-" in out.out and "jobs.sqlite" in out.out
    assert files_with_token(tmp_path) == []

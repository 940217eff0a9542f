"""The job journal refuses a damaged or foreign file with one clear error and never rewrites it:
the jobs it records were paid for."""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pytest

from qseq._io import DamagedFileError
from qseq.backends.journal import JobJournal


def _journal(tmp_path) -> JobJournal:
    journal = JobJournal(tmp_path / "jobs.sqlite")
    journal.submitted("k1", "ibm:ibm_fez", "job-1", 2, 4096)
    journal.done("k1", np.ones((1, 2)), np.zeros((1, 2)), {"shots": 4096})
    return journal


def test_a_good_journal_reads_back(tmp_path):
    _journal(tmp_path)
    journal = JobJournal(tmp_path / "jobs.sqlite")
    (record,) = journal.records()
    assert record.status == "done" and record.metadata == {"shots": 4096}
    np.testing.assert_array_equal(record.evs, np.ones((1, 2)))
    np.testing.assert_array_equal(journal.values(record, (1, 2)), np.ones((1, 2)))


@pytest.mark.parametrize("content", [b"garbage, not a database\n" * 10, b"SQLite format 3\x00" + b"\x00" * 84])
def test_a_damaged_journal_is_named_and_left_as_it_is(tmp_path, content):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError) as err:
        JobJournal(path)
    message = str(err.value)
    assert message.startswith(f"{path} is not a readable qseq job journal (DatabaseError: ")
    assert "paid for" in message and "\n" not in message
    assert path.read_bytes() == content


def test_a_journal_whose_pages_are_damaged_is_named(tmp_path):
    path = tmp_path / "jobs.sqlite"
    _journal(tmp_path)
    good = path.read_bytes()
    damaged = good[:100] + b"\xff" * (len(good) - 100)  # the header survives, the pages do not
    path.write_bytes(damaged)
    with pytest.raises(DamagedFileError, match=r"jobs.sqlite is not a readable qseq job journal"):
        JobJournal(path).records()
    assert path.read_bytes() == damaged


def test_another_sqlite_file_is_not_taken_for_a_journal(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("create table jobs (id integer, name text)")
    con.close()
    with pytest.raises(DamagedFileError, match=r"other.sqlite is an SQLite file but not a qseq job journal"):
        JobJournal(path)


def test_a_tampered_row_names_its_job(tmp_path):
    path = tmp_path / "jobs.sqlite"
    _journal(tmp_path)
    with sqlite3.connect(path) as con:
        con.execute("update jobs set metadata = '{not json' where key = 'k1'")
    con.close()
    with pytest.raises(
        DamagedFileError, match=r"jobs.sqlite is not a readable .*the row of job 'job-1' does not parse"
    ):
        JobJournal(path).get("k1")


def test_a_directory_is_no_journal(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        JobJournal(tmp_path)


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("evs", "found"),
    [(np.ones((1, 3)), r"shape \(1, 3\)"), (np.full((1, 2), np.nan), "non-finite values"), (None, "none")],
    ids=["shape", "nan", "missing"],
)
def test_a_finished_row_whose_values_were_changed_is_named_not_reused(tmp_path, evs, found):
    path = tmp_path / "jobs.sqlite"
    _journal(tmp_path)
    with sqlite3.connect(path) as con:
        con.execute("update jobs set evs = ? where key = 'k1'", (None if evs is None else _npy(evs),))
    con.close()
    journal = JobJournal(path)
    with pytest.raises(
        DamagedFileError,
        match=rf"jobs.sqlite is not a readable .*job 'job-1' is done, but its row holds {found} where shape \(1, 2\)",
    ):
        journal.values(journal.get("k1"), (1, 2))


def test_a_backend_refuses_a_changed_row_instead_of_using_it(tmp_path):
    pytest.importorskip("qiskit_aer")
    import torch

    from qseq.backends import get
    from qseq.circuits import chen_vqc

    circuit, path = chen_vqc(2, 1), tmp_path / "jobs.sqlite"
    x = torch.zeros(2, circuit.n_params, dtype=torch.float64)
    get("aer", journal=path).expval(circuit, x)
    with sqlite3.connect(path) as con:
        con.execute("update jobs set evs = ?", (_npy(np.zeros((circuit.n_obs, 1))),))
    con.close()
    damaged = path.read_bytes()
    with pytest.raises(
        DamagedFileError, match=r"is done, but its row holds shape \(2, 1\) where shape \(2, 2\) belongs"
    ):
        get("aer", journal=path).expval(circuit, x)
    assert path.read_bytes() == damaged

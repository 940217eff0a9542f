"""The job journal refuses a damaged or foreign file with one clear error and never rewrites it:
the jobs it records were paid for."""

from __future__ import annotations

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
    (record,) = JobJournal(tmp_path / "jobs.sqlite").records()
    assert record.status == "done" and record.metadata == {"shots": 4096}
    np.testing.assert_array_equal(record.evs, np.ones((1, 2)))


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

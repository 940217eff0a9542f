"""The job journal: every job a Qiskit backend submits, in one SQLite file per run directory.

A job is keyed by a hash of everything that determines its result — the ISA circuit, the
observables, the parameter values, the shots, the device and the options — so re-running the same
inference or reservoir fit after a crash, a timeout or a closed laptop:

* reuses every finished result (nothing is submitted or paid for again);
* re-polls jobs that were submitted but not collected, by job id (cloud devices), instead of
  submitting them again;
* submits only what never ran.

Rows hold the job id, the status (``submitted``, ``done``, ``failed``), timestamps, the result
arrays and the primitive's metadata. Credentials are never part of a key or a row.

Inspect a journal with any SQLite client::

    sqlite3 runs/X/jobs.sqlite "select job_id, status, n_circuits, shots from jobs"
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import DamagedFileError, damaged

__all__ = ["JobJournal", "JobRecord"]

_SCHEMA = """
create table if not exists jobs (
    key text primary key,   -- sha256 of (ISA circuit, observables, parameter values, shots, device, options)
    backend text not null,  -- the backend spec, e.g. ibm:ibm_fez
    job_id text,            -- the primitive's job id (cloud jobs can be fetched with it)
    status text not null,   -- submitted | done | failed
    submitted real,         -- unix time
    finished real,          -- unix time
    n_circuits integer,     -- parameter vectors in the job
    shots integer,          -- shots per circuit (null: exact)
    evs blob,               -- expectation values, float64 (n_obs, n_circuits), .npy bytes
    stds blob,              -- their standard errors, same shape
    metadata text,          -- the primitive's result metadata, JSON
    error text              -- why the job failed
)
"""

_COLUMNS = [
    "key",
    "backend",
    "job_id",
    "status",
    "submitted",
    "finished",
    "n_circuits",
    "shots",
    "evs",
    "stds",
    "metadata",
    "error",
]


@dataclass(frozen=True)
class JobRecord:
    """One row of the journal."""

    key: str
    backend: str
    job_id: str | None
    status: str
    submitted: float | None
    finished: float | None
    n_circuits: int
    shots: int | None
    evs: np.ndarray | None
    stds: np.ndarray | None
    metadata: dict
    error: str | None


def _to_blob(array: np.ndarray | None) -> bytes | None:
    if array is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _from_blob(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)


class JobJournal:
    """A SQLite file of submitted jobs and their results.

    Args:
        path: the journal file (created with its directory if missing), conventionally
            ``<run dir>/jobs.sqlite``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise IsADirectoryError(f"the job journal {self.path} is a directory, not a file; name a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_SCHEMA)
            columns = [row[1] for row in con.execute("pragma table_info(jobs)")]
        if set(columns) != set(_COLUMNS):
            raise DamagedFileError(
                f"{self.path} is an SQLite file but not a qseq job journal: its 'jobs' table has the columns "
                f"{columns}, expected {_COLUMNS}. It is left as it is; name another journal file."
            )

    def _damaged(self, err: BaseException, detail: str) -> DamagedFileError:
        return damaged(
            self.path,
            "qseq job journal",
            err,
            "Restore it from a copy to reuse the jobs it records; moving it aside starts a new journal, and "
            "every job it recorded would then be submitted (and paid for) again.",
            detail,
        )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed; SQLite's errors name the file."""
        try:
            con = sqlite3.connect(self.path, timeout=30)
            try:
                with con:
                    yield con
            finally:
                con.close()
        except sqlite3.OperationalError as err:  # locked, unwritable, unopenable: the file may be fine
            raise OSError(f"job journal {self.path}: {err}") from err
        except sqlite3.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
            raise self._damaged(err, str(err)) from None

    def get(self, key: str) -> JobRecord | None:
        """The row for ``key``, or ``None`` if this job never was submitted."""
        records = self._select("where key = ?", (key,))
        return records[0] if records else None

    def _select(self, clause: str, args: tuple = ()) -> list[JobRecord]:
        with self._connect() as con:
            con.row_factory = sqlite3.Row  # the columns are named as JobRecord's fields
            rows = con.execute(f"select * from jobs {clause}", args).fetchall()
        return [self._record(row) for row in rows]

    def _record(self, row: sqlite3.Row) -> JobRecord:
        try:
            return JobRecord(
                **{
                    **dict(row),
                    "evs": _from_blob(row["evs"]),
                    "stds": _from_blob(row["stds"]),
                    "metadata": json.loads(row["metadata"] or "{}"),
                }
            )
        except (ValueError, EOFError) as err:  # a result array or the metadata JSON does not parse
            raise self._damaged(err, f"the row of job {row['job_id'] or row['key']!r} does not parse") from None

    def values(self, record: JobRecord, shape: tuple[int, int]) -> np.ndarray:
        """The expectation values of a finished job, checked: ``shape`` ``(n_obs, n_circuits)``, finite.

        Raises:
            DamagedFileError: they are missing, of another shape or not finite (the row was changed
                after the job finished: its key fixes the shape).
        """
        evs = record.evs
        if evs is not None and evs.shape == shape and np.isfinite(evs).all():
            return evs
        found = "none" if evs is None else f"shape {evs.shape}" if evs.shape != shape else "non-finite values"
        raise self._damaged(
            ValueError(), f"job {record.job_id!r} is done, but its row holds {found} where shape {shape} belongs"
        )

    def submitted(self, key: str, backend: str, job_id: str | None, n_circuits: int, shots: int | None) -> None:
        """Record a job right after submission (before waiting for it)."""
        with self._connect() as con:
            con.execute(
                "insert or replace into jobs (key, backend, job_id, status, submitted, n_circuits, shots)"
                " values (?, ?, ?, 'submitted', ?, ?, ?)",
                (key, backend, job_id, time.time(), n_circuits, shots),
            )

    def done(self, key: str, evs: np.ndarray, stds: np.ndarray | None, metadata: dict) -> None:
        """Store a finished job's results."""
        with self._connect() as con:
            con.execute(
                "update jobs set status = 'done', finished = ?, evs = ?, stds = ?, metadata = ?, error = null"
                " where key = ?",
                (time.time(), _to_blob(evs), _to_blob(stds), json.dumps(metadata, default=str), key),
            )

    def failed(self, key: str, error: str) -> None:
        """Mark a job as failed (a later run submits it again)."""
        with self._connect() as con:
            con.execute(
                "update jobs set status = 'failed', finished = ?, error = ? where key = ?", (time.time(), error, key)
            )

    def records(self) -> list[JobRecord]:
        """Every row, oldest submission first."""
        return self._select("order by submitted")

    def __repr__(self) -> str:
        return f"JobJournal({str(self.path)!r})"

"""qseq's thread policy: small tensor work on one intra-op thread, unless the user chose otherwise.

A recurrent quantum model is thousands of tiny tensor operations. Spread over several intra-op
threads they gain nothing, and when another process is busy on the machine the threads wait for
each other: measured on a 2-core CPU, a paper-QLSTM training step took 68 ms with 2 threads and
19 ms with 1 while one other process was busy (18–19 ms either way on an idle machine).

So :func:`fit`, :func:`evaluate`, :func:`predict` and reservoir features run under
:func:`small_work_threads`, which sets one thread for their duration and restores the previous count
after — unless the user has chosen: ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``QSEQ_NUM_THREADS``
is set, or ``torch.set_num_threads`` was called after qseq was imported. ``QSEQ_NUM_THREADS=N``
picks qseq's count without changing other libraries'.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

__all__ = ["small_work_threads"]

_CHOSEN_BY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: torch's thread count when qseq was imported: a different count later is the user's choice.
_AT_IMPORT = torch.get_num_threads()


def _threads_for_qseq() -> int | None:
    """The intra-op thread count for qseq's work, or ``None`` to leave torch's setting alone."""
    own = os.environ.get("QSEQ_NUM_THREADS")
    if own:
        try:
            count = int(own)
        except ValueError:
            raise ValueError(f"QSEQ_NUM_THREADS must be a positive integer, got {own!r}") from None
        if count < 1:
            raise ValueError(f"QSEQ_NUM_THREADS must be a positive integer, got {own!r}")
        return count
    if any(os.environ.get(name) for name in _CHOSEN_BY_ENV) or torch.get_num_threads() != _AT_IMPORT:
        return None
    return 1


@contextlib.contextmanager
def small_work_threads() -> Iterator[None]:
    """Run the block with qseq's intra-op thread count (see the module docstring); nested uses and
    a user's own choice leave the count as it is."""
    count = _threads_for_qseq()
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)

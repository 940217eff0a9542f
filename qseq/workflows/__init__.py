"""What the ``qseq`` command does, as functions: run directories (train, read back, predict on
another backend), the reservoir-vs-trained comparison, hardware cost estimates, and tables.

* :mod:`~qseq.workflows.runs` — :func:`train_run`, :func:`predict_run`, ``run.json``.
* :mod:`~qseq.workflows.compare` — :func:`compare`.
* :mod:`~qseq.workflows.estimate` — :func:`estimate` (jobs, shots, QPU time on an IBM device).
* :mod:`~qseq.workflows.report` — :func:`table`, :func:`duration`.
"""

from .compare import compare
from .estimate import Cost, estimate
from .report import duration, table
from .runs import RunInfo, predict_run, read_run_info, train_run

__all__ = ["compare", "estimate", "Cost", "table", "duration", "RunInfo", "train_run", "predict_run", "read_run_info"]

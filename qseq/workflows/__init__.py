"""What the ``qseq`` command does, as functions: run directories (train, read back, predict on
another backend), the reservoir-vs-trained comparison, hardware cost estimates, and tables.

* :mod:`~qseq.workflows.runs` — :func:`train_run` (trained or reservoir runs), :func:`predict_run`, ``run.json``.
* :mod:`~qseq.workflows.compare` — :func:`compare`.
* :mod:`~qseq.workflows.estimate` — :func:`estimate` (jobs, shots, QPU time on an IBM device).
* :mod:`~qseq.workflows.report` — :func:`table`, :func:`duration`.
"""

from .compare import compare
from .estimate import Cost, estimate
from .report import duration, table
from .runs import RESERVOIR_INIT, RunInfo, predict_run, read_run_info, run_info, train_run

__all__ = [
    "compare",
    "estimate",
    "Cost",
    "table",
    "duration",
    "RunInfo",
    "run_info",
    "train_run",
    "predict_run",
    "read_run_info",
    "RESERVOIR_INIT",
]

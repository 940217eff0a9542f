"""qseq — quantum-classical hybrid sequence models.

* :class:`QRNN`, :class:`QLSTM`, :class:`QGRU` (and their cells) — drop-in for ``torch.nn.RNN/LSTM/GRU``;
  :class:`QFWP` — the quantum fast weight programmer; :class:`ReservoirRegressor` — a readout on a
  frozen reservoir.
* :mod:`qseq.circuits` — circuit descriptions, ansätze, exporters.
* :mod:`qseq.backends` — where circuits run (``get("torch")``, ``get("pennylane:lightning.qubit")``, ...).
* :mod:`qseq.models` — every model, the protocol of models with circuits, the model registry.
* :mod:`qseq.reservoir` — reservoir computing; :mod:`qseq.data` — time-series tasks;
  :mod:`qseq.train` — the training workflow; :mod:`qseq.workflows` — what the ``qseq`` command does.

The layers, bottom to top, and what may import what: ``docs/design.md``.
"""

from . import backends, circuits, data, models, reservoir, train
from .models import (
    QFWP,
    QGRU,
    QLSTM,
    QRNN,
    ClassicalReservoir,
    QGRUCell,
    QLSTMCell,
    QRNNCell,
    QuantumModel,
    SequenceRegressor,
    build_model,
)
from .reservoir import ReservoirRegressor

__version__ = "0.1.0.dev0"

__all__ = [
    "QRNN",
    "QLSTM",
    "QGRU",
    "QRNNCell",
    "QLSTMCell",
    "QGRUCell",
    "QFWP",
    "ReservoirRegressor",
    "ClassicalReservoir",
    "QuantumModel",
    "SequenceRegressor",
    "build_model",
    "backends",
    "circuits",
    "data",
    "models",
    "reservoir",
    "train",
]

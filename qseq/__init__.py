"""qseq — quantum-classical hybrid sequence models.

* :mod:`qseq.circuits` — circuit descriptions, ansätze, exporters.
* :mod:`qseq.backends` — where circuits run (``get("torch")``, ``get("pennylane:lightning.qubit")``, ...).
* :class:`QRNN`, :class:`QLSTM`, :class:`QGRU` (and their cells) — drop-in for ``torch.nn.RNN/LSTM/GRU``.
* :mod:`qseq.models` — sequence regressors and the papers' configurations.
* :mod:`qseq.data` — time-series tasks; :mod:`qseq.train` — the training workflow.
"""

from .cells import QGRU, QLSTM, QRNN, QGRUCell, QLSTMCell, QRNNCell
from .models import SequenceRegressor, build_model

__version__ = "0.1.0.dev0"

__all__ = ["QRNN", "QLSTM", "QGRU", "QRNNCell", "QLSTMCell", "QGRUCell", "SequenceRegressor", "build_model"]

"""Torch modules built on circuits: the quantum recurrent cells and layers, the quantum fast weight
programmer, classical baselines and reservoirs, initialisers, and the model registry.

* :mod:`~qseq.models.cells` — ``QRNN``, ``QLSTM``, ``QGRU`` and their cells (drop-in for ``torch.nn``).
* :mod:`~qseq.models.fwp` — ``QFWP``, the quantum fast weight programmer.
* :mod:`~qseq.models.classical` — ``ClassicalReservoir`` (frozen torch RNN/LSTM/GRU) and ``ESN``.
* :mod:`~qseq.models.init` — initialisers and :func:`freeze_random`, the one freeze function.
* :mod:`~qseq.models.protocol` — :class:`QuantumModel`, what every model with circuits implements.
* :mod:`~qseq.models.registry` — ``SequenceRegressor``, ``LastStep``, ``build_model``, ``MODELS``.
"""

from .cells import QGRU, QLSTM, QRNN, QGRUCell, QLSTMCell, QRNNCell, angle_encode
from .classical import ESN, ClassicalReservoir
from .fwp import QFWP, FWPState
from .init import INITS, freeze_random, init_linear, init_vqc_weights
from .protocol import QuantumModel, backends_of, freeze_reservoir, runs_circuits
from .registry import MODELS, LastStep, SequenceRegressor, build_model, count_parameters

__all__ = [
    "QRNN",
    "QLSTM",
    "QGRU",
    "QRNNCell",
    "QLSTMCell",
    "QGRUCell",
    "angle_encode",
    "QFWP",
    "FWPState",
    "ClassicalReservoir",
    "ESN",
    "INITS",
    "freeze_random",
    "init_linear",
    "init_vqc_weights",
    "QuantumModel",
    "backends_of",
    "runs_circuits",
    "freeze_reservoir",
    "SequenceRegressor",
    "LastStep",
    "build_model",
    "MODELS",
    "count_parameters",
]

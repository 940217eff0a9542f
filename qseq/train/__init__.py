"""Training loop for sequence models: ``fit``, ``evaluate``, ``predict`` and resumable run directories.

A model is any :class:`torch.nn.Module` that maps a batch of windows ``X (N, seq_len, features)`` to
predictions ``(N, out_features)``. :func:`fit` trains it with the papers' recipe by default (MSE on
the last-step output, RMSprop lr 0.01 / alpha 0.99 / eps 1e-8, batch 4, 100 epochs, float64) and,
given a ``run_dir``, keeps a run directory that survives interruption::

    run_dir/
        config.json       the TrainConfig of the latest call
        metrics.csv       one row per epoch (rewritten atomically every epoch)
        metrics.json      the same history plus the monitor and best epoch
        checkpoint.pt     everything needed to resume bit-for-bit (atomic, every ``checkpoint_every``)
        best.pt           the best weights by ``monitor``
        loss.png          train / validation MSE per epoch (needs matplotlib)
        prediction.png    prediction vs truth over the time index (needs matplotlib)

Every file is written to a temporary file in the same directory, flushed, fsync'ed and moved into
place with :func:`os.replace`, so a crash leaves either the old or the new version, never half a file.
Checkpoints hold only tensors, dicts, lists, numbers and strings and load with
``torch.load(path, weights_only=True)``.

Launched by ``torchrun`` (or with ``TrainConfig.distributed=True`` in an initialised process group),
:func:`fit` trains data-parallel: :mod:`qseq.train.distributed`.
"""

from .._distributed import is_main_process
from .._rng import seed_everything
from .checkpoint import load_checkpoint, load_model_weights
from .config import METRIC_COLUMNS, TrainConfig, TrainResult
from .evaluation import evaluate, predict
from .loop import fit
from .plots import plot_loss, plot_prediction

__all__ = [
    "TrainConfig",
    "TrainResult",
    "fit",
    "evaluate",
    "predict",
    "seed_everything",
    "is_main_process",
    "load_checkpoint",
    "load_model_weights",
    "plot_loss",
    "plot_prediction",
    "METRIC_COLUMNS",
]

"""Run-directory I/O: metrics, config, checkpoints, :func:`load_checkpoint` / :func:`load_model_weights`,
and resuming a run from its checkpoint."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import DamagedFileError, atomic_write_text, load_torch, save_torch
from .._rng import rng_state, set_rng_state
from .config import (
    _RESUME_FREE_FIELDS,
    BEST_FILE,
    CHECKPOINT_FILE,
    METRIC_COLUMNS,
    METRICS_CSV,
    METRICS_JSON,
    PathLike,
    TrainConfig,
    _State,
)
from .evaluation import _model_dtype_device

__all__ = ["load_checkpoint", "load_model_weights"]

logger = logging.getLogger(__package__)  # "qseq.train", the logger name from before the split

_CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------------
# Run-directory files (written atomically): metrics, config, checkpoints
# --------------------------------------------------------------------------------------------------


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def _write_metrics(run_dir: Path, state: _State, monitor: str, final: dict[str, Any] | None = None) -> None:
    """Rewrite ``metrics.csv`` and ``metrics.json`` from the whole history (and, at the end of
    :func:`fit`, the ``final`` evaluation: which weights, and their train / val / test metrics)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(state.history)
    atomic_write_text(run_dir / METRICS_CSV, buffer.getvalue())
    summary: dict[str, Any] = {
        "monitor": monitor,
        "best_epoch": state.best_epoch,
        "best_value": state.best_value if state.best_epoch is not None else None,
        "stopped_early": state.stopped_early,
        "history": state.history,
    }
    if final is not None:
        summary["final"] = final
    _write_json(run_dir / METRICS_JSON, summary)


def _save_best(run_dir: Path, state: _State, monitor: str) -> None:
    save_torch(
        run_dir / BEST_FILE,
        {"model_state": state.best_weights, "epoch": state.best_epoch, "monitor": monitor, "value": state.best_value},
    )


def _save_checkpoint(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: _State,
    config: TrainConfig,
    shuffle_gen: torch.Generator,
    data_signature: dict[str, Any],
) -> None:
    """Write ``checkpoint.pt``: weights, optimiser, progress, best weights, config, data signature, RNGs."""
    checkpoint = {
        "format_version": _CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "history": state.history,
        "best": {
            "epoch": state.best_epoch,
            "value": state.best_value,
            "model_state": state.best_weights,
            "bad_epochs": state.bad_epochs,
        },
        "stopped_early": state.stopped_early,
        "wall_time": state.wall_time,
        "config": config.to_dict(),
        "data": data_signature,
        "rng": rng_state({"shuffle": shuffle_gen}),
    }
    save_torch(run_dir / CHECKPOINT_FILE, checkpoint)


def load_checkpoint(path: PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`fit` with ``torch.load(weights_only=True)``.

    Args:
        path: ``checkpoint.pt`` / ``best.pt``, or a run directory (then its ``checkpoint.pt``).
        map_location: where to put the tensors.

    Returns:
        The checkpoint dict (keys ``epoch``, ``model_state``, ``optimizer_state``, ``history``, ``best``,
        ``config``, ``rng``, ...; for ``best.pt``: ``model_state``, ``epoch``, ``monitor``, ``value``).

    Raises:
        FileNotFoundError: no file at ``path``.
        DamagedFileError: (a ``ValueError``) the file cannot be read as a checkpoint, or its contents do
            not match the SHA-256 checksum written into it (files of qseq versions before checksums
            have none and load as they are); it is left as it is.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    remedy = (
        f"Restore it from a copy, load the run's other weights file ({CHECKPOINT_FILE}: the last epoch, "
        f"{BEST_FILE}: the best), or train again into another directory."
    )
    saved = load_torch(path, "qseq checkpoint", remedy, map_location=map_location)
    if not isinstance(saved, dict) or "model_state" not in saved:
        raise DamagedFileError(
            f"{path} is not a qseq checkpoint (it holds a {type(saved).__name__} without 'model_state'); "
            f"pass a {BEST_FILE} or {CHECKPOINT_FILE} written by qseq.train.fit (`qseq train`)"
        )
    return saved


def _load_weights(model: nn.Module, state: dict[str, Any], source: str) -> None:
    """``model.load_state_dict(state)`` (strict), or a ``ValueError`` saying how the weights from
    ``source`` differ from ``model``'s: tensors missing, tensors too many, and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:

        def some(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

        parts = [
            f"{label}: {some(keys)}"
            for label, keys in (
                ("missing from the file", missing),
                ("not in the model", unexpected),
                ("shape in the file vs the model", shapes),
            )
            if keys
        ]
        raise ValueError(
            f"the weights in {source} belong to another model, not to this {type(model).__name__} "
            f"({'; '.join(parts)}); load weights saved from a model built the same way (same model and sizes)"
        )
    model.load_state_dict(state)


def load_model_weights(model: nn.Module, run_dir: PathLike) -> nn.Module:
    """Load the best weights of a run (``run_dir/best.pt``, or a given ``.pt`` file) into ``model``.

    Args:
        model: a model of the same architecture as the trained one.
        run_dir: the run directory, or the path of a ``best.pt`` / ``checkpoint.pt`` file.

    Returns:
        ``model``, with the weights loaded (strictly: every key must match).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a damaged file, a checkpoint without weights, or weights of another model (the
            message names the tensors that differ).
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / BEST_FILE
    saved = load_checkpoint(path, map_location=_model_dtype_device(model)[1])
    if saved.get("model_state") is None:
        raise ValueError(f"{path} holds no model weights (no epoch has finished yet)")
    _load_weights(model, saved["model_state"], str(path))
    return model


# --------------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------------


def _config_mismatches(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Result-changing fields that differ between a checkpoint's config and ``config``."""
    current = config.to_dict()
    missing = object()
    out = []
    for key in sorted((saved.keys() | current.keys()) - _RESUME_FREE_FIELDS):
        old, new = saved.get(key, missing), current.get(key, missing)
        if old != new:
            show = lambda v: "<missing>" if v is missing else repr(v)  # noqa: E731
            out.append(f"{key} (checkpoint {show(old)}, requested {show(new)})")
    return out


def _open_run_dir(run_dir: Path, resume: bool) -> dict[str, Any] | None:
    """Create ``run_dir``; return its checkpoint when resuming, refuse to overwrite one otherwise."""
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run_dir {run_dir} exists and is not a directory")
    ckpt_path = run_dir / CHECKPOINT_FILE
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"run_dir {run_dir} already holds a checkpoint; pass resume=True to continue that run, "
            "or choose another run_dir (or delete it) to start over"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        return None
    if not ckpt_path.exists():
        logger.warning("resume=True but %s has no %s: starting a fresh run", run_dir, CHECKPOINT_FILE)
        return None
    return load_checkpoint(ckpt_path)


def _restore(
    checkpoint: dict[str, Any],
    config: TrainConfig,
    data_signature: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle_gen: torch.Generator,
    source: str = "the checkpoint",
) -> _State:
    """Check that ``checkpoint`` (read from ``source``, named in errors) belongs to this run, load it
    into the objects, return the progress."""
    if checkpoint.get("format_version") != _CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {checkpoint.get('format_version')!r}")
    mismatches = _config_mismatches(checkpoint["config"], config)
    if mismatches:
        raise ValueError(
            "cannot resume: the config differs from the checkpoint's in fields that change results: "
            + "; ".join(mismatches)
            + ". Pass the original values, or start a new run_dir."
        )
    if checkpoint["data"] != data_signature:
        raise ValueError(
            f"cannot resume: the training/validation data differ from the checkpoint's "
            f"(shapes {checkpoint['data']['shapes']} vs {data_signature['shapes']}, or their values)"
        )
    device = _model_dtype_device(model)[1]
    _load_weights(model, checkpoint["model_state"], source)
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    best = checkpoint["best"]
    best_weights = None if best["model_state"] is None else {k: v.to(device) for k, v in best["model_state"].items()}
    set_rng_state(checkpoint["rng"], {"shuffle": shuffle_gen})
    return _State(
        epoch=checkpoint["epoch"],
        history=list(checkpoint["history"]),
        best_epoch=best["epoch"],
        best_value=best["value"],
        best_weights=best_weights,
        bad_epochs=best["bad_epochs"],
        stopped_early=checkpoint["stopped_early"],
        wall_time=checkpoint["wall_time"],
    )

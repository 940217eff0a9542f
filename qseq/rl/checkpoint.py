"""Run directories of reinforcement-learning runs: ``config.json``, ``metrics.csv`` / ``metrics.json``,
``checkpoint.pt`` (everything a resume needs), ``learning_curve.png``; and loading a saved agent.

A checkpoint holds the agent, the optimiser, every RNG, the step counters, the episode statistics,
the collector's next observation / episode-start flags / recurrent state, and the environments
themselves (cloudpickled, as gymnasium itself ships them to worker processes). A resumed run then
continues exactly where the checkpoint was taken: same actions, same episodes, same weights as a
run that never stopped. Environments that cannot be pickled (e.g. with a live render window) are
restarted instead, at an episode boundary, with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write_text, load_torch, save_torch
from .._plotting import matplotlib_figure, save_figure
from .config import RLConfig, config_from_dict

__all__ = ["CHECKPOINT_FILE", "load_checkpoint", "open_run", "RunFiles", "recent_mean", "progress_row"]

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.json"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
CURVE_FILE = "learning_curve.png"
_FORMAT = 1


def recent_mean(returns: list[float], n: int = 100) -> float | None:
    """Mean return of the last ``n`` episodes (``None`` before the first one ends)."""
    return float(np.mean(returns[-n:])) if returns else None


def progress_row(update: int, step: int, returns: list[float], new_steps: int, elapsed: float, **extra) -> dict:
    """One row of a run's history: counters, the recent mean return, throughput, and ``extra``
    (losses, ε, ...)."""
    return {
        "update": update,
        "step": step,
        "episodes": len(returns),
        "mean_return_100": recent_mean(returns),
        "steps_per_s": new_steps / elapsed if elapsed > 0 else None,
        "time_s": elapsed,
        **extra,
    }


def show_progress(bar, row: dict, **extra: str) -> None:
    """The row's episodes and recent mean return (and ``extra``) on a tqdm bar."""
    mean = "-" if row["mean_return_100"] is None else f"{row['mean_return_100']:.1f}"
    bar.set_postfix(episodes=row["episodes"], mean_return=mean, **extra, refresh=False)


def plain_state(state):
    """A recurrent state as plain nested tuples (loadable with ``weights_only=True``)."""
    if state is None or isinstance(state, torch.Tensor):
        return state
    return tuple(plain_state(s) for s in state)


def pickle_envs(envs) -> torch.Tensor | None:
    """The sub-environments and episode counters of a vector env as bytes in a uint8 tensor, or
    ``None`` (with a warning) when they cannot be pickled."""
    import cloudpickle

    stats = {k: getattr(envs, k) for k in ("episode_returns", "episode_lengths", "episode_count", "prev_dones")}
    try:
        blob = cloudpickle.dumps({"envs": envs.unwrapped.envs, "stats": stats})
    except Exception as err:  # any object inside an env may refuse pickling
        warnings.warn(
            f"the environments cannot be saved ({type(err).__name__}: {err}); a resume will restart them at an "
            "episode boundary",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8)


def unpickle_envs(envs, blob: torch.Tensor) -> None:
    """Put pickled sub-environments and counters (:func:`pickle_envs`) into the vector env ``envs``."""
    import cloudpickle

    saved = cloudpickle.loads(blob.numpy().tobytes())
    if len(saved["envs"]) != envs.num_envs:
        raise ValueError(f"the checkpoint holds {len(saved['envs'])} environments, the run has {envs.num_envs}")
    envs.unwrapped.envs = saved["envs"]
    for key, value in saved["stats"].items():
        setattr(envs, key, value)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A run's checkpoint (``path`` is the run directory or the file), checked: a clear error for a
    missing, damaged (unreadable, or not matching its SHA-256 checksum) or foreign file."""
    path = Path(path)
    file = path / CHECKPOINT_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no RL checkpoint at {file} (train one with `qseq rl ... --out DIR`)")
    ckpt = load_torch(
        file, "qseq RL checkpoint", "Restore it from a copy, or train again into another directory (--out)."
    )
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "qseq-rl" or ckpt.get("format") != _FORMAT:
        raise ValueError(f"{file} is not a qseq RL checkpoint (format {_FORMAT})")
    ckpt["config"] = config_from_dict(ckpt["config"])
    return ckpt


class RunFiles:
    """The files of one run directory (created if missing)."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"run directory {self.dir} is a file; pass a directory to --out / run_dir")
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoint(self) -> Path:
        return self.dir / CHECKPOINT_FILE

    def write_config(self, config: RLConfig) -> None:
        text = json.dumps(config.to_dict(), indent=2) + "\n"
        atomic_write_text(self.dir / CONFIG_FILE, text)

    def write_metrics(self, history: list[dict[str, Any]], summary: dict[str, Any]) -> None:
        if not history:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_text(self.dir / METRICS_CSV, buffer.getvalue())
        text = json.dumps({**summary, "history": history}, indent=2) + "\n"
        atomic_write_text(self.dir / METRICS_JSON, text)

    def save(self, config: RLConfig, state: dict[str, Any], returns: list[float], **summary) -> None:
        """Write ``checkpoint.pt`` (``config`` and ``state``, which holds ``step`` and ``history``) and
        rewrite the metrics files; ``summary`` adds fields to ``metrics.json``."""
        payload = {"kind": "qseq-rl", "format": _FORMAT, "config": config.to_dict(), **state}
        save_torch(self.checkpoint, payload)
        self.write_metrics(
            state["history"],
            {
                "algo": config.algo,
                "env_id": config.env_id,
                "model": config.model,
                "step": state["step"],
                "episodes": len(returns),
                "mean_return_100": recent_mean(returns),
                **summary,
            },
        )

    def plot(self, episode_steps: list[int], episode_returns: list[float], title: str) -> Path | None:
        """Episode returns against environment steps, with a 100-episode running mean."""
        mpl = matplotlib_figure()
        if mpl is None or not episode_returns:
            return None
        figure_cls, canvas_cls = mpl
        fig = figure_cls(figsize=(6, 3.5))
        canvas_cls(fig)
        ax = fig.add_subplot()
        ax.plot(episode_steps, episode_returns, ".", ms=2, alpha=0.3, label="episode return")
        window = [
            sum(episode_returns[max(0, i - 99) : i + 1]) / len(episode_returns[max(0, i - 99) : i + 1])
            for i in range(len(episode_returns))
        ]
        ax.plot(episode_steps, window, label="mean of last 100")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("return")
        ax.set_title(title)
        ax.legend(loc="best")
        fig.tight_layout()
        path = self.dir / CURVE_FILE
        save_figure(fig, path)
        return path


def open_run(
    config: RLConfig, run_dir: str | Path | None, resume: bool, free: frozenset[str]
) -> tuple[RunFiles | None, dict[str, Any] | None]:
    """The run directory's files and, with ``resume``, its checkpoint, checked against ``config``: a
    fresh run refuses a directory that already holds one; a resumed run needs the same algorithm and
    configuration apart from the ``free`` fields."""
    files = None if run_dir is None else RunFiles(run_dir)
    if resume and files is None:
        raise ValueError("resume=True needs the run_dir to resume from")
    if files is None or not resume:
        if files is not None and files.checkpoint.exists():
            raise FileExistsError(f"{files.dir} already holds a run: pass resume=True (--resume) or another directory")
        return files, None
    checkpoint = load_checkpoint(files.dir)
    saved = checkpoint["config"]
    if type(saved) is not type(config):
        raise ValueError(f"the run was trained with {saved.algo}, not {config.algo}: resume with the same algorithm")
    old, new = saved.to_dict(), config.to_dict()
    changed = [f"{k}: {old[k]!r} -> {new[k]!r}" for k in old if k not in free and old[k] != new[k]]
    if changed:
        raise ValueError(
            "resume needs the run's configuration; these fields differ: "
            + "; ".join(changed)
            + f" (only {', '.join(sorted(free))} may change)"
        )
    return files, checkpoint

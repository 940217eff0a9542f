"""Reinforcement-learning runs for the ``qseq`` command: train a recurrent agent into a run directory
(``qseq rl``) and play a saved policy, optionally on another backend, with what a QPU would charge
for the circuits it ran (``qseq rl-eval``).

* :func:`rl_run` — build the algorithm's configuration from the options the user gave (the
  dataclass's defaults apply to the rest; on resume, the run's saved configuration does), check the
  environment and the run directory before any work, train, and summarise.
* :func:`rl_eval` — load the agent (:func:`qseq.rl.evaluate.load_agent`), move its circuits to a
  backend (Aer and IBM keep their job journal in the run directory, as :func:`predict_run` does),
  play episodes, optionally record the first one as a GIF, and price the circuits on an IBM device
  with the calibration data :mod:`~qseq.workflows.estimate` uses.
"""

from __future__ import annotations

import importlib
import inspect
import math
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import check_writable_dir
from ..backends import Backend, accepts, family
from ..backends.base import Usage
from ..rl import ALGORITHMS, CORES, RecurrentQNetwork, RLConfig, build_agent, train
from ..rl.checkpoint import CHECKPOINT_FILE, load_checkpoint
from ..rl.evaluate import evaluate, load_agent
from ..rl.vector import make_vector_env, space_sizes
from .estimate import CircuitRecorder, Cost, Pricer, device_for_estimate
from .runs import JOURNAL, backend_for_run, check_run_dir_writable

__all__ = [
    "RL_ALGORITHMS",
    "RL_MODELS",
    "FLAGS",
    "EVAL_SEED",
    "PRICE_DEVICE",
    "RLRun",
    "RLEvaluation",
    "HardwareCost",
    "rl_defaults",
    "rl_run",
    "rl_eval",
]

#: ``--algo`` choices: the registered algorithms and DRQN (its module may not be installed).
RL_ALGORITHMS: tuple[str, ...] = tuple(sorted({*ALGORITHMS, "drqn"}))
#: ``--model`` choices: the recurrent cores.
RL_MODELS: tuple[str, ...] = tuple(CORES)
#: The seed of evaluation episodes by default (apart from training's).
EVAL_SEED: int = inspect.signature(evaluate).parameters["seed"].default
#: The device that prices circuits run on a backend that is no IBM device.
PRICE_DEVICE = "ibm:ibm_fez"
_DEFAULT_SHOTS = 4096  # the shots of a price when the backend samples none (qseq estimate's default)

#: Configuration field -> the ``qseq rl`` option that sets it (for messages).
FLAGS = {
    "env_id": "--env",
    "env_kwargs": "--env-kwargs",
    "model": "--model",
    "total_steps": "--steps",
    "n_envs": "--envs",
    "hidden_size": "--hidden",
    "n_qubits": "--qubits",
    "n_layers": "--layers",
    "backend": "--backend",
    "reservoir": "--reservoir",
    "seed": "--seed",
    "lr": "--lr",
    "n_steps": "--n-steps",
    "progress": "--no-progress",
}
_REQUIRED = ("env_id", "model")  # a new run names these; a resumed one takes them from its checkpoint


def rl_defaults(name: str) -> str:
    """The default of configuration field ``name`` per algorithm, for help texts: ``"0.001"``, or
    ``"a2c: 0.003, ppo: 0.001"`` where the algorithms differ."""
    values = {}
    for algo, cls in sorted(ALGORITHMS.items()):
        field = next((f for f in fields(cls) if f.name == name), None)
        if field is not None:
            values[algo] = field.default
    if len(set(map(repr, values.values()))) == 1:
        return str(next(iter(values.values())))
    return ", ".join(f"{algo}: {value}" for algo, value in values.items())


def _algorithm(algo: str) -> tuple[type[RLConfig], Any]:
    """The configuration class and training function of ``algo``."""
    if algo != "drqn":
        if algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(RL_ALGORITHMS)}")
        return ALGORITHMS[algo], train
    try:
        drqn = importlib.import_module("qseq.rl.drqn")
    except ModuleNotFoundError as err:
        if err.name not in ("qseq.rl.drqn", "qseq.rl"):
            raise
        raise ValueError(
            "--algo drqn is not available in this installation of qseq (no module qseq.rl.drqn); use a2c or ppo"
        ) from None
    cls = ALGORITHMS.get("drqn") or getattr(drqn, "DRQNConfig", None)
    train_drqn = getattr(drqn, "train_drqn", None)
    if cls is None or train_drqn is None:
        raise ValueError("qseq.rl.drqn defines no DRQNConfig / train_drqn: --algo drqn is not usable yet")
    return cls, train_drqn


@dataclass
class RLRun:
    """What :func:`rl_run` returns.

    Attributes:
        config: the configuration trained with.
        run_dir: the run directory.
        episodes: training episodes finished, over the whole run.
        mean_return_100: mean return of the last 100 of them (``NaN`` before the first ends).
        step: environment steps of the whole run.
        new_steps: environment steps taken by this call (less than ``step`` on resume; 0 when the
            run had reached ``--steps`` already).
        seconds: wall time of this call (environments, agent, training, files).
        steps_per_s: environment steps per second of this call's training loop (``None`` without new steps).
        files: the names in the run directory.
    """

    config: RLConfig
    run_dir: Path
    episodes: int
    mean_return_100: float
    step: int
    new_steps: int
    seconds: float
    steps_per_s: float | None
    files: list[str]


def _config_error(cls: type[RLConfig], err: Exception) -> ValueError:
    """A configuration's error in the command's words: ``PPOConfig.total_steps`` -> ``--steps``."""
    message = str(err)
    for name, flag in FLAGS.items():
        message = message.replace(f"{cls.__name__}.{name} ", f"{flag} ")
    return ValueError(message)


def _check_setup(config: RLConfig) -> None:
    """Make one environment and the agent's core once: an unknown id, a keyword the environment does
    not take, an unsupported space, an unknown backend or a classical core given a backend is a
    ``ValueError`` now, before the run directory is touched."""
    try:
        envs = make_vector_env(config.env_id, 1, config.env_kwargs)
    except TypeError as err:  # gymnasium passes the kwargs to the constructor
        raise ValueError(f"--env-kwargs {config.env_kwargs} do not fit {config.env_id}: {err}") from None
    try:
        obs_dim, n_actions = space_sizes(envs, config.env_id)
    finally:
        envs.close()
    try:
        build_agent(config, obs_dim, n_actions)
    except TypeError as err:
        raise ValueError(str(err)) from None


def rl_run(out: str | Path, options: dict[str, Any], *, algo: str | None = None, resume: bool = False) -> RLRun:
    """Train (or, with ``resume``, continue) a recurrent agent into ``out``.

    Args:
        out: the run directory.
        options: configuration fields the user set (``qseq rl``'s options, by field name); every
            other field keeps its default, or its saved value on resume.
        algo: one of :data:`RL_ALGORITHMS`; on resume, ``None`` means the run's.
        resume: continue the run in ``out`` from its checkpoint (only ``total_steps`` and the
            display options may change; the trainer lists any other difference).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a directory for the run")
    if resume:
        if not (out / CHECKPOINT_FILE).is_file():
            raise ValueError(f"--resume: {out} holds no checkpoint ({CHECKPOINT_FILE}) to continue; drop --resume")
        ckpt = load_checkpoint(out)
        saved: RLConfig = ckpt["config"]
        start_step = int(ckpt.get("step", 0))
        del ckpt
        if algo is not None and algo != saved.algo:
            raise ValueError(f"--resume: {out} was trained with --algo {saved.algo}, not {algo}")
        algo, base = saved.algo, saved.to_dict()
        base.pop("algo")
    else:
        if (out / CHECKPOINT_FILE).exists():
            raise FileExistsError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
        missing = [FLAGS[name] for name in _REQUIRED if name not in options] + (["--algo"] if algo is None else [])
        if missing:
            raise ValueError(f"a new run needs {', '.join(missing)} (with --resume they come from the run)")
        base, start_step = {}, 0
    assert algo is not None
    cls, train_fn = _algorithm(algo)
    known = {f.name for f in fields(cls)}
    foreign = [FLAGS.get(name, name) for name in options if name not in known]
    if foreign:
        raise ValueError(f"{', '.join(foreign)} does not apply to --algo {algo}")
    try:
        config = cls(**{**base, **options})
    except (TypeError, ValueError) as err:
        raise _config_error(cls, err) from None
    _check_setup(config)

    started = time.perf_counter()
    result = train_fn(config, run_dir=out, resume=resume)
    seconds = time.perf_counter() - started
    history = result.history
    step = int(history[-1]["step"]) if history else 0
    new_steps = step - start_step
    rate = history[-1].get("steps_per_s") if history and new_steps > 0 else None
    returns = list(result.episode_returns)
    return RLRun(
        config=config,
        run_dir=out,
        episodes=len(returns),
        mean_return_100=result.mean_return,
        step=step,
        new_steps=new_steps,
        seconds=seconds,
        steps_per_s=None if rate is None or not math.isfinite(rate) else float(rate),
        files=sorted(p.name for p in out.iterdir() if not p.name.startswith(".")),
    )


@dataclass(frozen=True)
class HardwareCost:
    """What the circuits of an evaluation would cost on an IBM device.

    Attributes:
        device: the device that priced them (a fake snapshot of a cloud device where one exists).
        shots: shots per circuit priced.
        per_step: one environment step of one environment (jobs = backend calls).
        total: every backend call the evaluation made (all environments of a vector step share a job).
    """

    device: str
    shots: int
    per_step: Cost
    total: Cost


@dataclass
class RLEvaluation:
    """What :func:`rl_eval` returns.

    Attributes:
        returns: the episodes' returns.
        config: the run's configuration.
        backend: the name of the backend the circuits ran on (``"torch"`` for classical agents).
        seconds: wall time of the episodes.
        usage: what that backend ran (``None`` for classical agents).
        journal: the job journal's path, for backends that keep one.
        cost: the price on an IBM device (``None`` on the torch engine and for classical agents).
        cost_note: why there is no price off the torch engine (qiskit-ibm-runtime missing), or ``""``.
        gif: the recording written, and ``frames`` its number of frames.
    """

    returns: np.ndarray
    config: RLConfig
    backend: str
    seconds: float
    usage: Usage | None = None
    journal: Path | None = None
    cost: HardwareCost | None = None
    gif: Path | None = None
    frames: int = 0
    cost_note: str = ""


def _pillow_image():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("--record writes a GIF with Pillow: install it with pip install 'qseq[plot]'") from None
    return Image


def _check_record(path: Path, config: RLConfig) -> tuple[Any, float]:
    """Pillow importable, a ``.gif`` path whose folder can hold it, an environment that renders
    ``rgb_array`` frames: checked before any episode is played. Returns the environment's frame rate."""
    image = _pillow_image()
    if path.suffix.lower() != ".gif":
        raise ValueError(f"--record writes a GIF: give a path ending in .gif, got {path}")
    if path.is_dir():
        raise ValueError(f"--record {path} is a directory: give a file name ending in .gif")
    check_writable_dir(path.parent, "the folder of --record")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium warns before the environment refuses
        try:
            envs = make_vector_env(config.env_id, 1, {**config.env_kwargs, "render_mode": "rgb_array"})
        except (TypeError, ValueError) as err:
            raise ValueError(f"--record: {config.env_id} cannot render frames ({err})") from None
    try:
        fps = float(envs.unwrapped.envs[0].metadata.get("render_fps") or 30)
    finally:
        envs.close()
    return image, fps


def _write_gif(image, path: Path, frames: list, fps: float) -> None:
    pictures = [image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    pictures[0].save(
        path, format="GIF", save_all=True, append_images=pictures[1:], duration=max(20, round(1000 / fps)), loop=0
    )


def _step_records(agent, config: RLConfig, device) -> list:
    """The calls one environment step of one environment makes: ``(circuit, rows)`` each, recorded
    through the torch engine (the agent is left on the recorder; move it on afterwards)."""
    envs = make_vector_env(config.env_id, 1, config.env_kwargs)
    try:
        obs_dim, _ = space_sizes(envs, config.env_id)
    finally:
        envs.close()
    recorder = CircuitRecorder(device.max_qubits)
    agent.to_backend(recorder)
    dtype = next(agent.parameters()).dtype
    with torch.no_grad():  # the circuits are the core's: one step of one environment, from a fresh state
        try:
            agent.core(torch.zeros(1, 1, obs_dim, dtype=dtype), None, torch.ones(1, 1, dtype=torch.bool))
        except ValueError as err:
            raise ValueError(f"the agent's circuits do not fit {device.name}: {err}") from None
    return recorder.records


def _price(records: list, pricer: Pricer, usage: Usage) -> tuple[Cost, Cost]:
    """Per environment step (from ``records``) and for everything ``usage`` counts."""
    per_step = pricer.cost(records)
    seconds_per_circuit = per_step.qpu_seconds / per_step.circuits if per_step.circuits else 0.0
    shots = pricer.device.shots or 0  # an IBM device always samples
    total = Cost(usage.calls, usage.calls, usage.circuits, usage.circuits * shots, usage.circuits * seconds_per_circuit)
    return per_step, total


def rl_eval(
    checkpoint: str | Path,
    backend: str | None = None,
    *,
    episodes: int | None = None,
    seed: int = EVAL_SEED,
    record: str | Path | None = None,
    sample: bool = False,
    shots: int | None = None,
    price_on: str | None = None,
) -> RLEvaluation:
    """Play ``episodes`` episodes with the policy saved in ``checkpoint`` (a run directory of
    ``qseq rl`` or its ``checkpoint.pt``).

    Args:
        backend: run the circuits there (default: the run's training backend). Aer and IBM keep
            their job journal in the run directory (``jobs.sqlite``), so nothing paid for runs twice.
        episodes: default 100 on the torch engine, 10 on any other backend (each circuit is
            simulated or run there).
        seed: env ``i`` starts with ``seed + i``; also seeds sampled actions.
        record: write the first episode to this ``.gif`` (needs Pillow and an environment that
            renders ``rgb_array`` frames).
        sample: sample actions from the policy instead of taking the most probable one.
        shots: shots per circuit on a sampling backend (default: the backend's).
        price_on: the IBM device that prices the circuits off the torch engine (default: ``backend``
            when it is an IBM device, else :data:`PRICE_DEVICE`).

    Raises:
        PermissionError: before any episode, when no file can be created in ``record``'s folder or in
            the run directory that keeps a backend's job journal.
        NotADirectoryError: before any episode, when ``record``'s folder is a file.
    """
    checkpoint = Path(checkpoint)
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    if not (checkpoint / CHECKPOINT_FILE if checkpoint.is_dir() else checkpoint).is_file():
        raise ValueError(f"no RL checkpoint at {checkpoint}: give the run directory of `qseq rl --out DIR`")
    agent, config = load_agent(checkpoint)
    quantum = bool(agent.backends())
    spec = backend if backend is not None else config.backend
    if not quantum and family(spec) != "torch":
        raise ValueError(
            f"the agent's core ({config.model}) is classical: it runs no circuits, so it runs on torch only "
            f"(drop --backend {spec})"
        )
    if sample and isinstance(agent, RecurrentQNetwork):
        raise ValueError(f"--sample: a {config.algo} agent is a Q-network and acts greedily; drop --sample")
    if not quantum and shots is not None:
        raise ValueError(f"the agent's core ({config.model}) is classical: it runs no circuits (drop --shots)")
    on_engine = family(spec) == "torch"
    if episodes is None:
        episodes = 100 if on_engine else 10
    image, fps = None, 30.0
    if record is not None:
        record = Path(record)
        image, fps = _check_record(record, config)

    if quantum and accepts(spec, "journal"):
        check_run_dir_writable(run_dir, f"the job journal of {spec} ({JOURNAL}) is", "evaluate")
    cost, note, pricer = None, "", None
    target: Backend | None = None
    if quantum:
        target = backend_for_run(spec, run_dir, shots)
        if not on_engine:
            price_spec = price_on or (spec.strip() if spec.strip().startswith("ibm:") else PRICE_DEVICE)
            price_shots = getattr(target, "shots", None) or _DEFAULT_SHOTS
            try:
                device = device_for_estimate(price_spec, price_shots)
            except ImportError as err:  # pricing reads IBM calibrations: qiskit-ibm-runtime
                note = f"no QPU estimate: {err}"
            else:
                pricer = Pricer(device)
                records = _step_records(agent, config, device)  # before the episodes: a circuit too wide fails now
        agent.to_backend(target)
        target.usage.reset()
    frames: list | None = [] if record is not None else None
    torch.manual_seed(seed)
    started = time.perf_counter()
    returns = evaluate(
        agent,
        config.env_id,
        episodes,
        seed=seed,
        env_kwargs=config.env_kwargs,
        deterministic=not sample,
        frames=frames,
    )
    seconds = time.perf_counter() - started
    if pricer is not None:
        assert target is not None
        per_step, total = _price(records, pricer, target.usage)
        cost = HardwareCost(device.name, device.shots or 0, per_step, total)
    gif = None
    if record is not None and frames:
        assert isinstance(record, Path)
        _write_gif(image, record, frames, fps)
        gif = record
    return RLEvaluation(
        returns=returns,
        config=config,
        backend=target.name if target is not None else "torch",
        seconds=seconds,
        usage=target.usage if target is not None else None,
        journal=run_dir / JOURNAL if quantum and accepts(spec, "journal") else None,
        cost=cost,
        gif=gif,
        frames=len(frames or ()),
        cost_note=note,
    )

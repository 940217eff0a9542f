"""Reinforcement-learning benchmarks of qseq.rl: throughput and learning.

    python benchmarks/rl.py throughput                    # acting / training env steps/s on this machine
    python benchmarks/rl.py learn --jobs 14 --out DIR     # the learning grid, one process per run
    python benchmarks/rl.py report DIR                    # tables and figures into RESULTS.md

``throughput`` times a QLSTM policy (4 qubits, hidden 4) over 32 environments of
``qseq/CartPoleNoVel-v1``: acting (one policy call per step for all environments, no gradients) and
A2C training, against the same policy with its circuits on PennyLane's ``default.qubit`` and a
classical LSTM of similar size, in one run.

``learn`` trains every (experiment, model, seed) of :data:`EXPERIMENTS` in its own process (one torch
thread each), in chunks resumed from the run's checkpoint (exact: see ``qseq.rl.checkpoint``) so a
per-run time cap stops a run cleanly; each run's result is a JSON file in ``--out`` (runs already
there are skipped, so the grid can be continued). After training, the final weights play 100
episodes greedily (seeds apart from training's). ``report`` turns the JSON files into tables and
learning-curve figures.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import machine, write_section  # same folder

from qseq.models import count_parameters

FIGURES = Path(__file__).with_name("figures")
CHUNK_STEPS = 50_000


@dataclass(frozen=True)
class Experiment:
    """One row group of the grid: an algorithm on an environment, the models compared, the budget."""

    algo: str
    env_id: str
    steps: int
    threshold: float
    seeds: int = 3
    models: tuple[str, ...] = ("qlstm", "lstm")
    config: dict = field(default_factory=dict)
    chunk: int = CHUNK_STEPS  # steps between checkpoints (a time cap stops at the next one)


CARTPOLE, CUE = "qseq/CartPoleNoVel-v1", "qseq/CueRecall-v0"
EXPERIMENTS: dict[str, Experiment] = {
    "cartpole-novel-a2c": Experiment("a2c", CARTPOLE, 300_000, 475.0, seeds=5),
    "cartpole-novel-ppo": Experiment("ppo", CARTPOLE, 300_000, 475.0, seeds=5),
    "cartpole-novel-reservoir": Experiment("a2c", CARTPOLE, 300_000, 475.0, config={"reservoir": True}),
    # about 150 env steps/s with the QLSTM: a time cap needs short chunks
    "cartpole-posonly-drqn": Experiment("drqn", "qseq/CartPolePosOnly-v1", 100_000, 475.0, seeds=2, chunk=10_000),
    "minigrid-empty5": Experiment(
        "a2c", "qseq/MiniGrid-Empty-5x5-v0", 50_000, 0.9, models=("qfwp", "lstm"), config={"gamma": 0.9}
    ),
    "cue-recall-4": Experiment("a2c", CUE, 100_000, 0.95, config={"env_kwargs": {"delay": 4}, "n_steps": 12}),
    "cue-recall-16": Experiment("a2c", CUE, 100_000, 0.95, config={"env_kwargs": {"delay": 16}, "n_steps": 24}),
}


def _config(experiment: Experiment, model: str, seed: int):
    """One run's configuration."""
    from qseq.rl import ALGORITHMS

    return ALGORITHMS[experiment.algo](
        env_id=experiment.env_id,
        model=model,
        seed=seed,
        total_steps=experiment.steps,
        progress=False,
        plot=False,
        **experiment.config,
    )


def run_one(job: tuple[str, str, int, str, float]) -> str:
    """Train one (experiment, model, seed) in chunks until solved-budget or the time cap; evaluate."""
    name, model, seed, out, cap_s = job
    torch.set_num_threads(1)
    from qseq.rl import train, train_drqn
    from qseq.rl.evaluate import evaluate

    experiment = EXPERIMENTS[name]
    run_dir = Path(out) / "runs" / f"{name}-{model}-{seed}"
    started, steps, result, capped = time.perf_counter(), 0, None, False
    config = _config(experiment, model, seed)
    while steps < experiment.steps:
        steps = min(steps + experiment.chunk, experiment.steps)
        trainer = train_drqn if experiment.algo == "drqn" else train
        result = trainer(config, run_dir=run_dir, resume=run_dir.exists(), stop_at_step=steps)
        if time.perf_counter() - started > cap_s and steps < experiment.steps:
            capped = True
            break
    assert result is not None
    wall = time.perf_counter() - started
    curve = [(row["step"], row["mean_return_100"]) for row in result.history]
    solved = next((s for s, r in curve if r is not None and r >= experiment.threshold), None)
    returns = evaluate(result.agent.eval(), experiment.env_id, 100, env_kwargs=experiment.config.get("env_kwargs"))
    record = {
        "experiment": name,
        "model": model,
        "seed": seed,
        "algo": experiment.algo,
        "env_id": experiment.env_id,
        "parameters": count_parameters(result.agent),
        "steps": result.history[-1]["step"],
        "capped": capped,
        "steps_to_solve": solved,
        "final_train_mean": result.mean_return,
        "wall_s": wall,
        "steps_per_s": result.history[-1]["step"] / wall,
        "eval_mean": float(returns.mean()),
        "eval_std": float(returns.std()),
        "curve": curve[:: max(1, len(curve) // 200)],
    }
    path = Path(out) / f"{name}-{model}-{seed}.json"
    path.write_text(json.dumps(record) + "\n")
    return f"{name} {model} seed {seed}: eval {record['eval_mean']:.2f}, solved at {solved}, {wall:.0f} s"


def learn(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (name, model, seed, str(out), args.cap_minutes * 60)
        for name, experiment in EXPERIMENTS.items()
        if not args.only or name in args.only
        for model in experiment.models
        for seed in range(experiment.seeds)
        if not (out / f"{name}-{model}-{seed}.json").exists()
    ]
    print(f"{len(jobs)} runs on {args.jobs} processes", flush=True)
    with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for line in pool.imap_unordered(run_one, jobs):
            print(line, flush=True)


def report(args) -> None:
    records = [json.loads(p.read_text()) for p in sorted(Path(args.dir).glob("*.json"))]
    meta = json.loads((Path(args.dir) / "machine.txt").read_text()) if (Path(args.dir) / "machine.txt").exists() else {}
    lines = [
        "## Reinforcement learning: learning (`benchmarks/rl.py learn`)",
        "",
        f"{meta.get('machine', 'machine not recorded')}; one torch thread per run. Every run trains to its step "
        "budget (or a time cap, marked ⏱) in chunks (50k steps; DRQN 10k) resumed from its checkpoint; "
        "*solved at* is the first update whose mean training return over the last 100 episodes reached the "
        "threshold; *eval* is 100 greedy episodes of the final weights (environment seeds apart from training's). "
        "Median over seeds; `n solved` counts seeds.",
        "",
    ]
    FIGURES.mkdir(exist_ok=True)
    for name, experiment in EXPERIMENTS.items():
        rows = [r for r in records if r["experiment"] == name]
        if not rows:
            continue
        lines += [
            f"### {name}: {experiment.algo.upper()} on `{experiment.env_id}` "
            f"{experiment.config or ''} (threshold {experiment.threshold}, budget {experiment.steps:,} steps)",
            "",
            "| model | trainable params | steps run | n solved | solved at (median) | eval return, median seed "
            "| wall s | env steps/s |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for model in experiment.models:
            mine = [r for r in rows if r["model"] == model]
            if not mine:
                continue
            solved = [r["steps_to_solve"] for r in mine if r["steps_to_solve"] is not None]
            evals = sorted(mine, key=lambda r: r["eval_mean"])
            mid = evals[len(evals) // 2]
            capped = "⏱" if any(r["capped"] for r in mine) else ""
            at = f"{int(np.median(solved)):,}" if solved else "—"
            wall, rate = np.median([r["wall_s"] for r in mine]), np.median([r["steps_per_s"] for r in mine])
            lines.append(
                f"| {model} | {mine[0]['parameters']} | {int(np.median([r['steps'] for r in mine])):,} | "
                f"{len(solved)}/{len(mine)} | {at} | "
                f"{mid['eval_mean']:.2f} ± {mid['eval_std']:.2f} | {wall:.0f}{capped} | {rate:,.0f} |"
            )
        figure = _figure(name, experiment, rows)
        lines += ["", f"![{name}](figures/{figure.name})" if figure else "", ""]
    write_section("rl-learning", "\n".join(lines), Path(args.results))
    print("\n".join(lines))


def _figure(name: str, experiment: Experiment, rows: list[dict]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, model in enumerate(experiment.models):
        for r in (r for r in rows if r["model"] == model):
            points = [(s, v) for s, v in r["curve"] if v is not None]
            label = model if r["seed"] == 0 else None
            ax.plot([s for s, _ in points], [v for _, v in points], color=f"C{k}", alpha=0.6, lw=1, label=label)
    ax.axhline(experiment.threshold, color="grey", ls=":", lw=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return, last 100 episodes")
    ax.set_title(f"{experiment.algo.upper()} on {experiment.env_id}")
    ax.legend(loc="best")
    fig.tight_layout()
    path = FIGURES / f"rl-{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput(args) -> None:
    from qseq.rl import A2CConfig, build_agent, train
    from qseq.rl.vector import make_vector_env, space_sizes

    env_id, n_envs = "qseq/CartPoleNoVel-v1", 32
    rows = []
    for label, model, backend in (
        ("QLSTM, torch engine", "qlstm", "torch"),
        ("QLSTM, pennylane:default.qubit", "qlstm", "pennylane:default.qubit"),
        ("LSTM (classical, similar size)", "lstm", "torch"),
    ):
        cfg = A2CConfig(env_id=env_id, model=model, backend=backend, n_envs=n_envs, progress=False, plot=False)
        envs = make_vector_env(env_id, n_envs)
        agent = build_agent(cfg, *space_sizes(envs))
        obs, _ = envs.reset(seed=0)
        starts, state = torch.ones(n_envs, dtype=torch.bool), None
        vector_steps = 20 if backend != "torch" else 300
        with torch.no_grad():
            for i in range(vector_steps + 5):
                if i == 5:
                    t0 = time.perf_counter()
                action, _, _, _, state = agent.get_action_and_value(torch.as_tensor(obs)[None], state, starts[None])
                obs, _, term, trunc, _ = envs.step(action[0].numpy())
                starts = torch.as_tensor(term | trunc)
        acting = vector_steps * n_envs / (time.perf_counter() - t0)
        envs.close()
        budget = 2_000 if backend != "torch" else 20_000
        result = train(
            A2CConfig(
                env_id=env_id,
                model=model,
                backend=backend,
                n_envs=n_envs,
                total_steps=budget,
                progress=False,
                plot=False,
            )
        )
        training = result.history[-1]["steps_per_s"]
        rows.append((label, count_parameters(agent), acting, training))
        print(rows[-1], flush=True)
    base = rows[1]
    lines = [
        "## Reinforcement learning: throughput (`benchmarks/rl.py throughput`)",
        "",
        f"{machine()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (qseq runs with one intra-op "
        f"thread unless told otherwise). `{env_id}`, {n_envs} environments in one sync vector env; a policy of 4 "
        "qubits, hidden 4, 2 VQC layers (QLSTM: 6 VQCs a step, all environments one backend call per VQC bank). "
        "Acting: one no-gradient policy call and one vector-env step per step. Training: A2C (`n_steps` 5), env "
        "steps/s over the whole run. The PennyLane row is the same model with its circuits on `default.qubit` "
        "(fewer steps timed).",
        "",
        "| policy | trainable params | acting, env steps/s | A2C training, env steps/s "
        "| vs the PennyLane row (acting / training) |",
        "|---|--:|--:|--:|--:|",
        *(
            f"| {label} | {params} | {act:,.0f} | {tr:,.0f} | {act / base[2]:.1f}× / {tr / base[3]:.1f}× |"
            for label, params, act, tr in rows
        ),
        "",
        "Targets on this 2-core CPU: ≥ 10,000 steps/s acting and ≥ 4,000 training with 32 environments (QLSTM, torch).",
    ]
    write_section("rl-throughput", "\n".join(lines), Path(args.results))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("throughput")
    p = sub.add_parser("learn")
    p.add_argument("--out", required=True)
    p.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--cap-minutes", type=float, default=math.inf)
    p.add_argument("--only", nargs="*", default=[], choices=list(EXPERIMENTS))
    p = sub.add_parser("report")
    p.add_argument("dir")
    args = ap.parse_args()
    if args.command == "learn":
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "machine.txt").write_text(json.dumps({"machine": machine()}))
    {"throughput": throughput, "learn": learn, "report": report}[args.command](args)


if __name__ == "__main__":
    main()

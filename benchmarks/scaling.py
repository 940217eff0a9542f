"""Data-parallel scaling under ``torchrun``: a paper-QLSTM and a paper-QFWP training epoch (``fit``)
and A2C environment steps with a QLSTM policy (``qseq.rl``), on 1, 2, 4, … GPUs or CPU processes.

    python benchmarks/scaling.py --gpus 1 2 4 --json scaling.json   # GPUs: writes RESULTS.md's section
    python benchmarks/scaling.py --device cpu --gpus 1 2 --windows 256 --batch 32 \\
        --rl-envs 4 --rl-warmup 40 --rl-steps 400                  # CPU smoke test (gloo), prints only
    python benchmarks/scaling.py --from-json scaling.json           # the section again from saved rows

The script starts ``torchrun`` itself (``python -m torch.distributed.run --standalone``): for every
count ``N`` in ``--gpus``, one launch of ``N`` processes trains both models in turn and one launch
of ``N`` processes runs A2C. Nothing here initialises a process group: qseq joins the one
``torchrun`` describes, as it does for users (NCCL for ``fit`` on CUDA, gloo on CPU and for RL).
With ``--device cpu`` the counts are CPU processes.

Training, weak scaling (the default): every process gets ``--windows`` windows of length 4 and
``--batch`` windows per step, so the global batch and the epoch grow with the processes; ideal
scaling keeps the epoch time flat and multiplies the throughput (windows/s) by ``N``. Strong scaling
(``--strong``): ``--windows`` and ``--batch`` are the totals, split over the processes. float32,
RMSprop, eager steps everywhere (``fit`` uses no CUDA graph under DDP, so the 1-process row has them
off too); ``--epochs`` epochs, the first (warm-up, engine compilation) dropped, the median of the
others reported.

RL: A2C (``n_steps`` 5) on ``qseq/CartPoleNoVel-v1`` with the QLSTM policy (4 qubits, hidden 4);
every process steps its own ``--rl-envs`` environments (weak scaling). Env steps/s counts the steps
of all processes between the first update after ``--rl-warmup`` steps per process and the end of the
run (``--rl-steps`` more per process), on rank 0's clock. The environments step on the CPU; on a GPU
host the learner runs once on the GPUs (``A2CConfig(device="cuda")``, one GPU per process, NCCL)
and once on the CPU (gloo, one intra-op thread per process), each a launch of its own.

Every row records the card (``torch.cuda.get_device_name``; on CPU the processor's name), the torch
version and the date. ``--json`` receives all rows after every launch, so a run that stops early
keeps what it measured. The Markdown section goes between ``<!-- scaling:start -->`` and
``<!-- scaling:end -->`` of ``--out`` (default: ``benchmarks/RESULTS.md`` for CUDA rows; CPU rows
are only printed unless ``--out`` is given); it replaces the section's previous text.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from paper_qlstm import write_section  # same folder

RESULTS = Path(__file__).with_name("RESULTS.md")
MODELS = ("qlstm", "qfwp")
RL_ENV = "qseq/CartPoleNoVel-v1"
A2C_STEPS = 5
"""A2C's steps per environment per update."""
TARGETS = {2: 1.7, 4: 3.2}
"""Processes -> the speed-up over one that the QLSTM epoch should reach (weak scaling)."""


def _card(device: str) -> str:
    """The GPU this process uses, or the processor's model name on CPU."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "CPU")


def _common(bench: str, args, world: int) -> dict:
    """The fields every row has: what was measured, on how many processes, on which card."""
    return {
        "bench": bench,
        "gpus": world,
        "device": args.device,
        "card": _card(args.device),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }


def epoch_row(name: str, args, world: int) -> dict:
    """Train ``build_model(name)`` for ``args.epochs`` epochs on this process's share of the windows;
    the median epoch time after the first, in seconds, and the windows per second of all processes."""
    from qseq.models import build_model, count_parameters
    from qseq.train import fit

    windows = args.windows if args.strong else args.windows * world
    batch = args.batch if args.strong else args.batch * world
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(windows, 4, 1)).astype(np.float32)
    y = np.tanh(X.sum(1))
    torch.manual_seed(0)
    model = build_model(name)
    result = fit(
        model,
        (X, y),
        epochs=args.epochs,
        batch_size=batch,
        dtype="float32",
        device=args.device,
        cuda_graphs=False,
        progress=False,
        plot=False,
    )
    epoch = float(np.median([h["epoch_time"] for h in result.history[1:]]))
    return {
        **_common(f"{name}-epoch", args, world),
        "model": name,
        "parameters": count_parameters(model),
        "scaling": "strong" if args.strong else "weak",
        "windows": windows,
        "global_batch": batch,
        "epochs_timed": len(result.history) - 1,
        "epoch_s": epoch,
        "windows_per_s": windows / epoch,
    }


def rl_row(args, world: int, learner: str) -> dict:
    """A2C with a QLSTM policy learning on ``learner`` (``"cpu"``/``"cuda"``), ``args.rl_envs``
    environments per process; env steps per second of all processes after the warm-up."""
    from qseq.rl import A2CConfig, train

    config = A2CConfig(
        env_id=RL_ENV,
        model="qlstm",
        n_envs=args.rl_envs,
        n_steps=A2C_STEPS,
        total_steps=(args.rl_warmup + args.rl_steps) * world,
        device=learner,
        progress=False,
        plot=False,
    )
    history = train(config).history
    start = next(row for row in history if row["step"] >= args.rl_warmup * world)
    end = history[-1]
    steps, seconds = end["step"] - start["step"], end["time_s"] - start["time_s"]
    return {
        **_common(f"a2c-qlstm-{learner}", args, world),
        "env_id": RL_ENV,
        "learner": learner,
        "cpu": _card("cpu"),
        "envs_per_process": args.rl_envs,
        "steps_timed": steps,
        "seconds": seconds,
        "env_steps_per_s": steps / seconds,
    }


def worker(args) -> None:
    """One ``torchrun`` process: the training epochs or the RL run; rank 0 appends the rows to ``args.rows``."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    main = int(os.environ.get("RANK", "0")) == 0

    def report(row: dict) -> None:
        if main:
            with args.rows.open("a") as f:
                f.write(json.dumps(row) + "\n")

    try:
        if args.worker.startswith("rl:"):
            report(rl_row(args, world, args.worker.removeprefix("rl:")))
        else:
            for name in MODELS:
                report(epoch_row(name, args, world))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def measure(args) -> tuple[list[dict], list[str]]:
    """Launch the workers for every count in ``args.gpus``; the rows and a note per failed launch."""
    rows: list[dict] = []
    failed: list[str] = []
    options = [
        "--device", args.device,
        "--windows", str(args.windows),
        "--batch", str(args.batch),
        "--epochs", str(args.epochs),
        "--rl-envs", str(args.rl_envs),
        "--rl-warmup", str(args.rl_warmup),
        "--rl-steps", str(args.rl_steps),
    ] + (["--strong"] if args.strong else [])  # fmt: skip
    parts = ("train", "rl:cuda", "rl:cpu") if args.device == "cuda" else ("train", "rl:cpu")
    for gpus in args.gpus:
        for part in parts:
            print(f"{part} on {gpus} process(es) ...", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp, "rows.jsonl")
                command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
                command += [f"--nproc_per_node={gpus}", __file__, "--worker", part, "--rows", str(out), *options]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                new = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
            for row in new:
                print(json.dumps(row), flush=True)
            rows += new
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1) + "\n")
            if done.returncode:
                failed.append(f"{part} on {gpus}")
                print(f"{part} on {gpus} process(es) failed:\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
    return rows, failed


def _speedup(row: dict, rows: list[dict], key: str) -> str:
    """``row[key]`` over the same benchmark's value on the fewest processes."""
    base = min((r for r in rows if r["bench"] == row["bench"]), key=lambda r: r["gpus"])
    return f"{row[key] / base[key]:.2f}×" if base["gpus"] == 1 else f"{row[key] / base[key]:.2f}× vs {base['gpus']}"


def section(rows: list[dict]) -> str:
    """The RESULTS.md section for ``rows``."""
    cuda = any(r["device"] == "cuda" for r in rows)
    unit = "GPUs" if cuda else "processes"
    cards = ", ".join(sorted({r["card"] for r in rows}))
    versions = ", ".join(sorted({r["torch"] for r in rows}))
    dates = ", ".join(sorted({r["date"] for r in rows}))
    counts = sorted({r["gpus"] for r in rows})
    counts_text = ", ".join(map(str, counts))
    train = [r for r in rows if "epoch_s" in r]
    rl = [r for r in rows if "env_steps_per_s" in r]
    lines = [
        "## Data-parallel scaling (`benchmarks/scaling.py`)",
        "",
        f"{dates}, {cards} {f'×{max(counts)}' if cuda else f'({counts_text} processes)'}, torch {versions}; one "
        f"process per {'GPU' if cuda else 'CPU worker'} under `torchrun`.",
    ]
    if train:
        kinds = sorted({r["scaling"] for r in train})
        sizes = sorted({(r["model"], r["parameters"]) for r in train}, key=lambda m: MODELS.index(m[0]))
        models = " and ".join(f"paper {name.upper()} ({n} parameters)" for name, n in sizes)
        lines += [
            "",
            f"### Training epoch (`fit`, {'NCCL' if cuda else 'gloo'}; {' and '.join(kinds)} scaling)",
            "",
            f"Windows of length 4, float32, RMSprop; {models}. "
            "Eager steps everywhere (`fit` uses no CUDA graph under DDP, so the 1-process rows have them off too); "
            "median epoch after the first. Weak scaling: windows and batch per process fixed, so ideal is a flat "
            "epoch time and throughput × the processes.",
            "",
            f"| model | {unit} | windows per epoch | global batch | epochs timed | epoch s | windows/s | speed-up |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
            *(
                f"| {r['model']} | {r['gpus']} | {r['windows']:,} | {r['global_batch']:,} | {r['epochs_timed']} | "
                f"{r['epoch_s']:.3f} | {r['windows_per_s']:,.0f} | {_speedup(r, train, 'windows_per_s')} |"
                for r in sorted(train, key=lambda r: (MODELS.index(r["model"]), r["gpus"]))
            ),
        ]
        qlstm = {r["gpus"]: r["windows_per_s"] for r in train if r["model"] == "qlstm" and r["scaling"] == "weak"}
        verdicts = [
            f"{n} {unit} ≥ {target}× one: {'met' if qlstm[n] / qlstm[1] >= target else 'not met'} "
            f"({qlstm[n] / qlstm[1]:.2f}×)"
            for n, target in TARGETS.items()
            if n in qlstm and 1 in qlstm
        ]
        if verdicts:
            lines += ["", f"Targets (QLSTM epoch, weak scaling): {'; '.join(verdicts)}."]
    if rl:
        lines += [
            "",
            "### Reinforcement learning (`qseq.rl`, A2C)",
            "",
            f"`{rl[0]['env_id']}`, QLSTM policy (4 qubits, hidden 4), A2C with `n_steps` {A2C_STEPS}; every process "
            "steps its own environments (weak scaling) and the learners average gradients with one all-reduce per "
            "update. Env steps/s of all processes after a warm-up. The environments step on the CPU "
            f"({', '.join(sorted({r['cpu'] for r in rl}))}); the learner (acting and updates) runs on one GPU per "
            "process (NCCL) or on the CPU (gloo, one intra-op thread per process).",
            "",
            "| learner | processes | envs per process | env steps timed | s | env steps/s | per process | speed-up |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
            *(
                f"| {r['learner']} | {r['gpus']} | {r['envs_per_process']} | {r['steps_timed']:,} | "
                f"{r['seconds']:.2f} | {r['env_steps_per_s']:,.0f} | {r['env_steps_per_s'] / r['gpus']:,.0f} | "
                f"{_speedup(r, rl, 'env_steps_per_s')} |"
                for r in sorted(rl, key=lambda r: (r["learner"], r["gpus"]))
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, nargs="+", default=[1, 2], help="process counts (GPUs, or CPU workers)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--windows", type=int, default=65_536, help="windows per process (weak) or in all (strong)")
    ap.add_argument("--batch", type=int, default=8192, help="windows per process per step (weak) or global (strong)")
    ap.add_argument("--strong", action="store_true", help="strong scaling of the training epochs")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per model; the first is not timed")
    ap.add_argument("--rl-envs", type=int, default=32, help="environments per process")
    ap.add_argument("--rl-warmup", type=int, default=1600, help="env steps per process before the timing starts")
    ap.add_argument("--rl-steps", type=int, default=16_000, help="env steps per process timed")
    ap.add_argument("--json", type=Path, help="write the rows here (a JSON list)")
    ap.add_argument("--out", type=Path, help="Markdown file whose scaling section is replaced")
    ap.add_argument("--from-json", type=Path, help="render the section from saved rows instead of measuring")
    ap.add_argument("--worker", choices=("train", "rl:cuda", "rl:cpu"), help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    failed: list[str] = []
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
    else:
        if min(*args.gpus, args.windows, args.batch, args.rl_envs, args.rl_steps) < 1 or args.rl_warmup < 0:
            ap.error("process counts, windows, batch, environments and steps must be positive (--rl-warmup >= 0)")
        if args.epochs < 2:
            ap.error("--epochs must be at least 2: the first is not timed")
        if args.rl_steps < args.rl_envs * A2C_STEPS:
            ap.error(f"--rl-steps must cover one update at least (--rl-envs × {A2C_STEPS} steps)")
        if args.device == "cuda" and max(args.gpus) > torch.cuda.device_count():
            ap.error(f"--gpus asks for {max(args.gpus)} GPUs; this machine has {torch.cuda.device_count()}")
        rows, failed = measure(args)
    if rows:
        text = section(rows)
        out = args.out or (RESULTS if any(r["device"] == "cuda" for r in rows) else None)
        if out is not None:
            write_section("scaling", text, out)
        print(text)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

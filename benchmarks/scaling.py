"""Data-parallel scaling of a paper-QLSTM training epoch over GPUs (``fit`` under ``torchrun``).

    python benchmarks/scaling.py --gpus 1 2 [--windows 65536 --batch 8192]   # runs torchrun itself

Weak scaling: every GPU gets ``--batch`` windows per step (the global batch grows with the GPUs) and
the epoch covers ``--windows`` windows per GPU, so ideal scaling keeps the epoch time flat and
multiplies the throughput (windows/s) by the number of GPUs. Strong scaling: the global batch and
the data are fixed (``--strong``), so the per-GPU batch shrinks. Each configuration trains 3 epochs
in float32 and reports the median of epochs 2-3 (epoch 1 includes compilation and warm-up).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def worker(args) -> None:
    from qseq.models import build_model
    from qseq.train import fit, is_main_process

    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_gpu = args.windows if not args.strong else args.windows // world
    n = per_gpu * world
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n, 4, 1)).astype(np.float32)
    y = np.tanh(X.sum(1))
    torch.manual_seed(0)
    model = build_model("qlstm")
    batch = args.batch * (world if not args.strong else 1)
    result = fit(
        model,
        (X, y),
        epochs=3,
        batch_size=batch,
        dtype="float32",
        device="cuda",
        cuda_graphs=False,
        progress=False,
        plot=False,
    )
    if is_main_process():
        epoch = float(np.median([h["epoch_time"] for h in result.history[1:]]))
        print(
            json.dumps(
                {"gpus": world, "windows": n, "global_batch": batch, "epoch_s": epoch, "windows_per_s": n / epoch}
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--windows", type=int, default=65_536, help="windows per GPU (weak) or in all (strong)")
    ap.add_argument("--batch", type=int, default=8192, help="windows per GPU per step (weak) or global (strong)")
    ap.add_argument("--strong", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    rows = []
    for gpus in args.gpus:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={gpus}",
            __file__,
            "--worker",
            "--windows",
            str(args.windows),
            "--batch",
            str(args.batch),
        ] + (["--strong"] if args.strong else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        rows.append(json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1]))
        print(rows[-1], flush=True)
    base = rows[0]
    kind = "strong (global batch and data fixed)" if args.strong else "weak (per-GPU batch and data fixed)"
    lines = [
        "## Data-parallel scaling (`benchmarks/scaling.py`)",
        "",
        f"{torch.cuda.get_device_name()} ×{max(args.gpus)}, torch {torch.__version__}, NCCL; paper QLSTM (149 "
        f"parameters), float32, RMSprop; `fit` under `torchrun`, one process per GPU; {kind} scaling; median of "
        "epochs 2–3; eager steps everywhere (CUDA graphs are off under DDP, so the 1-GPU row has them off too).",
        "",
        "| GPUs | windows per epoch | global batch | epoch s | windows/s | speed-up |",
        "|--:|--:|--:|--:|--:|--:|",
        *(
            f"| {r['gpus']} | {r['windows']:,} | {r['global_batch']:,} | {r['epoch_s']:.2f} | "
            f"{r['windows_per_s']:,.0f} | {r['windows_per_s'] / base['windows_per_s']:.2f}× |"
            for r in rows
        ),
    ]
    sys.path.insert(0, str(Path(__file__).parent))
    from paper_qlstm import write_section

    write_section("scaling", "\n".join(lines), args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

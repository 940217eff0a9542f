"""Qiskit backends: jobs per time step, and QLSTM-RC inference on a fake IBM device.

1. **Jobs per stage.** One training step (forward + backward, batch 4, window 4) of every paper
   model on exact Aer: jobs submitted, circuits per job (batch × gate circuits × (1 + shifts)), and
   the gradient checked against backprop on the torch engine; seconds per step on Aer and on the torch
   engine are warm medians (:func:`train_step.per_call_ms`). Target: one job per dependency stage
   of a time step (paper QLSTM: two per step) for forward and backward together.
2. **QLSTM-RC on ``ibm:fake_manila``.** A frozen paper QLSTM reservoir (seed 0) with a ridge
   readout fitted on exact features (torch engine), then the damped-SHM test windows predicted on
   ``ibm:fake_manila`` with 4096 shots (local testing mode: the device's noise model), on the same
   device with its noise off (shot noise only), and exactly on Aer. Target: ≤ 2 minutes on this
   CPU; the test MSE is reported next to the exact one and the naive baselines.

Run::

    python benchmarks/hardware.py

Writes the ``hardware`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import torch
from paper_qlstm import machine, write_section  # noqa: E402  (same folder)
from train_step import per_call_ms  # noqa: E402  (same folder)

from qseq.backends import get
from qseq.data import chronological_split, get_task, linear_ar_baseline, mse, persistence_baseline
from qseq.models import build_model
from qseq.reservoir import ReservoirRegressor

MODELS = ("qlstm", "qgru", "qrnn", "qfwp")


def jobs_per_step() -> list[str]:
    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(4, 4, 1, generator=gen, dtype=torch.float64), torch.rand(4, 1, generator=gen, dtype=torch.float64)
    lines = [
        "| model | jobs per step | circuits per job (mean) | max abs gradient error vs backprop "
        "| seconds (Aer, warm median) | seconds (torch, warm median) |",
        "|---|---|---|---|---|---|",
    ]
    for name in MODELS:
        torch.manual_seed(0)
        model = build_model(name, dtype=torch.float64)

        def gradient(model=model):
            return torch.autograd.grad(torch.nn.functional.mse_loss(model(X), y), list(model.parameters()))

        want = gradient()
        torch_seconds = per_call_ms(gradient, torch.device("cpu")) / 1e3
        backend = get("aer")
        model.to_backend(backend)
        got = gradient()
        u = copy.copy(backend.usage)  # the counts of one step, before the timed repeats
        seconds = per_call_ms(gradient, torch.device("cpu"), min_seconds=3.0) / 1e3
        error = max((g - w).abs().max().item() for g, w in zip(got, want, strict=True))
        lines.append(
            f"| {name} | {u.jobs / 4:g} | {(u.circuits + u.shifted) / u.jobs:.0f} | {error:.1e} | "
            f"{seconds:.2f} | {torch_seconds:.3f} |"
        )
        print(lines[-1], flush=True)
    return lines


def rc_on_fake_device(shots: int = 4096) -> list[str]:
    X, y = get_task("damped_shm").load(seq_len=4)
    X_train, y_train, X_test, y_test = chronological_split(X, y)
    reservoir = build_model("qlstm", dtype=torch.float64, reservoir=True, seed=0).rnn
    reg = ReservoirRegressor(reservoir, readout="ridge", alpha="cv").fit(X_train, y_train)
    rows = [("exact (torch engine, fit)", reg.mse(X_test, y_test), None, None, None)]
    for label, spec, options in [
        ("exact (Aer statevector)", "aer", {}),
        (f"ibm:fake_manila, {shots} shots, noise off", "ibm:fake_manila", {"shots": shots, "seed": 1, "noise": False}),
        (f"ibm:fake_manila, {shots} shots (device noise)", "ibm:fake_manila", {"shots": shots, "seed": 1}),
    ]:
        backend = get(spec, **options)
        reg.to_backend(backend)
        start = time.perf_counter()
        test_mse = reg.mse(X_test, y_test)
        seconds = time.perf_counter() - start
        rows.append((label, test_mse, seconds, backend.usage.jobs, backend.usage.circuits))
        print(rows[-1], flush=True)
    exact_alpha, exact_norm = reg.alpha_, np.abs(reg.coef_).max()
    # the readout refitted on the device's own (noisy) training features: CV picks a penalty for them
    usage = reg.reservoir.backend.usage
    jobs, circuits = usage.jobs, usage.circuits
    start = time.perf_counter()
    reg.fit(X_train, y_train)
    test_mse = reg.mse(X_test, y_test)  # the test features of the row above, from the cache
    rows.append(
        (
            f"ibm:fake_manila, {shots} shots (device noise), readout refitted on the device",
            test_mse,
            time.perf_counter() - start,
            usage.jobs - jobs,
            usage.circuits - circuits,
        )
    )
    print(rows[-1], flush=True)
    rows += [
        ("last-value persistence", mse(persistence_baseline(X_test), y_test), None, None, None),
        ("linear AR(4)", mse(linear_ar_baseline(X_train, y_train, X_test), y_test), None, None, None),
    ]
    lines = [
        f"Damped SHM, {len(X_train)} training / {len(X_test)} test windows; QLSTM-RC (paper init, seed 0), "
        f"ridge readout (alpha by time-ordered CV) fitted on exact features: alpha = {exact_alpha:.0e}, "
        f"largest |coefficient| {exact_norm:.1e}. The last row refits the readout on the device's features "
        f"(alpha = {reg.alpha_:.0e}, largest |coefficient| {np.abs(reg.coef_).max():.1e}); its seconds, "
        "jobs and circuits are those of the refit (training windows); the test features are the row above's.",
        "",
        "| predictions | test MSE | seconds | jobs | circuits |",
        "|---|---|---|---|---|",
    ]
    for label, value, seconds, jobs, circuits in rows:
        lines.append(
            f"| {label} | {value:.2e} | {'' if seconds is None else f'{seconds:.1f}'} | "
            f"{'' if jobs is None else jobs} | {'' if circuits is None else f'{circuits:,}'} |"
        )
    return lines


def main() -> None:
    warnings.filterwarnings("ignore", message=".*no effect in local testing mode.*")
    body = [
        "## Qiskit backends: jobs per step, QLSTM-RC on a fake IBM device (`benchmarks/hardware.py`)",
        "",
        f"Machine: {machine()}.",
        "",
        "### One training step (forward + backward, batch 4, 4 steps) on exact Aer",
        "",
        *jobs_per_step(),
        "",
        "### QLSTM-RC inference on `ibm:fake_manila`",
        "",
        *rc_on_fake_device(),
    ]
    write_section("hardware", "\n".join(body))


if __name__ == "__main__":
    main()

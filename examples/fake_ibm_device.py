"""A trained model sent to an IBM device — a fake one, offline — with its cost estimated first.

    python examples/fake_ibm_device.py                          # ibm:fake_manila, the whole test split
    python examples/fake_ibm_device.py --device ibm:fake_fez --shots 1024
    python examples/fake_ibm_device.py --smoke                  # 2 epochs, 4 test windows, 256 shots

1. Train the paper QLSTM (4 qubits, 149 parameters) on damped SHM on the torch engine.
2. Price what will be sent: the model runs on the estimate workflow's recording backend (exact
   values, every call recorded), and the calls are priced with the device's calibration: jobs,
   circuits, shots, QPU time (`qseq estimate` does the same for whole workloads; without --smoke
   its table for this task is printed too).
3. Move the trained weights to the device (`model.to_backend`) and predict there: a fake device runs
   offline in qiskit-ibm-runtime's local testing mode with the device's noise model. The jobs and
   circuits it ran are compared with the estimate, and its test MSE with the exact one.

With an IBM Quantum account, --device ibm:ibm_fez runs the same on the QPU (and costs QPU time).
"""

from __future__ import annotations

import argparse

import numpy as np

from qseq.backends import get
from qseq.data import chronological_split, get_task, mse
from qseq.models import build_model
from qseq.train import fit, predict, seed_everything
from qseq.workflows.estimate import CircuitRecorder, Pricer, device_for_estimate, estimate


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.2f} min" if seconds >= 60 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="ibm:fake_manila", help="an IBM device (default: ibm:fake_manila)")
    parser.add_argument("--shots", type=int, default=4096, help="shots per circuit (default: 4096)")
    parser.add_argument("--epochs", type=int, default=50, help="training epochs on the simulator (default: 50)")
    parser.add_argument("--smoke", action="store_true", help="2 epochs, 4 test windows, 256 shots")
    args = parser.parse_args(argv)
    shots, epochs = (256, 2) if args.smoke else (args.shots, args.epochs)

    # 1. train on the simulator
    seed_everything(0)
    X, y = get_task("damped_shm").load(seq_len=4)
    X_fit, y_fit, X_val, y_val, X_test, y_test = chronological_split(X, y, val=0.1, test=0.33)
    if args.smoke:
        X_fit, y_fit, X_val, y_val, X_test, y_test = (
            X_fit[:16],
            y_fit[:16],
            X_val[:4],
            y_val[:4],
            X_test[:4],
            y_test[:4],
        )
    model = build_model("qlstm")
    fit(model, (X_fit, y_fit), (X_val, y_val), epochs=epochs, progress=not args.smoke)
    exact = predict(model, X_test)

    # 2. price what will be sent
    pricer = Pricer(device_for_estimate(args.device, shots))
    recorder = CircuitRecorder(pricer.device.max_qubits)
    model.to_backend(recorder)
    predict(model, X_test)
    cost = pricer.cost(recorder.records)
    print(
        f"estimate for {len(X_test)} test windows on {args.device} at {shots} shots: {cost.jobs} jobs, "
        f"{cost.circuits} circuits, {cost.shots} shots, QPU time {minutes(cost.qpu_seconds)}"
    )
    if not args.smoke:
        _, costs = estimate("qlstm", "damped_shm", args.device, shots=shots)
        for workload, c in costs.items():
            print(f"  qseq estimate, {workload}: {c.jobs} jobs, {c.circuits} circuits, {minutes(c.qpu_seconds)}")

    # 3. send the trained weights to the device
    device = get(args.device, shots=shots, seed=1)
    model.to_backend(device)
    noisy = predict(model, X_test)
    usage = device.usage
    print(f"ran on {args.device}: {usage.jobs} jobs, {usage.circuits} circuits, {usage.shots} shots")
    print(f"test MSE: exact {mse(exact, y_test):.3g}, on the device {mse(noisy, y_test):.3g}")
    print(f"largest difference between exact and device predictions: {np.abs(noisy - exact).max():.3g}")
    return {"estimate": cost, "jobs": usage.jobs, "circuits": usage.circuits, "exact": exact, "device": noisy}


if __name__ == "__main__":
    main()

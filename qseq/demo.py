"""``make demo``: a tour of the batched torch engine (the QLSTM demo replaces it with the cells).

Runs in a few seconds on a laptop CPU::

    python -m qseq.demo
"""

from __future__ import annotations

import time

import torch

from .backends import get
from .circuits import chen_vqc, draw


def _rate(fn, batch: int, min_seconds: float = 0.3) -> float:
    """Circuits per second of ``fn`` (one call evaluates ``batch`` circuits)."""
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return batch * calls / (time.perf_counter() - start)


def main() -> None:
    torch.manual_seed(0)
    backend = get("torch")
    circuit = chen_vqc(4, 2)
    print("The VQC block of Chen et al.'s QLSTM (4 qubits, 2 layers):\n")
    print(draw(circuit))
    print(f"\n{circuit}\n")

    batch, gates = 256, 4
    v = torch.rand(batch, 4) * 2 - 1  # concat(x_t, h_{t-1}) of a batch
    inputs = torch.cat([torch.atan(v), torch.atan(v**2)], dim=-1)  # the paper's angle encoding
    weights = (0.01 * torch.randn(gates, 1, circuit.group_sizes["weights"])).requires_grad_()

    z = backend.expval(circuit, {"inputs": inputs, "weights": weights})
    print(f"One QLSTM step: {gates} gate circuits x batch {batch} in one call -> ⟨Z⟩ of shape {tuple(z.shape)}")
    bound = backend.bind(circuit, weights=weights.detach())
    rate_step = _rate(lambda: bound(inputs=inputs), gates * batch)
    per_sample = torch.rand(batch, circuit.n_params)
    rate_sample = _rate(lambda: backend.expval(circuit, per_sample), batch)
    print(f"  shared weights, bound across time steps: {rate_step:12,.0f} circuits/s")
    print(f"  per-sample parameters:                   {rate_sample:12,.0f} circuits/s")

    loss = z.pow(2).mean()
    loss.backward()
    eps, (k, i) = 1e-3, (2, 5)
    with torch.no_grad():
        w64 = weights.detach().double()
        shifted = [w64.clone() for _ in range(2)]
        shifted[0][k, 0, i] += eps
        shifted[1][k, 0, i] -= eps
        fd = [backend.expval(circuit, {"inputs": inputs.double(), "weights": s}).pow(2).mean() for s in shifted]
    print(
        f"Autograd d(loss)/d(w[{k},{i}]) = {weights.grad[k, 0, i].item():+.6e}, "
        f"central difference (float64) = {((fd[0] - fd[1]) / (2 * eps)).item():+.6e}"
    )

    print("\nTraining the gate weights to make the four gates output ⟨Z⟩ = 0.5 (Adam, 40 steps):")
    target = torch.full_like(z, 0.5)
    optimiser = torch.optim.Adam([weights], lr=0.1)
    for step in range(41):
        optimiser.zero_grad()
        loss = (backend.expval(circuit, {"inputs": inputs, "weights": weights}) - target).pow(2).mean()
        loss.backward()
        optimiser.step()
        if step % 10 == 0:
            print(f"  step {step:3d}  MSE {loss.item():.5f}")
    print("\nNext: `make test` runs the cross-checks against PennyLane and Qiskit.")


if __name__ == "__main__":
    main()

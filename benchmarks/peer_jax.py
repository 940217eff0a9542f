"""The peer to beat, measured in the same run: the paper-QLSTM training step in PennyLane with the JAX
interface and the whole step (8 time steps, loss, gradient, Adam) under ``jax.jit``, against qseq's
eager step (and, on CUDA, its CUDA-graph step).

The PennyLane cell is the model of ``qseq.models.build_model("qlstm")``: the same circuits
(``qseq.circuits.chen_vqc(4, 2)`` exported with ``to_pennylane``, ``default.qubit``, parameter
broadcasting), VQC1–4 on ``[x_t, h_{t-1}]`` as one broadcast call, VQC5 (``h``) and VQC6 (the output)
on ``o ⊙ tanh c`` as a second, and ``Linear(4 → 1)`` on the last step; float32; Adam (lr 0.01, written
out in JAX) — the fastest form we know for PennyLane, two QNode calls per time step as in qseq.
The time of the first (compiling) call is reported apart from the steady step.

With ``--forward`` it measures instead the per-sample forward pass of ``chen_vqc(n, 2)`` (batch 256,
float32 angles, ⟨Z⟩ on every wire): the PennyLane QNode with the JAX interface under ``jax.jit``
against ``qseq.backends.get("torch")`` without gradients.

Run (needs ``pip install 'qseq[bench]'``: ``jax[cpu]`` beside PennyLane)::

    OMP_NUM_THREADS=1 python benchmarks/peer_jax.py [--device cpu|cuda] [--batches 32 256]
    OMP_NUM_THREADS=1 python benchmarks/peer_jax.py --forward [--qubits 4 8]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from paper_qlstm import write_section  # same folder
from train_step import per_call_ms, setting, step_setup, training_step

from qseq.circuits import chen_vqc, to_pennylane
from qseq.train.graphs import _step

SEQ_LEN, N_QUBITS, HIDDEN = 8, 4, 3


def pennylane_jax_step(batch: int):
    """``(jitted step, its arguments)`` of the PennyLane + JAX paper-QLSTM training step."""
    import jax.numpy as jnp
    import pennylane as qml

    jax = _jax()
    circuit = chen_vqc(N_QUBITS, 2)
    qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=N_QUBITS), interface="jax")

    def vqcs(weights, v):  # K circuits sharing the input, one broadcast call: (K, 24), (B, 4) -> (K, B, 4)
        k, b = weights.shape[0], v.shape[0]
        angles = jnp.concatenate([jnp.arctan(v), jnp.arctan(v * v)], axis=-1)
        params = jnp.concatenate(
            [jnp.broadcast_to(angles, (k, b, angles.shape[-1])), jnp.broadcast_to(weights[:, None], (k, b, 24))], -1
        )
        return jnp.stack(qnode(params.reshape(k * b, -1)), axis=-1).reshape(k, b, N_QUBITS)

    def loss(params, x, y):
        h = jnp.zeros((x.shape[0], HIDDEN), x.dtype)
        c = jnp.zeros((x.shape[0], N_QUBITS), x.dtype)
        out = None
        for t in range(SEQ_LEN):
            v = jnp.concatenate([x[:, t], h], axis=-1)
            f, i, g, o = vqcs(params["gates"], v)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            u = jax.nn.sigmoid(o) * jnp.tanh(c)
            hidden, out = vqcs(params["hidden_readout"], u)  # VQC5 and VQC6 share their input
            h = hidden[:, :HIDDEN]
        pred = out @ params["head_w"] + params["head_b"]
        return jnp.mean((pred - y) ** 2)

    def adam(params, grads, state, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
        step, m, v = state
        step = step + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / (1 - b1**step)) / (jnp.sqrt(v / (1 - b2**step)) + eps), params, m, v
        )
        return params, (step, m, v)

    @jax.jit
    def step(params, state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        params, state = adam(params, grads, state)
        return params, state, value

    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, 5)
    params = {
        "gates": 0.01 * jax.random.normal(keys[0], (4, circuit.group_sizes["weights"]), jnp.float32),
        "hidden_readout": 0.01 * jax.random.normal(keys[1], (2, circuit.group_sizes["weights"]), jnp.float32),
        "head_w": jax.random.uniform(keys[2], (N_QUBITS, 1), jnp.float32, -0.5, 0.5),
        "head_b": jnp.zeros((1,), jnp.float32),
    }
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (jnp.zeros((), jnp.float32), zeros, zeros)
    x = jax.random.normal(keys[4], (batch, SEQ_LEN, 1), jnp.float32)
    y = jnp.zeros((batch, 1), jnp.float32)
    return step, (params, state, x, y)


def peer_ms(batch: int) -> tuple[float, float]:
    """``(seconds of the first, compiling call, ms per steady step)`` of the PennyLane + JAX step."""
    step, (params, state, x, y) = pennylane_jax_step(batch)
    start = time.perf_counter()
    params, state, value = step(params, state, x, y)
    value.block_until_ready()
    compile_s = time.perf_counter() - start
    holder = {"p": params, "s": state}

    def one():
        holder["p"], holder["s"], v = step(holder["p"], holder["s"], x, y)
        v.block_until_ready()

    return compile_s, per_call_ms(one, torch.device("cpu"))


def _jax():
    import jax

    if not hasattr(jax.core, "is_concrete"):  # removed in JAX 0.11, still called by PennyLane 0.45
        jax.core.is_concrete = lambda x: not isinstance(x, jax.core.Tracer)
    return jax


def forward_rows(qubits: list[int], batch: int, device: torch.device) -> list[str]:
    """Per-sample forward of ``chen_vqc(n, 2)``: PennyLane + JAX jit against qseq, one row per ``n``."""
    import jax.numpy as jnp
    import pennylane as qml

    from qseq.backends import get

    jax = _jax()
    rows = []
    for n in qubits:
        circuit = chen_vqc(n, 2)
        qnode = qml.QNode(to_pennylane(circuit), qml.device("default.qubit", wires=n), interface="jax")
        run = jax.jit(lambda p, qnode=qnode: jnp.stack(qnode(p), axis=-1))
        params = jax.random.uniform(jax.random.PRNGKey(n), (batch, circuit.n_params), jnp.float32, 0, 6.28)
        start = time.perf_counter()
        want = run(params).block_until_ready()
        compile_s = time.perf_counter() - start
        peer = per_call_ms(lambda run=run, params=params: run(params).block_until_ready(), torch.device("cpu"))
        backend, x = get("torch"), torch.as_tensor(jax.device_get(params)).to(device)
        with torch.no_grad():
            got = backend.expval(circuit, x)
            ours = per_call_ms(lambda b=backend, c=circuit, x=x: b.expval(c, x), device)
        error = float(abs(got.cpu() - torch.as_tensor(jax.device_get(want))).max())
        rows.append(f"| {n} | {peer:.3f} | {compile_s:.1f} | {ours:.3f} | {error:.1e} | {peer / ours:.2f}x |")
        print(rows[-1], flush=True)
    return rows


def first_step_s(batch: int, device: torch.device) -> float:
    """Seconds from building the model to the end of qseq's first training step, in a fresh process's
    state: compiled kernels built anew in an empty cache directory (:mod:`qseq._native`)."""
    import tempfile

    from qseq import _native

    with tempfile.TemporaryDirectory() as cache:
        before = os.environ.get("QSEQ_CACHE_DIR")
        os.environ["QSEQ_CACHE_DIR"] = cache
        _native._load_cached.cache_clear()
        try:
            start = time.perf_counter()
            _step(*step_setup(batch, device))
            if device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start
        finally:
            _native._load_cached.cache_clear()
            if before is None:
                del os.environ["QSEQ_CACHE_DIR"]
            else:
                os.environ["QSEQ_CACHE_DIR"] = before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="where qseq runs; JAX uses its default backend")
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--forward", action="store_true", help="the per-sample forward pass instead of the step")
    ap.add_argument("--qubits", type=int, nargs="+", default=[4, 8], help="registers of --forward")
    args = ap.parse_args()
    jax = _jax()
    import pennylane

    device = torch.device(args.device)
    if args.forward:
        lines = [
            f"### Per-sample forward: qseq vs PennyLane + JAX jit on {device.type.upper()} "
            "(`benchmarks/peer_jax.py --forward`)",
            "",
            f"{setting(device)}, JAX {jax.__version__} ({jax.default_backend()}), PennyLane {pennylane.__version__}. "
            "`chen_vqc(n, 2)`, batch 256 of per-sample float32 angles, ⟨Z⟩ on every wire, no gradients: the "
            'QNode (`default.qubit`, JAX interface) under `jax.jit` against `qseq.backends.get("torch")` '
            "(complex64); ms per call (median), all in one run.",
            "",
            "| qubits | PennyLane + JAX jit ms | its first call s | qseq ms | max abs diff | qseq vs peer |",
            "|--:|--:|--:|--:|--:|--:|",
            *forward_rows(args.qubits, 256, device),
        ]
        write_section(f"peer-jax-forward-{device.type}", "\n".join(lines))
        print("\n".join(lines))
        return
    cuda = device.type == "cuda"
    lines = [
        f"### Paper-QLSTM step: qseq vs PennyLane + JAX jit on {device.type.upper()} (`benchmarks/peer_jax.py`)",
        "",
        f"{setting(device)}, JAX {jax.__version__} ({jax.default_backend()}), PennyLane {pennylane.__version__}. "
        "Windows of 8 steps, float32, Adam (written out in JAX in the peer; PyTorch's fused Adam in qseq, as "
        "`fit` makes it); ms per step (median), all in one run. First calls in s: the peer's includes its "
        "XLA compilation; qseq's, from building the model to the end of the first step, includes compiling "
        "its C kernel into an empty cache (on the CPU).",
        "",
        "| batch | PennyLane + JAX jit ms | its first call s | qseq eager ms | qseq CUDA graph ms | qseq first step s "
        "| qseq vs peer |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for batch in args.batches:
        compile_s, peer = peer_ms(batch)  # the peer first: its compile must not share the machine with qseq
        first = first_step_s(batch, device)
        eager = training_step(batch, device, graph=False)[0]
        graphed = training_step(batch, device, graph=True)[0] if cuda else None
        best = graphed if graphed is not None else eager
        lines.append(
            f"| {batch:,} | {peer:.2f} | {compile_s:.1f} | {eager:.2f} | "
            f"{'-' if graphed is None else f'{graphed:.2f}'} | {first:.2f} | {peer / best:.2f}x |"
        )
        print(lines[-1], flush=True)
    write_section(f"peer-jax-{device.type}", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The coset tables of the CUDA gather (``engine/gpu_passes.gather_tables``), checked on the CPU:
every destination moved exactly once from the source the index tables give, and a warp's 32
destinations and their sources in runs of consecutive amplitudes (what keeps the pass near the
memory floor)."""

from __future__ import annotations

import pytest
import torch

from qseq.backends.engine import gpu_passes, simulate
from qseq.backends.engine.program import Permute, compile_circuit
from qseq.circuits import Operation, chen_vqc
from qseq.circuits.circuit import build

N = gpu_passes.GPU_BLOCK_MIN_QUBITS


def _cosets(tables: gpu_passes.GatherTables) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dest, source)`` ``(programs, 1024)``, as the kernel computes them."""
    dest = tables.dest_high.long()[:, None] ^ tables.dest_low.long()[None, :]
    source = tables.source_high.long()[:, None] ^ tables.source_low.long()[None, :]
    return dest, source


def _shortest_run(indices: torch.Tensor) -> int:
    """The shortest run of consecutive indices among a warp's 32 (rows of ``indices``), over all warps."""
    warps = torch.sort(indices.reshape(-1, 32), dim=1).values
    runs = (warps[:, 1:] - warps[:, :-1] != 1).sum(1) + 1
    return 32 // int(runs.max())


def _ops(kind: str) -> list[Operation]:
    if kind == "swaps":  # low wires with high ones: a bit permutation
        return [Operation("SWAP", (0, N - 1)), Operation("SWAP", (2, N - 3)), Operation("CNOT", (N - 2, 1))]
    return [Operation("CNOT", (i, (i + 1) % N)) for i in range(N)]  # one ring


@pytest.mark.parametrize("kind, shortest", [("chen_vqc", 4), ("ring", 16), ("swaps", 4)])
def test_cosets_equal_the_index_tables_and_keep_warps_in_runs(kind, shortest):
    if kind == "chen_vqc":
        circuit = chen_vqc(N, 2)  # two rings (ranges 1 and 2) in one stage: a dense map
    else:
        circuit = build(N, [*_ops(kind), Operation("RX", (0,), (0,))], [("weights", 1)], [{0: "Z"}])
    program = compile_circuit(circuit)
    tables = simulate.make_tables(program, torch.device("cpu"), torch.complex64)
    stage = next(s for s in program.stages if isinstance(s, Permute))
    cosets = gpu_passes.gather_tables(stage.gates, N, "cpu")
    assert cosets is not None
    dest, source = _cosets(cosets)
    assert torch.equal(torch.sort(dest.flatten()).values, torch.arange(2**N))  # every amplitude once
    want, phase = simulate.permutation_table(tables, stage, N)
    assert phase is None and torch.equal(want[dest], source)
    assert _shortest_run(dest) >= shortest and _shortest_run(source) >= shortest


def test_phases_and_small_registers_have_no_tables():
    cz = build(N, [Operation("CZ", (0, 1)), Operation("RX", (0,), (0,))], [("weights", 1)], [{0: "Z"}])
    stage = next(s for s in compile_circuit(cz).stages if isinstance(s, Permute))
    assert gpu_passes.gather_tables(stage.gates, N, "cpu") is None
    ring = next(s for s in compile_circuit(chen_vqc(N - 1, 1)).stages if isinstance(s, Permute))
    assert gpu_passes.gather_tables(ring.gates, N - 1, "cpu") is None

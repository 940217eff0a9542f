"""The parameter-shift bridge: gradients of a numeric backend equal autograd on the exact engine.

The numeric backend here is the torch engine in complex128 with autograd cut off (``numpy`` in and
out), so everything the bridge computes — the shift rules of every gate, angles shared by several
gates, group-wise shifting, packing everything into one call — is compared against backprop.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import all_gates_circuit, mixed_observables, random_params

from qseq.backends import get
from qseq.backends.param_shift import ParameterShiftBackend, shift_plan
from qseq.circuits import chen_vqc, fwp_vqc

EXACT = get("torch", dtype=torch.complex128)


class EngineAsNumbers(ParameterShiftBackend):
    """The exact engine behind a numpy wall: what Aer or a QPU looks like to the bridge."""

    name = "numbers"

    def __init__(self):
        self.batches: list[int] = []

    def _evaluate(self, circuit, values):
        self.batches.append(len(values))
        return EXACT.expval(circuit, torch.from_numpy(values)).numpy()


CIRCUITS = {
    "all_gates": all_gates_circuit().measure(mixed_observables(4)),
    "chen_vqc": chen_vqc(4, 2),
    "fwp_vqc": fwp_vqc(4, 2, 4),
}


@pytest.mark.parametrize("name", CIRCUITS)
def test_values_and_gradients_equal_autograd(name):
    circuit = CIRCUITS[name]
    params = {k: v.requires_grad_() for k, v in random_params(circuit, (3, 2)).items()}
    weights = torch.randn(3, 2, circuit.n_obs, dtype=torch.float64)
    backend = EngineAsNumbers()
    shifted = backend.expval(circuit, params)
    exact = EXACT.expval(circuit, params)
    torch.testing.assert_close(shifted, exact, atol=1e-12, rtol=0)
    got = torch.autograd.grad((shifted * weights).sum(), list(params.values()))
    want = torch.autograd.grad((exact * weights).sum(), list(params.values()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=0)


def test_shared_angle_is_shifted_once_per_use():
    circuit = CIRCUITS["all_gates"]  # parameter 0 feeds two gates
    plan = shift_plan(circuit)
    assert plan.circuit is not circuit and len(plan.param_of_angle) == circuit.n_params + 1
    assert (plan.param_of_angle == 0).sum() == 2
    assert shift_plan(chen_vqc(4, 2)).circuit == chen_vqc(4, 2)  # no sharing: the original circuit


def test_everything_goes_into_one_call_and_only_needed_groups_shift():
    circuit = chen_vqc(4, 2)  # RX/RY/RZ only: two terms per angle
    sizes = circuit.group_sizes
    backend = EngineAsNumbers()
    inputs = torch.rand(5, sizes["inputs"], dtype=torch.float64)
    weights = torch.rand(3, 1, sizes["weights"], dtype=torch.float64, requires_grad=True)
    out = backend.expval(circuit, {"inputs": inputs, "weights": weights})
    n = 3 * 5
    assert backend.batches == [n * (1 + 2 * sizes["weights"])]  # inputs need no gradient: not shifted
    assert backend.usage.calls == 1 and backend.usage.circuits == n
    assert backend.usage.shifted == n * 2 * sizes["weights"]
    out.sum().backward()  # the backward pass needs no further call
    assert len(backend.batches) == 1 and weights.grad.shape == weights.shape

    with torch.no_grad():
        backend.expval(circuit, {"inputs": inputs, "weights": weights})
    assert backend.batches[-1] == n  # inference: no shifts


def test_controlled_rotations_use_four_terms():
    circuit = CIRCUITS["all_gates"]
    plan = shift_plan(circuit)
    four = [len(rule) for rule in plan.rules].count(4)
    assert four == sum(op.name.startswith("CR") for op in circuit.ops) == 6


def test_float32_parameters_get_float32_values_and_gradients():
    circuit = chen_vqc(3, 1)
    x = torch.rand(4, circuit.n_params, dtype=torch.float32, requires_grad=True)
    out = EngineAsNumbers().expval(circuit, x)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert x.grad.dtype == torch.float32
    want = torch.autograd.functional.jacobian(lambda v: EXACT.expval(circuit, v).sum(), x.detach().double())
    np.testing.assert_allclose(x.grad.numpy(), want.numpy(), atol=1e-5)

"""``qseq.backends.get`` refuses an option the backend does not take, in the spec or as a keyword,
naming it and the valid ones, before anything is built or evaluated."""

from __future__ import annotations

import pytest

from qseq.backends import get


def _needs(module: str) -> None:
    pytest.importorskip(module)


@pytest.mark.parametrize(
    ("spec", "options", "module", "match"),
    [
        ("torch:dif=adjoint", {}, None, r"backend 'torch:dif=adjoint': unknown option 'dif' \(did you mean 'diff'\?\)"),
        ("torch:cpu", {"fusee": True}, None, r"unknown option 'fusee' \(did you mean 'fuse'\?\); torch takes "),
        (
            "torch",
            {"device": "cpu"},
            None,
            r"unknown option 'device'; torch takes check_finite, diff, dtype, fuse, graphs$",
        ),
        ("aer:shot=64", {}, "qiskit_aer", r"backend 'aer:shot=64': unknown option 'shot' \(did you mean 'shots'\?\)"),
        ("aer", {"shot": 64}, "qiskit_aer", r"unknown option 'shot' .*aer takes backoff, device, journal, .*shots"),
        ("aer:foo=1,bar=2", {}, "qiskit_aer", r"unknown options 'bar', 'foo'; aer takes .*or an AerSimulator option"),
        ("pennylane:default.qubit,shot=3", {}, "pennylane", r"unknown option 'shot' .*pennylane takes .*shots"),
        ("ibm:fake_manila,shot=5", {}, "qiskit_ibm_runtime", r"unknown option 'shot' .*ibm takes .*shots"),
    ],
)
def test_an_unknown_option_is_named_with_the_valid_ones(spec, options, module, match):
    if module is not None:
        _needs(module)
    with pytest.raises(ValueError, match=match):
        get(spec, **options)


def test_the_valid_options_still_pass():
    assert get("torch:cpu,diff=adjoint,check_finite=false").diff == "adjoint"


def test_options_aer_passes_to_its_simulator_still_pass():
    _needs("qiskit_aer")
    backend = get("aer:precision=single,shots=64,seed=1")
    assert backend.shots == 64 and backend.simulator_options == {"precision": "single"}


def test_device_options_of_pennylane_still_pass():
    _needs("pennylane")
    assert get("pennylane:default.qubit,seed=3").device_kwargs == {"seed": 3}

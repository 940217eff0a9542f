"""Which backends this installation can use: what ``qseq backends`` lists."""

from __future__ import annotations

import importlib.util
from typing import NamedTuple

import torch

from . import get

__all__ = ["BackendStatus", "survey"]


class BackendStatus(NamedTuple):
    """One row of :func:`survey`."""

    spec: str
    usable: bool
    details: str


def survey() -> list[BackendStatus]:
    """Try every backend family without running a circuit: torch (CPU, CUDA), the PennyLane devices,
    Qiskit Aer (and its GPU build) and IBM devices (fake devices offline, QPUs with an account)."""
    rows = [BackendStatus("torch", True, f"torch {torch.__version__}, CPU")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        rows.append(BackendStatus("torch:cuda", True, names))
    else:
        rows.append(BackendStatus("torch:cuda", False, "no CUDA device visible to torch"))
    for device in ("default.qubit", "lightning.qubit", "lightning.gpu", "lightning.kokkos"):
        spec = f"pennylane:{device}"
        try:
            get(spec)
            rows.append(BackendStatus(spec, True, ""))
        except (ImportError, ValueError) as err:
            rows.append(BackendStatus(spec, False, str(err).split(";")[0]))
    for spec, module, what in (
        ("aer", "qiskit_aer", "exact, shots, noise=<fake device>"),
        ("ibm:fake_manila", "qiskit_ibm_runtime", "fake IBM devices, offline"),
        ("ibm:<device>", "qiskit_ibm_runtime", "IBM QPUs; needs an account"),
    ):
        found = importlib.util.find_spec(module) is not None
        rows.append(BackendStatus(spec, found, what if found else "pip install 'qseq[qiskit]'"))
    if importlib.util.find_spec("qiskit_aer") is not None:
        from qiskit_aer import AerSimulator

        gpu = "GPU" in AerSimulator().available_devices()
        rows.append(BackendStatus("aer (device=GPU)", gpu, "" if gpu else "needs qiskit-aer-gpu (CUDA 12)"))
    return rows

"""PennyLane devices as a qseq backend (extra: ``pip install 'qseq[pennylane]'``).

Each circuit becomes one torch-interface QNode (built on first use, then cached), and a whole batch
of parameter vectors is one QNode call through PennyLane's parameter broadcasting. Gradients flow
to the parameters through autograd with the device's differentiation method.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import torch

from .._optional import require
from ..circuits import Circuit, to_pennylane
from .base import Backend, BindCache, Params

__all__ = ["PennyLaneBackend"]

# Devices that ship in their own pip package, for the error when one is asked for but missing.
_DEVICE_PACKAGES = {
    "lightning.qubit": "pennylane-lightning",
    "lightning.gpu": "pennylane-lightning-gpu",
    "lightning.kokkos": "pennylane-lightning-kokkos",
    "lightning.amdgpu": "pennylane-lightning-amdgpu",
    "lightning.tensor": "pennylane-lightning-tensor",
}


def _installed_devices() -> list[str]:
    """Names of the PennyLane devices installed (the ``pennylane.plugins`` entry points)."""
    return sorted({ep.name for ep in entry_points(group="pennylane.plugins")})


def _check_device(device: str) -> None:
    installed = _installed_devices()
    if device in installed:
        return
    if device in _DEVICE_PACKAGES:
        raise ImportError(
            f"PennyLane device {device!r} is not installed; it comes with: pip install {_DEVICE_PACKAGES[device]}"
        )
    raise ValueError(f"unknown PennyLane device {device!r}; installed devices: {', '.join(installed)}")


def device_keywords(device: str) -> frozenset[str] | None:
    """The keywords the PennyLane device ``device`` takes besides ``wires`` (read from its class,
    without building it), or ``None`` when that cannot be told: PennyLane or the device is not
    installed, or the device takes any keyword."""
    try:
        require("pennylane", "pennylane")
        (entry,) = [ep for ep in entry_points(group="pennylane.plugins") if ep.name == device]
        cls = entry.load()
        parameters = inspect.signature(cls).parameters.values()
    except (ImportError, ValueError, TypeError):  # not installed, not exactly one entry point, no signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in parameters if p.kind in kinds) - {"wires"}


@contextlib.contextmanager
def _float64_results() -> Iterator[None]:
    """Make torch's default dtype float64 for the duration of a QNode call.

    PennyLane's torch interface turns a device's results into tensors with ``torch.as_tensor``,
    and lightning devices return Python floats, which would become float32 tensors under the usual
    default dtype: float64 parameters would get float32-rounded values (errors ~1e-8).
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _default_diff_method(device: str, shots: Any) -> str:
    if shots is not None:
        return "parameter-shift"
    if device == "default.qubit":
        return "backprop"
    if device.startswith("lightning."):
        return "adjoint"
    return "best"


class PennyLaneBackend(Backend):
    """Runs circuits on a PennyLane device.

    Args:
        device: a PennyLane device name (``"default.qubit"``, ``"lightning.qubit"``,
            ``"lightning.gpu"``, ...).
        shots: ``None`` for exact expectation values, else the shots per circuit evaluation.
        diff_method: the QNode's differentiation method. Default: ``"parameter-shift"`` with
            shots, else ``"backprop"`` on ``default.qubit``, ``"adjoint"`` on ``lightning.*`` and
            PennyLane's ``"best"`` elsewhere.
        **device_kwargs: passed on to ``qml.device`` (``wires`` is set per circuit).

    Raises:
        ImportError: pennylane, or the plugin providing a known device, is not installed.
        ValueError: ``device`` is not an installed PennyLane device (the message lists them).
    """

    max_qubits = None  # bounded by the device's memory only
    _transient = ("_qml", "_qnodes")

    def __init__(
        self,
        device: str = "default.qubit",
        *,
        shots: int | None = None,
        diff_method: str | None = None,
        **device_kwargs: Any,
    ):
        self._qml = require("pennylane", "pennylane")
        _check_device(device)
        self.device = device
        self.shots = shots
        self.diff_method = diff_method or _default_diff_method(device, shots)
        self.device_kwargs = device_kwargs
        self.name = f"pennylane:{device}"
        self._qnodes: dict[Circuit, Any] = {}

    def _restore(self) -> None:
        self._qml = require("pennylane", "pennylane")
        self._qnodes = {}

    def _qnode(self, circuit: Circuit) -> Any:
        """The cached QNode of ``circuit``: ``(N, n_params)`` angles -> ``n_obs`` results.

        Only backprop differentiates a broadcast tape as a whole; for every other method the
        batch is split into one tape per sample first (gradient transforms such as the parameter
        shift reject broadcast tapes, and lightning devices split them anyway).
        """
        qnode = self._qnodes.get(circuit)
        if qnode is None:
            qml = self._qml
            dev = qml.device(self.device, wires=circuit.n_qubits, **self.device_kwargs)
            qnode = qml.QNode(
                to_pennylane(circuit), dev, interface="torch", diff_method=self.diff_method, shots=self.shots
            )
            if self.diff_method != "backprop":
                qnode = qml.transforms.broadcast_expand(qnode)
            self._qnodes[circuit] = qnode
        return qnode

    def _expval(self, circuit: Circuit, params: Params, cache: BindCache | None) -> torch.Tensor:
        n = math.prod(params.batch_shape)
        out_shape = (*params.batch_shape, circuit.n_obs)
        if n == 0:
            return torch.zeros(out_shape, dtype=params.dtype, device=params.device)
        with _float64_results():
            results = self._qnode(circuit)(params.flat().reshape(n, circuit.n_params))
        # each result is (N,), or () when no gate takes an angle (nothing to broadcast over)
        values = torch.stack([torch.as_tensor(r).to(params.dtype) for r in results], dim=-1)
        return values.expand(n, circuit.n_obs).reshape(out_shape)

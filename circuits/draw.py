"""Circuit diagrams: native text, or a matplotlib figure through PennyLane's drawer.

The text diagram has one row per wire. Gates are placed greedily in columns (a gate goes to the
first column after the last gate touching any wire it spans), so gates on disjoint wires share a
column. Multi-wire gates are joined by ``╭ ├ │ ╰``, controls are drawn as ``●``, and the
observables follow the ``┤`` at the right end, packed into columns the same way (``draw(angle_embedding(3, "Y") +
basic_entangler(3, 1, "Z").measure(["Z0", "Z1", {0: "X", 2: "Y"}]))``)::

    0: ──RY(inputs[0])──RZ(weights[0])──╭●──────╭X──┤ ⟨Z⟩ ╭X
    1: ──RY(inputs[1])──RZ(weights[1])──╰X──╭●──│───┤ ⟨Z⟩ │
    2: ──RY(inputs[2])──RZ(weights[2])──────╰X──╰●──┤     ╰Y
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch

from .._optional import require
from .circuit import Circuit, Operation
from .export import to_pennylane

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw"]

# Controlled gates: the target's label (control wires come first and are drawn as ●).
_CONTROLLED = {"CNOT": "X", "CZ": "Z", "CRX": "RX", "CRY": "RY", "CRZ": "RZ"}


def draw(circuit: Circuit, output: Literal["text", "mpl"] = "text", params: Any = None) -> str | Figure:
    """Draw a circuit.

    Args:
        circuit: the circuit to draw.
        output: ``"text"`` for a Unicode diagram, ``"mpl"`` for a matplotlib figure.
        params: optional angles shaped ``(n_params,)`` (tensor or array). Without them gates show
            their parameter references (``RY(inputs[0])``); with them, the values.

    Returns:
        The diagram as a string (``"text"``) or a ``matplotlib.figure.Figure`` (``"mpl"``).

    Raises:
        ValueError: unknown ``output`` or ``params`` of the wrong shape.
        ImportError: ``"mpl"`` without pennylane or matplotlib installed.
    """
    values = None if params is None else _check_values(circuit, params)
    if output == "text":
        return _draw_text(circuit, values)
    if output == "mpl":
        return _draw_mpl(circuit, values)
    raise ValueError(f"output must be 'text' or 'mpl', got {output!r}")


def _check_values(circuit: Circuit, params: Any) -> torch.Tensor:
    values = torch.as_tensor(params, dtype=torch.float64).detach().cpu()
    if values.shape != (circuit.n_params,):
        raise ValueError(f"params must have shape ({circuit.n_params},), got {tuple(values.shape)}")
    return values


# -- text --------------------------------------------------------------------------------------


def _param_labels(circuit: Circuit, values: torch.Tensor | None) -> list[str]:
    """One label per entry of the flat parameter vector: ``weights[3]`` or ``0.52``."""
    if values is not None:
        return [f"{v:.2f}" for v in values.tolist()]
    return [f"{g.name}[{i}]" for g in circuit.param_groups for i in range(g.size)]


def _span(symbols: dict[int, str]) -> dict[int, str]:
    """Join the per-wire symbols of one multi-wire item with ``╭ ├ │ ╰`` over the wires it spans."""
    if len(symbols) == 1:
        return symbols
    lo, hi = min(symbols), max(symbols)
    corners = {lo: "╭", hi: "╰"}
    return {w: corners.get(w, "├" if w in symbols else "│") + symbols.get(w, "") for w in range(lo, hi + 1)}


def _gate_cells(op: Operation, labels: list[str]) -> dict[int, str]:
    args = f"({', '.join(labels[i] for i in op.params)})" if op.params else ""
    target = _CONTROLLED.get(op.name)
    if target is None:
        return _span({w: op.name + args for w in op.wires})
    return _span({**{w: "●" for w in op.wires[:-1]}, op.wires[-1]: target + args})


def _observable_cells(circuit: Circuit) -> list[dict[int, str]]:
    cells = []
    for o in circuit.observables:
        letters = dict(o.terms) or {0: "I"}
        if len(letters) == 1:
            letters = {w: f"⟨{p}⟩" for w, p in letters.items()}
        cells.append(_span(letters))
    return cells


def _pack(cells: list[dict[int, str]], n_qubits: int) -> list[dict[int, str]]:
    """Greedy layering: ``{wire: cell}`` per column; each item occupies every wire it spans and
    goes into the first column after the last one used on those wires."""
    next_free = [0] * n_qubits
    columns: list[dict[int, str]] = []
    for item in cells:
        col = max(next_free[w] for w in item)
        if col == len(columns):
            columns.append({})
        columns[col].update(item)
        for w in item:
            next_free[w] = col + 1
    return columns


def _render(columns: list[dict[int, str]], wire: int, fill: str) -> list[str]:
    return [col.get(wire, "").ljust(max(map(len, col.values())), fill) for col in columns]


def _draw_text(circuit: Circuit, values: torch.Tensor | None) -> str:
    labels = _param_labels(circuit, values)
    gates = _pack([_gate_cells(op, labels) for op in circuit.ops], circuit.n_qubits)
    observables = _pack(_observable_cells(circuit), circuit.n_qubits)
    width = len(str(circuit.n_qubits - 1))
    rows = []
    for w in range(circuit.n_qubits):
        wire = "──".join(["", *_render(gates, w, "─"), ""])
        rows.append(f"{w:>{width}}: {wire}┤ {' '.join(_render(observables, w, ' '))}".rstrip())
    return "\n".join(rows)


# -- matplotlib --------------------------------------------------------------------------------


def _draw_mpl(circuit: Circuit, values: torch.Tensor | None) -> Figure:
    qml = require("pennylane", "pennylane")
    require("matplotlib", "plot")
    angles = torch.zeros(circuit.n_params, dtype=torch.float64) if values is None else values
    draw_fn = qml.draw_mpl(
        to_pennylane(circuit), wire_order=range(circuit.n_qubits), decimals=None if values is None else 2
    )
    fig, _ = draw_fn(angles)
    return fig

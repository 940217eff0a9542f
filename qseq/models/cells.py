"""Quantum recurrent cells and layers: drop-in counterparts of ``torch.nn.RNN``, ``LSTM`` and ``GRU``
whose gates are variational quantum circuits (QLSTM and QRNN-RC papers, see docs/references.md).

Every gate is Chen et al.'s VQC block (:func:`qseq.circuits.chen_vqc`): the cell concatenates its
input and hidden state into ``v``, encodes ``arctan v`` and ``arctan v²`` as RY/RZ angles on
``n_qubits`` wires, runs ``n_layers`` entangling layers with trained ``Rot`` weights and reads ⟨Z⟩.
Gates that take the same input run as **one** backend call (the four QLSTM gates are four weight
sets of one circuit), and the weights are bound once per sequence, so the torch engine builds their
fused unitary once and reuses it at every time step.

Sizes. With ``input_size + hidden_size == n_qubits`` (the default ``n_qubits``) the cells are the
paper cells. Otherwise a classical ``Linear(input_size + hidden_size → n_qubits)`` projects ``v``
before encoding, and a VQC whose output must have ``hidden_size`` features reads the first
``hidden_size`` wires (``hidden_size ≤ n_qubits``) or goes through ``Linear(n_qubits →
hidden_size)``. ``bias`` applies to those classical projections only: the paper's VQC gates have no
bias.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import all_finite, check_input_dtype, records_grad
from ..backends import Backend, BoundCircuit, get
from ..circuits import chen_vqc
from .episodes import check_episode_starts, map_state, zero_where
from .fused import chen_layout, qlstm_lanes_layer, qlstm_layer
from .init import Init, Initialisable, freeze_random, init_linear, init_vqc_weights
from .protocol import QuantumModel, unique_backends

__all__ = [
    "angle_encode",
    "QRNNCell",
    "QLSTMCell",
    "QGRUCell",
    "QRNN",
    "QLSTM",
    "QGRU",
]


def angle_encode(v: torch.Tensor) -> torch.Tensor:
    """Chen's encoding ``[arctan v, arctan v²]``: ``(..., n)`` -> ``(..., 2n)`` angles (radians)."""
    return torch.cat([torch.atan(v), torch.atan(v * v)], dim=-1)


class _VQCBank(Initialisable, nn.Module):
    """``k`` Chen VQCs of one structure: weights ``(k, n_layers, n_qubits, 3)``, evaluated in one call."""

    def __init__(self, k: int, n_qubits: int, n_layers: int, dtype=None):
        super().__init__()
        self.circuit = chen_vqc(n_qubits, n_layers)
        pairs = [{i: "Z", j: "Z"} for i in range(n_qubits) for j in range(i + 1, n_qubits)]
        #: the same gates measured for every ⟨Z_i⟩, then every ⟨Z_i Z_j⟩ (i < j): see :meth:`_QuantumRNN.observe`
        self.observed_circuit = self.circuit.measure([{i: "Z"} for i in range(n_qubits)] + pairs)
        self.weight = nn.Parameter(torch.empty(k, n_layers, n_qubits, 3, dtype=dtype))
        self._bound: tuple | None = None  # (key, BoundCircuit) of the last bind without gradients

    def reset_parameters(self, init: Init = "paper", generator: torch.Generator | None = None) -> None:
        init_vqc_weights(self.weight, init, generator)

    def extra_repr(self) -> str:
        k, n_layers, n_qubits, _ = self.weight.shape
        return f"{k} × chen_vqc(n_qubits={n_qubits}, n_layers={n_layers})"

    def bind(self, backend: Backend) -> BoundCircuit:
        """The bank bound to its current weights: ``bound(inputs=(..., 2n)) -> (k, ..., n)``.

        Without gradients to record (inference, acting in an RL environment, a frozen reservoir) the
        binding — and what the backend derived from the weights, such as the torch engine's fused
        unitary — is reused across calls until the weights change (in place, by moving, or by a new
        backend), so a model run step by step pays for it once, not at every step.
        """
        return _bind_cached(self, "_bound", backend, self.circuit, [self.weight])

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_bound": None}  # a cache: never saved or copied


class _Recorded:
    """A bank bound with :attr:`_VQCBank.observed_circuit`: each call returns the ``⟨Z_i⟩`` the cell's
    step uses, ``(K, ..., n)``, and keeps the correlations for :meth:`recorded`."""

    def __init__(self, bound: BoundCircuit, n_qubits: int):
        self.bound, self.n_qubits, self.values = bound, n_qubits, []

    def __call__(self, **groups) -> torch.Tensor:
        out = self.bound(**groups)
        self.values.append(out[..., self.n_qubits :])
        return out[..., : self.n_qubits]

    def recorded(self) -> torch.Tensor:
        """``(calls, K, N, n(n-1)/2)``: every call's correlations."""
        return torch.stack(self.values)


def _bind_cached(owner, attr: str, backend: Backend, circuit, weights: list[torch.Tensor]) -> BoundCircuit:
    """Bind ``circuit`` to the weight sets ``weights`` (each ``(k_i, ...)``), stacked as one bank.

    With gradients to record the binding is fresh (autograd needs the graph of every forward);
    without, it is kept in ``owner.<attr>`` and reused until a weight changes or the backend does.
    """

    def stacked(ws):
        w = ws[0] if len(ws) == 1 else torch.cat(ws)
        return w.reshape(w.shape[0], 1, -1)

    if records_grad(*weights):
        return backend.bind(circuit, weights=stacked(weights))
    key = (id(backend), *((id(w), w.data_ptr(), w._version, w.dtype, w.device) for w in weights))
    entry = getattr(owner, attr)
    if entry is None or entry[0] != key:
        entry = (key, backend.bind(circuit, weights=stacked([w.detach() for w in weights])))
        setattr(owner, attr, entry)
    return entry[1]


class _QuantumCell(QuantumModel, Initialisable, nn.Module):
    """Shared machinery: sizes, projections, backend, VQC banks. Subclasses define the gates."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_qubits: int | None = None,
        n_layers: int = 2,
        bias: bool = True,
        backend: str | Backend = "torch",
        dtype=None,
        init: Init = "paper",
        readout_vqc: bool = False,
    ):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("n_layers", n_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        n_qubits = input_size + hidden_size if n_qubits is None else n_qubits
        if not isinstance(n_qubits, int) or n_qubits < 1:
            raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        self.input_size, self.hidden_size, self.n_qubits, self.n_layers = input_size, hidden_size, n_qubits, n_layers
        self.readout_vqc = readout_vqc
        self.backend = get(backend)
        self.in_proj = self._projection(input_size + hidden_size, n_qubits, bias, dtype)
        self.hidden_proj = self._projection(n_qubits, hidden_size, bias, dtype) if hidden_size > n_qubits else None
        self.vqc = nn.ModuleDict({name: _VQCBank(k, n_qubits, n_layers, dtype) for name, k in self._banks()})
        self.reset_parameters(init)

    def _banks(self) -> list[tuple[str, int]]:
        """``(name, number of circuits)`` of the VQC banks; the circuits of one bank share their
        input and run as one backend call."""
        raise NotImplementedError

    def step(self, bound: dict[str, BoundCircuit], x: torch.Tensor, state):
        """One time step with banks bound by :meth:`_bind` (once per sequence).

        Returns ``(h, state, output)``: the new hidden state ``(N, hidden_size)``, the full state
        to carry (``h``, or ``(h, c)`` for the LSTM) and the per-step output (``h``, or the readout
        VQC's ``(N, n_qubits)`` values with ``readout_vqc``).
        """
        raise NotImplementedError

    def sequence(self, x: torch.Tensor, state, starts: torch.Tensor | None):
        """The whole sequence ``x`` ``(L, N, input_size)`` in one fused call, as ``(outputs (L, N, out),
        final state)``, or ``None`` where the cell has no fused form for it (then the layer steps
        it with :meth:`step`). ``starts``: ``(L, N)`` bools, where the state is zeroed first."""
        return None

    @staticmethod
    def _projection(n_in: int, n_out: int, bias: bool, dtype) -> nn.Module | None:
        return None if n_in == n_out else nn.Linear(n_in, n_out, bias, dtype=dtype)

    def reset_parameters(self, init: Init = "paper", generator: torch.Generator | None = None) -> None:
        """Re-initialise the VQC weights (see :func:`init_vqc_weights`) and the classical projections
        (torch's default distribution), all drawn from ``generator`` when given."""
        for bank in self.vqc.values():
            bank.reset_parameters(init, generator)
        for proj in (self.in_proj, self.hidden_proj):
            if proj is not None:
                init_linear(proj, generator)

    def backends(self) -> tuple[Backend, ...]:
        return (self.backend,)

    def to_backend(self, spec: str | Backend) -> _QuantumCell:
        """Run the circuits on another backend from now on (weights unchanged); returns ``self``."""
        self.backend = get(spec)
        return self

    def freeze_reservoir(self, init: Init = "paper", seed: int = 0) -> _QuantumCell:
        """Draw every weight from ``seed`` (VQC angles by ``init``) and freeze it; returns ``self``."""
        freeze_random(self, init, seed)
        return self

    @property
    def output_size(self) -> int:
        """Features of the per-step output: ``n_qubits`` with ``readout_vqc``, else ``hidden_size``."""
        return self.n_qubits if self.readout_vqc else self.hidden_size

    # -- helpers for subclasses ------------------------------------------------------------------
    def _bind(self) -> dict[str, BoundCircuit]:
        return {name: bank.bind(self.backend) for name, bank in self.vqc.items()}

    def _bind_observed(self) -> dict[str, _Recorded]:
        """The banks bound measuring every ⟨Z_i Z_j⟩ too (see :meth:`_QuantumRNN.observe`)."""
        return {
            name: _Recorded(
                self.backend.bind(bank.observed_circuit, weights=bank.weight.reshape(len(bank.weight), 1, -1)),
                self.n_qubits,
            )
            for name, bank in self.vqc.items()
        }

    def _angles(self, *parts: torch.Tensor) -> torch.Tensor:
        v = torch.cat(parts, dim=-1)
        return angle_encode(v if self.in_proj is None else self.in_proj(v))

    def _to_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """A VQC's ``n_qubits`` ⟨Z⟩ values -> ``hidden_size`` features."""
        return z[..., : self.hidden_size] if self.hidden_proj is None else self.hidden_proj(z)

    def _unbatched(self, x: torch.Tensor, hx):
        """Run an unbatched step ``x`` ``(input_size,)`` as a batch of one."""
        states = list(hx) if isinstance(hx, (tuple, list)) else [hx]
        if any(t is not None and t.ndim != 1 for t in states):
            raise ValueError(f"{type(self).__name__}: an unbatched input needs an unbatched state")
        return map_state(self(x.unsqueeze(0), map_state(hx, lambda t: t.unsqueeze(0))), lambda t: t.squeeze(0))

    def _check_step(self, x: torch.Tensor, hx: torch.Tensor | None, size: int, what: str) -> torch.Tensor:
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: input must be (N, {self.input_size}) or ({self.input_size},), "
                f"got {tuple(x.shape)}"
            )
        check_input_dtype(type(self).__name__, x, next(self.parameters()).dtype)
        shape = (*x.shape[:-1], size)
        if hx is None:
            return x.new_zeros(shape)
        if tuple(hx.shape) != shape:
            raise ValueError(f"{type(self).__name__}: {what} must have shape {shape}, got {tuple(hx.shape)}")
        return hx

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, n_qubits={self.n_qubits}, n_layers={self.n_layers}, "
            f"backend={self.backend.name!r}" + (", readout_vqc=True" if self.readout_vqc else "")
        )


class QRNNCell(_QuantumCell):
    r"""Quantum Elman cell (QRNN-RC paper, see docs/references.md; the exact form is **reconstructed**).

    .. math::

        h_t = \tanh\big(\mathrm{VQC}_1(\mathrm{enc}[x_t, h_{t-1}])\big)_{:H}

    With ``readout_vqc`` a second VQC on the same input gives the per-step output
    ``y_t = VQC_2(enc[x_t, h_{t-1}])`` (``n_qubits`` features), evaluated in the same backend call.

    Shapes: ``x`` ``(N, input_size)`` or ``(input_size,)``; ``h`` ``(N, hidden_size)``.
    Call: ``h_next = cell(x, h)`` (like :class:`torch.nn.RNNCell`).
    """

    def _banks(self):
        return [("gates", 1 + self.readout_vqc)]

    def step(self, bound, x, state):
        z = bound["gates"](inputs=self._angles(x, state))
        h = torch.tanh(self._to_hidden(z[0]))
        return h, h, (z[1] if self.readout_vqc else h)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim == 1:
            return self._unbatched(x, hx)
        hx = self._check_step(x, hx, self.hidden_size, "hx")
        return self.step(self._bind(), x, hx)[0]


#: Largest batch for which a QLSTM layer without gradients takes the lanes kernel when the dense
#: product-state form is also available: up to 64 inputs the lanes were 1.2-5x faster at 4-10 qubits,
#: at 256 either won by up to 1.6x (2-core CPU, one thread).
LANES_LAYER_MAX_BATCH = 64


class QLSTMCell(_QuantumCell):
    r"""Quantum LSTM cell of Chen, Yoo & Fang (arXiv 2009.01783; docs/references.md), verified against the
    reference code (``VQLSTM._forward``).

    .. math::

        v_t &= [x_t, h_{t-1}] \\
        f_t = \sigma(\mathrm{VQC}_1(v_t)),\ i_t &= \sigma(\mathrm{VQC}_2(v_t)),\
        \tilde C_t = \tanh(\mathrm{VQC}_3(v_t)),\ o_t = \sigma(\mathrm{VQC}_4(v_t)) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot \tilde C_t \\
        h_t &= \mathrm{VQC}_5(o_t \odot \tanh c_t)_{:H}

    The cell state ``c`` has ``n_qubits`` features (the paper's internal size), ``h`` has
    ``hidden_size``. VQC1–4 are one backend call, VQC5 a second; with ``readout_vqc`` the paper's
    VQC6 (``y_t = VQC_6(o_t ⊙ tanh c_t)``, ``n_qubits`` features) joins the second call.

    Call: ``h, c = cell(x, (h, c))`` (like :class:`torch.nn.LSTMCell`); shapes ``x`` ``(N, input_size)``,
    ``h`` ``(N, hidden_size)``, ``c`` ``(N, n_qubits)``, or unbatched without ``N``.
    """

    _joint_bound: tuple | None = None  # (key, BoundCircuit) of VQC1–6 as one bank, bound without gradients

    def _banks(self):
        return [("gates", 4), ("hidden", 1 + self.readout_vqc)]

    def step(self, bound, x, state):
        h, c = state
        f, i, g, o = bound["gates"](inputs=self._angles(x, h)).unbind(0)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        u = torch.sigmoid(o) * torch.tanh(c)
        z = bound["hidden"](inputs=angle_encode(u))
        h = self._to_hidden(z[0])
        return h, (h, c), (z[1] if self.readout_vqc else h)

    def sequence(self, x, state, starts):
        """The layer as one autograd function over a product-state form (:mod:`qseq.models.fused`) of
        all its VQCs bound as one bank, where the backend has one on this device and dtype (the
        torch engine, up to 10 qubits, batches where fusing pays) and ``hidden_size ≤ n_qubits``.
        Without gradients, on the CPU, up to :data:`LANES_LAYER_MAX_BATCH` inputs (or where the
        dense form does not pay), the same layer in one C call with its banks evaluated gate by gate,
        the batch across SIMD lanes (:func:`~qseq.models.fused.qlstm_lanes_layer`)."""
        if self.hidden_proj is not None:
            return None
        length, batch = x.shape[:2]
        banks = list(self.vqc.values())
        bound = _bind_cached(self, "_joint_bound", self.backend, banks[0].circuit, [b.weight for b in banks])
        keep = None if starts is None else (~starts).to(x.dtype).unsqueeze(-1)
        proj = self.in_proj
        proj_w, proj_b = (None, None) if proj is None else (proj.weight, proj.bias)
        form = self.backend.product_form(bound, batch)
        no_grad = not records_grad(x, *state, proj_w, proj_b, *bound.fixed.values())
        if no_grad and (form is None or batch <= LANES_LAYER_MAX_BATCH):
            lanes = self.backend.lanes_form(bound)  # the banks gate by gate, the batch across SIMD lanes
            if lanes is not None and chen_layout(lanes, self.n_qubits):
                out = qlstm_lanes_layer(lanes, self.hidden_size, self.readout_vqc, x, *state, keep, proj_w, proj_b)
                if out is not None:
                    self.backend.record_usage(2 * length, length * batch * lanes.mats.shape[0])
                    return out[0], (out[1], out[2])
        if form is None or not chen_layout(form, self.n_qubits) or form.w.device != x.device or form.w.dtype != x.dtype:
            return None
        ys, h, c = qlstm_layer(form, self.hidden_size, self.readout_vqc, x, *state, keep, proj_w, proj_b)
        self.backend.record_usage(2 * length, length * batch * form.n_circuits)
        return ys, (h, c)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_joint_bound": None}  # a cache: never saved or copied

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        if x.ndim == 1:
            return self._unbatched(x, hx)
        h, c = (None, None) if hx is None else hx
        h = self._check_step(x, h, self.hidden_size, "h")
        c = self._check_step(x, c, self.n_qubits, "c")
        fused = self.sequence(x.unsqueeze(0), (h, c), None)  # a sequence of one step
        return self.step(self._bind(), x, (h, c))[1] if fused is None else fused[1]


class QGRUCell(_QuantumCell):
    r"""Quantum GRU cell (QRNN-RC paper, see docs/references.md; the form is **reconstructed**, no public code).

    .. math::

        r_t = \sigma(\mathrm{VQC}_1(x_t, h_{t-1}))_{:H},\quad z_t &= \sigma(\mathrm{VQC}_2(x_t, h_{t-1}))_{:H} \\
        n_t &= \tanh\big(\mathrm{VQC}_3(x_t, r_t \odot h_{t-1})\big)_{:H} \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    VQC1–2 are one backend call and VQC3 a second; with ``readout_vqc`` the output VQC4
    (``y_t = VQC_4(x_t, h_t)``, ``n_qubits`` features — its input is also reconstructed) is a
    third. Call: ``h = cell(x, h)`` (like :class:`torch.nn.GRUCell`).
    """

    def _banks(self):
        return [("gates", 2), ("candidate", 1)] + [("readout", 1)] * self.readout_vqc

    def step(self, bound, x, h):
        r, z = torch.sigmoid(self._to_hidden(bound["gates"](inputs=self._angles(x, h)))).unbind(0)
        n = torch.tanh(self._to_hidden(bound["candidate"](inputs=self._angles(x, r * h))[0]))
        h = (1 - z) * n + z * h
        y = bound["readout"](inputs=self._angles(x, h))[0] if self.readout_vqc else h
        return h, h, y

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim == 1:
            return self._unbatched(x, hx)
        hx = self._check_step(x, hx, self.hidden_size, "hx")
        return self.step(self._bind(), x, hx)[0]


class _QuantumRNN(QuantumModel, Initialisable, nn.Module):
    """Sequence layer over a stack of quantum cells, with the call signature of ``torch.nn.RNN``."""

    cell_class: type[_QuantumCell]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        n_qubits: int | None = None,
        n_layers: int = 2,
        backend: str | Backend = "torch",
        dtype=None,
        init: Init = "paper",
        readout_vqc: bool = False,
        reservoir: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if bidirectional:
            raise ValueError(f"{type(self).__name__}: bidirectional=True is not supported")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = batch_first
        backend = get(backend)
        n_qubits = input_size + hidden_size if n_qubits is None else n_qubits  # every layer's width
        self.cells = nn.ModuleList(
            self.cell_class(
                input_size if k == 0 else hidden_size,
                hidden_size,
                n_qubits,
                n_layers,
                bias,
                backend,
                dtype,
                init,
                readout_vqc and k == num_layers - 1,
            )
            for k in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.reservoir = False
        if reservoir:
            self.freeze_reservoir(init, seed)

    @property
    def backend(self) -> Backend:
        return self.cells[0].backend

    @property
    def n_qubits(self) -> int:
        return self.cells[0].n_qubits

    @property
    def output_size(self) -> int:
        """Features of ``output``: ``hidden_size``, or ``n_qubits`` with ``readout_vqc``."""
        return self.cells[-1].output_size

    def backends(self) -> tuple[Backend, ...]:
        return unique_backends(cell.backend for cell in self.cells)

    def to_backend(self, spec: str | Backend):
        """Run every cell's circuits on another backend (weights unchanged); returns ``self``."""
        backend = get(spec)
        for cell in self.cells:
            cell.to_backend(backend)
        return self

    def reset_parameters(self, init: Init = "paper", generator: torch.Generator | None = None) -> None:
        for cell in self.cells:
            cell.reset_parameters(init, generator)

    def freeze_reservoir(self, init: Init = "paper", seed: int = 0):
        """Reservoir-computing mode: re-initialise every weight (VQC angles and classical
        projections) from ``seed`` with ``init`` and freeze it. The layer then is a fixed random
        dynamical system; only a readout on its outputs is trained (QRNN-RC, see
        ``docs/references.md``). Returns ``self``.
        """
        freeze_random(self, init, seed)
        self.reservoir = True
        return self

    # -- state layout (overridden by QLSTM) --------------------------------------------------------
    def _layer_states(self, hx, batch: int, like: torch.Tensor) -> list:
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is None:
            return [like.new_zeros(shape[1:]) for _ in range(self.num_layers)]
        _check_state(hx, shape, "hx")
        return list(hx.unbind(0))

    def _final_state(self, states: list):
        return torch.stack(states, 0)

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, input: torch.Tensor, hx=None, episode_starts: torch.Tensor | None = None):
        """Run the sequence.

        Args:
            input: ``(L, N, input_size)``, ``(N, L, input_size)`` with ``batch_first``, or unbatched
                ``(L, input_size)``.
            hx: initial state, ``(num_layers, N, hidden_size)`` (``(num_layers, hidden_size)``
                unbatched); zeros if ``None``. For :class:`QLSTM` a pair ``(h_0, c_0)`` with ``c_0``
                of ``n_qubits`` features.
            episode_starts: optional bools ``(L, N)`` (``(N, L)`` batch-first, ``(L,)`` unbatched):
                where true, that sequence's state is set to zero before the step (a new episode
                starts; reinforcement learning). Beyond ``torch.nn.RNN``'s signature.

        Returns:
            ``(output, h_n)`` — ``output`` ``(L, N, output_size)`` (batch-first / unbatched like the
            input) holds the last layer's per-step output; ``h_n`` the final state of every layer
            in the layout of ``hx``.
        """
        output, final, _ = self._run(input, hx, episode_starts, observe=False)
        return output, final

    def observe(self, input: torch.Tensor, hx=None, episode_starts: torch.Tensor | None = None):
        """:meth:`forward`, and every two-qubit correlation the last layer's circuits measure.

        Each VQC of the last layer is measured for ``⟨Z_i Z_j⟩`` (``i < j``) besides the ``⟨Z_i⟩`` that
        drive the cell, in the same backend call (one per bank and time step, as in :meth:`forward`):
        more of each circuit's state for a reservoir readout (``ReservoirRegressor(features=
        "observables")``). Runs the cells step by step.

        Returns:
            ``(output, h_n, correlations)``: ``output`` and ``h_n`` as :meth:`forward` returns them,
            ``correlations`` ``(L, N, n_vqc · n_qubits (n_qubits - 1) / 2)`` in the layout of
            ``output`` (``n_vqc``: the last layer's VQCs, bank by bank).
        """
        output, final, correlations = self._run(input, hx, episode_starts, observe=True)
        return output, final, correlations

    def _run(self, input, hx, episode_starts, observe: bool):
        x, unbatched = self._check_input(input)
        starts = check_episode_starts(
            type(self).__name__, episode_starts, x.shape[0], x.shape[1], self.batch_first, unbatched
        )
        if unbatched:
            hx = map_state(hx, lambda t: t.unsqueeze(1))
        states = self._layer_states(hx, x.shape[1], x)
        correlations = None
        for k, cell in enumerate(self.cells):
            state = states[k]
            measure_more = observe and k == self.num_layers - 1
            fused = None if measure_more else cell.sequence(x, state, starts)
            if fused is None:
                bound, outputs = (cell._bind_observed() if measure_more else cell._bind()), []
                for t, x_t in enumerate(x.unbind(0)):
                    if starts is not None:
                        state = zero_where(state, starts[t])
                    _, state, y = cell.step(bound, x_t, state)
                    outputs.append(y)
                x = torch.stack(outputs, 0)
                if measure_more:  # (L, Σ K, N, pairs) over the banks
                    correlations = torch.cat([b.recorded() for b in bound.values()], dim=1)
            else:
                x, state = fused
            states[k] = state
            if self.dropout is not None and k < self.num_layers - 1:
                x = self.dropout(x)
        final = self._final_state(states)
        if correlations is not None:  # (L, K, N, pairs) -> (L, N, K·pairs)
            correlations = correlations.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
        if unbatched:
            squeezed = None if correlations is None else correlations.squeeze(1)
            return x.squeeze(1), map_state(final, lambda t: t.squeeze(1)), squeezed
        if self.batch_first:
            x, correlations = x.transpose(0, 1), None if correlations is None else correlations.transpose(0, 1)
        return x, final, correlations

    def _check_input(self, input: torch.Tensor) -> tuple[torch.Tensor, bool]:
        name = type(self).__name__
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ValueError(
                f"{name}: input must be {layout} or unbatched (L, H_in) with H_in = {self.input_size}, "
                f"got shape {tuple(input.shape)}"
            )
        if input.shape[-2 if input.ndim == 2 else (1 if self.batch_first else 0)] == 0:
            raise ValueError(f"{name}: input has an empty sequence (L = 0)")
        check_input_dtype(name, input, next(self.parameters()).dtype)
        if not all_finite(input):
            raise ValueError(f"{name}: input contains NaN or infinite values")
        if input.ndim == 2:
            return input.unsqueeze(1), True
        return (input.transpose(0, 1) if self.batch_first else input), False


def _check_state(t, shape: tuple, what: str) -> None:
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(shape):
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{what} must have shape {tuple(shape)}, got {got}")


class QRNN(_QuantumRNN):
    """Multi-layer quantum Elman RNN of :class:`QRNNCell` s; drop-in for :class:`torch.nn.RNN`
    (``nonlinearity`` is always tanh). ``output, h_n = QRNN(...)(input, h_0)``."""

    cell_class = QRNNCell


class QGRU(_QuantumRNN):
    """Multi-layer quantum GRU of :class:`QGRUCell` s; drop-in for :class:`torch.nn.GRU`.
    ``output, h_n = QGRU(...)(input, h_0)``."""

    cell_class = QGRUCell


class QLSTM(_QuantumRNN):
    """Multi-layer quantum LSTM of :class:`QLSTMCell` s; drop-in for :class:`torch.nn.LSTM`:
    ``output, (h_n, c_n) = QLSTM(...)(input, (h_0, c_0))``. ``c`` has ``n_qubits`` features
    (the paper's internal size), not ``hidden_size``."""

    cell_class = QLSTMCell

    def _layer_states(self, hx, batch: int, like: torch.Tensor) -> list:
        h_shape = (self.num_layers, batch, self.hidden_size)
        c_shape = (self.num_layers, batch, self.n_qubits)
        if hx is None:
            return [(like.new_zeros(h_shape[1:]), like.new_zeros(c_shape[1:])) for _ in range(self.num_layers)]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ValueError("QLSTM: hx must be a pair (h_0, c_0)")
        _check_state(hx[0], h_shape, "h_0")
        _check_state(hx[1], c_shape, "c_0")
        return list(zip(hx[0].unbind(0), hx[1].unbind(0), strict=True))

    def _final_state(self, states: list):
        return torch.stack([h for h, _ in states], 0), torch.stack([c for _, c in states], 0)

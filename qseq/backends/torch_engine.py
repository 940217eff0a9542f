"""The default backend: a batched torch state-vector engine (CPU or CUDA), differentiable by autograd.

``TorchBackend`` is a thin class over the functional core in :mod:`qseq.backends.engine`: it compiles
each circuit once (:func:`~qseq.backends.engine.compile_circuit`), keeps device tables per
(device, dtype), and runs the product-state fast path (:func:`~qseq.backends.engine.expval_product`)
where it applies, per-sample circuits on the CPU whole by the compiled kernels
(:func:`~qseq.backends.engine.expval_compiled`), shared gate layers without gradients on the CPU by
the lanes kernel (:func:`~qseq.backends.engine.expval_lanes`; a bound circuit's calls prepared once
per input shape: :meth:`TorchBackend._bound_call`), else :func:`~qseq.backends.engine.evolve` and
:func:`~qseq.backends.engine.expectations`, on checked parameters. ``docs/design.md`` explains the
compilation and why.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable

import torch

from .._checks import records_grad
from ..circuits import Circuit
from .base import Backend, BindCache, BoundCircuit, Params, ParamsLike, check_params
from .engine import (
    Tables,
    compile_circuit,
    evolve,
    expectations,
    expval_adjoint,
    expval_compiled,
    expval_lanes,
    expval_product,
    make_tables,
)
from .engine.adjoint import ADJOINT_STATES
from .engine.compiled_lanes import LanesForm
from .engine.product import ProductForm
from .engine.program import Permute, Program
from .engine.shapes import broadcast_shapes
from .engine.simulate import REAL_DTYPE, lanes_call, lanes_form, product_unitaries
from .forward_graphs import GRAPH_MAX_AMPLITUDES, ForwardGraphs

__all__ = ["TorchBackend"]

_COMPLEX = {"complex64": torch.complex64, "complex128": torch.complex128}


def _complex_dtype(dtype) -> torch.dtype | None:
    if dtype is None:
        return None
    if isinstance(dtype, str):
        if dtype not in _COMPLEX:
            raise ValueError(f"dtype must be 'complex64' or 'complex128', got {dtype!r}")
        return _COMPLEX[dtype]
    if dtype not in (torch.complex64, torch.complex128):
        raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")
    return dtype


def _device(device) -> torch.device | None:
    if device is None or device == "":
        return None
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown torch device {device!r} ({err})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"backend 'torch:{device}' needs CUDA, but torch.cuda.is_available() is False")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"CUDA device {dev.index} requested, only {torch.cuda.device_count()} present")
    return dev


#: State-sized tensors alive at once in a forward pass without gradients (state, its next version,
#: the probabilities); with gradients autograd also keeps one per stage.
WORKING_STATES = 3
#: Below this many bytes of states no memory check is made (it would cost more than it saves).
CHECKED_BYTES = 2**30


def _free_bytes(device: torch.device) -> int | None:
    """Memory a new allocation can use on ``device``: free device memory plus what torch's caching
    allocator holds unused (CUDA), ``MemAvailable`` (Linux CPU), or ``None`` where unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _state_bytes(program, params: Params, cdtype: torch.dtype, diff: str | None) -> int:
    """Bytes of the states a call holds at once: ``WORKING_STATES`` without gradients, plus one per
    stage for autograd, ``ADJOINT_STATES`` for the adjoint method."""
    held = {None: WORKING_STATES, "adjoint": ADJOINT_STATES, "backprop": WORKING_STATES + len(program.stages) + 1}
    return math.prod(params.batch_shape) * program.dim * torch.empty((), dtype=cdtype).element_size() * held[diff]


def _free_for(need: int, device: torch.device) -> int | None:
    """Free memory on ``device`` where a call needing ``need`` bytes is worth checking, else ``None``
    (small calls, calls inside a CUDA graph capture, unknown free memory)."""
    if need < CHECKED_BYTES or (device.type == "cuda" and torch.cuda.is_current_stream_capturing()):
        return None
    return _free_bytes(device)


def _choose_diff(program, params: Params, device: torch.device, cdtype: torch.dtype, diff: str | None, grad: bool):
    """``"backprop"`` or ``"adjoint"`` for this call (``None`` without gradients). ``diff=None`` takes
    autograd unless its saved states would not fit in free memory."""
    if not grad:
        return None
    if diff is not None:
        return diff
    backprop = _state_bytes(program, params, cdtype, "backprop")
    free = _free_for(backprop, device)
    return "adjoint" if free is not None and backprop > free else "backprop"


def _check_memory(program, params: Params, device, cdtype, tables_built: bool, diff: str | None) -> None:
    """Refuse, before allocating, a call whose states (and, at the first call on a device, the
    permutation tables: one int64 index of ``2^n`` entries per run of CNOT-like gates) cannot fit: a
    clear error instead of an allocator failure after minutes of work. ``diff``: how this call is
    differentiated (``None``: no gradients)."""
    tables = 0 if tables_built else program.dim * 8 * sum(isinstance(s, Permute) for s in program.stages)
    need = _state_bytes(program, params, cdtype, diff) + tables
    free = _free_for(need, device)
    if free is not None and need > free:
        gib = 2**30
        fixes = ["a smaller batch"]
        fixes += ["complex64 (float32 angles)"] if cdtype == torch.complex128 else []
        fixes += ["diff='adjoint' (a constant number of stored states)"] if diff == "backprop" else []
        fixes += ["no gradients"] if diff else []
        raise MemoryError(
            f"{program.n_qubits} qubits x {math.prod(params.batch_shape)} circuits need about {need / gib:.1f} GiB "
            f"of state memory on {device}{f' with {diff} gradients' if diff else ''}, but {free / gib:.1f} GiB is "
            f"free: try {' or '.join(fixes)}"
        )


def _tables(tables_by_key: dict, program, key: tuple) -> Tables:
    """The device tables of ``program`` for ``key = (device, complex dtype)``, built on first use."""
    if key not in tables_by_key:
        tables_by_key[key] = make_tables(program, *key)
    return tables_by_key[key]


class TorchBackend(Backend):
    """Batched state-vector simulation in torch.

    Args:
        device: where to simulate (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``None`` simulates where the
            parameters live. Results always come back on the parameters' device.
        dtype: ``torch.complex64`` or ``torch.complex128`` (or their names); ``None`` follows the
            parameters (float64 angles -> complex128, otherwise complex64). The output's dtype is
            the matching real dtype.
        fuse: fuse runs of gates whose parameters are shared by the batch into one ``2^n × 2^n``
            unitary: ``None`` lets the engine choose (calls without gradients on the CPU take the
            lanes kernel where it applies, the rest a cost model), ``True``/``False`` force fusing
            or torch's stage-by-stage evaluation. Results do not depend on it.
        diff: how gradients of expectation values are computed when any angle requires one:
            ``"backprop"`` (autograd through every stage: keeps one state per stage), ``"adjoint"``
            (the adjoint method: one forward and one backward sweep, about four states whatever the
            depth; for large registers), or ``None``: autograd unless its states would not fit in
            free memory. Values and gradients do not depend on it. :meth:`state` and
            :meth:`unitary` are always differentiated by autograd.
        check_finite: reject NaN/inf angles on the CPU (one scan per call; turn off in hot loops
            whose inputs are known finite). CUDA angles are never scanned per call: the answer
            would stall the host; NaN angles give NaN values there.
        graphs: on CUDA, replay expectation-value calls without gradients as CUDA graphs, one per
            circuit and parameter shapes (:mod:`qseq.backends.forward_graphs`): the same values,
            without the per-operation launch and dispatch cost of small circuits.

    Example::

        >>> be = TorchBackend()
        >>> c = chen_vqc(4, 2)
        >>> be.expval(c, {"inputs": x_angles, "weights": w.reshape(4, 1, -1)})   # (4, B, 4)
    """

    max_qubits = 30  # a 30-qubit complex64 state is 8 GiB; what fits is checked per call (_check_memory)
    _transient = ("_compiled", "_paths", "_graphs")

    def __init__(
        self,
        device=None,
        dtype=None,
        fuse: bool | None = None,
        check_finite: bool = True,
        diff: str | None = None,
        graphs: bool = True,
    ):
        self.device = _device(device)
        self.dtype = _complex_dtype(dtype)
        if fuse not in (None, True, False):
            raise ValueError(f"fuse must be None, True or False, got {fuse!r}")
        self.fuse = fuse
        if diff not in (None, "backprop", "adjoint"):
            raise ValueError(f"diff must be None, 'backprop' or 'adjoint', got {diff!r}")
        self.diff = diff
        self.check_finite = check_finite
        if graphs not in (True, False):
            raise ValueError(f"graphs must be True or False, got {graphs!r}")
        self.graphs = graphs
        self.name = "torch" if self.device is None else f"torch:{self.device}"
        # Compiled programs and device tables, keyed by id(circuit) with the circuit kept alive beside
        # them: equal-but-distinct circuits (the gate and hidden banks of a cell) each get an entry,
        # and no lookup ever compares two circuits operation by operation.
        self._restore()

    def _restore(self) -> None:
        self._compiled: dict[int, tuple[Circuit, object, dict]] = {}
        self._paths: Counter[str] = Counter()
        self._graphs = ForwardGraphs()

    @property
    def paths(self) -> Counter[str]:
        """How many expectation-value calls took each path since this backend was made or copied:
        ``"product"`` (the product-state fast path), ``"compiled"`` (per-sample circuits by the
        compiled CPU kernels, readout included), ``"lanes"`` (shared gate layers without gradients
        on the CPU, the batch across SIMD lanes), ``"state"`` (the general state-vector engine),
        ``"adjoint"``, ``"graph"`` (a CUDA graph of one of the others, replayed)."""
        return self._paths

    # -- public extras -------------------------------------------------------------------------
    def state(self, circuit: Circuit, params: ParamsLike) -> torch.Tensor:
        """The final state vector ``(..., 2**n)`` (complex; wire 0 = most significant bit)."""
        p = self._check(circuit, params)
        return self._evolve(circuit, p, None).to(p.device)

    def unitary(self, circuit: Circuit, params: ParamsLike) -> torch.Tensor:
        """The circuit's unitary ``(..., 2**n, 2**n)`` (column ``j`` is the image of ``|j⟩``)."""
        p = self._check(circuit, params)
        dim = 2**circuit.n_qubits
        eye = torch.eye(dim, dtype=self._cdtype(p.dtype), device=self.device or p.device)
        groups = {n: t.unsqueeze(-2) for n, t in p.groups.items()}  # rows of the identity are a batch
        shifted = Params(groups, torch.Size((*p.batch_shape, 1)), p.dtype, p.device)
        rows = self._evolve(circuit, shifted, eye)
        return rows.mT.to(p.device)

    def product_form(self, bound: BoundCircuit, n_inputs: int) -> ProductForm | None:
        """The product-state fast path for ``bound`` (see :class:`~qseq.backends.engine.product.ProductForm`)
        where it applies and would be taken for ``n_inputs`` input vectors; ``None`` otherwise, and
        with ``diff="adjoint"`` or ``fuse=False``."""
        if bound.backend is not self:
            raise ValueError(f"{bound!r} is bound to another backend")
        if self.diff == "adjoint" or not bound.fixed:
            return None
        memo = ("product form", n_inputs, torch.is_grad_enabled())  # a bound circuit's answer, once per size
        if memo not in bound._cache.store:
            bound._cache.store[memo] = self._product_form(bound, n_inputs) or False
        return bound._cache.store[memo] or None

    def lanes_form(self, bound: BoundCircuit) -> LanesForm | None:
        """The lanes kernel's form of ``bound`` (see :class:`~qseq.backends.engine.compiled_lanes.LanesForm`)
        where it applies: on the CPU, for circuits whose free groups feed a product-state
        preparation; ``None`` otherwise and with ``fuse`` set. Made once per bound circuit."""
        if bound.backend is not self:
            raise ValueError(f"{bound!r} is bound to another backend")
        if not bound.fixed or self.fuse is not None:
            return None
        if "lanes form" not in bound._cache.store:
            bound._cache.store["lanes form"] = self._lanes_form(bound)
        return bound._cache.store["lanes form"]

    def _bound_form_setup(self, bound: BoundCircuit) -> tuple[Program, Tables, dict[str, torch.Tensor]] | None:
        """``(program, tables, bound groups on the backend's device and real dtype)`` for a form of
        ``bound`` that a model drives itself, or ``None`` unless its free groups are exactly its
        preparation's."""
        _, program, tables_by_key = self._entry(bound.circuit)
        if program.prep is None or set(bound.free) != set(program.prep.groups):
            return None
        ref = next(iter(bound.fixed.values()))
        key = (self.device or ref.device, self._cdtype(ref.dtype))
        groups = {n: t.to(device=key[0], dtype=REAL_DTYPE[key[1]]) for n, t in bound.fixed.items()}
        return program, _tables(tables_by_key, program, key), groups

    def _lanes_form(self, bound: BoundCircuit) -> LanesForm | None:
        setup = self._bound_form_setup(bound)
        return None if setup is None else lanes_form(*setup, bound.circuit.group_sizes, bound._cache)

    def _product_form(self, bound: BoundCircuit, n_inputs: int) -> ProductForm | None:
        setup = self._bound_form_setup(bound)
        if setup is None:
            return None
        program, tables, groups = setup
        if tables.product is None:
            return None
        n_circuits = math.prod(broadcast_shapes(*(t.shape[:-1] for t in groups.values())))
        w = product_unitaries(program, tables, groups, n_inputs * n_circuits, self.fuse, bound._cache)
        return None if w is None else ProductForm(w, tables.product)

    # -- Backend -------------------------------------------------------------------------------
    def _bound_call(self, bound: BoundCircuit, groups: dict) -> torch.Tensor | None:
        """Bound calls without gradients on the CPU by the lanes kernel (:func:`~.engine.simulate.lanes_call`),
        prepared once per free group's shape and dtype in the binding's cache: a later call checks
        its one free group (finite angles) and runs the kernel, without the general path's per-call
        planning (a recurrent cell's step when acting or predicting). With ``fuse`` set, the
        general path."""
        if len(groups) != 1 or self.fuse is not None or (self.device is not None and self.device.type != "cpu"):
            return None
        ((name, x),) = groups.items()
        if not isinstance(x, torch.Tensor) or x.device.type != "cpu" or not x.is_floating_point() or not x.numel():
            return None
        if records_grad(x, *bound.fixed.values()):
            return None
        key = ("lanes call", name, x.shape, x.dtype)
        store = bound._cache.store
        if key not in store:
            store[key] = self._lanes_call(bound, name, x)
        call = store[key]
        if call is None:
            return None
        self._paths["lanes"] += 1
        return call(x.reshape(-1, x.shape[-1]), check=self.check_finite)  # the kernel scans the angles

    def _lanes_call(self, bound: BoundCircuit, name: str, x: torch.Tensor) -> Callable[..., torch.Tensor] | None:
        """The prepared lanes call of ``bound`` for free group ``name`` shaped and typed like ``x``
        (the general path's checks, run once), or ``None`` where it does not apply."""
        params = check_params(bound.circuit, {**bound.fixed, name: x}, check_finite=False)
        program, tables, groups, diff = self._setup(bound.circuit, params, None, adjoint=False)
        if diff is not None or groups[name].dtype != x.dtype:
            return None
        prepared = lanes_call(program, tables, groups, params.batch_shape, bound._cache)
        return None if prepared is None or prepared[0] != (name,) else prepared[1]

    def _expval(self, circuit: Circuit, params: Params, cache: BindCache | None) -> torch.Tensor:
        program, tables, groups, diff = self._setup(circuit, params, None, adjoint=True)
        if diff == "adjoint":
            self._paths["adjoint"] += 1
            read = functools.partial(expectations, tables, program=program)
            return expval_adjoint(program, tables, groups, params.batch_shape, read)
        if self._graphed(program, tables, params, diff, cache):
            self._paths["graph"] += 1
            key = (id(circuit), params.batch_shape, tuple((n, t.shape) for n, t in groups.items()), tables.cdtype)
            return self._graphs.run(key, groups, lambda g: self._forward(program, tables, g, params.batch_shape))
        path, out = self._forward_path(program, tables, groups, params.batch_shape, cache)
        self._paths[path] += 1
        return out

    def _forward_path(self, program, tables, groups: dict, batch_shape, cache) -> tuple[str, torch.Tensor]:
        """``(path, expectation values)`` by the first path that applies (see :attr:`paths`). Per-sample
        circuits try the whole-circuit kernel first: the product path would build a unitary per
        sample."""
        out = expval_compiled(program, tables, groups, batch_shape)
        if out is not None:
            return "compiled", out
        out = expval_lanes(program, tables, groups, batch_shape, self.fuse, cache)
        if out is not None:
            return "lanes", out
        out = expval_product(program, tables, groups, batch_shape, self.fuse, cache)
        if out is not None:
            return "product", out
        psi = evolve(program, tables, groups, batch_shape, None, self.fuse, cache)
        return "state", expectations(tables, psi, program)

    def _forward(self, program, tables, groups: dict, batch_shape) -> torch.Tensor:
        return self._forward_path(program, tables, groups, batch_shape, None)[1]

    def _graphed(self, program, tables, params: Params, diff, cache) -> bool:
        """Whether this call replays a CUDA graph: on CUDA, without gradients or a bound cache, and
        small enough that launches dominate (:data:`~qseq.backends.forward_graphs.GRAPH_MAX_AMPLITUDES`)."""
        return (
            self.graphs
            and diff is None
            and cache is None
            and tables.device.type == "cuda"
            and not torch.cuda.is_current_stream_capturing()
            and math.prod(params.batch_shape) * program.dim <= GRAPH_MAX_AMPLITUDES
        )

    def _evolve(self, circuit, params: Params, initial) -> torch.Tensor:
        """The final state (from ``initial``, else from the preparation), differentiated by autograd."""
        program, tables, groups, _ = self._setup(circuit, params, initial, adjoint=False)
        return evolve(program, tables, groups, params.batch_shape, initial, self.fuse)

    def _setup(self, circuit, params: Params, initial, adjoint: bool) -> tuple:
        """``(program, tables, angle groups on the device, diff)`` for one call, after the memory
        check; ``diff`` is how this call is differentiated (``None``: no gradient; ``"adjoint"`` only
        where ``adjoint`` allows it: expectation values, not states)."""
        _, program, tables_by_key = self._entry(circuit)
        key = (self.device or params.device, self._cdtype(params.dtype))
        grad = records_grad(*params.groups.values(), initial)
        diff = _choose_diff(program, params, *key, self.diff if adjoint else "backprop", grad)
        _check_memory(program, params, *key, tables_built=key in tables_by_key, diff=diff)
        groups = {n: t.to(device=key[0], dtype=REAL_DTYPE[key[1]]) for n, t in params.groups.items()}
        return program, _tables(tables_by_key, program, key), groups, diff

    def _entry(self, circuit: Circuit) -> tuple:
        entry = self._compiled.get(id(circuit))
        if entry is None or entry[0] is not circuit:
            entry = self._compiled[id(circuit)] = (circuit, compile_circuit(circuit), {})
        return entry

    def _cdtype(self, real: torch.dtype) -> torch.dtype:
        """The state dtype for angles of dtype ``real``: the backend's, else complex128 for float64."""
        return self.dtype or (torch.complex128 if real == torch.float64 else torch.complex64)

"""The functional core of the torch state-vector engine: :mod:`.program` compiles a circuit into
batched stages once; :mod:`.simulate` runs them; :mod:`.adjoint` differentiates expectation values
by the adjoint method; :mod:`.product` is the fast path for product-state preparations followed by
gates shared by the batch (the recurrent cells' circuits); :mod:`.compiled_gates` and
:mod:`.compiled_run` are C kernels for small registers on the CPU (per-sample circuits run through
them whole: :func:`.simulate.expval_compiled`); :mod:`.compiled_lanes` runs shared gate layers
without gradients with the batch across SIMD lanes (:func:`.simulate.expval_lanes`).
:class:`qseq.backends.torch_engine.TorchBackend`
is the thin backend class over it."""

from .adjoint import expval_adjoint
from .program import Program, compile_circuit
from .simulate import Tables, evolve, expectations, expval_compiled, expval_lanes, expval_product, make_tables

__all__ = [
    "Program",
    "compile_circuit",
    "Tables",
    "make_tables",
    "evolve",
    "expval_product",
    "expval_compiled",
    "expval_lanes",
    "expval_adjoint",
    "expectations",
]

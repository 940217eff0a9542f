"""Forward-only engine calls on CUDA replayed as CUDA graphs.

A per-sample call of a small circuit on the GPU is a few dozen tensor operations whose kernels take
microseconds each, so its time is Python dispatch and kernel launches (about 1.3 ms for 4,096
four-qubit circuits on an H200, against a few tens of µs of GPU work). Without gradients nothing
about a call depends on the values, only on the shapes: :class:`ForwardGraphs` captures the first
call with each (circuit, parameter shapes, dtype) key into a ``torch.cuda.CUDAGraph`` over static
input buffers and replays it afterwards (one copy in per group, one replay, one copy out). Keys are
kept least-recently-used up to a capacity. The graphs share one memory pool: they replay one after
another on one stream and each output is copied out at once, so one graph's intermediates may reuse
another's memory, and the graphs together hold about what the largest call needs. Calls above
:data:`GRAPH_MAX_AMPLITUDES` are not captured (their kernels dominate, and a pool would keep their
states allocated). A call that cannot be captured is run eagerly, and its key is not tried again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ForwardGraphs", "GRAPH_MAX_AMPLITUDES"]

#: Largest call (circuits × amplitudes) that is captured.
GRAPH_MAX_AMPLITUDES = 1 << 24


class ForwardGraphs:
    """CUDA graphs of forward-only calls, keyed by the caller (at most ``capacity`` kept)."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self.entries: OrderedDict[tuple, tuple | None] = OrderedDict()
        self.pool: Any = None  # one memory pool for all the graphs (made at the first capture)

    def run(self, key: tuple, groups: dict[str, torch.Tensor], compute: Callable[[dict], torch.Tensor]) -> torch.Tensor:
        """``compute(groups)``, by replaying the graph captured for ``key`` (captured now if new)."""
        if key in self.entries:
            self.entries.move_to_end(key)
            entry = self.entries[key]
        else:
            if self.pool is None:
                self.pool = torch.cuda.graph_pool_handle()
            entry = self._capture(groups, compute, self.pool)
            self.entries[key] = entry
            if len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
        if entry is None:
            return compute(groups)
        graph, static, out = entry
        for name, t in groups.items():
            static[name].copy_(t)
        graph.replay()
        return out.clone()

    @staticmethod
    def _capture(groups: dict[str, torch.Tensor], compute: Callable[[dict], torch.Tensor], pool) -> tuple | None:
        static = {name: t.clone() for name, t in groups.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: device tables, kernels' first-call work
            compute(static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=pool):
                out = compute(static)
        except RuntimeError:  # an operation that cannot be captured: this key runs eagerly
            return None
        return graph, static, out

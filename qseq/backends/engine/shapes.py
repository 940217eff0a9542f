"""Shape arithmetic on plain tuples for the per-call path.

``torch.broadcast_shapes`` goes through torch's symbolic-shape machinery and costs about 30 µs a
call on a 2-core CPU, several times per circuit evaluation; the same rule on tuples costs about 1 µs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["broadcast_shapes"]


def broadcast_shapes(*shapes: Sequence[int]) -> torch.Size:
    """The broadcast of ``shapes`` (numpy's rule), as ``torch.broadcast_shapes`` computes it.

    Raises:
        RuntimeError: the shapes do not broadcast (the error ``torch.broadcast_shapes`` raises).
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, ndim - len(shape)):
            if size != 1:
                if out[i] != 1 and out[i] != size:
                    raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} cannot be broadcast together")
                out[i] = size
    return torch.Size(out)

"""Recurrent states as values: mapping a function over one (``None``, a tensor, nested tuples and
named tuples), and zeroing it where a new episode starts (reinforcement learning replays rollouts
that cross episode ends)."""

from __future__ import annotations

import torch

__all__ = ["check_episode_starts", "map_state", "zero_where"]


def check_episode_starts(name: str, starts, length: int, batch: int, batch_first: bool, unbatched: bool):
    """``starts`` as a ``(L, N)`` bool tensor, or a clear error naming the expected layout."""
    if starts is None:
        return None
    if unbatched:
        expected, layout = (length,), "(L,)"
    else:
        expected, layout = ((batch, length), "(N, L)") if batch_first else ((length, batch), "(L, N)")
    if not isinstance(starts, torch.Tensor) or tuple(starts.shape) != expected:
        got = tuple(starts.shape) if isinstance(starts, torch.Tensor) else type(starts).__name__
        raise ValueError(f"{name}: episode_starts must be a {layout} tensor = {expected} like the input, got {got}")
    starts = starts.bool()
    if unbatched:
        return starts[:, None]
    return starts.T if batch_first else starts


def map_state(state, fn):
    """Apply ``fn`` to every tensor of a recurrent state: ``None`` (also as an entry), a tensor, or
    (named) tuples and lists of them, rebuilt with the same types."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    items = [map_state(s, fn) for s in state]
    return type(state)(*items) if hasattr(state, "_fields") else type(state)(items)


def zero_where(state, starts: torch.Tensor | None, batch_dim: int = 0):
    """The state with the sequences where ``starts`` ``(N,)`` is true set to zero; the sequences are
    on ``batch_dim`` of every tensor."""
    if starts is None or state is None:
        return state

    def mask(t: torch.Tensor) -> torch.Tensor:
        shape = [1] * t.ndim
        shape[batch_dim] = -1
        return t * (~starts.bool()).to(t.dtype).view(shape)

    return map_state(state, mask)

"""Episode boundaries inside a batch of sequences: zeroing the recurrent state of the sequences
where a new episode starts (reinforcement learning replays rollouts that cross episode ends)."""

from __future__ import annotations

import torch

__all__ = ["check_episode_starts", "zero_where"]


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


def zero_where(state, starts: torch.Tensor | None):
    """The state with the sequences where ``starts`` ``(N,)`` is true set to zero (tensors with the
    batch first, tuples of them, ``None`` entries kept)."""
    if starts is None or state is None:
        return state
    if isinstance(state, torch.Tensor):
        keep = (~starts).to(state.dtype)
        return state * keep.view(-1, *([1] * (state.ndim - 1)))
    items = [zero_where(s, starts) for s in state]
    return type(state)(*items) if hasattr(state, "_fields") else type(state)(items)

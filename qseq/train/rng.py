"""Seeds and RNG state: :func:`seed_everything`, and saving / restoring every RNG for an exact resume."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global RNG and Python's ``random``.

    Args:
        seed: an int in ``[0, 2**32)``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state(shuffle_gen: torch.Generator) -> dict[str, Any]:
    """All RNG states as tensors and basic types (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle_gen.get_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], shuffle_gen: torch.Generator) -> None:
    """Inverse of :func:`_rng_state`."""
    torch.set_rng_state(state["torch"])
    shuffle_gen.set_state(state["shuffle"])
    npst = state["numpy"]
    np.random.set_state(
        (npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

"""Figures without pyplot: matplotlib is optional and imported lazily; figures are drawn on an explicit
Agg canvas (the user's pyplot backend is never touched) and written atomically."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ._io import atomic_write

__all__ = ["matplotlib_figure", "save_figure"]

_warned_no_matplotlib = False


def matplotlib_figure() -> tuple[Any, Any] | None:
    """``(Figure, FigureCanvasAgg)``, or ``None`` (warning once per process) without matplotlib.

    Figures are drawn on an explicit Agg canvas, so the user's pyplot backend is never touched.
    """
    global _warned_no_matplotlib
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        if not _warned_no_matplotlib:
            _warned_no_matplotlib = True
            warnings.warn(
                "matplotlib is not installed: skipping plots (pip install 'qseq[plot]')", RuntimeWarning, stacklevel=3
            )
        return None
    return Figure, FigureCanvasAgg


def save_figure(fig: Any, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
